/* event.c - tests for lib/event.c: ingest records (SPEC 2), the rendered
 * user-stream tail (SPEC 3), visibility */
#include "event.h"
#include "appstream.h"
#include "buf.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static const char *reason, *detail;

static int
parse(const char *line, struct ingest_rec *rec)
{
	reason = detail = NULL;
	return ingest_parse(line, strlen(line), rec, &reason, &detail);
}

/* Parse a good event line; NULL (and a failed assertion) if rejected. */
static struct event *
good_event(const char *line)
{
	struct ingest_rec rec;
	int rc = parse(line, &rec);

	ok(rc == 0 && rec.kind == INGEST_EVENT && rec.ev != NULL,
	    "accepted: %s (%s)", line, rc ? reason : "ok");
	return rc == 0 ? rec.ev : NULL;
}

/* A line must be rejected with the given reason label. */
static void
bad_line(const char *line, size_t len, const char *want)
{
	struct ingest_rec rec;
	int rc;

	reason = detail = NULL;
	rc = ingest_parse(line, len, &rec, &reason, &detail);
	ok(rc == -1 && reason != NULL && strcmp(reason, want) == 0 &&
	    detail != NULL && detail[0] != '\0',
	    "rejected as %s: %.*s (rc %d, reason %s, detail %s)", want,
	    (int)len, line, rc, reason ? reason : "-", detail ? detail : "-");
	if (rc == 0) {
		if (rec.kind == INGEST_EVENT)
			event_unref(rec.ev);
		else
			token_rec_clear(&rec.tok);
	}
}

static void
bad(const char *line, const char *want)
{
	bad_line(line, strlen(line), want);
}

/* The whole user-stream message for ev: a head as a connection would
 * write it, then ev->user_tail. Caller cJSON_Deletes. */
static cJSON *
whole_message(const struct event *ev)
{
	struct buf b;
	cJSON *j;

	buf_init(&b);
	buf_adds(&b, "{\"meta\":{\"connection_id\":\"c1\","
	    "\"subscription_ids\":[\"s1\",\"s2\"],");
	buf_add(&b, ev->user_tail->data, ev->user_tail->len);
	j = cJSON_ParseWithLength(b.p, b.len);
	ok(j != NULL, "head + tail is valid JSON: %s", b.p);
	buf_free(&b);
	return j;
}

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static int
count_key(const cJSON *o, const char *k)
{
	const cJSON *it;
	int n = 0;

	cJSON_ArrayForEach(it, o)
		if (it->string && strcmp(it->string, k) == 0)
			n++;
	return n;
}

static void
test_create(void)
{
	struct event *ev;
	cJSON *j, *meta, *data, *sids;

	ev = good_event("{\"type\":\"post\",\"action\":\"create\",\"id\":\"5675993\","
	    "\"data\":{\"id\":\"5675993\",\"text\":\"hi \\\"there\\\"\\n\","
	    "\"user\":{\"id\":\"12\"}},"
	    "\"keys\":[\"global\",\"posts:12\",\"stream:12\",\"stream:34\"],"
	    "\"visible_to\":[\"12\",\"34\"]}");
	if (ev == NULL)
		return;
	is_int(ev->refs, 1, "one reference");
	is_str(ev->type, "post", "type");
	is_int(ev->app_type, appstream_type_index("post"), "its app-stream type");
	is_str(ev->id, "5675993", "id");
	is_int(ev->action, ACTION_CREATE, "action create");
	is_int(ev->nkeys, 4, "4 keys");
	is_str(ev->nkeys > 0 ? ev->keys[0] : NULL, "global", "key 0");
	is_str(ev->nkeys > 3 ? ev->keys[3] : NULL, "stream:34", "key 3");
	is_int(ev->nvisible, 2, "visible to 2 users");
	ok(ev->visible_to != NULL && strcmp(ev->visible_to[0], "12") == 0 &&
	    strcmp(ev->visible_to[1], "34") == 0, "visible_to 12, 34");
	ok(cJSON_IsObject(ev->data), "data kept as an object");
	is_str(jstr(ev->data, "text"), "hi \"there\"\n", "data text");
	ok(ev->meta == NULL, "no meta");
	ok(ev->user_tail == NULL, "not rendered before stamp");
	ok(event_visible_to(ev, "12"), "visible to 12");
	ok(event_visible_to(ev, "34"), "visible to 34");
	ok(!event_visible_to(ev, "56"), "not visible to 56");
	ok(!event_visible_to(ev, "3"), "not visible to 3 (prefix of 34)");
	ok(!event_visible_to(ev, "345"), "not visible to 345");
	ok(!event_visible_to(ev, ""), "not visible to empty id");

	{
		size_t before = ev->bytes;
		ok(before > 0, "bytes accounted at parse");
		event_stamp(ev, 1042, 1763855042123LL);
		ok(ev->user_tail != NULL, "rendered by stamp");
		is_int(ev->cursor, 1042, "cursor set");
		is_int(ev->ts_ms, 1763855042123LL, "ts set");
		/* once stamped: the strings, the tail twice (user-stream
		 * tail and the app frame it may get), not the freed tree */
		ok(ev->bytes >= 2 * ev->user_tail->len + strlen(ev->type) +
		    strlen(ev->id) && ev->bytes < 2 * ev->user_tail->len + 1024,
		    "bytes: what the rendered event holds (%zu, tail %u)",
		    ev->bytes, ev->user_tail->len);
	}
	is_int(strlen(ev->user_tail->data), ev->user_tail->len,
	    "tail length matches, NUL-terminated");
	is_str(ev->user_tail->data,
	    "\"type\":\"post\",\"cursor\":\"1042\",\"min_id\":\"5675993\","
	    "\"max_id\":\"5675993\",\"more\":false},\"data\":[{\"id\":\"5675993\","
	    "\"text\":\"hi \\\"there\\\"\\n\",\"user\":{\"id\":\"12\"}}]}",
	    "exact tail bytes");

	j = whole_message(ev);
	meta = cJSON_GetObjectItemCaseSensitive(j, "meta");
	data = cJSON_GetObjectItemCaseSensitive(j, "data");
	is_int(cJSON_GetArraySize(j), 2, "message has meta and data only");
	is_str(jstr(meta, "type"), "post", "meta.type");
	is_str(jstr(meta, "cursor"), "1042", "meta.cursor decimal string");
	is_str(jstr(meta, "min_id"), "5675993", "meta.min_id");
	is_str(jstr(meta, "max_id"), "5675993", "meta.max_id");
	ok(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(meta, "more")),
	    "meta.more false");
	ok(cJSON_GetObjectItemCaseSensitive(meta, "is_deleted") == NULL,
	    "no is_deleted on create");
	ok(cJSON_GetObjectItemCaseSensitive(meta, "deleted_id") == NULL,
	    "no deleted_id on create");
	is_str(jstr(meta, "connection_id"), "c1", "head connection_id intact");
	sids = cJSON_GetObjectItemCaseSensitive(meta, "subscription_ids");
	is_int(cJSON_GetArraySize(sids), 2, "head subscription_ids intact");
	ok(cJSON_IsArray(data) && cJSON_GetArraySize(data) == 1,
	    "data is a one-element list");
	is_str(jstr(cJSON_GetArrayItem(data, 0), "text"), "hi \"there\"\n",
	    "data[0] is the object");
	{
		cJSON *in = cJSON_Parse("{\"id\":\"5675993\",\"text\":"
		    "\"hi \\\"there\\\"\\n\",\"user\":{\"id\":\"12\"}}");

		ok(cJSON_Compare(cJSON_GetArrayItem(data, 0), in, 1),
		    "data[0] equals the ingested object");
		cJSON_Delete(in);
	}
	ok(ev->data == NULL && ev->meta == NULL && ev->has_data,
	    "the parsed tree is freed once rendered");
	cJSON_Delete(j);

	/* ref counting: the event survives while referenced */
	ok(event_ref(ev) == ev, "event_ref returns the event");
	is_int(ev->refs, 2, "two references");
	event_unref(ev);
	is_int(ev->refs, 1, "back to one");
	/* stamping again replaces the tail without leaking */
	event_stamp(ev, 18446744073709551615ULL, 0);
	j = whole_message(ev);
	meta = cJSON_GetObjectItemCaseSensitive(j, "meta");
	is_str(jstr(meta, "cursor"), "18446744073709551615",
	    "largest cursor rendered in full");
	cJSON_Delete(j);
	event_unref(ev);
	event_unref(NULL);
	ok(1, "event_unref(NULL) is harmless");
}

