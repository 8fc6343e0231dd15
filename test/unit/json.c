/* json.c - tests for lib/json.c: printing cJSON trees */
#include "json.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

/* text parsed (by json_parse if keep, else by cJSON alone) and printed
 * back by json_print */
static void
printed(const char *in, const char *want, bool keep)
{
	const char *end = NULL;
	cJSON *t = keep ? json_parse(in, strlen(in), &end) : cJSON_Parse(in);
	struct buf b;

	buf_init(&b);
	if (t != NULL)
		json_print(&b, t);
	buf_addc(&b, '\0');
	is_str(b.p, want, "%s%s prints as %s", keep ? "json_parse: " : "", in,
	    want);
	buf_free(&b);
	cJSON_Delete(t);
}

static void
round_trip(const char *in, const char *want)
{
	printed(in, want, false);
}

static void
kept(const char *in, const char *want)
{
	printed(in, want, true);
}

static void
number(double d, const char *want)
{
	struct buf b;

	buf_init(&b);
	json_number(&b, d);
	buf_addc(&b, '\0');
	is_str(b.p, want, "number %.17g prints as %s", d, want);
	buf_free(&b);
}

int
main(void)
{
	char s[JSON_INTEGER_MAX];

	/* what cJSON_PrintUnformatted turned into 1.79545770440157e+15 */
	round_trip("1795457704401570", "1795457704401570");
	round_trip("{\"t\":1763855042123000,\"n\":-42}", "{\"t\":1763855042123000,\"n\":-42}");
	round_trip("9007199254740992", "9007199254740992");
	round_trip("0.1", "0.1");
	round_trip("12.5", "12.5");
	round_trip("-0", "0");
	round_trip("1e300", "1e+300");
	round_trip("123456789012345678901", "1.2345678901234568e+20");
	round_trip("0.30000000000000004", "0.30000000000000004");
	round_trip("[1,\"a\\\"b\\\\c\\n\\u0001\",true,false,null,{},[]]",
	    "[1,\"a\\\"b\\\\c\\n\\u0001\",true,false,null,{},[]]");
	round_trip("{\"a\":{\"b\":[{\"c\":\"\\u00e9\"}]},\"d\":\"x\"}",
	    "{\"a\":{\"b\":[{\"c\":\"\xc3\xa9\"}]},\"d\":\"x\"}");
	round_trip("{ \"spaced\" : [ 1 , 2 ] }", "{\"spaced\":[1,2]}");
	/* json_parse keeps integers of 16 digits or more as written */
	kept("1234567890123456789", "1234567890123456789");
	kept("{\"id\":12345678901234567890,\"n\":-9223372036854775808}",
	    "{\"id\":12345678901234567890,\"n\":-9223372036854775808}");
	kept("[100000000000000000,9007199254740993,1795457704401570]",
	    "[100000000000000000,9007199254740993,1795457704401570]");
	/* digits in strings and keys, escaped quotes: not numbers */
	kept("{\"12345678901234567890\":\"a\\\"12345678901234567890\",\"b\":[\"\\\\\",12345678901234567891]}",
	    "{\"12345678901234567890\":\"a\\\"12345678901234567890\",\"b\":[\"\\\\\",12345678901234567891]}");
	/* other numbers as json_number writes them */
	kept("[1.5, 1e300, 123456789012345678901e0, -0, 0.30000000000000004, 42]",
	    "[1.5,1e+300,1.2345678901234568e+20,0,0.30000000000000004,42]");
	kept("{ \"a\" : [ 12345678901234567890 , { \"b\" : -12345678901234567890 } ] }",
	    "{\"a\":[12345678901234567890,{\"b\":-12345678901234567890}]}");
	{
		/* a digit run of 400: longer than any double's digits */
		char in[440], want[440];
		const char *end = NULL;
		cJSON *t;

		in[0] = '[';
		memset(in + 1, '7', 400);
		strcpy(in + 401, ",12345678901234567890]");
		strcpy(want, in);
		kept(in, want);
		t = json_parse(in, strlen(in), &end);
		ok(t != NULL && cJSON_IsNumber(t->child) &&
		    t->child->next->valuedouble == 12345678901234567890.0,
		    "json_parse: the double is still there for filters");
		cJSON_Delete(t);
	}
	ok(json_parse("{\"a\":1", 6, &(const char *){NULL}) == NULL,
	    "json_parse: not JSON is NULL");
	number(1.0 / 0.0, "null");
	number(-1.0 / 0.0, "null");
	number(0.0 / 0.0, "null");
	number(1e17, "1e+17");
	number(99999999999999984.0, "99999999999999984");
	ok(json_integer(-5, s, sizeof(s)) && strcmp(s, "-5") == 0, "json_integer(-5) is -5");
	ok(!json_integer(2.5, s, sizeof(s)), "2.5 is not an integer");
	ok(json_integer(1e20, s, sizeof(s)) && strcmp(s, "100000000000000000000") == 0,
	    "json_integer writes 1e20 in full");
	return tap_done();
}
