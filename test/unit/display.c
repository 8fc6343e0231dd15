/* display.c - tests for lib/display.c: display options (SPEC 4.5),
 * parsing them and applying them to the objects of `data` */
#include "display.h"
#include "buf.h"
#include "query.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>


static char err[256];

/* display_parse of a query string; -1 on error (err set). */
static int
parse(const char *s, display_t *d)
{
	struct query q;

	query_set(&q, s);
	err[0] = '\0';
	*d = 0xffff;
	return display_parse(query_get, &q, d, err, sizeof(err));
}

/* The kinds as the option names spell them, in enum order. */
static const struct { const char *name; int kind; } kinds[] = {
	{ "post", DK_POST }, { "user", DK_USER }, { "channel", DK_CHANNEL },
	{ "message", DK_MESSAGE }, { "file", DK_FILE }, { "poll", DK_POLL },
};
#define NKINDS	(int)(sizeof(kinds) / sizeof(kinds[0]))

static void
test_parse(void)
{
	display_t d;
	char q[128];

	is_int(parse("", &d), 0, "no options: ok");
	is_int(d, 0, "no options: mask 0 (html kept, raw and annotations removed)");
	is_int(parse("connection_id=x&count=5", &d), 0, "other arguments ignored");
	is_int(d, 0, "and give the defaults");
	is_int(parse("include_html=0", &d), 0, "include_html=0");
	is_int(d, DISPLAY_NO_HTML, "include_html=0 -> NO_HTML");
	is_int(parse("include_html=false", &d), 0, "include_html=false");
	is_int(d, DISPLAY_NO_HTML, "include_html=false -> NO_HTML");
	is_int(parse("include_html=1", &d), 0, "include_html=1");
	is_int(d, 0, "include_html=1 -> the default");
	is_int(parse("include_html=true", &d), 0, "include_html=true");
	is_int(d, 0, "include_html=true -> the default");
	is_int(parse("include_raw=1", &d), 0, "include_raw=1");
	is_int(d, DISPLAY_RAW_ALL, "include_raw=1 -> every raw bit");
	is_int(parse("include_raw=0", &d), 0, "include_raw=0");
	is_int(d, 0, "include_raw=0 -> the default");
	is_int(parse("include_annotations=1", &d), 0, "include_annotations=1");
	is_int(d, DISPLAY_ANNOT_ALL, "include_annotations=1 -> every annotations bit");
	is_int(parse("include_annotations=0", &d), 0, "include_annotations=0");
	is_int(d, 0, "include_annotations=0 -> the default");
	is_int(DISPLAY_RAW_ALL | DISPLAY_ANNOT_ALL, DISPLAY_FULL,
	    "FULL is every raw and annotations bit");
	ok((DISPLAY_RAW_ALL & DISPLAY_ANNOT_ALL) == 0 &&
	    ((DISPLAY_RAW_ALL | DISPLAY_ANNOT_ALL) & DISPLAY_NO_HTML) == 0,
	    "the three groups of bits are disjoint");

	for (int i = 0; i < NKINDS; i++) {
		snprintf(q, sizeof(q), "include_%s_raw=1", kinds[i].name);
		is_int(parse(q, &d), 0, "%s", q);
		is_int(d, DISPLAY_RAW(kinds[i].kind), "%s -> its raw bit only", q);
		snprintf(q, sizeof(q), "include_%s_raw=true", kinds[i].name);
		is_int(parse(q, &d) == 0 ? d : 0xffff, DISPLAY_RAW(kinds[i].kind),
		    "%s -> its raw bit", q);
		snprintf(q, sizeof(q), "include_%s_raw=0", kinds[i].name);
		is_int(parse(q, &d) == 0 ? d : 0xffff, 0, "%s -> the default", q);
		snprintf(q, sizeof(q), "include_%s_annotations=1", kinds[i].name);
		is_int(parse(q, &d), 0, "%s", q);
		is_int(d, DISPLAY_ANNOT(kinds[i].kind),
		    "%s -> its annotations bit only", q);
		snprintf(q, sizeof(q), "include_%s_annotations=0", kinds[i].name);
		is_int(parse(q, &d) == 0 ? d : 0xffff, 0, "%s -> the default", q);
		ok((DISPLAY_RAW(kinds[i].kind) & DISPLAY_RAW_ALL) &&
		    (DISPLAY_ANNOT(kinds[i].kind) & DISPLAY_ANNOT_ALL),
		    "%s bits lie within the groups", kinds[i].name);
	}
	is_int(parse("include_post_raw=1&include_user_annotations=1&include_html=0",
	    &d), 0, "several options");
	is_int(d, DISPLAY_RAW(DK_POST) | DISPLAY_ANNOT(DK_USER) | DISPLAY_NO_HTML,
	    "several options combine");
	is_int(parse("include_raw=1&include_post_raw=0", &d), 0,
	    "include_raw=1 with a per-object 0");
	is_int(d, DISPLAY_RAW_ALL, "a per-object 0 does not take back include_raw=1");
	is_int(parse("include_annotations=1&include_raw=1&include_html=0", &d), 0,
	    "everything");
	is_int(d, DISPLAY_FULL | DISPLAY_NO_HTML, "everything kept but html");

	/* bad values: -1 and a message naming the option */
	{
		static const char *const badv[] = { "2", "yes", "", "01", "TRUE", "-1" };
		const char *names[2 + 2 + 2 * NKINDS + 1];
		int nn = 0, bad = 0;
		char buf[NKINDS][2][48];

		names[nn++] = "include_html";
		names[nn++] = "include_raw";
		names[nn++] = "include_annotations";
		for (int i = 0; i < NKINDS; i++)
			for (int p = 0; p < 2; p++) {
				snprintf(buf[i][p], sizeof(buf[i][p]), "include_%s_%s",
				    kinds[i].name, p ? "annotations" : "raw");
				names[nn++] = buf[i][p];
			}
		for (int i = 0; i < nn; i++)
			for (size_t v = 0; v < sizeof(badv) / sizeof(badv[0]); v++) {
				size_t l = strlen(names[i]);
				int rc;

				snprintf(q, sizeof(q), "connection_id=c&%s=%s",
				    names[i], badv[v]);
				rc = parse(q, &d);
				if (rc != -1 || strncmp(err, names[i], l) != 0 ||
				    err[l] != ' ') {
					bad++;
					printf("# %s: rc %d, err '%s'\n", q, rc, err);
				}
			}
		is_int(bad, 0, "%d options x %zu bad values: -1, the message "
		    "names the option", nn, sizeof(badv) / sizeof(badv[0]));
		is_int(parse("include_post_raw=yes", &d), -1, "include_post_raw=yes");
		is_str(err, "include_post_raw must be 0 or 1", "the whole message");
		is_int(parse("include_html=", &d), -1, "include_html empty");
		is_str(err, "include_html must be 0 or 1", "names include_html");
		/* an error after good options: the first bad one is named */
		is_int(parse("include_raw=1&include_poll_annotations=2", &d), -1,
		    "a bad one after a good one");
		is_str(err, "include_poll_annotations must be 0 or 1",
		    "names the bad one");
	}
}

