/* replay.c - tests for lib/replay.c: the replay log */
#include "replay.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct event *
mk(uint64_t cursor, int64_t ts_ms, size_t bytes)
{
	struct ingest_rec rec;
	const char *reason, *detail;
	char line[128];
	int n = snprintf(line, sizeof(line), "{\"type\":\"post\",\"action\":"
	    "\"create\",\"id\":\"%llu\",\"data\":{}}", (unsigned long long)cursor);

	if (ingest_parse(line, (size_t)n, &rec, &reason, &detail) < 0)
		abort();
	event_stamp(rec.ev, cursor, ts_ms);
	rec.ev->bytes = bytes;		/* round figures for the test */
	return rec.ev;
}

static void
test_order_and_search(void)
{
	struct replay *r = replay_new(600000, 1 << 30, 100);
	int bad = 0;

	is_int(replay_count(r), 0, "empty");
	is_int(replay_after(r, 5), 0, "search in an empty log");
	ok(replay_covers(r, 100), "the floor itself is covered");
	ok(!replay_covers(r, 99), "below the floor is not (an earlier run)");
	/* 5000 events, cursors 1000, 1003, 1006, ...: the ring grows */
	for (int i = 0; i < 5000; i++) {
		struct event *ev = mk(1000 + 3 * (uint64_t)i, 1, 10);
		replay_append(r, ev);
		event_unref(ev);
	}
	is_int(replay_count(r), 5000, "5000 retained");
	is_int(replay_bytes(r), 50000, "bytes summed");
	for (int i = 0; i < 5000; i++)
		if (replay_at(r, (size_t)i)->cursor != 1000 + 3 * (uint64_t)i)
			bad++;
	is_int(bad, 0, "in cursor order");
	is_int(replay_after(r, 0), 0, "after 0: the first");
	is_int(replay_after(r, 1000), 1, "after the first cursor: the second");
	is_int(replay_after(r, 1001), 1, "after a cursor between two: the next");
	is_int(replay_after(r, 1002), 1, "likewise");
	is_int(replay_after(r, 1003), 2, "after the second: the third");
	is_int(replay_after(r, 1000 + 3 * 4999), 5000, "after the last: none");
	is_int(replay_after(r, 99999999), 5000, "after a future cursor: none");
	ok(replay_at(r, 5000) == NULL, "past the end: NULL");
	replay_free(r);
}

static void
test_bounds(void)
{
	struct replay *r = replay_new(1000, 100, 1);
	struct event *kept;

	/* size: 100 bytes, events of 30 -> 3 retained */
	for (int i = 1; i <= 10; i++) {
		struct event *ev = mk(10 * (uint64_t)i, 5000 + i, 30);
		replay_append(r, ev);
		event_unref(ev);
	}
	is_int(replay_count(r), 3, "the size bound keeps 3 of 10");
	is_int(replay_bytes(r), 90, "90 bytes");
	is_int(replay_at(r, 0)->cursor, 80, "the newest three");
	is_int(replay_floor(r), 70, "floor: the newest evicted");
	ok(!replay_covers(r, 69) && !replay_covers(r, 60), "a position before 70 lost events");
	ok(replay_covers(r, 70) && replay_covers(r, 85) && replay_covers(r, 100),
	    "a position at or after 70 lost none");
	/* the event survives eviction while someone holds it */
	kept = event_ref(replay_at(r, 0));
	/* time: the window is 1000 ms */
	replay_expire(r, 5008 + 999);
	is_int(replay_count(r), 3, "nothing older than the window yet");
	replay_expire(r, 5008 + 1000);
	is_int(replay_count(r), 2, "the oldest leaves at exactly the window");
	is_int(kept->cursor, 80, "a reference held elsewhere stays valid");
	event_unref(kept);
	replay_expire(r, 99999);
	is_int(replay_count(r), 0, "all expired");
	is_int(replay_bytes(r), 0, "0 bytes");
	is_int(replay_floor(r), 100, "floor: the last evicted");
	ok(replay_covers(r, 100), "a stream that saw everything lost nothing");
	/* lowering the limits applies at once */
	for (int i = 1; i <= 3; i++) {
		struct event *ev = mk(100 + (uint64_t)i, 99999, 30);
		replay_append(r, ev);
		event_unref(ev);
	}
	replay_set_limits(r, 1000, 30);
	is_int(replay_count(r), 1, "a smaller byte limit evicts at once");
	/* an event larger than the whole bound is not kept */
	{
		struct event *ev = mk(200, 99999, 31);
		replay_append(r, ev);
		event_unref(ev);
	}
	is_int(replay_count(r), 0, "an event larger than the bound is not kept");
	is_int(replay_floor(r), 200, "and counts as lost");
	replay_free(r);
}

/* wrap-around: appends and evictions interleaved past the ring size */
static void
test_wrap(void)
{
	struct replay *r = replay_new(1000000, 500 * 10, 0);
	int bad = 0;

	for (uint64_t c = 1; c <= 20000; c++) {
		struct event *ev = mk(c, 1, 10);
		replay_append(r, ev);
		event_unref(ev);
		if (c % 997 == 0) {
			size_t n = replay_count(r);
			uint64_t first = replay_at(r, 0)->cursor;

			if (n != 500 && c >= 500)
				bad++;
			if (first != c - n + 1)
				bad++;
			if (replay_after(r, c - 10) != n - 10)
				bad++;
		}
	}
	is_int(bad, 0, "a full ring stays ordered and searchable as it wraps");
	replay_free(r);
}

/* An event's size is fixed once stamped: building its app-stream frame
 * after it entered the log must not unbalance the count (it once did,
 * and the unsigned total wrapped, emptying the log). */
