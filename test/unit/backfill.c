/* backfill.c - tests for lib/backfill.c: what a subscribing call returns
 * from the replay log (SPEC 4.3), chosen as App.net paginates */
#include "backfill.h"
#include "buf.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next_cursor = 100;

/* Stamp an event record and append it to r; keys and visible_to are
 * JSON lists (visible NULL: public), data a JSON object or NULL. */
static void
add(struct replay *r, const char *type, const char *action, const char *id,
    const char *keys, const char *visible, const char *data)
{
	struct ingest_rec rec;
	const char *reason, *detail;
	struct buf b;

	buf_init(&b);
	buf_printf(&b, "{\"type\":\"%s\",\"action\":\"%s\",\"id\":\"%s\","
	    "\"keys\":%s", type, action, id, keys);
	if (visible)
		buf_printf(&b, ",\"visible_to\":%s", visible);
	if (data)
		buf_printf(&b, ",\"data\":%s", data);
	buf_addc(&b, '}');
	if (ingest_parse(b.p, b.len, &rec, &reason, &detail) < 0) {
		printf("# %s: %s\n", b.p, detail);
		abort();
	}
	buf_free(&b);
	event_stamp(rec.ev, next_cursor++, 1);
	replay_append(r, rec.ev);
	event_unref(rec.ev);
}

static void
post(struct replay *r, const char *id, const char *keys)
{
	char data[256];

	snprintf(data, sizeof(data), "{\"id\":\"%s\"}", id);
	add(r, "post", "create", id, keys, NULL, data);
}

/* backfill_select into an array of exactly |count| (ASan sees an
 * overrun), and the ids returned joined with ','. */
static char got[4096];
static bool more;

static size_t
sel(const struct replay *r, const char *key, const char *user,
    const struct subfilter *f, const char *since, const char *before, int count)
{
	struct backfill_query q = { .key = key, .user_id = user, .filter = f,
	    .since_id = since, .before_id = before, .count = count };
	size_t room = (size_t)(count < 0 ? -count : count);
	struct event **out = malloc((room ? room : 1) * sizeof(*out));
	size_t n, len = 0;

	more = (bool)0xaa;
	n = backfill_select(r, &q, out, &more);
	got[0] = '\0';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s",
		    i ? "," : "", out[i]->id);
	free(out);
	return n;
}

/* one select: the ids and `more` */
#define SEL(want_ids, want_more, ...) do {				\
	size_t n_ = sel(__VA_ARGS__);					\
	ok(strcmp(got, want_ids) == 0 && more == (want_more),		\
	    "%s: %s, more %s", #__VA_ARGS__, want_ids,			\
	    (want_more) ? "true" : "false");				\
	if (strcmp(got, want_ids) != 0 || more != (want_more))		\
		printf("#   got '%s' (%zu), more %d\n", got, n_, (int)more); \
} while (0)

/* The value of name in a query "a=1&b=2" (ctx), or NULL. */
static const char *
query_get(void *ctx, const char *name)
{
	static char val[256];
	const char *p = ctx;
	size_t n = strlen(name);

	while (*p) {
		const char *end = strchr(p, '&');

		if (end == NULL)
			end = p + strlen(p);
		if (strncmp(p, name, n) == 0 && p[n] == '=') {
			snprintf(val, sizeof(val), "%.*s", (int)(end - p - n - 1),
			    p + n + 1);
			return val;
		}
		p = *end ? end + 1 : end;
	}
	return NULL;
}

static int
sgn(int x)
{
	return x < 0 ? -1 : x > 0;
}