static void
test_root_kind(void)
{
	for (int i = 0; i < NKINDS; i++)
		is_int(display_root_kind(kinds[i].name), kinds[i].kind,
		    "type %s: kind %s", kinds[i].name, kinds[i].name);
	is_int(display_root_kind("follow"), -1, "follow: no kind");
	is_int(display_root_kind("bookmark"), -1, "bookmark: no kind");
	is_int(display_root_kind("channel_subscription"), -1,
	    "channel_subscription: no kind");
	is_int(display_root_kind("posts"), -1, "posts (plural) is not a type");
	is_int(display_root_kind("Post"), -1, "case matters");
	is_int(display_root_kind(""), -1, "empty type");
}

/* Objects with something at every depth. */
static const char post_json[] =
    "{\"id\":\"1\",\"content\":{\"text\":\"hi\",\"html\":\"<b>hi</b>\"},"
    "\"raw\":[{\"type\":\"io.x\",\"value\":{\"html\":\"in raw\","
    "\"raw\":\"nested\",\"annotations\":[1],\"user\":{\"raw\":2}}}],"
    "\"annotations\":[{\"type\":\"net.app\",\"value\":{\"html\":\"in annot\"}}],"
    "\"user\":{\"id\":\"12\",\"content\":{\"html\":\"<p>u</p>\"},"
    "\"raw\":[{\"type\":\"u\"}],\"annotations\":[{\"type\":\"ua\"}]},"
    "\"repost_of\":{\"id\":\"0\",\"html\":\"r\",\"raw\":[\"r\"],"
    "\"user\":{\"raw\":[\"ru\"]}}}";