static void
test_update_numeric(void)
{
	struct event *ev;
	cJSON *j, *meta;

	/* numeric id and keys/visible_to given as numbers; padding blanks */
	ev = good_event("  {\"type\":\"user\",\"action\":\"update\",\"id\":12,"
	    "\"data\":{\"id\":\"12\",\"name\":\"caf\\u00e9\"},"
	    "\"keys\":[\"posts:12\",34],\"visible_to\":null} \t\r");
	if (ev == NULL)
		return;
	is_int(ev->action, ACTION_UPDATE, "action update");
	is_str(ev->id, "12", "numeric id converted to a string");
	is_int(ev->nkeys, 2, "two keys");
	is_str(ev->nkeys > 1 ? ev->keys[1] : NULL, "34", "numeric key converted");
	ok(ev->visible_to == NULL, "visible_to null = public");
	ok(event_visible_to(ev, "12") && event_visible_to(ev, "99999"),
	    "public event visible to anyone");
	event_stamp(ev, 7, 1);
	is_str(ev->user_tail->data,
	    "\"type\":\"user\",\"cursor\":\"7\",\"min_id\":\"12\",\"max_id\":\"12\","
	    "\"more\":false},\"data\":[{\"id\":\"12\",\"name\":\"caf\xc3\xa9\"}]}",
	    "exact tail of an update with a numeric id");
	j = whole_message(ev);
	meta = cJSON_GetObjectItemCaseSensitive(j, "meta");
	is_str(jstr(meta, "type"), "user", "meta.type user");
	is_str(jstr(meta, "min_id"), "12", "min_id 12 as a string");
	cJSON_Delete(j);
	event_unref(ev);

	/* large integer id */
	ev = good_event("{\"type\":\"post\",\"action\":\"create\","
	    "\"id\":9007199254740991,\"data\":{}}");
	if (ev) {
		is_str(ev->id, "9007199254740991", "2^53-1 id converted exactly");
		is_int(ev->nkeys, 0, "no keys");
		ok(ev->visible_to == NULL, "no visible_to = public");
		event_unref(ev);
	}
	/* an id of 127 bytes is accepted */
	{
		char line[512], id[128];
		memset(id, '7', 127);
		id[127] = '\0';
		snprintf(line, sizeof(line), "{\"type\":\"post\",\"action\":\"create\","
		    "\"id\":\"%s\",\"data\":{}}", id);
		ev = good_event(line);
		if (ev) {
			is_str(ev->id, id, "127-byte id kept");
			event_unref(ev);
		}
	}
	/* unknown types are accepted; a type of 64 bytes is the longest */
	ev = good_event("{\"type\":\"io.example.custom\",\"action\":\"create\","
	    "\"id\":\"1\",\"data\":{}}");
	if (ev) {
		is_str(ev->type, "io.example.custom", "unknown type kept");
		is_int(ev->app_type, -1, "and no app stream can ask for it");
		event_unref(ev);
	}
	{
		char line[256], type[65];
		memset(type, 't', 64);
		type[64] = '\0';
		snprintf(line, sizeof(line), "{\"type\":\"%s\",\"action\":"
		    "\"create\",\"id\":\"1\",\"data\":{}}", type);
		ev = good_event(line);
		if (ev) {
			is_str(ev->type, type, "64-byte type kept");
			event_unref(ev);
		}
	}
	/* type escaping */
	ev = good_event("{\"type\":\"x\\\"y\\\\z\",\"action\":\"create\","
	    "\"id\":\"1\",\"data\":{}}");
	if (ev) {
		event_stamp(ev, 3, 0);
		j = whole_message(ev);
		meta = cJSON_GetObjectItemCaseSensitive(j, "meta");
		is_str(jstr(meta, "type"), "x\"y\\z", "type with quote and "
		    "backslash round-trips");
		cJSON_Delete(j);
		event_unref(ev);
	}
}

static void
test_delete(void)
{
	struct event *ev;
	cJSON *j, *meta;

	ev = good_event("{\"type\":\"post\",\"action\":\"delete\",\"id\":\"99\","
	    "\"keys\":[\"global\"]}");
	if (ev == NULL)
		return;
	is_int(ev->action, ACTION_DELETE, "action delete");
	ok(ev->data == NULL, "delete without data");
	event_stamp(ev, 55, 0);
	is_str(ev->user_tail->data,
	    "\"type\":\"post\",\"cursor\":\"55\",\"min_id\":\"99\",\"max_id\":\"99\","
	    "\"more\":false,\"is_deleted\":true,\"deleted_id\":\"99\"}}",
	    "exact tail of a delete without data");
	j = whole_message(ev);
	meta = cJSON_GetObjectItemCaseSensitive(j, "meta");
	ok(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(meta, "is_deleted")),
	    "meta.is_deleted true");
	is_str(jstr(meta, "deleted_id"), "99", "meta.deleted_id");
	is_str(jstr(meta, "cursor"), "55", "meta.cursor");
	ok(cJSON_GetObjectItemCaseSensitive(j, "data") == NULL,
	    "no data when the backend gave none");
	cJSON_Delete(j);
	event_unref(ev);

	ev = good_event("{\"type\":\"message\",\"action\":\"delete\",\"id\":881,"
	    "\"data\":{\"id\":\"881\",\"is_deleted\":true}}");
	if (ev == NULL)
		return;
	event_stamp(ev, 56, 0);
	j = whole_message(ev);
	meta = cJSON_GetObjectItemCaseSensitive(j, "meta");
	ok(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(meta, "is_deleted")),
	    "delete with data: is_deleted");
	is_str(jstr(meta, "deleted_id"), "881", "delete with data: deleted_id");
	{
		cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
		ok(cJSON_IsArray(data) && cJSON_GetArraySize(data) == 1,
		    "delete with data: data is a one-element list");
		is_str(jstr(cJSON_GetArrayItem(data, 0), "id"), "881",
		    "delete with data: the object");
	}
	cJSON_Delete(j);
	event_unref(ev);
}

