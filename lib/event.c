/* event.c - ingest records: parsing, the event model, rendering.
 * cJSON is used only through json_parse (cJSON_ParseWithLengthOpts) with
 * an explicit end pointer: cJSON_GetErrorPtr is a global and not
 * thread-safe. */
#include "event.h"
#include "appstream.h"
#include "buf.h"
#include "alloc.h"
#include "json.h"
#include "log.h"
#include "qitem.h"
#include "subfilter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A string field, or an integer given as a number (ids often are). */
static int
scalar_string(const cJSON *it, char *out, size_t outlen)
{
	if (cJSON_IsString(it)) {
		size_t n = strlen(it->valuestring);
		if (n == 0 || n >= outlen)
			return -1;
		memcpy(out, it->valuestring, n + 1);
		return 0;
	}
	if (cJSON_IsNumber(it) && it->valuedouble >= 0 &&
	    it->valuedouble < 9007199254740992.0 &&
	    (double)(int64_t)it->valuedouble == it->valuedouble) {
		snprintf(out, outlen, "%lld", (long long)it->valuedouble);
		return 0;
	}
	return -1;
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* A list of ids/keys: strings (or integers), none empty. */
static int
string_list(const cJSON *arr, char ***out, size_t *nout)
{
	size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
	const cJSON *it;
	char tmp[512];
	char **v;

	if (!cJSON_IsArray(arr) || n > EVENT_MAX_KEYS)
		return -1;
	v = calloc(n ? n : 1, sizeof(*v));
	if (v == NULL)
		fatal("%s: out of memory", __func__);
	cJSON_ArrayForEach(it, arr) {
		if (scalar_string(it, tmp, sizeof(tmp)) < 0) {
			strv_free(v, i);
			return -1;
		}
		v[i++] = xstrdup(tmp);
	}
	*out = v;
	*nout = i;
	return 0;
}

void
token_rec_clear(struct token_rec *t)
{
	free(t->token);
	free(t->user_id);
	free(t->client_id);
	free(t->scopes);
	memset(t, 0, sizeof(*t));
}

static int
parse_token(cJSON *root, struct token_rec *t, const char **reason,
    const char **detail)
{
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(root, "op");
	const cJSON *action = cJSON_GetObjectItemCaseSensitive(root, "action");
	const cJSON *token = cJSON_GetObjectItemCaseSensitive(root, "token");
	const cJSON *app = cJSON_GetObjectItemCaseSensitive(root, "app");
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(root, "user_id");
	const cJSON *client = cJSON_GetObjectItemCaseSensitive(root, "client_id");
	const cJSON *scopes = cJSON_GetObjectItemCaseSensitive(root, "scopes");
	char id[EVENT_MAX_ID];

	memset(t, 0, sizeof(*t));
	*reason = "bad_token";
	if (!cJSON_IsString(op) || strcmp(op->valuestring, "token") != 0) {
		*reason = "bad_op";
		*detail = "\"op\" must be \"token\"";
		return -1;
	}
	if (!cJSON_IsString(action) || (strcmp(action->valuestring, "grant") &&
	    strcmp(action->valuestring, "revoke"))) {
		*detail = "token \"action\" must be \"grant\" or \"revoke\"";
		return -1;
	}
	if (!cJSON_IsString(token) || token->valuestring[0] == '\0' ||
	    strlen(token->valuestring) > 512) {
		*detail = "\"token\" must be a non-empty string of at most 512 bytes";
		return -1;
	}
	t->action = action->valuestring[0] == 'g' ? TOKEN_GRANT : TOKEN_REVOKE;
	if (t->action == TOKEN_REVOKE) {
		t->token = xstrdup(token->valuestring);
		return 0;
	}
	if (app != NULL && !cJSON_IsBool(app)) {
		*detail = "\"app\" must be true or false";
		return -1;
	}
	t->app = cJSON_IsTrue(app);
	if (scalar_string(client, id, sizeof(id)) < 0) {
		*detail = "a grant needs \"client_id\"";
		return -1;
	}
	t->client_id = xstrdup(id);
	if (!t->app) {
		if (scalar_string(user, id, sizeof(id)) < 0) {
			*detail = "a user token grant needs \"user_id\"";
			token_rec_clear(t);
			return -1;
		}
		t->user_id = xstrdup(id);
	}
	if (scopes != NULL) {
		const cJSON *s;
		struct buf b;

		if (!cJSON_IsArray(scopes)) {
			*detail = "\"scopes\" must be a list of strings";
			token_rec_clear(t);
			return -1;
		}
		buf_init(&b);
		cJSON_ArrayForEach(s, scopes) {
			if (!cJSON_IsString(s) || strchr(s->valuestring, ',')) {
				*detail = "\"scopes\" must be a list of strings";
				buf_free(&b);
				token_rec_clear(t);
				return -1;
			}
			if (b.len)
				buf_addc(&b, ',');
			buf_adds(&b, s->valuestring);
		}
		t->scopes = buf_steal(&b);
	}
	t->token = xstrdup(token->valuestring);
	return 0;
}

static void
event_free(struct event *ev)
{
	free(ev->type);
	free(ev->id);
	strv_free(ev->keys, ev->nkeys);
	if (ev->visible_to)
		strv_free(ev->visible_to, ev->nvisible);
	cJSON_Delete(ev->data);
	cJSON_Delete(ev->meta);
	msg_unref(ev->user_tail);
	msg_unref(ev->app_frame);
	free(ev->subtype);
	free(ev->full_data);
	while (ev->variants != NULL) {
		struct event_variant *v = ev->variants;

		ev->variants = v->next;
		msg_unref(v->tail);
		free(v);
	}
	free(ev);
}

static int
parse_event(cJSON *root, size_t linelen, struct event **out,
    const char **reason, const char **detail)
{
	cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
	cJSON *action = cJSON_GetObjectItemCaseSensitive(root, "action");
	cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
	cJSON *keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
	cJSON *vis = cJSON_GetObjectItemCaseSensitive(root, "visible_to");
	cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
	cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "meta");
	char idbuf[EVENT_MAX_ID];
	struct event *ev;

	if (type == NULL) {
		*reason = "missing_field";
		*detail = "\"type\" is required";
		return -1;
	}
	if (!cJSON_IsString(type) || type->valuestring[0] == '\0' ||
	    strlen(type->valuestring) > 64) {
		*reason = "bad_field";
		*detail = "\"type\" must be a non-empty string of at most 64 bytes";
		return -1;
	}
	if (action == NULL) {
		*reason = "missing_field";
		*detail = "\"action\" is required";
		return -1;
	}
	if (!cJSON_IsString(action) || (strcmp(action->valuestring, "create") &&
	    strcmp(action->valuestring, "update") &&
	    strcmp(action->valuestring, "delete"))) {
		*reason = "bad_field";
		*detail = "\"action\" must be create, update or delete";
		return -1;
	}
	if (id == NULL) {
		*reason = "missing_field";
		*detail = "\"id\" is required";
		return -1;
	}
	if (scalar_string(id, idbuf, sizeof(idbuf)) < 0) {
		*reason = "bad_field";
		*detail = "\"id\" must be a non-empty string";
		return -1;
	}
	if (data == NULL && action->valuestring[0] != 'd') {
		*reason = "missing_field";
		*detail = "\"data\" is required unless action is delete";
		return -1;
	}
	if (data != NULL && !cJSON_IsObject(data)) {
		*reason = "bad_field";
		*detail = "\"data\" must be an object";
		return -1;
	}
	if (meta != NULL && !cJSON_IsObject(meta) && !cJSON_IsNull(meta)) {
		*reason = "bad_field";
		*detail = "\"meta\" must be an object";
		return -1;
	}
	ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		fatal("%s: out of memory", __func__);
	ev->refs = 1;
	if (keys != NULL && !cJSON_IsNull(keys)) {
		if (string_list(keys, &ev->keys, &ev->nkeys) < 0) {
			free(ev);
			*reason = "bad_field";
			*detail = "\"keys\" must be a list of non-empty strings";
			return -1;
		}
		for (size_t k = 0; k < ev->nkeys; k++)
			ev->key_bloom |= event_key_bloom(ev->keys[k]);
	}
	if (vis != NULL && !cJSON_IsNull(vis)) {
		if (string_list(vis, &ev->visible_to, &ev->nvisible) < 0) {
			event_free(ev);
			*reason = "bad_field";
			*detail = "\"visible_to\" must be a list of user ids";
			return -1;
		}
	}
	ev->type = xstrdup(type->valuestring);
	/* looked up once here, not for every app stream on delivery */
	ev->app_type = appstream_type_index(ev->type);
	ev->id = xstrdup(idbuf);
	ev->action = action->valuestring[0] == 'c' ? ACTION_CREATE :
	    action->valuestring[0] == 'u' ? ACTION_UPDATE : ACTION_DELETE;
	if (data != NULL)
		ev->data = cJSON_DetachItemViaPointer(root, data);
	if (meta != NULL && cJSON_IsObject(meta))
		ev->meta = cJSON_DetachItemViaPointer(root, meta);
	ev->bytes = sizeof(*ev) + 2 * linelen;
	*out = ev;
	return 0;
}