static const char follow_json[] =
    "{\"raw\":[{\"type\":\"f\"}],\"annotations\":[{\"type\":\"fa\"}],"
    "\"user\":{\"id\":\"1\",\"raw\":[\"u\"]},"
    "\"follows_user\":{\"id\":\"2\",\"raw\":[\"fu\"],"
    "\"content\":{\"html\":\"x\"}},\"note\":{\"raw\":[\"n\"]}}";
static const char message_json[] =
    "{\"id\":\"7\",\"raw\":[\"m\"],\"channel\":{\"raw\":[\"c\"],"
    "\"owner\":{\"raw\":[\"o\"]}},"
    "\"files\":[{\"id\":\"f1\",\"raw\":[\"f1\"]},{\"id\":\"f2\","
    "\"raw\":[\"f2\"],\"annotations\":[\"fa\"]},\"not an object\"],"
    "\"polls\":[{\"annotations\":[\"p\"]}],"
    "\"content\":{\"text\":\"no html here\"}}";
static const char plain_json[] =
    "{\"id\":\"3\",\"content\":{\"text\":\"x\",\"entities\":{\"links\":[]}},"
    "\"user\":{\"id\":\"4\",\"name\":\"html raw annotations\"},"
    "\"counts\":[1,2,3],\"htmlx\":\"not html\",\"Raw\":1}";

/* The JSON value at a path of member names "a/b/c" (a number is a list
 * index), or NULL. */
static const cJSON *
at(const cJSON *o, const char *path)
{
	char buf[256], *p, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = strtok_r(buf, "/", &save); p && o; p = strtok_r(NULL, "/", &save))
		o = cJSON_IsArray(o) ? cJSON_GetArrayItem(o, atoi(p)) :
		    cJSON_GetObjectItemCaseSensitive(o, p);
	return o;
}