static void
test_meta(void)
{
	struct event *ev;
	cJSON *j, *meta, *sub;

	ev = good_event("{\"type\":\"message\",\"action\":\"create\",\"id\":\"881\","
	    "\"data\":{\"id\":\"881\"},"
	    "\"meta\":{\"cursor\":\"x\",\"channel_type\":\"y\","
	    "\"type\":\"evil\",\"connection_id\":\"evil\","
	    "\"subscription_ids\":[\"evil\"],\"min_id\":\"0\",\"max_id\":\"0\","
	    "\"more\":true,\"is_deleted\":true,\"deleted_id\":\"0\","
	    "\"id\":\"0\",\"timestamp\":0,"
	    "\"subscribed_user_ids\":[\"12\",\"34\"],"
	    "\"suppress_notifications\":false,\"weird \\\"key\\\"\":{\"n\":null}},"
	    "\"visible_to\":[\"12\"]}");
	if (ev == NULL)
		return;
	ok(cJSON_IsObject(ev->meta), "meta kept");
	event_stamp(ev, 1043, 0);
	j = whole_message(ev);
	meta = cJSON_GetObjectItemCaseSensitive(j, "meta");
	is_str(jstr(meta, "cursor"), "1043", "sluice's cursor kept");
	is_int(count_key(meta, "cursor"), 1, "cursor appears once");
	is_str(jstr(meta, "channel_type"), "y", "channel_type merged");
	is_str(jstr(meta, "type"), "message", "type not overridden");
	is_int(count_key(meta, "type"), 1, "type appears once");
	is_str(jstr(meta, "connection_id"), "c1", "connection_id not overridden");
	is_int(count_key(meta, "connection_id"), 1, "connection_id once");
	is_int(count_key(meta, "subscription_ids"), 1, "subscription_ids once");
	is_str(jstr(meta, "min_id"), "881", "min_id not overridden");
	is_int(count_key(meta, "min_id"), 1, "min_id once");
	is_int(count_key(meta, "max_id"), 1, "max_id once");
	ok(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(meta, "more")),
	    "more stays false");
	is_int(count_key(meta, "more"), 1, "more once");
	is_int(count_key(meta, "is_deleted"), 0, "backend is_deleted dropped on create");
	is_int(count_key(meta, "deleted_id"), 0, "backend deleted_id dropped");
	is_int(count_key(meta, "id"), 0, "backend id dropped");
	is_int(count_key(meta, "timestamp"), 0, "backend timestamp dropped");
	sub = cJSON_GetObjectItemCaseSensitive(meta, "subscribed_user_ids");
	ok(cJSON_IsArray(sub) && cJSON_GetArraySize(sub) == 2 &&
	    strcmp(cJSON_GetArrayItem(sub, 1)->valuestring, "34") == 0,
	    "subscribed_user_ids merged as a list");
	ok(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(meta,
	    "suppress_notifications")), "suppress_notifications merged");
	sub = cJSON_GetObjectItemCaseSensitive(meta, "weird \"key\"");
	ok(cJSON_IsObject(sub) &&
	    cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(sub, "n")),
	    "key needing escapes merged with its object value");
	is_int(cJSON_GetArraySize(meta), 11, "meta: 7 keys of sluice + 4 merged");
	ok(event_visible_to(ev, "12") && !event_visible_to(ev, "34"),
	    "visible_to 12 only");
	cJSON_Delete(j);
	event_unref(ev);

	/* meta on a delete cannot unset is_deleted */
	ev = good_event("{\"type\":\"post\",\"action\":\"delete\",\"id\":\"5\","
	    "\"meta\":{\"is_deleted\":false,\"deleted_id\":\"6\"}}");
	if (ev) {
		event_stamp(ev, 9, 0);
		j = whole_message(ev);
		meta = cJSON_GetObjectItemCaseSensitive(j, "meta");
		ok(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(meta, "is_deleted")),
		    "is_deleted stays true");
		is_int(count_key(meta, "is_deleted"), 1, "is_deleted once");
		is_str(jstr(meta, "deleted_id"), "5", "deleted_id stays the id");
		is_int(count_key(meta, "deleted_id"), 1, "deleted_id once");
		cJSON_Delete(j);
		event_unref(ev);
	}
	/* meta null is the same as no meta; empty meta adds nothing */
	ev = good_event("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\","
	    "\"data\":{},\"meta\":null}");
	if (ev) {
		ok(ev->meta == NULL, "meta null -> none");
		event_unref(ev);
	}
	ev = good_event("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\","
	    "\"data\":{},\"meta\":{}}");
	if (ev) {
		event_stamp(ev, 2, 0);
		is_str(ev->user_tail->data,
		    "\"type\":\"post\",\"cursor\":\"2\",\"min_id\":\"1\","
		    "\"max_id\":\"1\",\"more\":false},\"data\":[{}]}",
		    "empty meta and empty data");
		event_unref(ev);
	}
}

static void
test_visible(void)
{
	struct event *ev;

	ev = good_event("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\","
	    "\"data\":{},\"visible_to\":[]}");
	if (ev) {
		ok(ev->visible_to != NULL && ev->nvisible == 0,
		    "visible_to [] is an empty list, not public");
		ok(!event_visible_to(ev, "12"), "visible_to []: visible to nobody");
		event_unref(ev);
	}
	ev = good_event("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\","
	    "\"data\":{},\"visible_to\":[12,\"34\",56]}");
	if (ev) {
		ok(event_visible_to(ev, "12"), "numeric user id 12 listed");
		ok(event_visible_to(ev, "56"), "numeric user id 56 listed");
		ok(!event_visible_to(ev, "1"), "unlisted user 1");
		event_unref(ev);
	}
}

