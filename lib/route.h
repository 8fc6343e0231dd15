/* route.h - the route table: endpoint paths -> routing keys (SPEC 4.3) */
#ifndef SLUICE_ROUTE_H
#define SLUICE_ROUTE_H

#include <stddef.h>

#define ROUTE_KEY_MAX	256

struct routes;

/* The default table of SPEC 4.3. */
struct routes *routes_new(void);
void routes_free(struct routes *rt);
/* Add `pattern = key`, replacing a route with the same pattern.
 * pattern: /seg/{name}/...; key: text with {name} and {me} captures.
 * Returns 0, or -1 with a message in err. */
int routes_set(struct routes *rt, const char *pattern, const char *key,
    char *err, size_t errlen);
/* Parse a config value "/path/{x} = key:{x}" and add it. */
int routes_set_line(struct routes *rt, const char *value, char *err,
    size_t errlen);
/* Match path (without the /stream/0 prefix or query) for the user `me`.
 * A capture whose value is "me" stands for `me`. On success writes the
 * key and returns the route's pattern (owned by the table); NULL when no
 * route matches. */
const char *routes_match(const struct routes *rt, const char *path,
    const char *me, char *key, size_t keylen);
size_t routes_count(const struct routes *rt);

#endif
