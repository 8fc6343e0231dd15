/* replay.h - the replay log (SPEC 4.2): every accepted event in cursor
 * order, bounded by age (replay_window) and size (replay_max_bytes).
 * It holds references to the same events live delivery uses; nothing
 * is copied. One thread owns it (the dispatcher). */
#ifndef SLUICE_REPLAY_H
#define SLUICE_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

struct replay;

/* floor: no event at or below this cursor was ever in the log (the
 * clock at start: cursors of an earlier run are below it). */
struct replay *replay_new(int64_t window_ms, uint64_t max_bytes,
    uint64_t floor);
void replay_free(struct replay *r);
void replay_set_limits(struct replay *r, int64_t window_ms, uint64_t max_bytes);

/* Append ev (a reference is taken); its cursor must be above every
 * cursor appended before. Then evicts what the size bound demands. */
void replay_append(struct replay *r, struct event *ev);
/* ev, if still in the log, holds bytes more than when appended (a
 * display variant). Counted at once, evicted for at the next append or
 * expiry, never here: callers may be walking the log by index. */
void replay_charge(struct replay *r, struct event *ev, size_t bytes);
/* Evict events older than the window at wall-clock time now_ms. */
void replay_expire(struct replay *r, int64_t now_ms);

size_t replay_count(const struct replay *r);
uint64_t replay_bytes(const struct replay *r);
/* The i-th retained event, oldest first (borrowed). */
struct event *replay_at(const struct replay *r, size_t i);
/* May the i-th retained event have a key with this event_key_bloom? No
 * is certain; yes is to be checked (a few percent are wrong). Reads
 * only the log's own array. */
bool replay_may_have_key(const struct replay *r, size_t i, uint64_t key_bloom);
/* Index of the first retained event with a cursor above c: count when
 * there is none. O(log n). */
size_t replay_after(const struct replay *r, uint64_t c);
/* Is every event after cursor c still retained, i.e. has nothing above
 * c been evicted (and c is not from before the log began)? */
bool replay_covers(const struct replay *r, uint64_t c);
/* The highest cursor the log has lost: its floor, or the newest event
 * evicted. Events above it and up to the newest are all retained. */
uint64_t replay_floor(const struct replay *r);

#endif