static void
test_bad_events(void)
{
	/* not JSON */
	bad("{", "json");
	bad("hello", "json");
	bad("{\"type\":\"post\"", "json");
	bad("{\"type\":\"post\",}", "json");
	bad("{type:\"post\"}", "json");
	/* trailing garbage */
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{}} x",
	    "json");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{}}"
	    "{\"type\":\"post\",\"action\":\"create\",\"id\":\"2\",\"data\":{}}",
	    "json");
	bad("{}}", "json");
	bad("{},", "json");
	/* not an object */
	bad("[1,2]", "not_object");
	bad("[{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{}}]",
	    "not_object");
	bad("42", "not_object");
	bad("\"str\"", "not_object");
	bad("null", "not_object");
	bad("true", "not_object");
	/* blank */
	bad("", "empty");
	bad("   ", "empty");
	bad(" \t\r", "empty");
	/* missing fields */
	bad("{}", "missing_field");
	bad("{\"action\":\"create\",\"id\":\"1\",\"data\":{}}", "missing_field");
	bad("{\"type\":\"post\",\"id\":\"1\",\"data\":{}}", "missing_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"data\":{}}", "missing_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\"}", "missing_field");
	bad("{\"type\":\"post\",\"action\":\"update\",\"id\":\"1\"}", "missing_field");
	bad("{\"Type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{}}",
	    "missing_field");
	/* wrong types / values */
	bad("{\"type\":5,\"action\":\"create\",\"id\":\"1\",\"data\":{}}", "bad_field");
	bad("{\"type\":\"\",\"action\":\"create\",\"id\":\"1\",\"data\":{}}", "bad_field");
	bad("{\"type\":null,\"action\":\"create\",\"id\":\"1\",\"data\":{}}", "bad_field");
	bad("{\"type\":[\"post\"],\"action\":\"create\",\"id\":\"1\",\"data\":{}}",
	    "bad_field");
	bad("{\"type\":\"post\",\"action\":\"destroy\",\"id\":\"1\",\"data\":{}}",
	    "bad_field");
	bad("{\"type\":\"post\",\"action\":\"Create\",\"id\":\"1\",\"data\":{}}",
	    "bad_field");
	bad("{\"type\":\"post\",\"action\":1,\"id\":\"1\",\"data\":{}}", "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"\",\"data\":{}}",
	    "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":1.5,\"data\":{}}",
	    "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":-1,\"data\":{}}",
	    "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":{},\"data\":{}}",
	    "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":true,\"data\":{}}",
	    "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":[]}",
	    "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":\"x\"}",
	    "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":null}",
	    "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{},"
	    "\"meta\":\"x\"}", "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{},"
	    "\"meta\":[1]}", "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{},"
	    "\"keys\":\"global\"}", "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{},"
	    "\"keys\":{\"a\":1}}", "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{},"
	    "\"keys\":[\"global\",{\"k\":1}]}", "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{},"
	    "\"keys\":[\"global\",\"\"]}", "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{},"
	    "\"keys\":[[\"a\"]]}", "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{},"
	    "\"keys\":[null]}", "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{},"
	    "\"visible_to\":\"12\"}", "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{},"
	    "\"visible_to\":12}", "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{},"
	    "\"keys\":[\"a\",\"b\"],\"visible_to\":[\"12\",{}]}", "bad_field");
	bad("{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{},"
	    "\"keys\":[\"a\"],\"visible_to\":[\"12\",false]}", "bad_field");
	{
		char line[512], id[301];
		memset(id, '7', 300);
		id[300] = '\0';
		snprintf(line, sizeof(line), "{\"type\":\"post\",\"action\":\"create\","
		    "\"id\":\"%s\",\"data\":{}}", id);
		bad(line, "bad_field");
		memset(id, 't', 65);
		id[65] = '\0';
		snprintf(line, sizeof(line), "{\"type\":\"%s\",\"action\":\"create\","
		    "\"id\":\"1\",\"data\":{}}", id);
		bad(line, "bad_field");
	}
}

/* len is honoured: the parser never reads past it, and the bytes after
 * the line do not count */
static void
test_length(void)
{
	static const char two[] =
	    "{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\",\"data\":{}}\n"
	    "garbage that is not JSON";
	struct ingest_rec rec;
	size_t len = strchr(two, '\n') - two;
	char *exact;
	int rc;

	rc = ingest_parse(two, len, &rec, &reason, &detail);
	is_int(rc, 0, "line followed by other bytes parses by its length");
	if (rc == 0)
		event_unref(rec.ev);
	/* a copy with no NUL after it (ASan checks for over-reads) */
	exact = malloc(len);
	memcpy(exact, two, len);
	rc = ingest_parse(exact, len, &rec, &reason, &detail);
	is_int(rc, 0, "unterminated line of exact length parses");
	if (rc == 0)
		event_unref(rec.ev);
	/* cut short: not JSON */
	rc = ingest_parse(exact, len - 1, &rec, &reason, &detail);
	ok(rc == -1 && strcmp(reason, "json") == 0, "truncated by len -> json");
	free(exact);
	bad_line("   x", 3, "empty");
	{
		static const char nul[] = "{\"type\":\"post\",\"action\":"
		    "\"create\",\"id\":\"1\",\"data\":{}}\0x";
		bad_line(nul, sizeof(nul) - 1, "json");
	}
	bad_line("{} trailing", 2, "missing_field");
}

/* EVENT_MAX_KEYS keys accepted, one more rejected */
static void
test_many_keys(void)
{
	struct buf b;
	struct ingest_rec rec;
	int rc;

	for (int n = EVENT_MAX_KEYS; n <= EVENT_MAX_KEYS + 1; n++) {
		buf_init(&b);
		buf_adds(&b, "{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\","
		    "\"data\":{},\"keys\":[");
		for (int i = 0; i < n; i++)
			buf_printf(&b, "%s\"stream:%d\"", i ? "," : "", i);
		buf_adds(&b, "]}");
		rc = ingest_parse(b.p, b.len, &rec, &reason, &detail);
		if (n == EVENT_MAX_KEYS) {
			ok(rc == 0 && rec.ev->nkeys == EVENT_MAX_KEYS &&
			    strcmp(rec.ev->keys[EVENT_MAX_KEYS - 1], "stream:4095") == 0,
			    "%d keys accepted", n);
			if (rc == 0)
				event_unref(rec.ev);
		} else {
			ok(rc == -1 && strcmp(reason, "bad_field") == 0,
			    "%d keys rejected", n);
			if (rc == 0)
				event_unref(rec.ev);
		}
		buf_free(&b);
	}
}

