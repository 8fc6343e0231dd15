/* route.c - the route table. Few routes (tens), matched once per
 * subscribe call: a linear scan over pre-split patterns is plenty. */
#include "route.h"
#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTE_MAX_SEGS	16

struct route {
	char	*pattern;
	char	*key;
	char	*segs[ROUTE_MAX_SEGS];	/* "{name}" or a literal */
	int	 nsegs;
};

struct routes {
	struct route	*v;
	size_t		 n;
};

static const char *const default_routes[][2] = {
	{ "/posts/stream", "stream:{me}" },
	{ "/posts/stream/unified", "unified:{me}" },
	{ "/posts/stream/global", "global" },
	{ "/users/{user_id}/posts", "posts:{user_id}" },
	{ "/users/{user_id}/mentions", "mentions:{user_id}" },
	{ "/users/{user_id}/bookmarks", "bookmarks:{user_id}" },
	{ "/posts/tag/{tag}", "tag:{tag}" },
	{ "/posts/{post_id}/thread", "thread:{post_id}" },
	{ "/users/me/interactions", "interactions:{me}" },
	{ "/channels/{channel_id}/messages", "messages:{channel_id}" },
	{ "/users/me/channels", "channels:{me}" },
	{ "/users/me/files", "files:{me}" },
	{ "/users/{user_id}/following", "following:{user_id}" },
	{ "/users/{user_id}/followers", "followers:{user_id}" },
};

static void
route_clear(struct route *r)
{
	free(r->pattern);
	free(r->key);
	for (int i = 0; i < r->nsegs; i++)
		free(r->segs[i]);
	memset(r, 0, sizeof(*r));
}

struct routes *
routes_new(void)
{
	struct routes *rt = calloc(1, sizeof(*rt));
	char err[128];

	if (rt == NULL)
		fatal("%s: out of memory", __func__);
	for (size_t i = 0; i < sizeof(default_routes) / sizeof(*default_routes); i++)
		if (routes_set(rt, default_routes[i][0], default_routes[i][1],
		    err, sizeof(err)) < 0)
			fatal("%s: %s", __func__, err);
	return rt;
}

void
routes_free(struct routes *rt)
{
	if (rt == NULL)
		return;
	for (size_t i = 0; i < rt->n; i++)
		route_clear(&rt->v[i]);
	free(rt->v);
	free(rt);
}

size_t
routes_count(const struct routes *rt)
{
	return rt->n;
}

static bool
is_capture(const char *s, size_t n)
{
	if (n < 3 || s[0] != '{' || s[n - 1] != '}')
		return false;
	for (size_t i = 1; i < n - 1; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

static bool
pattern_has(const struct route *r, const char *name, size_t n)
{
	for (int i = 0; i < r->nsegs; i++)
		if (r->segs[i][0] == '{' && strlen(r->segs[i]) == n + 2 &&
		    strncmp(r->segs[i] + 1, name, n) == 0)
			return true;
	return false;
}

/* Two routes that match the same paths: the same literals in the same
 * places and captures (whatever their names) in the others. */
static bool
same_shape(const struct route *a, const struct route *b)
{
	if (a->nsegs != b->nsegs)
		return false;
	for (int i = 0; i < a->nsegs; i++) {
		bool ca = a->segs[i][0] == '{', cb = b->segs[i][0] == '{';
		if (ca != cb || (!ca && strcmp(a->segs[i], b->segs[i]) != 0))
			return false;
	}
	return true;
}

int
routes_set(struct routes *rt, const char *pattern, const char *key,
    char *err, size_t errlen)
{
	struct route r;
	const char *p, *q;

	memset(&r, 0, sizeof(r));
	if (pattern[0] != '/') {
		snprintf(err, errlen, "route path must start with '/'");
		return -1;
	}
	for (p = pattern + 1; *p; p = q + (*q == '/')) {
		q = strchr(p, '/');
		if (q == NULL)
			q = p + strlen(p);
		if (q == p) {
			snprintf(err, errlen, "empty segment in route path '%s'", pattern);
			goto fail;
		}
		if (r.nsegs == ROUTE_MAX_SEGS) {
			snprintf(err, errlen, "route path has more than %d segments",
			    ROUTE_MAX_SEGS);
			goto fail;
		}
		if (memchr(p, '{', (size_t)(q - p)) && !is_capture(p, (size_t)(q - p))) {
			snprintf(err, errlen, "bad capture in route path '%s': "
			    "a segment is either literal or {name}", pattern);
			goto fail;
		}
		r.segs[r.nsegs] = strndup(p, (size_t)(q - p));
		if (r.segs[r.nsegs++] == NULL)
			fatal("%s: out of memory", __func__);
	}
	if (r.nsegs == 0) {
		snprintf(err, errlen, "route path '%s' is empty", pattern);
		goto fail;
	}
	if (key[0] == '\0' || strlen(key) >= ROUTE_KEY_MAX) {
		snprintf(err, errlen, "route key must be 1-%d bytes", ROUTE_KEY_MAX - 1);
		goto fail;
	}
	/* every {name} in the key must be a capture of the path, or {me} */
	for (p = key; (p = strchr(p, '{')) != NULL; p = q) {
		q = strchr(p, '}');
		if (q == NULL || !is_capture(p, (size_t)(q - p + 1))) {
			snprintf(err, errlen, "bad capture in route key '%s'", key);
			goto fail;
		}
		if (!(q - p - 1 == 2 && strncmp(p + 1, "me", 2) == 0) &&
		    !pattern_has(&r, p + 1, (size_t)(q - p - 1))) {
			snprintf(err, errlen, "route key '%s' uses {%.*s}, which "
			    "the path does not capture", key, (int)(q - p - 1), p + 1);
			goto fail;
		}
	}
	if (strpbrk(key, " \t\r\n") != NULL) {
		snprintf(err, errlen, "route key must not contain blanks");
		goto fail;
	}
	r.pattern = strdup(pattern);
	r.key = strdup(key);
	if (r.pattern == NULL || r.key == NULL)
		fatal("%s: out of memory", __func__);
	for (size_t i = 0; i < rt->n; i++) {
		if (same_shape(&rt->v[i], &r)) {
			route_clear(&rt->v[i]);
			rt->v[i] = r;
			return 0;
		}
	}
	rt->v = realloc(rt->v, (rt->n + 1) * sizeof(*rt->v));
	if (rt->v == NULL)
		fatal("%s: out of memory", __func__);
	rt->v[rt->n++] = r;
	return 0;
fail:
	route_clear(&r);
	return -1;
}

int
routes_set_line(struct routes *rt, const char *value, char *err, size_t errlen)
{
	char path[512], key[ROUTE_KEY_MAX + 1];
	const char *eq = strchr(value, '=');
	size_t n;

	if (eq == NULL) {
		snprintf(err, errlen, "route needs the form '/path/{x} = key:{x}'");
		return -1;
	}
	n = (size_t)(eq - value);
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(path)) {
		snprintf(err, errlen, "route path missing or too long");
		return -1;
	}
	memcpy(path, value, n);
	path[n] = '\0';
	for (eq++; *eq == ' ' || *eq == '\t'; eq++)
		;
	if (strlen(eq) >= sizeof(key)) {
		snprintf(err, errlen, "route key too long");
		return -1;
	}
	strcpy(key, eq);
	return routes_set(rt, path, key, err, errlen);
}

/* Captured values become part of a routing key: keep them to the
 * characters ids, tags and names use. */
static bool
good_value(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == '{' || c == '}' || c == 0x7f)
			return false;
	}
	return n > 0;
}

