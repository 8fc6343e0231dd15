/* route.c - tests for lib/route.c: the route table of SPEC 4.3 */
#include "route.h"
#include "tap.h"

#include <string.h>

static struct routes *rt;

/* Match path for user "12"; returns the key, or "(none)" */
static const char *
key_of(const char *path, const char *me)
{
	static char key[ROUTE_KEY_MAX];

	if (routes_match(rt, path, me, key, sizeof(key)) == NULL)
		return "(none)";
	return key;
}

static void
test_defaults(void)
{
	static const char *const t[][2] = {
		{ "/posts/stream", "stream:12" },
		{ "/posts/stream/unified", "unified:12" },
		{ "/posts/stream/global", "global" },
		{ "/users/34/posts", "posts:34" },
		{ "/users/34/mentions", "mentions:34" },
		{ "/users/34/bookmarks", "bookmarks:34" },
		{ "/posts/tag/sluice", "tag:sluice" },
		{ "/posts/5675993/thread", "thread:5675993" },
		{ "/users/me/interactions", "interactions:12" },
		{ "/channels/881/messages", "messages:881" },
		{ "/users/me/channels", "channels:12" },
		{ "/users/me/files", "files:12" },
		{ "/users/34/following", "following:34" },
		{ "/users/34/followers", "followers:34" },
		/* me in a capture stands for the token's user */
		{ "/users/me/posts", "posts:12" },
		{ "/users/me/mentions", "mentions:12" },
		{ "/users/me/bookmarks", "bookmarks:12" },
		{ "/users/me/following", "following:12" },
		{ "/users/me/followers", "followers:12" },
		/* @username style ids are passed through */
		{ "/users/@bob/posts", "posts:@bob" },
		/* trailing slash */
		{ "/posts/stream/", "stream:12" },
		{ "/users/34/mentions/", "mentions:34" },
		{ "/posts/stream/global/", "global" },
		/* "/posts/tag/thread" is a tag, not the thread of post "tag" */
		{ "/posts/tag/thread", "tag:thread" },
		/* unknown paths */
		{ "/posts", "(none)" },
		{ "/", "(none)" },
		{ "", "(none)" },
		{ "posts/stream", "(none)" },
		{ "/posts/streams", "(none)" },
		{ "/posts/stream/unified/extra", "(none)" },
		{ "/users/34", "(none)" },
		{ "/users/34/interactions", "(none)" },
		{ "/users//posts", "(none)" },
		{ "//posts/stream", "(none)" },
		{ "/posts//stream", "(none)" },
		{ "/Posts/stream", "(none)" },
		{ "/channels/messages", "(none)" },
		/* captured values with blanks or braces are refused */
		{ "/users/a b/posts", "(none)" },
		{ "/users/{x}/posts", "(none)" },
	};
	char key[ROUTE_KEY_MAX];
	const char *pat;

	rt = routes_new();
	is_int(routes_count(rt), 14, "14 default routes");
	for (size_t i = 0; i < sizeof(t) / sizeof(*t); i++)
		is_str(key_of(t[i][0], "12"), t[i][1], "'%s' -> %s", t[i][0], t[i][1]);

	pat = routes_match(rt, "/users/34/posts", "12", key, sizeof(key));
	is_str(pat, "/users/{user_id}/posts", "match returns the pattern");
	pat = routes_match(rt, "/posts/tag/thread", "12", key, sizeof(key));
	is_str(pat, "/posts/tag/{tag}", "/posts/tag/thread matches the tag route");
	pat = routes_match(rt, "/users/me/interactions", "12", key, sizeof(key));
	is_str(pat, "/users/me/interactions", "literal route pattern");
	pat = routes_match(rt, "/posts/tag/stream", "12", key, sizeof(key));
	is_str(pat, "/posts/tag/{tag}", "/posts/tag/stream is a tag");
	is_str(key, "tag:stream", "tag:stream");
	pat = routes_match(rt, "/posts/stream/thread", "12", key, sizeof(key));
	is_str(pat, "/posts/{post_id}/thread", "/posts/stream/thread is a thread");
	is_str(key, "thread:stream", "thread:stream");

	is_str(key_of("/users/me/mentions", "98765"), "mentions:98765",
	    "/users/me/mentions with another user");
	is_str(key_of("/posts/stream", "98765"), "stream:98765",
	    "/posts/stream with another user");

	/* key buffer too small: no match rather than a truncated key */
	ok(routes_match(rt, "/users/123456/mentions", "1", key, 10) == NULL,
	    "key that does not fit -> NULL");
	ok(routes_match(rt, "/users/12/posts", "1", key, 9) != NULL &&
	    strcmp(key, "posts:12") == 0, "key that just fits");
	ok(routes_match(rt, "/posts/stream/global", "1", key, 6) == NULL,
	    "literal key that does not fit -> NULL");
	routes_free(rt);
}