static void
test_tokens(void)
{
	struct ingest_rec rec;
	int rc;

	rc = parse("{\"op\":\"token\",\"action\":\"grant\",\"token\":\"tok-1\","
	    "\"user_id\":\"12\",\"client_id\":\"abc\","
	    "\"scopes\":[\"stream\",\"messages\"]}", &rec);
	is_int(rc, 0, "user grant accepted");
	if (rc == 0) {
		is_int(rec.kind, INGEST_TOKEN, "kind token");
		ok(rec.ev == NULL, "no event");
		is_int(rec.tok.action, TOKEN_GRANT, "grant");
		is_str(rec.tok.token, "tok-1", "token");
		ok(!rec.tok.app, "user token");
		is_str(rec.tok.user_id, "12", "user_id");
		is_str(rec.tok.client_id, "abc", "client_id");
		is_str(rec.tok.scopes, "stream,messages", "scopes joined with ','");
		token_rec_clear(&rec.tok);
		ok(rec.tok.token == NULL && rec.tok.user_id == NULL &&
		    rec.tok.scopes == NULL, "token_rec_clear empties");
	}
	rc = parse("{\"op\":\"token\",\"action\":\"grant\",\"token\":\"t\","
	    "\"user_id\":12,\"client_id\":77,\"app\":false}", &rec);
	is_int(rc, 0, "user grant with numeric ids, app false");
	if (rc == 0) {
		is_str(rec.tok.user_id, "12", "numeric user_id converted");
		is_str(rec.tok.client_id, "77", "numeric client_id converted");
		ok(rec.tok.scopes == NULL, "no scopes");
		ok(!rec.tok.app, "app false");
		token_rec_clear(&rec.tok);
	}
	rc = parse("{\"op\":\"token\",\"action\":\"grant\",\"token\":\"t\","
	    "\"user_id\":\"12\",\"client_id\":\"abc\",\"scopes\":[\"one\"]}", &rec);
	is_int(rc, 0, "one scope");
	if (rc == 0) {
		is_str(rec.tok.scopes, "one", "single scope, no comma");
		token_rec_clear(&rec.tok);
	}
	rc = parse("{\"op\":\"token\",\"action\":\"grant\",\"token\":\"app-tok\","
	    "\"client_id\":\"abc\",\"app\":true}", &rec);
	is_int(rc, 0, "app grant accepted");
	if (rc == 0) {
		is_int(rec.tok.action, TOKEN_GRANT, "grant");
		ok(rec.tok.app, "app token");
		is_str(rec.tok.token, "app-tok", "token");
		is_str(rec.tok.client_id, "abc", "client_id");
		ok(rec.tok.user_id == NULL, "no user_id for an app token");
		token_rec_clear(&rec.tok);
	}
	rc = parse("{\"op\":\"token\",\"action\":\"revoke\",\"token\":\"tok-1\"}", &rec);
	is_int(rc, 0, "revoke accepted");
	if (rc == 0) {
		is_int(rec.kind, INGEST_TOKEN, "kind token");
		is_int(rec.tok.action, TOKEN_REVOKE, "revoke");
		is_str(rec.tok.token, "tok-1", "token");
		token_rec_clear(&rec.tok);
	}
	{
		char line[700], tok[513];
		memset(tok, 'k', 512);
		tok[512] = '\0';
		snprintf(line, sizeof(line), "{\"op\":\"token\",\"action\":\"revoke\","
		    "\"token\":\"%s\"}", tok);
		rc = parse(line, &rec);
		is_int(rc, 0, "512-byte token accepted");
		if (rc == 0) {
			is_int(strlen(rec.tok.token), 512, "kept whole");
			token_rec_clear(&rec.tok);
		}
		tok[511] = 'k';
		snprintf(line, sizeof(line), "{\"op\":\"token\",\"action\":\"revoke\","
		    "\"token\":\"%sk\"}", tok);
		bad(line, "bad_token");
	}

	bad("{\"op\":\"tokens\",\"action\":\"grant\",\"token\":\"t\","
	    "\"client_id\":\"abc\",\"app\":true}", "bad_op");
	bad("{\"op\":1,\"action\":\"revoke\",\"token\":\"t\"}", "bad_op");
	bad("{\"op\":null,\"action\":\"revoke\",\"token\":\"t\"}", "bad_op");
	bad("{\"op\":\"event\",\"type\":\"post\",\"action\":\"create\",\"id\":\"1\","
	    "\"data\":{}}", "bad_op");
	bad("{\"op\":\"token\",\"action\":\"grant\",\"user_id\":\"12\","
	    "\"client_id\":\"abc\"}", "bad_token");
	bad("{\"op\":\"token\",\"action\":\"revoke\"}", "bad_token");
	bad("{\"op\":\"token\",\"action\":\"revoke\",\"token\":\"\"}", "bad_token");
	bad("{\"op\":\"token\",\"action\":\"revoke\",\"token\":42}", "bad_token");
	bad("{\"op\":\"token\",\"action\":\"grant\",\"token\":\"t\","
	    "\"client_id\":\"abc\"}", "bad_token");
	bad("{\"op\":\"token\",\"action\":\"grant\",\"token\":\"t\","
	    "\"client_id\":\"abc\",\"app\":false}", "bad_token");
	bad("{\"op\":\"token\",\"action\":\"grant\",\"token\":\"t\","
	    "\"user_id\":\"\",\"client_id\":\"abc\"}", "bad_token");
	bad("{\"op\":\"token\",\"action\":\"grant\",\"token\":\"t\","
	    "\"user_id\":\"12\"}", "bad_token");
	bad("{\"op\":\"token\",\"action\":\"grant\",\"token\":\"t\","
	    "\"app\":true}", "bad_token");
	bad("{\"op\":\"token\",\"action\":\"delete\",\"token\":\"t\"}", "bad_token");
	bad("{\"op\":\"token\",\"token\":\"t\"}", "bad_token");
	bad("{\"op\":\"token\",\"action\":true,\"token\":\"t\"}", "bad_token");
	bad("{\"op\":\"token\",\"action\":\"grant\",\"token\":\"t\","
	    "\"client_id\":\"abc\",\"app\":\"yes\"}", "bad_token");
	bad("{\"op\":\"token\",\"action\":\"grant\",\"token\":\"t\","
	    "\"user_id\":\"12\",\"client_id\":\"abc\",\"scopes\":\"stream\"}",
	    "bad_token");
	bad("{\"op\":\"token\",\"action\":\"grant\",\"token\":\"t\","
	    "\"user_id\":\"12\",\"client_id\":\"abc\",\"scopes\":[\"a\",1]}",
	    "bad_token");
	bad("{\"op\":\"token\",\"action\":\"grant\",\"token\":\"t\","
	    "\"user_id\":\"12\",\"client_id\":\"abc\",\"scopes\":[\"a,b\"]}",
	    "bad_token");
	bad("{\"op\":\"token\",\"action\":\"grant\",\"token\":\"t\","
	    "\"user_id\":{},\"client_id\":\"abc\"}", "bad_token");
	/* a token line is still JSON-checked first */
	bad("{\"op\":\"token\",\"action\":\"revoke\",\"token\":\"t\"} junk", "json");
}

