/* backfill.h - what a subscribing call returns (SPEC 4.3): retained
 * events of the subscription's key that the user may see and its
 * filter lets through, chosen as App.net paginates. Reads the replay
 * log; one thread (its owner, the dispatcher). */
#ifndef SLUICE_BACKFILL_H
#define SLUICE_BACKFILL_H

#include <stdbool.h>
#include <stddef.h>

#include "event.h"
#include "replay.h"
#include "subfilter.h"

#define BACKFILL_MAX	200	/* |count| at most, as App.net */

struct backfill_query {
	const char	*key;
	const char	*user_id;
	const struct subfilter *filter;
	const char	*since_id;	/* only objects with a greater id; NULL */
	const char	*before_id;	/* only objects with a smaller id; NULL */
	int		 count;		/* > 0: the newest; < 0: the oldest
					 * (after since_id); 0: none */
};

/* Fill out (room for |count| events, borrowed) newest first; returns
 * how many. *more: further events match beyond those returned. Events
 * without data (deletes the backend sent bare) are not objects and are
 * never returned. */
size_t backfill_select(const struct replay *r, const struct backfill_query *q,
    struct event **out, bool *more);

/* Order of object ids (-1, 0, 1): as whole numbers of any length when
 * both are decimal integers, else bytewise. */
int backfill_id_cmp(const char *a, const char *b);

#endif
