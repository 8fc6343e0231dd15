/* json.c - printing cJSON trees. No one calls setlocale, so the
 * decimal point is '.'. */
#include "json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Integers of up to 15 digits are exact in a double; from 16 on, not
 * all of them. */
#define EXACT_DIGITS	15

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

const char *
json_integer_text(const cJSON *n, char *buf, size_t len)
{
	if (!cJSON_IsNumber(n))
		return NULL;
	if (n->valuestring != NULL)
		return n->valuestring;
	return json_integer(n->valuedouble, buf, len) ? buf : NULL;
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
	else if (cJSON_IsNumber(item)) {
		if (item->valuestring != NULL)
			buf_adds(b, item->valuestring);
		else
			json_number(b, item->valuedouble);
	}
	else if (cJSON_IsTrue(item))
		buf_adds(b, "true");
	else if (cJSON_IsFalse(item))
		buf_adds(b, "false");
	else if (cJSON_IsRaw(item))
		buf_adds(b, item->valuestring);
	else
		buf_adds(b, "null");
}

/* ---- parsing, keeping long integers as written ---- */

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A first look: no run of more than EXACT_DIGITS digits, anywhere, and
 * no number needs its text kept. */
static bool
has_long_digit_run(const char *p, size_t len)
{
	size_t run = 0;

	for (size_t i = 0; i < len; i++)
		if (!is_digit(p[i]))
			run = 0;
		else if (++run > EXACT_DIGITS)
			return true;
	return false;
}

struct numscan {
	const char	*p, *end;
};

/* The next number in JSON text, outside strings: where cJSON found
 * its next number value, since it parsed the same text. */
static bool
next_number(struct numscan *s, const char **tok, size_t *toklen)
{
	const char *p = s->p, *q;

	while (p < s->end) {
		if (*p == '"') {
			for (p++; p < s->end && *p != '"'; p++)
				if (*p == '\\')
					p++;
			p++;
		} else if (*p == '-' || is_digit(*p)) {
			for (q = p; q < s->end && (is_digit(*q) ||
			    strchr("+-.eE", *q) != NULL) && *q != '\0'; q++)
				;
			*tok = p;
			*toklen = (size_t)(q - p);
			s->p = q;
			return true;
		} else
			p++;
	}
	s->p = s->end;
	return false;
}

/* A JSON integer (no fraction, no exponent) of more than EXACT_DIGITS
 * digits */
static bool
long_integer(const char *t, size_t n)
{
	size_t i = t[0] == '-';

	if (n - i <= EXACT_DIGITS || t[i] == '0')
		return false;
	for (; i < n; i++)
		if (!is_digit(t[i]))
			return false;
	return true;
}

/* Numbers of it, in document order, against the text's. False when
 * the two disagree (they should not): the rest is left as it is. */
static bool
keep_literals(cJSON *it, struct numscan *s)
{
	if (cJSON_IsNumber(it)) {
		char lit[JSON_INTEGER_MAX];
		const char *t;
		size_t n;

		if (!next_number(s, &t, &n))
			return false;
		if (n < sizeof(lit)) {
			memcpy(lit, t, n);
			lit[n] = '\0';
			if (strtod(lit, NULL) != it->valuedouble)
				return false;
		}
		if (long_integer(t, n) && it->valuestring == NULL) {
			if ((it->valuestring = malloc(n + 1)) == NULL)
				return false;	/* printed from the double */
			memcpy(it->valuestring, t, n);
			it->valuestring[n] = '\0';
		}
		return true;
	}
	for (cJSON *c = it->child; c != NULL; c = c->next)
		if (!keep_literals(c, s))
			return false;
	return true;
}

cJSON *
json_parse(const char *text, size_t len, const char **end)
{
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, end, 0);
	struct numscan s = { text, text + len };

	if (root != NULL && has_long_digit_run(text, len)) {
		if (*end != NULL && *end < s.end)
			s.end = *end;
		(void)keep_literals(root, &s);
	}
	return root;
}