/* UTF-8 is checked before JSON: cJSON would pass any bytes through */
static void
test_utf8(void)
{
	static const struct { const char *text; int good; const char *name; } v[] = {
		{ "caf\xc3\xa9", 1, "two-byte sequence" },
		{ "\xe2\x82\xac", 1, "three-byte sequence" },
		{ "\xf0\x9f\x98\x80", 1, "four-byte sequence" },
		{ "\xc0\x80", 0, "overlong NUL" },
		{ "\xe0\x80\xaf", 0, "overlong three-byte" },
		{ "\xed\xa0\x80", 0, "UTF-16 surrogate" },
		{ "\xf4\x90\x80\x80", 0, "past U+10FFFF" },
		{ "\xf5\x80\x80\x80", 0, "F5 lead byte" },
		{ "\x80", 0, "lone continuation byte" },
		{ "\xe2\x82", 0, "sequence cut short" },
		{ "\xff", 0, "FF byte" },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
		char line[256];
		struct ingest_rec rec;
		const char *why = NULL, *what = NULL;
		int rc;

		snprintf(line, sizeof(line), "{\"type\":\"post\",\"action\":"
		    "\"create\",\"id\":\"1\",\"data\":{\"text\":\"%s\"}}", v[i].text);
		rc = ingest_parse(line, strlen(line), &rec, &why, &what);
		if (v[i].good) {
			ok(rc == 0, "utf8: %s accepted", v[i].name);
			if (rc == 0)
				event_unref(rec.ev);
		} else
			ok(rc == -1 && why && strcmp(why, "utf8") == 0,
			    "utf8: %s rejected as utf8", v[i].name);
	}
	is_int(ingest_reason_index("utf8"), 1, "utf8 is a reason label");
	is_int(ingest_reason_index("nope"), -1, "unknown label");
}

/* The app-stream message: a whole WebSocket text frame, built once,
 * sharing the backend meta and data with the user-stream message. */
static cJSON *
app_message(struct event *ev, size_t *framelen)
{
	struct msg *m = event_app_frame(ev);
	const uint8_t *p = (const uint8_t *)m->data;
	size_t hl = 2, plen = p[1] & 0x7f;

	ok(p[0] == 0x81 && !(p[1] & 0x80), "a final, unmasked text frame");
	if (plen == 126) {
		plen = (size_t)p[2] << 8 | p[3];
		hl = 4;
	} else if (plen == 127) {
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = plen << 8 | p[2 + i];
		hl = 10;
	}
	is_int(hl + plen, m->len, "the frame length covers the payload exactly");
	ok(event_app_frame(ev) == m, "built once: the same bytes again");
	{
		size_t len;
		const char *pl = event_app_message(ev, &len);

		ok(pl == m->data + hl && len == plen,
		    "event_app_message is the frame's payload");
	}
	*framelen = m->len;
	return cJSON_ParseWithLength(m->data + hl, plen);
}

static void
test_app_frame(void)
{
	struct event *ev;
	cJSON *j, *meta, *data;
	size_t fl;

	ev = good_event("{\"type\":\"message\",\"action\":\"create\",\"id\":881,"
	    "\"data\":{\"id\":\"881\",\"text\":\"psst\"},"
	    "\"meta\":{\"channel_type\":\"io.pnut.core.pm\",\"cursor\":\"x\","
	    "\"subscribed_user_ids\":[\"12\",\"34\"]}}");
	if (ev == NULL)
		return;
	event_stamp(ev, 1043, 1763855042123LL);
	j = app_message(ev, &fl);
	ok(j != NULL, "the payload is JSON");
	meta = cJSON_GetObjectItemCaseSensitive(j, "meta");
	data = cJSON_GetObjectItemCaseSensitive(j, "data");
	is_str(jstr(meta, "type"), "message", "meta.type");
	is_str(jstr(meta, "id"), "881", "meta.id is the object id");
	ok(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(meta, "timestamp")) &&
	    cJSON_GetObjectItemCaseSensitive(meta, "timestamp")->valuedouble ==
	    1763855042123.0, "meta.timestamp in ms");
	is_str(jstr(meta, "cursor"), "1043", "meta.cursor is sluice's, not the backend's");
	is_int(count_key(meta, "cursor"), 1, "cursor once");
	is_str(jstr(meta, "channel_type"), "io.pnut.core.pm", "backend meta merged");
	ok(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(meta, "subscribed_user_ids")),
	    "backend meta of any JSON type");
	ok(cJSON_IsObject(data) && strcmp(jstr(data, "text"), "psst") == 0,
	    "data is the object, not a list");
	ok(cJSON_GetObjectItemCaseSensitive(meta, "connection_id") == NULL &&
	    cJSON_GetObjectItemCaseSensitive(meta, "min_id") == NULL,
	    "no user-stream members");
	cJSON_Delete(j);
	event_unref(ev);

	ev = good_event("{\"type\":\"post\",\"action\":\"delete\",\"id\":\"9\"}");
	if (ev == NULL)
		return;
	event_stamp(ev, 7, 1);
	j = app_message(ev, &fl);
	meta = cJSON_GetObjectItemCaseSensitive(j, "meta");
	ok(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(meta, "is_deleted")),
	    "delete: is_deleted");
	is_str(jstr(meta, "deleted_id"), "9", "delete: deleted_id");
	ok(cJSON_GetObjectItemCaseSensitive(j, "data") == NULL,
	    "delete without data: no data");
	cJSON_Delete(j);
	event_unref(ev);

	/* the three frame header sizes */
	for (int n = 0; n < 3; n++) {
		size_t pad = n == 0 ? 10 : n == 1 ? 300 : 70000;
		char *big = malloc(pad + 200);

		snprintf(big, pad + 200, "{\"type\":\"post\",\"action\":\"create\","
		    "\"id\":\"1\",\"data\":{\"t\":\"%0*d\"}}", (int)pad, 0);
		ev = good_event(big);
		free(big);
		if (ev == NULL)
			continue;
		event_stamp(ev, 1, 1);
		j = app_message(ev, &fl);
		data = cJSON_GetObjectItemCaseSensitive(j, "data");
		is_int(strlen(jstr(data, "t")), pad, "a %zu-byte field survives (%zu-byte frame)", pad, fl);
		cJSON_Delete(j);
		event_unref(ev);
	}
}

/* The object in a tail's data list, parsed (caller deletes); NULL and a
 * failed assertion when event_tail_data does not give exactly it. */
static cJSON *
tail_object(const struct event *ev, const struct msg *tail)
{
	size_t len;
	const char *d = event_tail_data(ev, tail, &len);
	cJSON *o;

	ok(d != NULL && d == tail->data + ev->data_off && d[-1] == '[' &&
	    strcmp(d + len, "]}") == 0,
	    "event_tail_data: the bytes between \"[\" and the closing \"]}\"");
	if (d == NULL)
		return NULL;
	o = cJSON_ParseWithLength(d, len);
	ok(cJSON_IsObject(o), "event_tail_data: one JSON object (%.*s)", (int)len, d);
	return o;
}

static const cJSON *
at(const cJSON *o, const char *a, const char *b, const char *c)
{
	o = cJSON_GetObjectItemCaseSensitive(o, a);
	if (b)
		o = cJSON_GetObjectItemCaseSensitive(o, b);
	if (c)
		o = cJSON_GetObjectItemCaseSensitive(o, c);
	return o;
}