static void
test_id_cmp(void)
{
	static const struct { const char *a, *b; int want; } v[] = {
		{ "1", "2", -1 }, { "2", "1", 1 }, { "5", "5", 0 },
		{ "9", "10", -1 }, { "10", "9", 1 }, { "99", "100", -1 },
		{ "007", "7", 0 }, { "7", "007", 0 }, { "0", "000", 0 },
		{ "08", "10", -1 }, { "010", "9", 1 }, { "0", "1", -1 },
		{ "1000000000000000000000000", "999999999999999999999999", 1 },
		{ "123456789012345678901234567890", "123456789012345678901234567891", -1 },
		{ "123456789012345678901234567890", "123456789012345678901234567890", 0 },
		{ "00000000000000000000000000000012", "13", -1 },
		{ "18446744073709551616", "18446744073709551615", 1 },
		{ "a", "b", -1 }, { "b", "a", 1 }, { "abc", "abc", 0 },
		{ "10", "9a", -1 },	/* not both numbers: bytewise */
		{ "9a", "10", 1 }, { "1a", "1b", -1 }, { "ab", "abc", -1 },
		{ "-1", "1", -1 }, { "", "1", -1 }, { "", "", 0 },
		{ " 1", "1", -1 }, { "0x10", "9", -1 },
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		is_int(sgn(backfill_id_cmp(v[i].a, v[i].b)), v[i].want,
		    "id_cmp(\"%s\", \"%s\") %s 0", v[i].a, v[i].b,
		    v[i].want < 0 ? "<" : v[i].want > 0 ? ">" : "==");
	/* antisymmetric over all those ids */
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		for (size_t j = 0; j < sizeof(v) / sizeof(v[0]); j++) {
			const char *a = i % 2 ? v[i].a : v[i].b;
			const char *b = j % 2 ? v[j].b : v[j].a;

			if (sgn(backfill_id_cmp(a, b)) != -sgn(backfill_id_cmp(b, a)))
				bad++;
		}
	is_int(bad, 0, "antisymmetric");
}

static void
test_count(void)
{
	struct replay *r = replay_new(600000, 1 << 30, 0);
	char id[16];

	for (int i = 1; i <= 10; i++) {
		snprintf(id, sizeof(id), "%d", i);
		post(r, id, "[\"k\"]");
	}
	SEL("10,9,8,7,6,5,4,3,2,1", false, r, "k", "12", NULL, NULL, NULL, 20);
	SEL("10,9,8,7,6,5,4,3,2,1", false, r, "k", "12", NULL, NULL, NULL, 10);
	SEL("10,9,8,7,6,5,4,3,2", true, r, "k", "12", NULL, NULL, NULL, 9);
	SEL("10,9,8", true, r, "k", "12", NULL, NULL, NULL, 3);
	SEL("10", true, r, "k", "12", NULL, NULL, NULL, 1);
	SEL("", true, r, "k", "12", NULL, NULL, NULL, 0);
	SEL("", false, r, "other", "12", NULL, NULL, NULL, 0);
	SEL("", false, r, "other", "12", NULL, NULL, NULL, 20);
	SEL("", false, r, "k", "12", NULL, "10", NULL, 0);
	SEL("", true, r, "k", "12", NULL, "9", NULL, 0);
	/* negative: the oldest, returned newest first */
	SEL("3,2,1", true, r, "k", "12", NULL, NULL, NULL, -3);
	SEL("1", true, r, "k", "12", NULL, NULL, NULL, -1);
	SEL("10,9,8,7,6,5,4,3,2,1", false, r, "k", "12", NULL, NULL, NULL, -10);
	SEL("10,9,8,7,6,5,4,3,2,1", false, r, "k", "12", NULL, NULL, NULL, -200);
	SEL("9,8,7,6,5,4,3,2,1", true, r, "k", "12", NULL, NULL, NULL, -9);
	/* App.net's example: ids 1..10, before_id=9&since_id=2 */
	SEL("8,7", true, r, "k", "12", NULL, "2", "9", 2);
	SEL("4,3", true, r, "k", "12", NULL, "2", "9", -2);
	SEL("8,7,6,5,4,3", false, r, "k", "12", NULL, "2", "9", 6);
	SEL("8,7,6,5,4,3", false, r, "k", "12", NULL, "2", "9", -6);
	SEL("8,7,6,5,4,3", false, r, "k", "12", NULL, "2", "9", 20);
	SEL("8,7,6,5,4", true, r, "k", "12", NULL, "2", "9", 5);
	SEL("7,6,5,4,3", true, r, "k", "12", NULL, "2", "9", -5);
	/* since_id or before_id alone */
	SEL("10,9,8", false, r, "k", "12", NULL, "7", NULL, 20);
	SEL("10,9", true, r, "k", "12", NULL, "7", NULL, 2);
	SEL("9,8", true, r, "k", "12", NULL, "7", NULL, -2);
	SEL("", false, r, "k", "12", NULL, "10", NULL, 20);
	SEL("", false, r, "k", "12", NULL, "11", NULL, 20);
	SEL("10,9,8,7,6,5,4,3,2,1", false, r, "k", "12", NULL, "0", NULL, 20);
	SEL("3,2,1", false, r, "k", "12", NULL, NULL, "4", 20);
	SEL("3,2", true, r, "k", "12", NULL, NULL, "4", 2);
	SEL("2,1", true, r, "k", "12", NULL, NULL, "4", -2);
	SEL("", false, r, "k", "12", NULL, NULL, "1", 20);
	SEL("", false, r, "k", "12", NULL, "5", "6", 20);
	SEL("", false, r, "k", "12", NULL, "6", "5", 20);
	/* ids compare as numbers, leading zeros and all */
	SEL("10,9", false, r, "k", "12", NULL, "08", NULL, 20);
	SEL("10", false, r, "k", "12", NULL, "0000009", NULL, 20);
	replay_free(r);

	/* ids longer than any integer type, in cursor order */
	r = replay_new(600000, 1 << 30, 0);
	post(r, "99999999999999999999999", "[\"k\"]");
	post(r, "100000000000000000000000", "[\"k\"]");
	post(r, "100000000000000000000001", "[\"k\"]");
	SEL("100000000000000000000001,100000000000000000000000", false, r, "k", "1",
	    NULL, "99999999999999999999999", NULL, 20);
	SEL("99999999999999999999999", false, r, "k", "1",
	    NULL, NULL, "100000000000000000000000", 20);
	replay_free(r);
}

static void
test_keys_visibility(void)
{
	struct replay *r = replay_new(600000, 1 << 30, 0);

	add(r, "post", "create", "1", "[\"global\",\"posts:12\",\"stream:34\"]",
	    NULL, "{\"id\":\"1\"}");
	add(r, "post", "create", "2", "[\"posts:12\",\"stream:345\"]",
	    NULL, "{\"id\":\"2\"}");
	add(r, "post", "create", "3", "[\"stream:3\",\"global\"]",
	    NULL, "{\"id\":\"3\"}");
	add(r, "message", "create", "4", "[\"stream:34\",\"messages:9\"]",
	    "[\"12\",\"34\"]", "{\"id\":\"4\"}");
	add(r, "message", "create", "5", "[\"messages:9\"]",
	    "[\"56\"]", "{\"id\":\"5\"}");
	add(r, "post", "create", "6", "[]", NULL, "{\"id\":\"6\"}");
	add(r, "post", "create", "7", "[\"global\"]", "[]", "{\"id\":\"7\"}");

	SEL("3,1", false, r, "global", "1", NULL, NULL, NULL, 20);
	SEL("2,1", false, r, "posts:12", "1", NULL, NULL, NULL, 20);
	SEL("4,1", false, r, "stream:34", "34", NULL, NULL, NULL, 20);
	SEL("2", false, r, "stream:345", "1", NULL, NULL, NULL, 20);
	SEL("3", false, r, "stream:3", "1", NULL, NULL, NULL, 20);
	SEL("", false, r, "stream", "1", NULL, NULL, NULL, 20);
	SEL("", false, r, "posts:1", "1", NULL, NULL, NULL, 20);
	SEL("", false, r, "GLOBAL", "1", NULL, NULL, NULL, 20);
	/* visibility */
	SEL("4", false, r, "messages:9", "12", NULL, NULL, NULL, 20);
	SEL("4", false, r, "messages:9", "34", NULL, NULL, NULL, 20);
	SEL("5", false, r, "messages:9", "56", NULL, NULL, NULL, 20);
	SEL("", false, r, "messages:9", "3", NULL, NULL, NULL, 20);
	SEL("", false, r, "messages:9", "567", NULL, NULL, NULL, 20);
	SEL("1", false, r, "stream:34", "56", NULL, NULL, NULL, 20);
	/* `more` counts only what the user could have been given */
	SEL("4", false, r, "messages:9", "12", NULL, NULL, NULL, 1);
	SEL("", true, r, "messages:9", "12", NULL, NULL, NULL, 0);
	SEL("", false, r, "messages:9", "1", NULL, NULL, NULL, 0);
	SEL("5", false, r, "messages:9", "56", NULL, NULL, NULL, -1);
	SEL("3", true, r, "global", "12", NULL, NULL, NULL, 1);
	replay_free(r);
}

static void
test_filter_and_data(void)
{
	struct replay *r = replay_new(600000, 1 << 30, 0);
	struct subfilter def, nodel, pm, all;

	memset(&all, 0, sizeof(all));
	memset(&def, 0, sizeof(def));
	def.drop = SF_MACHINE;		/* as subfilter_parse's defaults */
	memset(&nodel, 0, sizeof(nodel));
	nodel.drop = SF_MACHINE | SF_DELETED;
	memset(&pm, 0, sizeof(pm));
	pm.channel_types = (char *)",pm,";

	add(r, "post", "create", "1", "[\"k\"]", NULL, "{\"id\":\"1\"}");
	add(r, "post", "create", "2", "[\"k\"]", NULL,
	    "{\"id\":\"2\",\"is_machine\":true}");
	add(r, "post", "delete", "3", "[\"k\"]", NULL,
	    "{\"id\":\"3\",\"is_deleted\":true}");
	add(r, "post", "delete", "4", "[\"k\"]", NULL, NULL);	/* no data */
	add(r, "message", "create", "5", "[\"k\"]", NULL,
	    "{\"id\":\"5\",\"channel\":{\"type\":\"pm\"}}");
	add(r, "message", "create", "6", "[\"k\"]", NULL,
	    "{\"id\":\"6\",\"channel\":{\"type\":\"chat\"}}");
	add(r, "post", "delete", "7", "[\"k\"]", NULL, NULL);	/* no data */

	SEL("6,5,3,2,1", false, r, "k", "1", NULL, NULL, NULL, 20);
	SEL("6,5,3,2,1", false, r, "k", "1", &all, NULL, NULL, 20);
	SEL("6,5,3,1", false, r, "k", "1", &def, NULL, NULL, 20);
	SEL("6,5,1", false, r, "k", "1", &nodel, NULL, NULL, 20);
	SEL("5,3,2,1", false, r, "k", "1", &pm, NULL, NULL, 20);
	/* deletes without data are not counted for `more` either */
	SEL("6,5,3,2,1", false, r, "k", "1", NULL, NULL, NULL, 5);
	SEL("6,5,3,2", true, r, "k", "1", NULL, NULL, NULL, 4);
	SEL("1", false, r, "k", "1", NULL, "0", "2", 20);
	SEL("", false, r, "k", "1", NULL, "6", NULL, 0);
	SEL("", false, r, "k", "1", NULL, "3", "5", 20);
	SEL("1", true, r, "k", "1", &def, NULL, NULL, -1);
	SEL("3,1", true, r, "k", "1", &def, NULL, NULL, -2);
	SEL("6,5,3,1", false, r, "k", "1", &def, NULL, NULL, -4);
	SEL("", false, r, "k", "1", &nodel, "1", "5", 20);
	/* through subfilter_parse, as the server builds them */
	{
		struct subfilter f;
		char err[128];

		ok(subfilter_parse(query_get, (void *)"include_machine=1&"
		    "channel_types=chat", false, &f, err, sizeof(err)) == 0,
		    "include_machine=1&channel_types=chat parsed");
		SEL("6,3,2,1", false, r, "k", "1", &f, NULL, NULL, 20);
		subfilter_clear(&f);
		ok(subfilter_parse(query_get, (void *)"include_deleted=0", true,
		    &f, err, sizeof(err)) == 0, "include_deleted=0 parsed");
		SEL("6,5,1", false, r, "k", "1", &f, NULL, NULL, 20);
		SEL("6,5", true, r, "k", "1", &f, NULL, NULL, 2);
		subfilter_clear(&f);
	}
	replay_free(r);
}

int
main(void)
{
	test_id_cmp();
	test_count();
	test_keys_visibility();
	test_filter_and_data();
	return tap_done();
}