const char *const ingest_reasons[INGEST_REASONS] = {
	"json", "utf8", "not_object", "missing_field", "bad_field", "bad_op",
	"bad_token", "too_long", "truncated", "empty",
};

int
ingest_reason_index(const char *reason)
{
	for (int i = 0; i < INGEST_REASONS; i++)
		if (strcmp(reason, ingest_reasons[i]) == 0)
			return i;
	return -1;
}

/* RFC 3629 UTF-8: no overlongs, no surrogates, nothing past U+10FFFF.
 * cJSON does not check, and WebSocket clients close on bad text. */
static bool
utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else
			return false;
		if (n - i <= k)
			return false;	/* cut short */
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

int
ingest_parse(const char *line, size_t len, struct ingest_rec *rec,
    const char **reason, const char **detail)
{
	const char *end = NULL;
	cJSON *root;
	size_t i;
	int rc;

	memset(rec, 0, sizeof(*rec));
	for (i = 0; i < len && strchr(" \t\r", line[i]); i++)
		;
	if (i == len) {
		*reason = "empty";
		*detail = "blank line";
		return -1;
	}
	if (!utf8_valid((const unsigned char *)line, len)) {
		*reason = "utf8";
		*detail = "not valid UTF-8";
		return -1;
	}
	root = json_parse(line, len, &end);
	if (root == NULL) {
		*reason = "json";
		*detail = "not valid JSON";
		return -1;
	}
	for (; end != NULL && end < line + len; end++) {
		if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\0') {
			cJSON_Delete(root);
			*reason = "json";
			*detail = "text after the JSON object";
			return -1;
		}
	}
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		*reason = "not_object";
		*detail = "a record must be a JSON object";
		return -1;
	}
	if (cJSON_GetObjectItemCaseSensitive(root, "op") != NULL) {
		rec->kind = INGEST_TOKEN;
		rc = parse_token(root, &rec->tok, reason, detail);
	} else {
		rec->kind = INGEST_EVENT;
		rc = parse_event(root, len, &rec->ev, reason, detail);
	}
	cJSON_Delete(root);
	return rc;
}

