/* json.c - printing cJSON trees. No one calls setlocale, so the
 * decimal point is '.'. */
#include "json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

bool
json_integer(double d, char *out, size_t outlen)
{
	double a = d < 0 ? -d : d;

	if (!(a <= 1.7976931348623157e308))	/* inf, nan */
		return false;
	/* every double from 2^52 up is integral; below, int64 holds it */
	if (a < 4503599627370496.0 && (double)(int64_t)d != d)
		return false;
	if (d == 0)
		d = 0.0;	/* "-0" is not canonical */
	snprintf(out, outlen, "%.0f", d);
	return true;
}

void
json_number(struct buf *b, double d)
{
	char s[JSON_INTEGER_MAX];

	if (!(d == d) || d - d != 0) {
		buf_adds(b, "null");	/* JSON has no inf or nan */
		return;
	}
	if ((d < 0 ? -d : d) < 1e17 && json_integer(d, s, sizeof(s))) {
		buf_adds(b, s);
		return;
	}
	snprintf(s, sizeof(s), "%.15g", d);
	if (strtod(s, NULL) != d)
		snprintf(s, sizeof(s), "%.17g", d);
	buf_adds(b, s);
}

void
json_print(struct buf *b, const cJSON *item)
{
	const cJSON *it;

	if (cJSON_IsObject(item) || cJSON_IsArray(item)) {
		bool obj = cJSON_IsObject(item);

		buf_addc(b, obj ? '{' : '[');
		for (it = item->child; it != NULL; it = it->next) {
			if (it != item->child)
				buf_addc(b, ',');
			if (obj) {
				buf_json_str(b, it->string ? it->string : "");
				buf_addc(b, ':');
			}
			json_print(b, it);
		}
		buf_addc(b, obj ? '}' : ']');
	} else if (cJSON_IsString(item))
		buf_json_str(b, item->valuestring);
	else if (cJSON_IsNumber(item))
		json_number(b, item->valuedouble);
	else if (cJSON_IsTrue(item))
		buf_adds(b, "true");
	else if (cJSON_IsFalse(item))
		buf_adds(b, "false");
	else if (cJSON_IsRaw(item))
		buf_adds(b, item->valuestring);
	else
		buf_adds(b, "null");
}
