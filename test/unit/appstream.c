/* appstream.c - tests for lib/appstream.c: app-stream definitions */
#include "appfilter.h"
#include "appstream.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
parse(const char *body, bool put, struct appstream_def *def, char *err)
{
	return appstream_parse(body, strlen(body), put, def, err, 256);
}

static void
good(const char *body, bool put, uint32_t types, const char *key)
{
	struct appstream_def def;
	char err[256] = "";
	int rc = parse(body, put, &def, err);

	ok(rc == 0 && def.types == types && strcmp(def.key, key) == 0,
	    "%s accepts %s (rc %d: %s; types %#x key '%s')", put ? "PUT" : "POST",
	    body, rc, err, def.types, def.key);
	appfilter_free(def.filter);
}

static void
bad(const char *body, bool put, int want, const char *word)
{
	struct appstream_def def;
	char err[256] = "";
	int rc = parse(body, put, &def, err);

	ok(rc == want && strstr(err, word) != NULL,
	    "%s refuses %.80s with %d naming '%s' (rc %d: %s)",
	    put ? "PUT" : "POST", body, want, word, rc, err);
}

static void
test_types(void)
{
	struct buf b;

	is_int(appstream_type_index("post"), 0, "post is type 0");
	is_int(appstream_type_index("file"), 10, "file is type 10");
	is_int(appstream_type_index("channel_subscription"), 7, "channel_subscription");
	is_int(appstream_type_index("Post"), -1, "names are case-sensitive");
	is_int(appstream_type_index(""), -1, "empty name");
	buf_init(&b);
	appstream_render_types(1u << 5 | 1u << 0 | 1u << 10, &b);
	is_str(b.p, "[\"post\",\"message\",\"file\"]", "rendered in the canonical order");
	b.len = 0;
	appstream_render_types(0, &b);
	is_str(b.p, "[]", "no types");
	buf_free(&b);
}

static void
test_keys(void)
{
	char k32[33], k33[34];

	memset(k32, 'a', 32);
	k32[32] = '\0';
	memset(k33, 'a', 33);
	k33[33] = '\0';
	ok(appstream_key_valid("rollout_stream_1"), "letters, digits, _");
	ok(appstream_key_valid("A"), "one character");
	ok(appstream_key_valid(k32), "32 characters");
	ok(!appstream_key_valid(k33), "33 characters");
	ok(!appstream_key_valid(""), "empty");
	ok(!appstream_key_valid("a-b"), "a dash");
	ok(!appstream_key_valid("a b"), "a blank");
	ok(!appstream_key_valid("a/b"), "a slash");
	ok(!appstream_key_valid("\xc3\xa9"), "non-ASCII");
}