/* meta keys that sluice sets itself; the backend's are not allowed to
 * shadow them */
static bool
reserved_meta(const char *k)
{
	static const char *const names[] = { "type", "connection_id",
	    "subscription_ids", "cursor", "min_id", "max_id", "more",
	    "is_deleted", "deleted_id", "id", "timestamp", NULL };

	for (int i = 0; names[i]; i++)
		if (strcmp(k, names[i]) == 0)
			return true;
	return false;
}

static void
render_backend_meta(struct buf *b, const cJSON *meta)
{
	const cJSON *it;

	if (meta == NULL)
		return;
	cJSON_ArrayForEach(it, meta) {
		if (it->string == NULL || reserved_meta(it->string))
			continue;
		buf_addc(b, ',');
		buf_json_str(b, it->string);
		buf_addc(b, ':');
		json_print(b, it);
	}
}

#define ALLOC_OVERHEAD	16	/* malloc's header and rounding, about */

static size_t
strv_footprint(char **v, size_t n)
{
	size_t b = n * sizeof(char *) + ALLOC_OVERHEAD;

	for (size_t i = 0; i < n; i++)
		b += strlen(v[i]) + 1 + ALLOC_OVERHEAD;
	return b;
}

/* What a rendered event holds, for the replay log's byte bound. It is
 * fixed once stamped (the log adds and subtracts the same figure) and
 * counts the app-stream frame before it is built: conservative. Other
 * display variants are charged when made (replay_charge). */