/* Display variants: rendered once per distinct (options & affects), the
 * meta shared with the default, and the app frame with nothing removed. */
static void
test_tail(void)
{
	static const char data[] = "{\"id\":\"5\",\"content\":{\"text\":\"hi\","
	    "\"html\":\"<b>hi</b>\"},\"raw\":[{\"type\":\"io.x\",\"value\":"
	    "{\"html\":\"in raw\"}}],\"annotations\":[{\"type\":\"a\"}],"
	    "\"user\":{\"id\":\"12\",\"raw\":[{\"type\":\"u\"}],"
	    "\"content\":{\"html\":\"<p>u</p>\"}}}";
	struct event *ev;
	struct msg *t0, *t1, *t2, *t3;
	size_t grown, fl;
	cJSON *o, *want, *j;
	char line[1024];
	display_t full_affects;

	snprintf(line, sizeof(line), "{\"type\":\"post\",\"action\":\"create\","
	    "\"id\":\"5\",\"keys\":[\"global\"],\"meta\":{\"extra\":1},"
	    "\"data\":%s}", data);
	ev = good_event(line);
	if (ev == NULL)
		return;
	event_stamp(ev, 77, 5);
	is_int(ev->root_kind, DK_POST, "root kind of a post");
	full_affects = DISPLAY_NO_HTML | DISPLAY_RAW(DK_POST) |
	    DISPLAY_RAW(DK_USER) | DISPLAY_ANNOT(DK_POST);
	is_int(ev->affects, full_affects, "affects: html, post and user raw, "
	    "post annotations");
	ok(ev->full_data != NULL && ev->full_len == strlen(ev->full_data),
	    "the default removed something: the full data is kept");
	want = cJSON_Parse(data);
	o = ev->full_data ? cJSON_Parse(ev->full_data) : NULL;
	ok(cJSON_Compare(o, want, 1), "full data: the object as ingested");
	cJSON_Delete(o);

	/* the default */
	t0 = event_tail(ev, 0, &grown);
	ok(t0 == ev->user_tail && grown == 0, "mask 0: the default tail, nothing grown");
	o = tail_object(ev, t0);
	ok(at(o, "raw", NULL, NULL) == NULL && at(o, "annotations", NULL, NULL) == NULL &&
	    at(o, "user", "raw", NULL) == NULL, "default: raw and annotations removed");
	ok(at(o, "content", "html", NULL) && at(o, "user", "content", "html"),
	    "default: html kept");
	cJSON_Delete(o);
	t1 = event_tail(ev, DISPLAY_RAW(DK_POLL) | DISPLAY_ANNOT(DK_FILE), &grown);
	ok(t1 == ev->user_tail && grown == 0,
	    "options that change nothing here: the default tail");
	ok(ev->variants == NULL, "and no variant made");

	/* include_html=0 */
	t1 = event_tail(ev, DISPLAY_NO_HTML, &grown);
	ok(t1 != NULL && t1 != ev->user_tail, "include_html=0: a variant");
	ok(grown >= t1->len && grown < t1->len + 256,
	    "grown: the variant's bytes and overhead (%zu for %u)", grown, t1->len);
	ok(t1->len > ev->data_off &&
	    memcmp(t1->data, ev->user_tail->data, ev->data_off) == 0,
	    "the variant's meta is the default's, byte for byte");
	is_int(strlen(t1->data), t1->len, "NUL-terminated, length right");
	o = tail_object(ev, t1);
	ok(at(o, "content", "html", NULL) == NULL &&
	    at(o, "user", "content", "html") == NULL, "include_html=0: html removed");
	ok(at(o, "raw", NULL, NULL) == NULL && at(o, "content", "text", NULL),
	    "include_html=0: raw still removed, text kept");
	cJSON_Delete(o);
	t2 = event_tail(ev, DISPLAY_NO_HTML | DISPLAY_RAW(DK_POLL), &grown);
	ok(t2 == t1 && grown == 0, "the same options & affects: the same variant, "
	    "nothing grown");
	t2 = event_tail(ev, DISPLAY_NO_HTML, &grown);
	ok(t2 == t1 && grown == 0, "asked again: the same variant");

	/* include_raw=1 and include_post_raw=1 come to the same here */
	t2 = event_tail(ev, DISPLAY_RAW_ALL, &grown);
	ok(t2 != t1 && t2 != ev->user_tail && grown > 0, "include_raw=1: another variant");
	o = tail_object(ev, t2);
	ok(at(o, "raw", NULL, NULL) && at(o, "user", "raw", NULL) &&
	    at(o, "annotations", NULL, NULL) == NULL,
	    "include_raw=1: raw kept, annotations removed");
	ok(at(o, "content", "html", NULL) != NULL, "include_raw=1: html kept");
	cJSON_Delete(o);
	t3 = event_tail(ev, DISPLAY_RAW(DK_POST) | DISPLAY_RAW(DK_USER), &grown);
	ok(t3 == t2 && grown == 0,
	    "include_post_raw=1&include_user_raw=1: the same variant as include_raw=1");
	t3 = event_tail(ev, DISPLAY_RAW(DK_USER), &grown);
	ok(t3 != t2 && t3 != t1 && grown > 0, "include_user_raw=1: its own variant");
	o = tail_object(ev, t3);
	ok(at(o, "raw", NULL, NULL) == NULL && at(o, "user", "raw", NULL) != NULL,
	    "include_user_raw=1: post.user.raw only");
	cJSON_Delete(o);

	/* everything kept: the object as ingested */
	t3 = event_tail(ev, DISPLAY_FULL, &grown);
	o = tail_object(ev, t3);
	ok(cJSON_Compare(o, want, 1), "every raw and annotations: the whole object");
	cJSON_Delete(o);
	t3 = event_tail(ev, DISPLAY_FULL | DISPLAY_NO_HTML, &grown);
	o = tail_object(ev, t3);
	ok(at(o, "content", "html", NULL) == NULL && at(o, "annotations", NULL, NULL) &&
	    at(o, "raw", NULL, NULL) && at(o, "user", "raw", NULL),
	    "everything but html");
	{
		const cJSON *raw = at(o, "raw", NULL, NULL);
		const cJSON *v = cJSON_GetArrayItem(raw, 0);

		ok(v && at(v, "value", "html", NULL) != NULL,
		    "include_html=0 leaves html inside a kept raw value");
	}
	cJSON_Delete(o);
	{
		int n = 0;

		for (struct event_variant *v = ev->variants; v; v = v->next)
			n++;
		is_int(n, 5, "5 variants made, one per distinct key");
	}

	/* the whole message still parses with a variant tail */
	{
		struct buf b;

		buf_init(&b);
		buf_adds(&b, "{\"meta\":{\"connection_id\":\"c\",\"subscription_ids\":[],");
		buf_add(&b, t1->data, t1->len);
		j = cJSON_ParseWithLength(b.p, b.len);
		ok(j && cJSON_GetArraySize(cJSON_GetObjectItem(j, "data")) == 1 &&
		    strcmp(jstr(cJSON_GetObjectItem(j, "meta"), "cursor"), "77") == 0 &&
		    cJSON_IsNumber(at(j, "meta", "extra", NULL)),
		    "head + variant tail: a whole message with the event's meta");
		cJSON_Delete(j);
		buf_free(&b);
	}

	/* the app frame carries the full data */
	j = app_message(ev, &fl);
	ok(cJSON_Compare(cJSON_GetObjectItem(j, "data"), want, 1),
	    "app frame: raw, annotations and html all kept");
	ok(cJSON_IsNumber(at(j, "meta", "extra", NULL)), "app frame: backend meta");
	cJSON_Delete(j);
	cJSON_Delete(want);
	event_unref(ev);	/* variants freed with it (ASan) */

	/* html only: no full data; a variant made from the default */
	ev = good_event("{\"type\":\"user\",\"action\":\"update\",\"id\":\"12\","
	    "\"data\":{\"id\":\"12\",\"content\":{\"html\":\"x\",\"text\":\"y\"}}}");
	if (ev == NULL)
		return;
	event_stamp(ev, 78, 5);
	is_int(ev->affects, DISPLAY_NO_HTML, "html only: affects NO_HTML");
	ok(ev->full_data == NULL, "the default removed nothing: no full data");
	t1 = event_tail(ev, DISPLAY_FULL, &grown);
	ok(t1 == ev->user_tail && grown == 0, "include_raw etc. change nothing");
	t1 = event_tail(ev, DISPLAY_NO_HTML | DISPLAY_FULL, &grown);
	ok(t1 != ev->user_tail && grown > 0, "include_html=0: a variant");
	o = tail_object(ev, t1);
	ok(o && at(o, "content", "html", NULL) == NULL &&
	    strcmp(jstr(at(o, "content", NULL, NULL), "text"), "y") == 0,
	    "html removed, text kept");
	cJSON_Delete(o);
	j = app_message(ev, &fl);
	ok(at(j, "data", "content", "html") != NULL, "app frame: html kept");
	cJSON_Delete(j);
	event_unref(ev);

	/* nothing options could change */
	ev = good_event("{\"type\":\"follow\",\"action\":\"create\",\"id\":\"3\","
	    "\"data\":{\"user\":{\"id\":\"1\"},\"follows_user\":{\"id\":\"2\"}}}");
	if (ev == NULL)
		return;
	event_stamp(ev, 79, 5);
	is_int(ev->affects, 0, "nothing to remove: affects 0");
	is_int(ev->root_kind, -1, "a follow has no root kind");
	t1 = event_tail(ev, 0xffff, &grown);
	ok(t1 == ev->user_tail && grown == 0 && ev->variants == NULL,
	    "every option: the default tail");
	o = tail_object(ev, t1);
	ok(at(o, "follows_user", "id", NULL) != NULL, "the object");
	cJSON_Delete(o);
	event_unref(ev);

	/* a follow whose root raw only include_raw keeps */
	ev = good_event("{\"type\":\"follow\",\"action\":\"create\",\"id\":\"4\","
	    "\"data\":{\"raw\":[1],\"user\":{\"id\":\"1\"}}}");
	if (ev == NULL)
		return;
	event_stamp(ev, 80, 5);
	t1 = event_tail(ev, DISPLAY_RAW(DK_USER), &grown);
	ok(t1 == ev->user_tail, "follow: include_user_raw=1 changes nothing");
	t1 = event_tail(ev, DISPLAY_RAW_ALL, &grown);
	o = tail_object(ev, t1);
	ok(t1 != ev->user_tail && at(o, "raw", NULL, NULL) != NULL,
	    "follow: include_raw=1 keeps the root raw");
	cJSON_Delete(o);
	event_unref(ev);

	/* a delete without data: nothing to vary */
	ev = good_event("{\"type\":\"post\",\"action\":\"delete\",\"id\":\"9\"}");
	if (ev == NULL)
		return;
	event_stamp(ev, 81, 5);
	t1 = event_tail(ev, DISPLAY_NO_HTML | DISPLAY_FULL, &grown);
	ok(t1 == ev->user_tail && grown == 0, "delete without data: the default tail");
	{
		size_t len = 99;

		ok(event_tail_data(ev, t1, &len) == NULL && len == 0,
		    "delete without data: event_tail_data NULL, length 0");
	}
	event_unref(ev);

	/* a delete with data that has raw: varies like any other */
	ev = good_event("{\"type\":\"message\",\"action\":\"delete\",\"id\":\"8\","
	    "\"data\":{\"id\":\"8\",\"is_deleted\":true,\"raw\":[1]}}");
	if (ev == NULL)
		return;
	event_stamp(ev, 82, 5);
	t1 = event_tail(ev, DISPLAY_RAW(DK_MESSAGE), &grown);
	ok(t1 != ev->user_tail && grown > 0, "delete with raw: a variant");
	ok(strstr(t1->data, "\"is_deleted\":true,\"deleted_id\":\"8\"") != NULL,
	    "the variant keeps the delete marks");
	o = tail_object(ev, t1);
	ok(at(o, "raw", NULL, NULL) != NULL, "and the raw");
	cJSON_Delete(o);
	event_unref(ev);
}