static void
test_accounting(void)
{
	struct replay *r = replay_new(600000, 1 << 30, 0);
	struct ingest_rec rec;
	const char *reason, *detail;
	const char *line = "{\"type\":\"post\",\"action\":\"create\",\"id\":\"1\","
	    "\"keys\":[\"global\"],\"data\":{\"text\":\"hello\"}}";
	size_t before;

	if (ingest_parse(line, strlen(line), &rec, &reason, &detail) < 0)
		abort();
	event_stamp(rec.ev, 5, 1);
	before = rec.ev->bytes;
	ok(before > strlen(line), "a stamped event counts at least its text (%zu)", before);
	replay_append(r, rec.ev);
	(void)event_app_frame(rec.ev);
	is_int(rec.ev->bytes, before, "building the app frame leaves the count alone");
	event_unref(rec.ev);
	replay_expire(r, 600001 + 1);
	is_int(replay_count(r), 0, "evicted");
	is_int(replay_bytes(r), 0, "the total is back to 0 exactly");
	replay_free(r);
}

/* Display variants made after an event entered the log are charged to
 * it: counted while it is retained, subtracted when it leaves, ignored
 * once it has left. */
static void
test_charge(void)
{
	struct replay *r = replay_new(1000, 1000, 0);
	struct event *a = mk(10, 100, 100), *b = mk(20, 200, 100);
	struct event *c, *gone;

	replay_charge(r, a, 50);
	is_int(replay_bytes(r), 0, "a charge to an empty log is ignored");
	is_int(a->charged, 0, "and not recorded on the event");
	replay_append(r, a);
	replay_append(r, b);
	is_int(replay_bytes(r), 200, "two events of 100");
	replay_charge(r, a, 30);
	replay_charge(r, b, 7);
	replay_charge(r, a, 3);
	is_int(replay_bytes(r), 240, "charges counted at once");
	is_int(a->charged, 33, "charged to the first");
	is_int(b->charged, 7, "charged to the second");
	is_int(a->bytes, 100, "its stamped figure is unchanged");
	/* the window: a (ts 100) leaves, with what was charged to it */
	replay_expire(r, 100 + 1000);
	is_int(replay_count(r), 1, "the first expired");
	is_int(replay_bytes(r), 107, "its bytes and its charges left with it");
	replay_charge(r, a, 1000);
	is_int(replay_bytes(r), 107, "a charge to an evicted event is ignored");
	is_int(a->charged, 33, "and not recorded on it");
	/* an event never appended, below the floor */
	gone = mk(5, 100, 100);
	replay_charge(r, gone, 10);
	is_int(replay_bytes(r), 107, "a charge to an event from before the floor "
	    "is ignored");
	event_unref(gone);
	replay_charge(r, b, 0);
	is_int(replay_bytes(r), 107, "a charge of 0 changes nothing");

	/* charges count toward the size bound, evicted for at the next
	 * append, not at the charge */
	replay_charge(r, b, 950);
	is_int(replay_bytes(r), 1057, "over the bound after a charge");
	is_int(replay_count(r), 1, "nothing evicted by the charge itself");
	c = mk(30, 300, 100);
	replay_append(r, c);
	is_int(replay_count(r), 1, "the next append evicts the charged event");
	ok(replay_at(r, 0) == c, "the new one stays");
	is_int(replay_bytes(r), 100, "its charges left with it");
	is_int(replay_floor(r), 20, "and it counts as lost");
	replay_charge(r, b, 5);
	is_int(replay_bytes(r), 100, "a charge to it now is ignored");
	replay_charge(r, c, 25);
	is_int(replay_bytes(r), 125, "the one retained is charged");
	/* lowering the limits evicts for charges too */
	replay_set_limits(r, 1000, 110);
	is_int(replay_count(r), 0, "a limit below bytes and charges evicts it");
	is_int(replay_bytes(r), 0, "everything evicted: 0 bytes");
	replay_charge(r, c, 25);
	is_int(replay_bytes(r), 0, "and stays 0");
	event_unref(a);
	event_unref(b);
	event_unref(c);
	replay_free(r);

	/* through event_tail, as the dispatcher does: a real variant */
	{
		struct replay *r2 = replay_new(600000, 1 << 30, 0);
		struct ingest_rec rec;
		const char *reason, *detail;
		const char *line = "{\"type\":\"post\",\"action\":\"create\","
		    "\"id\":\"1\",\"data\":{\"raw\":[1],\"content\":"
		    "{\"html\":\"h\"}}}";
		size_t grown, g2, before;

		if (ingest_parse(line, strlen(line), &rec, &reason, &detail) < 0)
			abort();
		event_stamp(rec.ev, 9, 1);
		replay_append(r2, rec.ev);
		before = replay_bytes(r2);
		(void)event_tail(rec.ev, DISPLAY_RAW_ALL, &grown);
		replay_charge(r2, rec.ev, grown);
		(void)event_tail(rec.ev, DISPLAY_NO_HTML, &g2);
		replay_charge(r2, rec.ev, g2);
		ok(grown > 0 && g2 > 0, "two variants grew the event (%zu, %zu)",
		    grown, g2);
		is_int(replay_bytes(r2), before + grown + g2, "both charged");
		event_unref(rec.ev);
		replay_expire(r2, 600001 + 1);
		is_int(replay_count(r2), 0, "evicted");
		is_int(replay_bytes(r2), 0, "the total is back to 0 exactly");
		replay_free(r2);
	}
}

int
main(void)
{
	test_accounting();
	test_charge();
	test_order_and_search();
	test_bounds();
	test_wrap();
	return tap_done();
}
