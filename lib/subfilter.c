/* subfilter.c - filter options of a user-stream subscription */
#include "subfilter.h"
#include "alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cJSON *
member(const cJSON *obj, const char *name)
{
	return cJSON_IsObject(obj) ?
	    cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
}

static const char *
string_member(const cJSON *obj, const char *name)
{
	const cJSON *it = member(obj, name);

	return cJSON_IsString(it) && it->valuestring[0] != '\0' ?
	    it->valuestring : NULL;
}

/* Does text start with a mention, "@name"? */
static bool
leading_mention(const char *text)
{
	return text != NULL && text[0] == '@' &&
	    ((text[1] >= 'a' && text[1] <= 'z') ||
	    (text[1] >= 'A' && text[1] <= 'Z') ||
	    (text[1] >= '0' && text[1] <= '9') || text[1] == '_');
}

/* A post directed at someone: its text (pnut's content.text, App.net's
 * text) starts with a mention, or an entity says it is leading. */
static bool
directed(const cJSON *post)
{
	const cJSON *content = member(post, "content"), *m;

	if (leading_mention(string_member(content, "text")) ||
	    leading_mention(string_member(post, "text")))
		return true;
	m = member(member(content ? content : post, "entities"), "mentions");
	if (cJSON_IsArray(m)) {
		const cJSON *it;

		cJSON_ArrayForEach(it, m)
			if (cJSON_IsTrue(member(it, "is_leading")))
				return true;
	}
	return false;
}

uint8_t
subfilter_facts(const char *type, bool deleted, const cJSON *data,
    const cJSON *meta, const char **subtype)
{
	uint8_t f = 0;
	const char *ct;

	*subtype = NULL;
	if (deleted || cJSON_IsTrue(member(data, "is_deleted")))
		f |= SF_DELETED;
	if (cJSON_IsTrue(member(data, "is_machine")) ||
	    cJSON_IsTrue(member(data, "machine_only")))
		f |= SF_MACHINE;
	if (strcmp(type, "post") == 0 && directed(data))
		f |= SF_DIRECTED;
	if (strcmp(type, "file") == 0) {
		f |= SF_FILE;
		*subtype = string_member(data, "type");
		if (cJSON_IsFalse(member(data, "is_complete")))
			f |= SF_INCOMPLETE;
		if (cJSON_IsFalse(member(data, "is_public")))
			f |= SF_PRIVATE;
		return f;
	}
	ct = string_member(meta, "channel_type");
	if (strcmp(type, "channel") == 0) {
		f |= SF_CHANNEL;
		if (ct == NULL)
			ct = string_member(data, "type");
	} else if (strcmp(type, "message") == 0 ||
	    strcmp(type, "channel_subscription") == 0) {
		f |= SF_CHANNEL;
		if (ct == NULL)
			ct = string_member(member(data, "channel"), "type");
	} else if (ct != NULL)
		f |= SF_CHANNEL;
	*subtype = ct;
	return f;
}

/* "a,b" -> ",a,b,"; NULL when the list is not acceptable. */
static char *
type_list(const char *v)
{
	size_t n = strlen(v), names = 1, cur = 0;
	char *out;

	if (n == 0)
		return NULL;
	for (const char *p = v; *p; p++) {
		if (*p == ',') {
			if (cur == 0)
				return NULL;	/* an empty name */
			names++;
			cur = 0;
			continue;
		}
		if (*p < 0x21 || *p > 0x7e || ++cur > SUBFILTER_TYPE_MAX)
			return NULL;
	}
	if (cur == 0 || names > SUBFILTER_MAX_TYPES)
		return NULL;
	out = xmalloc(n + 3);
	out[0] = ',';
	memcpy(out + 1, v, n);
	out[n + 1] = ',';
	out[n + 2] = '\0';
	return out;
}

