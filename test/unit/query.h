/* query.h - a query string "a=1&b=2" as the option parsers of lib/
 * (options.h) read it, for the unit tests */
#ifndef SLUICE_TEST_QUERY_H
#define SLUICE_TEST_QUERY_H

#include <stdio.h>
#include <string.h>

struct query {
	char	 text[8192];
	char	*name[32], *value[32];
	int	 n;
};

static void
query_set(struct query *q, const char *s)
{
	char *p, *save = NULL;

	snprintf(q->text, sizeof(q->text), "%s", s);
	q->n = 0;
	for (p = strtok_r(q->text, "&", &save); p != NULL && q->n < 32;
	    p = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(p, '=');

		q->name[q->n] = p;
		q->value[q->n] = eq ? eq + 1 : p + strlen(p);
		if (eq)
			*eq = '\0';
		q->n++;
	}
}

static const char *
query_get(void *ctx, const char *name)
{
	struct query *q = ctx;

	for (int i = 0; i < q->n; i++)
		if (strcmp(q->name[i], name) == 0)
			return q->value[i];
	return NULL;
}

#endif
