/* replay.c - the replay log: a ring of event references in cursor
 * order. Appends and evictions are O(1) (amortized: the ring doubles
 * when full); a cursor is found by binary search. Memory is accounted
 * with each event's own estimate (event->bytes), which covers the
 * ingest line, the parsed objects and the renderings; the ring itself
 * adds 16 bytes an event. */
#include "replay.h"
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

/* The key summary sits beside the reference, so that a scan for one key
 * (a backfill) reads the ring in order and touches only the events that
 * may have it. */
struct slot {
	struct event	*ev;
	uint64_t	 bloom;		/* event_key_bloom of its keys */
};

struct replay {
	struct slot	*ring;
	size_t		 cap;		/* a power of two */
	size_t		 head;		/* index of the oldest */
	size_t		 n;
	uint64_t	 bytes;
	uint64_t	 floor;		/* see replay_floor */
	int64_t		 window_ms;
	uint64_t	 max_bytes;
};

struct replay *
replay_new(int64_t window_ms, uint64_t max_bytes, uint64_t floor)
{
	struct replay *r = xcalloc(1, sizeof(*r));

	r->cap = 1024;
	r->ring = xcalloc(r->cap, sizeof(*r->ring));
	r->floor = floor;
	r->window_ms = window_ms;
	r->max_bytes = max_bytes;
	return r;
}

static void
evict_one(struct replay *r)
{
	struct event *ev = r->ring[r->head].ev;

	r->ring[r->head].ev = NULL;
	r->head = (r->head + 1) & (r->cap - 1);
	r->n--;
	r->bytes -= ev->bytes + ev->charged;
	r->floor = ev->cursor;
	event_unref(ev);
}

void
replay_free(struct replay *r)
{
	if (r == NULL)
		return;
	while (r->n > 0)
		evict_one(r);
	free(r->ring);
	free(r);
}

static void
enforce_size(struct replay *r)
{
	while (r->n > 0 && r->bytes > r->max_bytes)
		evict_one(r);
}

void
replay_charge(struct replay *r, struct event *ev, size_t bytes)
{
	/* an event already evicted is no longer the log's to count */
	if (r->n == 0 || ev->cursor <= r->floor)
		return;
	ev->charged += bytes;
	r->bytes += bytes;
}

void
replay_set_limits(struct replay *r, int64_t window_ms, uint64_t max_bytes)
{
	r->window_ms = window_ms;
	r->max_bytes = max_bytes;
	enforce_size(r);
}

static void
grow(struct replay *r)
{
	size_t ncap = r->cap * 2;
	struct slot *nr = xcalloc(ncap, sizeof(*nr));

	for (size_t i = 0; i < r->n; i++)
		nr[i] = r->ring[(r->head + i) & (r->cap - 1)];
	free(r->ring);
	r->ring = nr;
	r->cap = ncap;
	r->head = 0;
}

void
replay_append(struct replay *r, struct event *ev)
{
	struct slot *sl;

	if (r->n == r->cap)
		grow(r);
	sl = &r->ring[(r->head + r->n) & (r->cap - 1)];
	sl->ev = event_ref(ev);
	sl->bloom = ev->key_bloom;
	r->n++;
	r->bytes += ev->bytes;
	enforce_size(r);
}

void
replay_expire(struct replay *r, int64_t now_ms)
{
	while (r->n > 0 && now_ms - r->ring[r->head].ev->ts_ms >= r->window_ms)
		evict_one(r);
}

size_t
replay_count(const struct replay *r)
{
	return r->n;
}

uint64_t
replay_bytes(const struct replay *r)
{
	return r->bytes;
}

struct event *
replay_at(const struct replay *r, size_t i)
{
	return i < r->n ? r->ring[(r->head + i) & (r->cap - 1)].ev : NULL;
}

bool
replay_may_have_key(const struct replay *r, size_t i, uint64_t key_bloom)
{
	return i < r->n &&
	    (r->ring[(r->head + i) & (r->cap - 1)].bloom & key_bloom) == key_bloom;
}

size_t
replay_after(const struct replay *r, uint64_t c)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (replay_at(r, mid)->cursor <= c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool
replay_covers(const struct replay *r, uint64_t c)
{
	return c >= r->floor;
}

uint64_t
replay_floor(const struct replay *r)
{
	return r->floor;
}
