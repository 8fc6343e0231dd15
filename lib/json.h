/* json.h - printing parsed JSON (cJSON trees) the way sluice sends it.
 * cJSON_PrintUnformatted writes a number with 15 significant digits
 * when they read back the same, so an integer such as a microsecond
 * timestamp, 1795457704401570, came out as 1.79545770440157e+15: the
 * same double, but not what the backend wrote. Here integers are
 * written in full while a double holds them exactly. */
#ifndef SLUICE_JSON_H
#define SLUICE_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "buf.h"

/* Room for the decimal form of any integral double (DBL_MAX has 309
 * digits): callers need no allocation. */
#define JSON_INTEGER_MAX	320

/* The canonical decimal form of d if it is integral ("-0" is "0"). */
bool json_integer(double d, char *out, size_t outlen);
/* d as JSON: integers below 1e17 in full, others the shorter of %.15g
 * and %.17g that reads back the same double. */
void json_number(struct buf *b, double d);
/* The item as compact JSON, members in their order. A number that
 * json_parse found written as an integer of 16 digits or more is
 * written as it was (a double cannot hold every such integer: the
 * snowflake id 1234567890123456789 would come out as
 * 1234567890123456768); other numbers through json_number. */
void json_print(struct buf *b, const cJSON *item);
/* cJSON_ParseWithLengthOpts(text, len, end, 0), keeping the text of
 * each integer of 16 digits or more on its node (in valuestring, which
 * cJSON_Delete frees) for json_print. */
cJSON *json_parse(const char *text, size_t len, const char **end);
/* The decimal form of n if it is an integral number: its text as
 * written if json_parse kept it, else json_integer of its double; NULL
 * if n is not one. buf has room for JSON_INTEGER_MAX. */
const char *json_integer_text(const cJSON *n, char *buf, size_t len);

#endif
