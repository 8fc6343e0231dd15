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

int
main(void)
{
	test_create();
	test_app_frame();
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