const char *
routes_match(const struct routes *rt, const char *path, const char *me,
    char *key, size_t keylen)
{
	const char *seg[ROUTE_MAX_SEGS];
	size_t segn[ROUTE_MAX_SEGS];
	int nseg = 0;
	const char *p, *q;

	if (path[0] != '/')
		return NULL;
	for (p = path + 1; *p; p = q + (*q == '/')) {
		q = strchr(p, '/');
		if (q == NULL)
			q = p + strlen(p);
		if (q == p) {
			if (*q == '\0')
				break;		/* a trailing slash */
			return NULL;
		}
		if (nseg == ROUTE_MAX_SEGS)
			return NULL;
		seg[nseg] = p;
		segn[nseg++] = (size_t)(q - p);
	}
	const struct route *r = NULL;
	long best = -1;
	size_t o = 0;
	int j;

	/* where several routes match, a literal segment beats a capture,
	 * the leftmost difference deciding: /posts/tag/thread is a tag,
	 * not a thread */
	for (size_t i = 0; i < rt->n; i++) {
		const struct route *c = &rt->v[i];
		long lit = 0;

		if (c->nsegs != nseg)
			continue;
		for (j = 0; j < nseg; j++) {
			const char *s = c->segs[j];
			if (s[0] == '{') {
				if (!good_value(seg[j], segn[j]))
					break;
			} else if (strlen(s) != segn[j] ||
			    strncmp(s, seg[j], segn[j]) != 0)
				break;
			else
				lit |= 1L << (ROUTE_MAX_SEGS - 1 - j);
		}
		if (j == nseg && lit > best) {
			best = lit;
			r = c;
		}
	}
	if (r == NULL)
		return NULL;
	/* expand the key */
	for (p = r->key; *p; ) {
		const char *v = NULL;
		size_t vn = 0;

		if (*p != '{') {
			if (o + 1 >= keylen)
				return NULL;
			key[o++] = *p++;
			continue;
		}
		q = strchr(p, '}');
		if ((size_t)(q - p) == 3 && strncmp(p, "{me}", 4) == 0) {
			v = me;
			vn = strlen(me);
		} else {
			for (j = 0; j < nseg; j++) {
				if (strlen(r->segs[j]) == (size_t)(q - p + 1) &&
				    strncmp(r->segs[j], p, (size_t)(q - p + 1)) == 0) {
					v = seg[j];
					vn = segn[j];
					break;
				}
			}
			if (vn == 2 && strncmp(v, "me", 2) == 0) {
				v = me;
				vn = strlen(me);
			}
		}
		if (o + vn >= keylen)
			return NULL;
		memcpy(key + o, v, vn);
		o += vn;
		p = q + 1;
	}
	key[o] = '\0';
	return r->pattern;
}