static size_t
event_footprint(const struct event *ev)
{
	size_t tail = sizeof(struct msg) + ev->user_tail->len + 1 + ALLOC_OVERHEAD;
	size_t app = tail + 64;

	if (ev->full_data != NULL)
		app += ev->full_len - ev->data_len;
	return sizeof(*ev) + ALLOC_OVERHEAD +
	    strlen(ev->type) + 1 + ALLOC_OVERHEAD +
	    strlen(ev->id) + 1 + ALLOC_OVERHEAD +
	    (ev->keys ? strv_footprint(ev->keys, ev->nkeys) : 0) +
	    (ev->visible_to ? strv_footprint(ev->visible_to, ev->nvisible) : 0) +
	    (ev->subtype ? strlen(ev->subtype) + 1 + ALLOC_OVERHEAD : 0) +
	    (ev->full_data ? ev->full_len + 1 + ALLOC_OVERHEAD : 0) +
	    tail +		/* the user-stream tail */
	    app;		/* the app frame: about as long, plus its head */
}

void
event_stamp(struct event *ev, uint64_t cursor, int64_t ts_ms)
{
	struct buf b;

	const char *subtype;

	ev->cursor = cursor;
	ev->ts_ms = ts_ms;
	ev->facts = subfilter_facts(ev->type, ev->action == ACTION_DELETE,
	    ev->data, ev->meta, &subtype);
	free(ev->subtype);	/* stamped again (tests do) */
	ev->subtype = subtype ? xstrdup(subtype) : NULL;
	ev->root_kind = (int8_t)display_root_kind(ev->type);
	buf_init(&b);
	buf_adds(&b, "\"type\":");
	buf_json_str(&b, ev->type);
	buf_printf(&b, ",\"cursor\":\"%llu\",\"min_id\":",
	    (unsigned long long)cursor);
	buf_json_str(&b, ev->id);
	buf_adds(&b, ",\"max_id\":");
	buf_json_str(&b, ev->id);
	buf_adds(&b, ",\"more\":false");
	ev->ext_off = (uint32_t)b.len;
	if (ev->action == ACTION_DELETE) {
		buf_adds(&b, ",\"is_deleted\":true,\"deleted_id\":");
		buf_json_str(&b, ev->id);
	}
	render_backend_meta(&b, ev->meta);
	ev->ext_len = (uint32_t)b.len - ev->ext_off;
	buf_addc(&b, '}');
	if (ev->data != NULL) {
		ev->affects = display_affects(ev->data, ev->root_kind);
		if (ev->affects & DISPLAY_FULL) {
			/* the default removes raw or annotations: app streams
			 * and other variants start from the whole object */
			struct buf full;

			buf_init(&full);
			json_print(&full, ev->data);
			ev->full_len = (uint32_t)full.len;
			ev->full_data = buf_steal(&full);
			display_apply(ev->data, ev->root_kind, 0);
		}
		buf_adds(&b, ",\"data\":[");
		ev->data_off = (uint32_t)b.len;
		json_print(&b, ev->data);
		ev->data_len = (uint32_t)b.len - ev->data_off;
		buf_addc(&b, ']');
	}
	buf_addc(&b, '}');
	msg_unref(ev->user_tail);
	ev->user_tail = msg_new(b.p, b.len);
	buf_free(&b);
	ev->has_data = ev->data != NULL;
	cJSON_Delete(ev->data);
	cJSON_Delete(ev->meta);
	ev->data = ev->meta = NULL;
	ev->bytes = event_footprint(ev);
}

