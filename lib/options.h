/* options.h - query options of the API calls (display and filter
 * options), read through a lookup function so lib/ needs no HTTP. */
#ifndef SLUICE_OPTIONS_H
#define SLUICE_OPTIONS_H

#include <string.h>

/* The value of query argument name, or NULL when absent. */
typedef const char *(*opt_get)(void *ctx, const char *name);

/* A 0/1 option (true/false also read): 1 or 0, -1 when absent, -2 when
 * the value is neither. */
static inline int
opt_flag(opt_get get, void *ctx, const char *name)
{
	const char *v = get(ctx, name);

	if (v == NULL)
		return -1;
	if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
		return 1;
	if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
		return 0;
	return -2;
}

#endif
