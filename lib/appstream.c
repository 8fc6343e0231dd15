/* appstream.c - app-stream definitions. The body is parsed with
 * json_parse (with an explicit end pointer, see event.c) and every
 * member is checked; whatever is wrong is named in the message, since
 * app developers meet these errors while writing their first call. */
#include "appstream.h"
#include "appfilter.h"
#include "json.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

const char *const appstream_types[APPSTREAM_NTYPES] = {
	"post", "bookmark", "follow", "mute", "block", "message", "channel",
	"channel_subscription", "token", "user", "file",
};

int
appstream_type_index(const char *type)
{
	for (int i = 0; i < APPSTREAM_NTYPES; i++)
		if (strcmp(type, appstream_types[i]) == 0)
			return i;
	return -1;
}

bool
appstream_key_valid(const char *key)
{
	size_t n = strlen(key);

	if (n == 0 || n > APPSTREAM_KEY_MAX)
		return false;
	for (; *key; key++)
		if (!((*key >= 'a' && *key <= 'z') || (*key >= 'A' && *key <= 'Z') ||
		    (*key >= '0' && *key <= '9') || *key == '_'))
			return false;
	return true;
}

void
appstream_render_types(uint32_t types, struct buf *b)
{
	bool first = true;

	buf_addc(b, '[');
	for (int i = 0; i < APPSTREAM_NTYPES; i++) {
		if (!(types & (1u << i)))
			continue;
		if (!first)
			buf_addc(b, ',');
		first = false;
		buf_json_str(b, appstream_types[i]);
	}
	buf_addc(b, ']');
}

static int
parse_types(const cJSON *ot, uint32_t *out, char *err, size_t errlen)
{
	const cJSON *it;
	uint32_t types = 0;

	if (ot == NULL) {
		snprintf(err, errlen, "object_types is required: a list such "
		    "as [\"post\", \"message\"]");
		return 400;
	}
	if (!cJSON_IsArray(ot) || cJSON_GetArraySize(ot) == 0) {
		snprintf(err, errlen, "object_types must be a non-empty list "
		    "of object type names");
		return 400;
	}
	cJSON_ArrayForEach(it, ot) {
		int i;

		if (!cJSON_IsString(it)) {
			snprintf(err, errlen, "object_types must hold strings");
			return 400;
		}
		if ((i = appstream_type_index(it->valuestring)) < 0) {
			snprintf(err, errlen, "object_types: unknown object type "
			    "'%.64s' (known: post, bookmark, follow, mute, block, "
			    "message, channel, channel_subscription, token, user, "
			    "file)", it->valuestring);
			return 400;
		}
		if (types & (1u << i)) {
			snprintf(err, errlen, "object_types: '%s' is listed twice",
			    appstream_types[i]);
			return 400;
		}
		types |= 1u << i;
	}
	*out = types;
	return 0;
}

int
appstream_parse(const char *body, size_t len, bool put,
    struct appstream_def *def, char *err, size_t errlen)
{
	const char *end = NULL;
	const cJSON *it, *type = NULL, *key = NULL, *ot = NULL, *filter = NULL;
	cJSON *root;
	int rc = 400;

	memset(def, 0, sizeof(*def));
	if (len > APPSTREAM_BODY_MAX) {
		snprintf(err, errlen, "the body is larger than %d bytes",
		    APPSTREAM_BODY_MAX);
		return 400;
	}
	root = json_parse(body, len, &end);
	if (root == NULL) {
		snprintf(err, errlen, "the body must be a JSON object (it is "
		    "not valid JSON)");
		return 400;
	}
	for (; end != NULL && end < body + len; end++)
		if (!strchr(" \t\r\n", *end)) {
			snprintf(err, errlen, "text after the JSON object");
			goto out;
		}
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "the body must be a JSON object");
		goto out;
	}
	cJSON_ArrayForEach(it, root) {
		if (strcmp(it->string, "object_types") == 0)
			ot = it;
		else if (strcmp(it->string, "type") == 0)
			type = it;
		else if (strcmp(it->string, "key") == 0)
			key = it;
		else if (strcmp(it->string, "filter") == 0)
			filter = it;
		else if (strcmp(it->string, "id") != 0 &&
		    strcmp(it->string, "endpoint") != 0) {
			/* id and endpoint are ours: a client sending back a
			 * stream object it got is not wrong */
			snprintf(err, errlen, "unknown member '%.64s' (a stream "
			    "has object_types, type, key and filter)", it->string);
			goto out;
		}
	}
	if (type == NULL && !put) {
		snprintf(err, errlen, "type is required and must be \"long_poll\"");
		goto out;
	}
	if (type != NULL && (!cJSON_IsString(type) ||
	    strcmp(type->valuestring, "long_poll") != 0)) {
		snprintf(err, errlen, "type must be \"long_poll\"");
		goto out;
	}
	if (key != NULL && !cJSON_IsNull(key)) {
		if (!cJSON_IsString(key) || !appstream_key_valid(key->valuestring)) {
			snprintf(err, errlen, "key must be 1-32 characters of "
			    "A-Z, a-z, 0-9 and _");
			goto out;
		}
		strcpy(def->key, key->valuestring);
	}
	if ((rc = parse_types(ot, &def->types, err, errlen)) != 0)
		goto out;
	rc = 400;
	if (filter != NULL && !cJSON_IsNull(filter) &&
	    (def->filter = appfilter_parse(filter, err, errlen)) == NULL)
		goto out;
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}
