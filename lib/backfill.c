/* backfill.c - choosing a subscription's backfill from the replay log */
#include "backfill.h"
#include "decimal.h"

#include <stdlib.h>
#include <string.h>

int
backfill_id_cmp(const char *a, const char *b)
{
	int c;

	if (decimal_is_integer(a) && decimal_is_integer(b))
		return decimal_cmp(a, b);
	c = strcmp(a, b);
	return (c > 0) - (c < 0);
}

static bool
matches(const struct event *ev, const struct backfill_query *q)
{
	bool keyed = false;

	if (!ev->has_data)
		return false;
	for (size_t k = 0; k < ev->nkeys && !keyed; k++)
		keyed = strcmp(ev->keys[k], q->key) == 0;
	return keyed && event_visible_to(ev, q->user_id) &&
	    (q->filter == NULL ||
	    subfilter_pass(q->filter, ev->facts, ev->subtype)) &&
	    (q->since_id == NULL || backfill_id_cmp(ev->id, q->since_id) > 0) &&
	    (q->before_id == NULL || backfill_id_cmp(ev->id, q->before_id) < 0);
}

size_t
backfill_select(const struct replay *r, const struct backfill_query *q,
    struct event **out, bool *more)
{
	size_t total = replay_count(r), want, n = 0;
	bool newest = q->count >= 0;
	uint64_t bloom = event_key_bloom(q->key);

	want = (size_t)(q->count < 0 ? -q->count : q->count);
	*more = false;
	/* newest first for a positive count, oldest first for a negative
	 * one; one match past want says there is more */
	for (size_t i = 0; i < total; i++) {
		size_t at = newest ? total - 1 - i : i;
		struct event *ev;

		if (!replay_may_have_key(r, at, bloom))
			continue;
		ev = replay_at(r, at);
		if (!matches(ev, q))
			continue;
		if (n == want) {
			*more = true;
			break;
		}
		out[n++] = ev;
	}
	if (!newest)	/* returned newest first all the same */
		for (size_t i = 0; i < n / 2; i++) {
			struct event *t = out[i];

			out[i] = out[n - 1 - i];
			out[n - 1 - i] = t;
		}
	return n;
}
