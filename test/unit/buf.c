/* buf.c - tests for lib/buf.c: appending, printf, JSON strings, steal */
#include "buf.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

/* buf_json_str(s) into a fresh buffer; returns a malloc'd string */
static char *
json_of(const char *s)
{
	struct buf b;

	buf_init(&b);
	buf_json_str(&b, s);
	return buf_steal(&b);
}

static void
test_init_add(void)
{
	struct buf b;

	buf_init(&b);
	ok(b.p == NULL && b.len == 0 && b.cap == 0, "init: empty, no storage");
	buf_add(&b, "abc", 3);
	is_int(b.len, 3, "add: len 3");
	ok(b.cap >= 4, "add: room for the NUL");
	is_str(b.p, "abc", "add: bytes and NUL terminator");
	buf_adds(&b, "def");
	is_str(b.p, "abcdef", "adds appends");
	buf_addc(&b, 'g');
	is_str(b.p, "abcdefg", "addc appends one char");
	is_int(b.len, 7, "len 7");
	buf_add(&b, "", 0);
	is_int(b.len, 7, "add of 0 bytes keeps len");
	is_str(b.p, "abcdefg", "add of 0 bytes keeps contents");
	/* embedded NUL is kept as a byte */
	buf_add(&b, "x\0y", 3);
	is_int(b.len, 10, "embedded NUL counted");
	ok(memcmp(b.p, "abcdefgx\0y", 11) == 0, "embedded NUL kept, then NUL");
	buf_free(&b);
	ok(b.p == NULL && b.len == 0 && b.cap == 0, "free resets the buf");
	buf_free(&b);
	ok(b.p == NULL, "double free is harmless");
}

static void
test_growth(void)
{
	struct buf b;
	char want[10001];
	int good = 1;

	buf_init(&b);
	for (int i = 0; i < 10000; i++) {
		want[i] = (char)('a' + i % 26);
		buf_addc(&b, want[i]);
		if (b.len != (size_t)i + 1 || b.cap <= b.len || b.p[b.len] != '\0')
			good = 0;
	}
	want[10000] = '\0';
	ok(good, "growth: len, cap > len and NUL kept on every append");
	is_int(b.len, 10000, "growth: 10000 bytes");
	ok(strcmp(b.p, want) == 0, "growth: contents intact");
	buf_free(&b);

	buf_init(&b);
	buf_reserve(&b, 1000);
	ok(b.cap >= 1001, "reserve: room for 1000 bytes and NUL");
	is_int(b.len, 0, "reserve does not change len");
	{
		char *p = b.p;
		size_t cap = b.cap;
		buf_add(&b, want, 1000);
		ok(b.p == p && b.cap == cap, "no realloc within reserved room");
	}
	ok(memcmp(b.p, want, 1000) == 0 && b.p[1000] == '\0', "reserved add ok");
	buf_free(&b);
}

static void
test_printf(void)
{
	struct buf b;
	char big[5000];

	buf_init(&b);
	buf_printf(&b, "%d-%s", 42, "x");
	is_str(b.p, "42-x", "printf into empty buf");
	is_int(b.len, 4, "printf len");
	buf_printf(&b, ",%llu", 18446744073709551615ULL);
	is_str(b.p, "42-x,18446744073709551615", "printf appends");
	is_int(b.len, 25, "printf len after append");
	buf_printf(&b, "%s", "");
	is_int(b.len, 25, "empty printf adds nothing");
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_printf(&b, "[%s]", big);
	is_int(b.len, 25 + 2 + 4999, "large printf grows the buffer");
	ok(b.p[25] == '[' && b.p[26] == 'z' && b.p[b.len - 1] == ']' &&
	    b.p[b.len] == '\0', "large printf bytes and NUL");
	is_int(strlen(b.p), b.len, "no stray NUL from printf");
	buf_free(&b);
}

static void
test_json_str(void)
{
	char *s;
	char ctl[40];
	int i;

	s = json_of("");
	is_str(s, "\"\"", "json: empty string");
	free(s);
	s = json_of("hello world");
	is_str(s, "\"hello world\"", "json: plain");
	free(s);
	s = json_of("say \"hi\"");
	is_str(s, "\"say \\\"hi\\\"\"", "json: quotes escaped");
	free(s);
	s = json_of("a\\b");
	is_str(s, "\"a\\\\b\"", "json: backslash escaped");
	free(s);
	s = json_of("l1\nl2\r\tx");
	is_str(s, "\"l1\\nl2\\r\\tx\"", "json: newline, CR, tab");
	free(s);
	s = json_of("\x01\x1f\x08\x0c\x7f");
	is_str(s, "\"\\u0001\\u001f\\u0008\\u000c\x7f\"",
	    "json: control chars -> \\u00XX, DEL kept");
	free(s);
	s = json_of("/<caf\xc3\xa9>");
	is_str(s, "\"/<caf\xc3\xa9>\"", "json: slash and UTF-8 kept as is");
	free(s);

	/* every control char 1..31 */
	for (i = 1; i < 32; i++)
		ctl[i - 1] = (char)i;
	ctl[31] = '\0';
	s = json_of(ctl);
	is_str(s, "\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007"
	    "\\u0008\\t\\n\\u000b\\u000c\\r\\u000e\\u000f\\u0010\\u0011"
	    "\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019"
	    "\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\"",
	    "json: all control chars 1-31");
	free(s);

	/* appends after existing content */
	{
		struct buf b;
		buf_init(&b);
		buf_adds(&b, "{\"k\":");
		buf_json_str(&b, "v\"");
		buf_addc(&b, '}');
		is_str(b.p, "{\"k\":\"v\\\"\"}", "json: appended after content");
		is_int(b.len, strlen("{\"k\":\"v\\\"\"}"), "json: len right");
		buf_free(&b);
	}
}

static void
test_steal(void)
{
	struct buf b;
	char *s;

	buf_init(&b);
	s = buf_steal(&b);
	ok(s != NULL, "steal of an empty buf gives a string");
	is_str(s, "", "steal of an empty buf is \"\"");
	ok(b.p == NULL && b.len == 0 && b.cap == 0, "buf empty after steal");
	free(s);

	buf_adds(&b, "owned");
	s = buf_steal(&b);
	is_str(s, "owned", "steal returns the bytes");
	ok(b.p == NULL && b.len == 0 && b.cap == 0, "buf reset after steal");
	buf_adds(&b, "again");
	is_str(b.p, "again", "buf reusable after steal");
	ok(b.p != s, "new storage after steal");
	free(s);
	buf_free(&b);
}

int
main(void)
{
	test_init_add();
	test_growth();
	test_printf();
	test_json_str();
	test_steal();
	return tap_done();
}
