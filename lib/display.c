/* display.c - display options: parsing them, and applying them to a
 * parsed `data` object. Both walks below share one rule for what a mask
 * keeps, so that "these masks render alike" (display_affects) can never
 * disagree with what display_apply does. */
#include "display.h"

#include <stdio.h>
#include <string.h>

static const char *const kind_names[DK_NKINDS] = {
	"post", "user", "channel", "message", "file", "poll",
};

int
display_root_kind(const char *type)
{
	for (int k = 0; k < DK_NKINDS; k++)
		if (strcmp(type, kind_names[k]) == 0)
			return k;
	return -1;
}

/* The kind of the object (or list of objects) held by member name;
 * -1: it belongs to its parent. */
static int
member_kind(const char *name)
{
	static const struct { const char *name; int kind; } tab[] = {
		{ "post", DK_POST }, { "posts", DK_POST },
		{ "repost_of", DK_POST },
		{ "user", DK_USER }, { "users", DK_USER },
		{ "owner", DK_USER }, { "follows_user", DK_USER },
		{ "channel", DK_CHANNEL }, { "channels", DK_CHANNEL },
		{ "message", DK_MESSAGE }, { "messages", DK_MESSAGE },
		{ "file", DK_FILE }, { "files", DK_FILE },
		{ "poll", DK_POLL }, { "polls", DK_POLL },
	};

	if (name == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(name, tab[i].name) == 0)
			return tab[i].kind;
	return -1;
}

/* kinds: bit k set for every kind on the path to an object (its own
 * included). The mask bits that keep its `raw` (shift 0) or
 * `annotations` (shift 7). */
static display_t
keeper_bits(unsigned kinds, unsigned shift)
{
	display_t bits = 0;

	if (kinds == 0)
		return (display_t)(DISPLAY_RAW(DK_NKINDS) << shift);
	for (int k = 0; k < DK_NKINDS; k++)
		if (kinds & (1u << k))
			bits |= (display_t)(DISPLAY_RAW(k) << shift);
	return bits;
}

/* One walk for both jobs: with apply false it only collects, in
 * *affects, the bits that would change something; with apply true it
 * removes what d does not keep. */
static void
walk(cJSON *node, unsigned kinds, display_t d, bool apply, display_t *affects)
{
	cJSON *it, *next;

	if (cJSON_IsArray(node)) {
		cJSON_ArrayForEach(it, node)
			walk(it, kinds, d, apply, affects);
		return;
	}
	if (!cJSON_IsObject(node))
		return;
	for (it = node->child; it != NULL; it = next) {
		const char *name = it->string;
		int k;

		next = it->next;
		if (name != NULL && strcmp(name, "html") == 0) {
			*affects |= DISPLAY_NO_HTML;
			if (apply && (d & DISPLAY_NO_HTML))
				cJSON_Delete(cJSON_DetachItemViaPointer(node, it));
			continue;
		}
		if (name != NULL && (strcmp(name, "raw") == 0 ||
		    strcmp(name, "annotations") == 0)) {
			display_t keep = keeper_bits(kinds, name[0] == 'r' ? 0 : 7);

			*affects |= keep;
			if (apply && !(d & keep))
				cJSON_Delete(cJSON_DetachItemViaPointer(node, it));
			continue;	/* the app's own data: not walked */
		}
		k = member_kind(name);
		walk(it, k >= 0 ? kinds | 1u << k : kinds, d, apply, affects);
	}
}

display_t
display_affects(const cJSON *data, int root_kind)
{
	display_t a = 0;

	/* with apply false the walk does not modify the tree */
	walk((cJSON *)data, root_kind >= 0 ? 1u << root_kind : 0, 0, false, &a);
	return a;
}

void
display_apply(cJSON *data, int root_kind, display_t d)
{
	display_t a = 0;

	walk(data, root_kind >= 0 ? 1u << root_kind : 0, d, true, &a);
}

int
display_parse(opt_get get, void *ctx,
    display_t *out, char *err, size_t errlen)
{
	static const char *const parts[2] = { "raw", "annotations" };
	display_t d = 0;
	char name[64];
	int v;

	if ((v = opt_flag(get, ctx, "include_html")) == -2)
		goto bad_html;
	if (v == 0)
		d |= DISPLAY_NO_HTML;
	for (unsigned p = 0; p < 2; p++) {
		unsigned shift = p ? 7 : 0;

		snprintf(name, sizeof(name), "include_%s", parts[p]);
		if ((v = opt_flag(get, ctx, name)) == -2)
			goto bad;
		if (v == 1)
			d |= (display_t)(DISPLAY_RAW_ALL << shift);
		for (int k = 0; k < DK_NKINDS; k++) {
			snprintf(name, sizeof(name), "include_%s_%s",
			    kind_names[k], parts[p]);
			if ((v = opt_flag(get, ctx, name)) == -2)
				goto bad;
			if (v == 1)
				d |= (display_t)(DISPLAY_RAW(k) << shift);
		}
	}
	*out = d;
	return 0;
bad_html:
	snprintf(name, sizeof(name), "include_html");
bad:
	snprintf(err, errlen, "%s must be 0 or 1", name);
	return -1;
}

void
display_render(display_t d, struct buf *b)
{
	static const char *const parts[2] = { "raw", "annotations" };
	size_t start = b->len;

	if (d & DISPLAY_NO_HTML)
		buf_adds(b, "include_html=0");
	for (unsigned p = 0; p < 2; p++) {
		unsigned shift = p ? 7 : 0;
		display_t all = (display_t)(DISPLAY_RAW_ALL << shift);

		if ((d & all) == all) {
			if (b->len > start)
				buf_addc(b, '&');
			buf_printf(b, "include_%s=1", parts[p]);
			continue;
		}
		for (int k = 0; k < DK_NKINDS; k++)
			if (d & (DISPLAY_RAW(k) << shift)) {
				if (b->len > start)
					buf_addc(b, '&');
				buf_printf(b, "include_%s_%s=1", kind_names[k],
				    parts[p]);
			}
	}
}