struct msg *
event_app_frame(struct event *ev)
{
	const char *u = ev->user_tail->data;
	uint8_t hdr[10];
	size_t hl;
	struct buf b;

	if (ev->app_frame != NULL)
		return ev->app_frame;
	/* the payload is assembled after a gap as large as the biggest
	 * frame header, then the header is put right before it */
	buf_init(&b);
	buf_add(&b, "0123456789", 10);
	buf_adds(&b, "{\"meta\":{\"type\":");
	buf_json_str(&b, ev->type);
	buf_adds(&b, ",\"id\":");
	buf_json_str(&b, ev->id);
	buf_printf(&b, ",\"timestamp\":%lld,\"cursor\":\"%llu\"",
	    (long long)ev->ts_ms, (unsigned long long)ev->cursor);
	buf_add(&b, u + ev->ext_off, ev->ext_len);
	buf_addc(&b, '}');
	if (ev->full_data != NULL) {
		buf_adds(&b, ",\"data\":");
		buf_add(&b, ev->full_data, ev->full_len);
	} else if (ev->has_data) {
		buf_adds(&b, ",\"data\":");
		buf_add(&b, u + ev->data_off, ev->data_len);
	}
	buf_addc(&b, '}');
	hl = ws_frame_header(hdr, 0x1, b.len - 10);
	memcpy(b.p + 10 - hl, hdr, hl);
	ev->app_frame = msg_new(b.p + 10 - hl, b.len - 10 + hl);
	ev->app_hdr = (uint8_t)hl;
	buf_free(&b);	/* ev->bytes already counts it (event_stamp) */
	return ev->app_frame;
}

const char *
event_app_message(struct event *ev, size_t *len)
{
	struct msg *f = event_app_frame(ev);

	*len = f->len - ev->app_hdr;
	return f->data + ev->app_hdr;
}

struct msg *
event_tail(struct event *ev, display_t d, size_t *grown)
{
	display_t key = d & ev->affects;
	struct event_variant *v;
	const char *src, *end = NULL;
	size_t srclen;
	cJSON *root;
	struct buf b;

	*grown = 0;
	if (key == 0)
		return ev->user_tail;
	for (v = ev->variants; v != NULL; v = v->next)
		if (v->key == key)
			return v->tail;
	/* only an event with data has anything to vary */
	src = ev->full_data ? ev->full_data : ev->user_tail->data + ev->data_off;
	srclen = ev->full_data ? ev->full_len : ev->data_len;
	root = json_parse(src, srclen, &end);
	if (root == NULL)
		fatal("%s: cannot parse what was printed", __func__);
	display_apply(root, ev->root_kind, key);
	buf_init(&b);
	buf_add(&b, ev->user_tail->data, ev->data_off);
	json_print(&b, root);
	cJSON_Delete(root);
	buf_adds(&b, "]}");
	v = xcalloc(1, sizeof(*v));
	v->key = key;
	v->tail = msg_new(b.p, b.len);
	v->next = ev->variants;
	ev->variants = v;
	*grown = sizeof(*v) + sizeof(struct msg) + b.len + 1 + 2 * ALLOC_OVERHEAD;
	buf_free(&b);
	return v->tail;
}

const char *
event_tail_data(const struct event *ev, const struct msg *tail, size_t *len)
{
	if (!ev->has_data) {
		*len = 0;
		return NULL;
	}
	*len = tail->len - ev->data_off - 2;	/* before "]}" */
	return tail->data + ev->data_off;
}

bool
event_visible_to(const struct event *ev, const char *user_id)
{
	if (ev->visible_to == NULL)
		return true;
	for (size_t i = 0; i < ev->nvisible; i++)
		if (strcmp(ev->visible_to[i], user_id) == 0)
			return true;
	return false;
}

struct event *
event_ref(struct event *ev)
{
	__atomic_add_fetch(&ev->refs, 1, __ATOMIC_RELAXED);
	return ev;
}

void
event_unref(struct event *ev)
{
	if (ev != NULL && __atomic_sub_fetch(&ev->refs, 1, __ATOMIC_ACQ_REL) == 0)
		event_free(ev);
}
