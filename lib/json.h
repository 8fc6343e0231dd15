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
/* The item as compact JSON, members in their order. */
void json_print(struct buf *b, const cJSON *item);

#endif