/* data after display_apply with mask d, printed; caller frees */
static char *
applied(const char *json, int root, display_t d)
{
	cJSON *o = cJSON_Parse(json);
	char *s;

	if (o == NULL)
		abort();
	display_apply(o, root, d);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

/* data after display_apply with the options of query q, parsed back */
static cJSON *
with(const char *json, int root, const char *q)
{
	display_t d;
	cJSON *o = cJSON_Parse(json);

	if (o == NULL || parse(q, &d) < 0)
		abort();
	display_apply(o, root, d);
	return o;
}

static void
test_apply(void)
{
	cJSON *o, *want;

	/* the defaults: raw and annotations go everywhere, html stays */
	o = with(post_json, DK_POST, "");
	ok(at(o, "raw") == NULL && at(o, "annotations") == NULL,
	    "default: post.raw, post.annotations removed");
	ok(at(o, "user/raw") == NULL && at(o, "user/annotations") == NULL,
	    "default: post.user.raw, annotations removed");
	ok(at(o, "repost_of/raw") == NULL && at(o, "repost_of/user/raw") == NULL,
	    "default: repost_of.raw and repost_of.user.raw removed");
	ok(at(o, "content/html") && at(o, "user/content/html") &&
	    at(o, "repost_of/html"), "default: html kept at every depth");
	ok(at(o, "id") && at(o, "content/text") && at(o, "user/id"),
	    "default: other members untouched");
	want = cJSON_Parse("{\"id\":\"1\",\"content\":{\"text\":\"hi\",\"html\":"
	    "\"<b>hi</b>\"},\"user\":{\"id\":\"12\",\"content\":{\"html\":"
	    "\"<p>u</p>\"}},\"repost_of\":{\"id\":\"0\",\"html\":\"r\","
	    "\"user\":{}}}");
	ok(cJSON_Compare(o, want, 1), "default: exactly the expected object");
	cJSON_Delete(want);
	cJSON_Delete(o);

	/* include_html=0 */
	o = with(post_json, DK_POST, "include_html=0&include_raw=1");
	ok(at(o, "content/html") == NULL, "include_html=0: content.html removed");
	ok(at(o, "user/content/html") == NULL,
	    "include_html=0: user.content.html removed");
	ok(at(o, "repost_of/html") == NULL, "include_html=0: repost_of.html removed");
	ok(at(o, "content/text") != NULL, "include_html=0: content.text kept");
	ok(at(o, "raw/0/value/html") != NULL,
	    "include_html=0: html inside a kept raw value untouched");
	ok(at(o, "annotations") == NULL, "include_raw=1 leaves annotations removed");
	cJSON_Delete(o);
	o = with(post_json, DK_POST, "include_html=0&include_annotations=1");
	ok(at(o, "annotations/0/value/html") != NULL,
	    "include_html=0: html inside kept annotations untouched");
	ok(at(o, "raw") == NULL, "include_annotations=1 leaves raw removed");
	cJSON_Delete(o);

	/* nothing inside a kept raw value is touched */
	o = with(post_json, DK_POST, "include_post_raw=1");
	want = cJSON_Parse(post_json);
	ok(cJSON_Compare(at(o, "raw"), at(want, "raw"), 1),
	    "a kept raw value is whole: its raw, annotations, user.raw stay");
	cJSON_Delete(want);
	cJSON_Delete(o);

	/* per-kind raw */
	o = with(post_json, DK_POST, "include_user_raw=1");
	ok(at(o, "user/raw") != NULL, "include_user_raw=1: post.user.raw kept");
	ok(at(o, "repost_of/user/raw") != NULL,
	    "include_user_raw=1: repost_of.user.raw kept");
	ok(at(o, "raw") == NULL, "include_user_raw=1: post.raw removed");
	ok(at(o, "repost_of/raw") == NULL, "include_user_raw=1: repost_of.raw removed");
	ok(at(o, "user/annotations") == NULL,
	    "include_user_raw=1: user.annotations removed");
	cJSON_Delete(o);
	o = with(post_json, DK_POST, "include_post_raw=1");
	ok(at(o, "raw") != NULL, "include_post_raw=1: post.raw kept");
	ok(at(o, "user/raw") != NULL,
	    "include_post_raw=1: post.user.raw kept (a child of the post)");
	ok(at(o, "repost_of/raw") && at(o, "repost_of/user/raw"),
	    "include_post_raw=1: repost_of and its user keep raw");
	ok(at(o, "annotations") == NULL && at(o, "user/annotations") == NULL,
	    "include_post_raw=1: annotations removed");
	cJSON_Delete(o);
	o = with(post_json, DK_POST, "include_user_annotations=1");
	ok(at(o, "user/annotations") && !at(o, "annotations") && !at(o, "user/raw"),
	    "include_user_annotations=1: only user.annotations kept");
	cJSON_Delete(o);
	o = with(post_json, DK_POST, "include_post_annotations=1");
	ok(at(o, "user/annotations") && at(o, "annotations") && !at(o, "raw"),
	    "include_post_annotations=1: the post's and its user's annotations");
	cJSON_Delete(o);
	o = with(post_json, DK_POST, "include_channel_raw=1&include_message_raw=1"
	    "&include_file_raw=1&include_poll_raw=1");
	ok(!at(o, "raw") && !at(o, "user/raw") && !at(o, "repost_of/raw"),
	    "other kinds' raw keep nothing in a post");
	cJSON_Delete(o);
	/* the same object as a user event: the user kind is the root */
	o = with("{\"id\":\"12\",\"raw\":[1],\"annotations\":[2]}", DK_USER,
	    "include_user_raw=1");
	ok(at(o, "raw") && !at(o, "annotations"), "a user event's root is a user");
	cJSON_Delete(o);
	o = with("{\"id\":\"12\",\"raw\":[1]}", DK_USER, "include_post_raw=1");
	ok(!at(o, "raw"), "include_post_raw does not reach a user event's raw");
	cJSON_Delete(o);

	/* a follow event: no root kind */
	o = with(follow_json, -1, "include_user_raw=1&include_post_raw=1"
	    "&include_channel_raw=1&include_message_raw=1&include_file_raw=1"
	    "&include_poll_raw=1");
	ok(at(o, "raw") == NULL,
	    "follow: every per-kind raw option leaves the root's raw removed");
	ok(at(o, "user/raw") && at(o, "follows_user/raw"),
	    "follow: user and follows_user keep raw with include_user_raw=1");
	ok(at(o, "note/raw") == NULL,
	    "follow: an object under an unknown member belongs to the root");
	cJSON_Delete(o);
	o = with(follow_json, -1, "include_raw=1");
	ok(at(o, "raw") && at(o, "note/raw") && at(o, "user/raw"),
	    "follow: include_raw=1 keeps the root's raw and all others");
	ok(at(o, "annotations") == NULL, "follow: annotations removed");
	ok(at(o, "follows_user/content/html") != NULL, "follow: html kept");
	cJSON_Delete(o);
	o = with(follow_json, -1, "include_annotations=1");
	ok(at(o, "annotations") && !at(o, "raw"),
	    "follow: include_annotations=1 keeps the root's annotations");
	cJSON_Delete(o);
	o = with(follow_json, -1, "include_user_annotations=1");
	ok(!at(o, "annotations"), "follow: a per-kind annotations option does not");
	cJSON_Delete(o);

	/* lists inherit the kind of their member */
	o = with(message_json, DK_MESSAGE, "include_file_raw=1");
	ok(at(o, "files/0/raw") && at(o, "files/1/raw"),
	    "files: [...]: every file keeps raw with include_file_raw=1");
	ok(!at(o, "raw") && !at(o, "channel/raw") && !at(o, "files/1/annotations"),
	    "include_file_raw=1: the message's, channel's raw and the file's "
	    "annotations removed");
	ok(cJSON_IsString(at(o, "files/2")), "a non-object list item is left alone");
	cJSON_Delete(o);
	o = with(message_json, DK_MESSAGE, "include_message_raw=1");
	ok(at(o, "raw") && at(o, "channel/raw") && at(o, "channel/owner/raw") &&
	    at(o, "files/0/raw") && at(o, "files/1/raw"),
	    "include_message_raw=1: the message and all its children keep raw");
	cJSON_Delete(o);
	o = with(message_json, DK_MESSAGE, "include_channel_raw=1");
	ok(!at(o, "raw") && at(o, "channel/raw") && at(o, "channel/owner/raw") &&
	    !at(o, "files/0/raw"),
	    "include_channel_raw=1: the channel and its owner only");
	cJSON_Delete(o);
	o = with(message_json, DK_MESSAGE, "include_user_raw=1");
	ok(!at(o, "raw") && !at(o, "channel/raw") && at(o, "channel/owner/raw"),
	    "owner is a user");
	cJSON_Delete(o);
	o = with(message_json, DK_MESSAGE, "include_poll_annotations=1");
	ok(at(o, "polls/0/annotations") && !at(o, "files/1/annotations"),
	    "polls: [...] are polls");
	cJSON_Delete(o);
	o = with(message_json, DK_MESSAGE, "include_file_annotations=1");
	ok(!at(o, "polls/0/annotations") && at(o, "files/1/annotations"),
	    "files' annotations");
	cJSON_Delete(o);

	/* an object with nothing to remove is left exactly as it was */
	o = with(plain_json, DK_POST, "include_html=0");
	want = cJSON_Parse(plain_json);
	ok(cJSON_Compare(o, want, 1), "nothing to remove: unchanged "
	    "(htmlx, Raw and text mentioning html are not members to remove)");
	cJSON_Delete(want);
	cJSON_Delete(o);
}

static void
test_affects(void)
{
	cJSON *o;

	o = cJSON_Parse(plain_json);
	is_int(display_affects(o, DK_POST), 0, "no html/raw/annotations: affects 0");
	is_int(display_affects(o, -1), 0, "likewise with no root kind");
	cJSON_Delete(o);
	o = cJSON_Parse("{}");
	is_int(display_affects(o, DK_POST), 0, "empty object: affects 0");
	cJSON_Delete(o);
	o = cJSON_Parse("{\"content\":{\"html\":\"x\"}}");
	is_int(display_affects(o, DK_POST), DISPLAY_NO_HTML, "html only: NO_HTML");
	cJSON_Delete(o);
	o = cJSON_Parse("{\"raw\":[]}");
	is_int(display_affects(o, DK_POST), DISPLAY_RAW(DK_POST),
	    "post.raw: the post raw bit");
	is_int(display_affects(o, -1), DISPLAY_RAW(DK_NKINDS),
	    "root raw without a kind: the bit only include_raw sets");
	cJSON_Delete(o);
	o = cJSON_Parse("{\"user\":{\"annotations\":[]}}");
	is_int(display_affects(o, DK_POST),
	    DISPLAY_ANNOT(DK_POST) | DISPLAY_ANNOT(DK_USER),
	    "post.user.annotations: post and user annotations bits");
	cJSON_Delete(o);
	o = cJSON_Parse("{\"raw\":{\"html\":1,\"annotations\":[]}}");
	is_int(display_affects(o, DK_FILE), DISPLAY_RAW(DK_FILE),
	    "nothing inside raw counts");
	cJSON_Delete(o);
	/* the samples of the property test below */
	o = cJSON_Parse(post_json);
	is_int(display_affects(o, DK_POST), DISPLAY_NO_HTML |
	    DISPLAY_RAW(DK_POST) | DISPLAY_RAW(DK_USER) |
	    DISPLAY_ANNOT(DK_POST) | DISPLAY_ANNOT(DK_USER),
	    "post sample: html, post and user raw and annotations");
	cJSON_Delete(o);
	o = cJSON_Parse(follow_json);
	is_int(display_affects(o, -1), DISPLAY_NO_HTML | DISPLAY_RAW(DK_USER) |
	    DISPLAY_RAW(DK_NKINDS) | DISPLAY_ANNOT(DK_NKINDS),
	    "follow sample: html, user raw, and the kindless bits");
	cJSON_Delete(o);
	o = cJSON_Parse(message_json);
	is_int(display_affects(o, DK_MESSAGE), DISPLAY_RAW(DK_MESSAGE) |
	    DISPLAY_RAW(DK_CHANNEL) | DISPLAY_RAW(DK_USER) | DISPLAY_RAW(DK_FILE) |
	    DISPLAY_ANNOT(DK_MESSAGE) | DISPLAY_ANNOT(DK_FILE) |
	    DISPLAY_ANNOT(DK_POLL),
	    "message sample: the kinds on the path to each raw/annotations");
	cJSON_Delete(o);
	/* a value that is the app's own: raw inside annotations is not a
	 * field of ours */
	o = cJSON_Parse("{\"annotations\":[{\"value\":{\"raw\":1}}]}");
	is_int(display_affects(o, DK_POLL), DISPLAY_ANNOT(DK_POLL),
	    "nothing inside annotations counts");
	cJSON_Delete(o);
}

/* For every mask m, apply(m) == apply(m & affects): masks that agree on
 * the affected bits render alike, which is what event_tail's sharing
 * relies on. And every affected bit on its own changes the default;
 * every other bit on its own does not. */
static char *by_key[1 << 15];

static void
check_property(const char *name, const char *json, int root)
{
	cJSON *o = cJSON_Parse(json);
	display_t a = display_affects(o, root);
	char *base = applied(json, root, 0);
	int bad = 0, bad_bits = 0;

	cJSON_Delete(o);
	for (unsigned m = 0; m < 1u << 15; m++) {
		unsigned k = m & a;
		char *x = applied(json, root, (display_t)m);

		if (by_key[k] == NULL)
			by_key[k] = applied(json, root, (display_t)k);
		if (strcmp(x, by_key[k]) != 0 && bad++ < 3)
			printf("# %s: mask %#x vs %#x:\n#   %s\n#   %s\n",
			    name, m, k, x, by_key[k]);
		cJSON_free(x);
	}
	is_int(bad, 0, "%s: 2^15 masks: apply(m) == apply(m & affects %#x)",
	    name, a);
	for (unsigned k = 0; k < 1u << 15; k++) {
		cJSON_free(by_key[k]);
		by_key[k] = NULL;
	}
	for (int bit = 0; bit < 15; bit++) {
		char *x = applied(json, root, (display_t)(1u << bit));
		bool differs = strcmp(x, base) != 0;

		if (differs != ((a >> bit) & 1)) {
			bad_bits++;
			printf("# %s: bit %d alone %s the default, affects %#x\n",
			    name, bit, differs ? "changes" : "keeps", a);
		}
		cJSON_free(x);
	}
	is_int(bad_bits, 0, "%s: a bit alone changes the default iff it is in "
	    "affects (%#x)", name, a);
	cJSON_free(base);
}

static void
test_property(void)
{
	check_property("post", post_json, DK_POST);
	check_property("follow", follow_json, -1);
	check_property("message", message_json, DK_MESSAGE);
	check_property("plain", plain_json, DK_USER);
	check_property("poll", "{\"html\":\"p\",\"raw\":[1],\"user\":"
	    "{\"annotations\":[2]},\"options\":[{\"html\":\"o\"}]}", DK_POLL);
}

static void
render(display_t d, char *out, size_t outlen)
{
	struct buf b;

	buf_init(&b);
	display_render(d, &b);
	snprintf(out, outlen, "%.*s", (int)b.len, b.p ? b.p : "");
	buf_free(&b);
}

static void
test_render(void)
{
	char s[512], s2[512];
	int bad = 0, n = 0;
	display_t d;

	render(0, s, sizeof(s));
	is_str(s, "", "the defaults render as nothing");
	render(DISPLAY_NO_HTML, s, sizeof(s));
	is_str(s, "include_html=0", "NO_HTML");
	render(DISPLAY_RAW_ALL, s, sizeof(s));
	is_str(s, "include_raw=1", "every raw bit: include_raw=1");
	render(DISPLAY_FULL | DISPLAY_NO_HTML, s, sizeof(s));
	is_str(s, "include_html=0&include_raw=1&include_annotations=1", "everything");
	render(DISPLAY_RAW(DK_USER) | DISPLAY_ANNOT(DK_POST), s, sizeof(s));
	is_str(s, "include_user_raw=1&include_post_annotations=1", "per kind");
	render(DISPLAY_ANNOT(DK_POLL) | DISPLAY_RAW_ALL, s, sizeof(s));
	is_str(s, "include_raw=1&include_poll_annotations=1", "mixed");

	/* every mask display_parse can produce: raw is all or a subset of
	 * the kinds, likewise annotations */
	for (unsigned h = 0; h < 2; h++)
		for (unsigned r = 0; r <= 64; r++)
			for (unsigned an = 0; an <= 64; an++) {
				display_t m = (display_t)(h ? DISPLAY_NO_HTML : 0);
				int rc;

				m |= (display_t)(r == 64 ? DISPLAY_RAW_ALL : r << 1);
				m |= (display_t)(an == 64 ? DISPLAY_ANNOT_ALL : an << 8);
				render(m, s, sizeof(s));
				rc = parse(s, &d);
				if (rc != 0 || d != m) {
					if (bad++ < 3)
						printf("# %#x -> '%s' -> rc %d %#x\n",
						    m, s, rc, d);
				}
				n++;
			}
	is_int(bad, 0, "%d masks: display_parse(display_render(m)) == m", n);
	/* and from the other side: render(parse(q)) parses to the same */
	is_int(parse("include_post_raw=1&include_raw=1&include_file_annotations=1"
	    "&include_html=false", &d), 0, "a query");
	render(d, s, sizeof(s));
	is_str(s, "include_html=0&include_raw=1&include_file_annotations=1",
	    "rendered in its shortest form");
	parse(s, &d);
	render(d, s2, sizeof(s2));
	is_str(s2, s, "and again the same");
}

int
main(void)
{
	test_parse();
	test_root_kind();
	test_apply();
	test_affects();
	test_property();
	test_render();
	return tap_done();
}