static void
test_set(void)
{
	char err[256], key[ROUTE_KEY_MAX];
	size_t base;

	rt = routes_new();
	/* add */
	err[0] = '\0';
	is_int(routes_set_line(rt, "/users/{user_id}/stars = stars:{user_id}",
	    err, sizeof(err)), 0, "set_line adds a route");
	is_int(routes_count(rt), 15, "15 routes");
	is_str(key_of("/users/34/stars", "12"), "stars:34", "new route matches");
	is_str(key_of("/users/me/stars", "12"), "stars:12", "new route, me");

	/* replace, with tabs and no spaces */
	is_int(routes_set_line(rt, "/posts/stream\t=\tmystream:{me}", err,
	    sizeof(err)), 0, "set_line replaces a default route");
	is_int(routes_count(rt), 15, "still 15 routes");
	is_str(key_of("/posts/stream", "12"), "mystream:12", "replaced key used");
	is_int(routes_set_line(rt, "/users/{user_id}/stars=s:{user_id}:{me}",
	    err, sizeof(err)), 0, "replace without blanks");
	is_int(routes_count(rt), 15, "still 15 routes after second replace");
	is_str(key_of("/users/34/stars", "12"), "s:34:12", "two captures in key");

	/* a route with the same path shape replaces the old one, whatever
	 * its capture names or a trailing slash: otherwise the new route is
	 * added after the default one, ties with it, and never matches */
	is_int(routes_set_line(rt, "/users/{uid}/posts = userposts:{uid}", err,
	    sizeof(err)), 0, "same path, other capture name");
	is_int(routes_count(rt), 15, "replaced, not added");
	is_str(key_of("/users/34/posts", "12"), "userposts:34",
	    "the new route is the one used");
	is_int(routes_set_line(rt, "/posts/stream/global/ = everything", err,
	    sizeof(err)), 0, "same path with a trailing slash");
	is_int(routes_count(rt), 15, "replaced, not added (trailing slash)");
	is_str(key_of("/posts/stream/global", "12"), "everything",
	    "the new route is the one used (trailing slash)");

	/* several captures */
	base = routes_count(rt);
	is_int(routes_set(rt, "/a/{x}/b/{y}", "ab:{y}:{x}", err, sizeof(err)), 0,
	    "routes_set with two captures");
	is_str(key_of("/a/1/b/2", "12"), "ab:2:1", "captures in any order");
	is_int(routes_set(rt, "/lit", "literal", err, sizeof(err)), 0,
	    "literal-only route");
	is_str(key_of("/lit", "12"), "literal", "literal key");
	is_str(key_of("/lit/", "12"), "literal", "literal key, trailing slash");
	is_int(routes_count(rt), base + 2, "two routes added");

	/* most literal segments win regardless of order */
	is_int(routes_set(rt, "/x/{a}/{b}", "gen:{a}:{b}", err, sizeof(err)), 0,
	    "generic route");
	is_int(routes_set(rt, "/x/{a}/z", "spec:{a}", err, sizeof(err)), 0,
	    "more specific route added after");
	is_str(key_of("/x/1/z", "12"), "spec:1", "more literal route wins");
	is_str(key_of("/x/1/y", "12"), "gen:1:y", "generic route otherwise");
	{
		const char *p = routes_match(rt, "/x/1/z", "12", key, sizeof(key));
		is_str(p, "/x/{a}/z", "pattern of the winner");
	}
	routes_free(rt);
}