/* The replay log's figure counts the full data of an event whose
 * default rendering removed something. */
static void
test_footprint(void)
{
	struct event *a, *b;
	char big[3000], line[3200];

	memset(big, 'r', 2000);
	big[2000] = '\0';
	snprintf(line, sizeof(line), "{\"type\":\"post\",\"action\":\"create\","
	    "\"id\":\"1\",\"data\":{\"id\":\"1\",\"raw\":\"%s\"}}", big);
	a = good_event(line);
	snprintf(line, sizeof(line), "{\"type\":\"post\",\"action\":\"create\","
	    "\"id\":\"1\",\"data\":{\"id\":\"1\",\"rav\":\"%s\"}}", big);
	b = good_event(line);
	if (a == NULL || b == NULL)
		return;
	event_stamp(a, 1, 1);
	event_stamp(b, 1, 1);
	ok(a->user_tail->len + 2000 < b->user_tail->len,
	    "raw removed from the default tail");
	ok(a->bytes > 2 * 2000 && a->bytes + 500 > b->bytes,
	    "the full data (and the app frame built from it) counted: %zu vs %zu",
	    a->bytes, b->bytes);
	event_unref(a);
	event_unref(b);
}

int
main(void)
{
	test_create();
	test_app_frame();
	test_tail();
	test_footprint();
	test_update_numeric();
	test_delete();
	test_meta();
	test_visible();
	test_bad_events();
	test_length();
	test_many_keys();
	test_tokens();
	test_utf8();
	return tap_done();
}