static void
test_parse(void)
{
	char big[APPSTREAM_BODY_MAX + 100];

	good("{\"object_types\":[\"post\"],\"type\":\"long_poll\",\"key\":\"k\"}",
	    false, 1, "k");
	good("{\"object_types\":[\"message\",\"post\"],\"type\":\"long_poll\"}",
	    false, 1u << 5 | 1, "");
	good(" {\"type\":\"long_poll\",\"object_types\":[\"file\"],\"key\":null,"
	    "\"filter\":null}\n", false, 1u << 10, "");
	good("{\"object_types\":[\"follow\"]}", true, 1u << 2, "");
	good("{\"object_types\":[\"follow\"],\"key\":\"x\",\"type\":\"long_poll\","
	    "\"id\":\"4\",\"endpoint\":\"ws://h/v1/app?key=x\"}", true, 1u << 2, "x");
	/* every known type */
	good("{\"type\":\"long_poll\",\"object_types\":[\"post\",\"bookmark\","
	    "\"follow\",\"mute\",\"block\",\"message\",\"channel\","
	    "\"channel_subscription\",\"token\",\"user\",\"file\"]}", false,
	    (1u << APPSTREAM_NTYPES) - 1, "");

	bad("{\"object_types\":[\"post\"]}", false, 400, "type");
	bad("{\"object_types\":[\"post\"],\"type\":\"stream\"}", false, 400, "long_poll");
	bad("{\"object_types\":[\"post\"],\"type\":\"stream\"}", true, 400, "long_poll");
	bad("{\"object_types\":[\"post\"],\"type\":1}", false, 400, "long_poll");
	bad("{\"type\":\"long_poll\"}", false, 400, "object_types is required");
	bad("{\"type\":\"long_poll\"}", true, 400, "object_types is required");
	bad("{\"type\":\"long_poll\",\"object_types\":[]}", false, 400, "non-empty");
	bad("{\"type\":\"long_poll\",\"object_types\":\"post\"}", false, 400, "non-empty list");
	bad("{\"type\":\"long_poll\",\"object_types\":[1]}", false, 400, "strings");
	bad("{\"type\":\"long_poll\",\"object_types\":[\"posts\"]}", false, 400, "'posts'");
	bad("{\"type\":\"long_poll\",\"object_types\":[\"post\",\"file\",\"post\"]}",
	    false, 400, "'post' is listed twice");
	bad("{\"type\":\"long_poll\",\"object_types\":[\"post\"],\"key\":\"\"}", false, 400, "key");
	bad("{\"type\":\"long_poll\",\"object_types\":[\"post\"],\"key\":\"a.b\"}", false, 400, "key");
	bad("{\"type\":\"long_poll\",\"object_types\":[\"post\"],\"key\":5}", false, 400, "key");
	bad("{\"type\":\"long_poll\",\"object_types\":[\"post\"],\"colour\":\"red\"}",
	    false, 400, "'colour'");
	bad("{\"type\":\"long_poll\",\"object_types\":[\"post\"],\"filter\":{}}", false, 400, "filter");
	bad("{\"type\":\"long_poll\",\"object_types\":[\"post\"],\"filter\":{}}", true, 400, "filter");
	bad("{\"type\":\"long_poll\",\"object_types\":[\"post\"],\"filter\":{\"match_policy\":"
	    "\"include_any\",\"clauses\":[{\"object_type\":\"post\",\"operator\":\"equals\","
	    "\"field\":\"/data/id\",\"value\":\"1\"},{\"object_type\":\"post\",\"operator\":"
	    "\"near\",\"field\":\"/data/id\",\"value\":\"1\"}]}}", false, 400,
	    "filter.clauses[1].operator");
	{
		struct appstream_def def;
		char err[256] = "";
		int rc = parse("{\"type\":\"long_poll\",\"object_types\":[\"post\"],"
		    "\"filter\":{\"match_policy\":\"exclude_any\",\"clauses\":"
		    "[{\"object_type\":\"post\",\"operator\":\"matches\","
		    "\"field\":\"/data/text\",\"value\":\"spam\"}]}}", false, &def, err);

		ok(rc == 0 && def.filter != NULL && appfilter_applies(def.filter, 0) &&
		    !appfilter_applies(def.filter, 5),
		    "a filter is parsed into the definition (rc %d: %s)", rc, err);
		appfilter_free(def.filter);
	}
	bad("", false, 400, "JSON");
	bad("{", false, 400, "JSON");
	bad("[]", false, 400, "JSON object");
	bad("\"x\"", false, 400, "JSON object");
	bad("{\"type\":\"long_poll\",\"object_types\":[\"post\"]} {}", false, 400, "after");
	memset(big, ' ', sizeof(big));
	{
		const char *obj = "{\"type\":\"long_poll\",\"object_types\":[\"post\"]}";

		memcpy(big, obj, strlen(obj));	/* then blanks: valid JSON */
	}
	big[sizeof(big) - 1] = '\0';
	bad(big, false, 400, "larger");
}

int
main(void)
{
	test_types();
	test_keys();
	test_parse();
	return tap_done();
}