static void
test_bad(void)
{
	static const char *const bad_lines[] = {
		"/users/{user_id}/stars",		/* no '=' */
		"/users/{user_id}/stars stars:{user_id}",	/* no '=' */
		"/users/{user_id}/stars = stars:{x}",	/* uncaptured {x} */
		"/users/{user_id}/stars = stars:{user}",	/* uncaptured */
		"users/{user_id}/stars = stars:{user_id}",	/* no leading / */
		"/users/{user_id/stars = stars:x",	/* bad capture */
		"/users/user_{id}/stars = stars:{id}",	/* mixed segment */
		"/users/{}/stars = stars",		/* empty capture */
		"/users/{a-b}/stars = stars",		/* bad capture name */
		"/users//stars = stars",		/* empty segment */
		"/ = root",				/* no segment */
		" = key",				/* no path */
		"= key",				/* no path */
		"/users/{id}/x = ",			/* empty key */
		"/users/{id}/x = k:{id",		/* unclosed capture */
		"/users/{id}/x = k:{}",			/* empty capture in key */
		"/users/{id}/x = k {id}",		/* blank in key */
	};
	char err[256];

	rt = routes_new();
	for (size_t i = 0; i < sizeof(bad_lines) / sizeof(*bad_lines); i++) {
		err[0] = '\0';
		is_int(routes_set_line(rt, bad_lines[i], err, sizeof(err)), -1,
		    "rejected: '%s'", bad_lines[i]);
		ok(err[0] != '\0', "  with a message (%s)", err);
	}
	is_int(routes_count(rt), 14, "no route added by bad lines");

	routes_set_line(rt, "/users/{user_id}/stars = stars:{x}", err, sizeof(err));
	ok(strstr(err, "{x}") != NULL, "uncaptured: message names {x}: %s", err);
	routes_set_line(rt, "users/x = k", err, sizeof(err));
	ok(strstr(err, "'/'") != NULL, "no slash: message says so: %s", err);
	routes_set_line(rt, "/a/{b = k", err, sizeof(err));
	ok(strstr(err, "capture") != NULL, "bad capture: message says so: %s", err);

	/* a bad replacement leaves the old route in place */
	is_int(routes_set_line(rt, "/posts/stream = s:{nope}", err, sizeof(err)),
	    -1, "bad replacement rejected");
	is_str(key_of("/posts/stream", "12"), "stream:12", "old route kept");

	/* too many segments */
	{
		char path[200] = "";
		for (int i = 0; i < 17; i++)
			strcat(path, "/s");
		is_int(routes_set(rt, path, "k", err, sizeof(err)), -1,
		    "17 segments rejected");
		path[2 * 16] = '\0';
		is_int(routes_set(rt, path, "k16", err, sizeof(err)), 0,
		    "16 segments accepted");
		is_str(key_of(path, "12"), "k16", "16-segment route matches");
	}
	/* key length */
	{
		char key[ROUTE_KEY_MAX + 1];
		memset(key, 'k', ROUTE_KEY_MAX);
		key[ROUTE_KEY_MAX] = '\0';
		is_int(routes_set(rt, "/long", key, err, sizeof(err)), -1,
		    "key of ROUTE_KEY_MAX bytes rejected");
		key[ROUTE_KEY_MAX - 1] = '\0';
		is_int(routes_set(rt, "/long", key, err, sizeof(err)), 0,
		    "key of ROUTE_KEY_MAX-1 bytes accepted");
	}
	routes_free(rt);
}

int
main(void)
{
	test_defaults();
	test_set();
	test_bad();
	return tap_done();
}