int
subfilter_parse(opt_get get, void *ctx,
    bool posts_stream, struct subfilter *f, char *err, size_t errlen)
{
	static const struct { const char *name; uint8_t fact; bool def; } opts[] = {
		{ "include_deleted", SF_DELETED, true },
		{ "include_directed_posts", SF_DIRECTED, true },
		{ "include_machine", SF_MACHINE, false },
		{ "include_incomplete", SF_INCOMPLETE, true },
		{ "include_private", SF_PRIVATE, true },
	};
	static const char *const lists[2] = { "channel_types", "file_types" };

	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		int v = opt_flag(get, ctx, opts[i].name);
		bool def = opts[i].def;

		if (v == -2) {
			snprintf(err, errlen, "%s must be 0 or 1", opts[i].name);
			return -1;
		}
		if (opts[i].fact == SF_DIRECTED && posts_stream)
			def = false;
		if (v == 0 || (v == -1 && !def))
			f->drop |= opts[i].fact;
	}
	for (int i = 0; i < 2; i++) {
		const char *v = get(ctx, lists[i]);
		char *l;

		if (v == NULL)
			continue;
		if ((l = type_list(v)) == NULL) {
			subfilter_clear(f);
			snprintf(err, errlen, "%s must be a comma-separated list "
			    "of at most %d type names", lists[i],
			    SUBFILTER_MAX_TYPES);
			return -1;
		}
		if (i == 0)
			f->channel_types = l;
		else
			f->file_types = l;
	}
	return 0;
}

void
subfilter_clear(struct subfilter *f)
{
	free(f->channel_types);
	free(f->file_types);
	memset(f, 0, sizeof(*f));
}

void
subfilter_copy(struct subfilter *dst, const struct subfilter *src)
{
	dst->drop = src->drop;
	dst->channel_types = src->channel_types ?
	    xstrdup(src->channel_types) : NULL;
	dst->file_types = src->file_types ? xstrdup(src->file_types) : NULL;
}

/* Is name in the list ",a,b,"? A name with a comma is never in it,
 * nor is an empty one: either could be found at the list's first byte,
 * with nothing before it to check. */
static bool
listed(const char *list, const char *name)
{
	size_t n;
	const char *p;

	if (name == NULL || name[0] == '\0' || strchr(name, ',') != NULL)
		return false;
	n = strlen(name);
	for (p = list; (p = strstr(p, name)) != NULL; p++)
		if (p[-1] == ',' && p[n] == ',')
			return true;
	return false;
}

bool
subfilter_pass(const struct subfilter *f, uint8_t facts, const char *subtype)
{
	if (facts & f->drop)
		return false;
	if (f->channel_types && (facts & SF_CHANNEL) &&
	    !listed(f->channel_types, subtype))
		return false;
	if (f->file_types && (facts & SF_FILE) &&
	    !listed(f->file_types, subtype))
		return false;
	return true;
}

static void
render_list(struct buf *b, const char *list)
{
	const char *p, *q;

	if (list == NULL) {
		buf_adds(b, "null");
		return;
	}
	buf_addc(b, '[');
	for (p = list + 1; *p; p = q + 1) {
		char name[SUBFILTER_TYPE_MAX + 1];

		q = strchr(p, ',');
		snprintf(name, sizeof(name), "%.*s", (int)(q - p), p);
		if (p != list + 1)
			buf_addc(b, ',');
		buf_json_str(b, name);
	}
	buf_addc(b, ']');
}

void
subfilter_render(const struct subfilter *f, struct buf *b)
{
	buf_printf(b, "{\"include_deleted\":%s,\"include_directed_posts\":%s,"
	    "\"include_machine\":%s,\"include_incomplete\":%s,"
	    "\"include_private\":%s,\"channel_types\":",
	    f->drop & SF_DELETED ? "false" : "true",
	    f->drop & SF_DIRECTED ? "false" : "true",
	    f->drop & SF_MACHINE ? "false" : "true",
	    f->drop & SF_INCOMPLETE ? "false" : "true",
	    f->drop & SF_PRIVATE ? "false" : "true");
	render_list(b, f->channel_types);
	buf_adds(b, ",\"file_types\":");
	render_list(b, f->file_types);
	buf_addc(b, '}');
}
