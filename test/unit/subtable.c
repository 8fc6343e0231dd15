/* subtable.c - tests for lib/subtable.c: the RCU subscription table,
 * single-threaded and with concurrent readers and writers */
#include "subtable.h"
#include "rcu.h"
#include "tap.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define P(n)	((void *)(uintptr_t)(n))

/* Look key up under the read lock; copy at most max entries out. */
static size_t
lookup_copy(struct subtable *st, const char *key, struct subtable_ent *v,
    size_t max)
{
	const struct subtable_ent *e = NULL;
	size_t n, k = 0;

	urcu_memb_read_lock();
	n = subtable_lookup(st, key, &e);
	for (size_t i = 0; i < n; i++) {
		void *stream, *sub;

		if (!subtable_get(e, i, &stream, &sub))
			continue;
		if (k < max) {
			v[k].stream = stream;
			v[k].sub = sub;
		}
		k++;
	}
	urcu_memb_read_unlock();
	return k;
}

/* Is sub in v[0..n) with this stream? */
static int
has(const struct subtable_ent *v, size_t n, void *stream, void *sub)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].sub == sub)
			return v[i].stream == stream;
	return 0;
}

static void
test_basic(void)
{
	struct subtable *st = subtable_new();
	struct subtable_ent v[16];
	size_t n;

	is_int(subtable_keys(st), 0, "new table: no keys");
	is_int(subtable_subs(st), 0, "new table: no subs");
	is_int(lookup_copy(st, "stream:12", v, 16), 0, "lookup on empty table");

	subtable_add(st, "stream:12", P(100), P(101));
	is_int(subtable_keys(st), 1, "one key");
	is_int(subtable_subs(st), 1, "one sub");
	n = lookup_copy(st, "stream:12", v, 16);
	is_int(n, 1, "lookup finds one entry");
	ok(n == 1 && v[0].stream == P(100) && v[0].sub == P(101),
	    "entry has its stream and sub");
	is_int(lookup_copy(st, "stream:1", v, 16), 0, "prefix key not found");
	is_int(lookup_copy(st, "stream:123", v, 16), 0, "longer key not found");

	subtable_add(st, "stream:12", P(200), P(201));
	subtable_add(st, "stream:12", P(300), P(301));
	subtable_add(st, "global", P(100), P(102));
	is_int(subtable_keys(st), 2, "two keys");
	is_int(subtable_subs(st), 4, "four subs");
	n = lookup_copy(st, "stream:12", v, 16);
	is_int(n, 3, "three entries on stream:12");
	ok(has(v, n, P(100), P(101)) && has(v, n, P(200), P(201)) &&
	    has(v, n, P(300), P(301)), "all three present");
	n = lookup_copy(st, "global", v, 16);
	ok(n == 1 && v[0].sub == P(102), "global has its own entry");

	/* the same sub again is replaced, not duplicated */
	subtable_add(st, "stream:12", P(200), P(201));
	is_int(subtable_subs(st), 4, "re-add: sub count unchanged");
	is_int(lookup_copy(st, "stream:12", v, 16), 3, "re-add: still three");
	subtable_add(st, "stream:12", P(999), P(201));
	n = lookup_copy(st, "stream:12", v, 16);
	is_int(n, 3, "re-add with another stream: still three");
	ok(has(v, n, P(999), P(201)), "re-add replaced the stream pointer");
	ok(!has(v, n, P(200), P(201)), "old stream pointer gone");
	is_int(subtable_subs(st), 4, "subs still 4");
	/* the same sub under another key is another entry */
	subtable_add(st, "global", P(999), P(201));
	is_int(subtable_subs(st), 5, "same sub on another key counts");

	/* remove */
	is_int(subtable_remove(st, "stream:12", P(201)), 0, "remove 201");
	n = lookup_copy(st, "stream:12", v, 16);
	is_int(n, 2, "two left on stream:12");
	ok(has(v, n, P(100), P(101)) && has(v, n, P(300), P(301)) &&
	    !has(v, n, P(999), P(201)), "the right two left");
	n = lookup_copy(st, "global", v, 16);
	ok(n == 2 && has(v, n, P(999), P(201)), "201 on global untouched");
	is_int(subtable_subs(st), 4, "4 subs");
	is_int(subtable_remove(st, "stream:12", P(201)), -1,
	    "removing it again: -1");
	is_int(subtable_remove(st, "nokey", P(101)), -1, "unknown key: -1");
	is_int(subtable_remove(st, "global", P(101)), -1,
	    "sub known on another key only: -1");
	is_int(subtable_subs(st), 4, "failed removes change nothing");
	is_int(subtable_keys(st), 2, "keys unchanged");

	/* removing the last entry removes the key */
	is_int(subtable_remove(st, "global", P(102)), 0, "remove 102");
	is_int(subtable_remove(st, "global", P(201)), 0, "remove last on global");
	is_int(subtable_keys(st), 1, "global key gone");
	is_int(lookup_copy(st, "global", v, 16), 0, "global lookup: 0");
	is_int(subtable_remove(st, "global", P(201)), -1, "remove on a gone key");
	/* and the key can come back */
	subtable_add(st, "global", P(7), P(8));
	n = lookup_copy(st, "global", v, 16);
	ok(n == 1 && v[0].stream == P(7) && v[0].sub == P(8), "key re-created");
	is_int(subtable_keys(st), 2, "two keys again");
	is_int(subtable_subs(st), 3, "three subs");

	urcu_memb_barrier();
	subtable_free(st);
}

/* Many keys and many subs per key (hash table and array growth). */
static void
test_many(void)
{
	struct subtable *st = subtable_new();
	struct subtable_ent v[300];
	char key[32];
	int bad = 0;

	for (int k = 0; k < 2000; k++) {
		snprintf(key, sizeof(key), "posts:%d", k);
		for (int s = 0; s < 3; s++)
			subtable_add(st, key, P(k * 10 + 1), P(k * 10 + 2 + s));
	}
	for (int s = 0; s < 300; s++)
		subtable_add(st, "global", P(1), P(100000 + s));
	is_int(subtable_keys(st), 2001, "2001 keys");
	is_int(subtable_subs(st), 6300, "6300 subs");
	for (int k = 0; k < 2000; k++) {
		size_t n;
		snprintf(key, sizeof(key), "posts:%d", k);
		n = lookup_copy(st, key, v, 300);
		if (n != 3 || !has(v, n, P(k * 10 + 1), P(k * 10 + 2)) ||
		    !has(v, n, P(k * 10 + 1), P(k * 10 + 4)))
			bad++;
	}
	is_int(bad, 0, "every key has its three entries");
	is_int(lookup_copy(st, "global", v, 300), 300, "300 subs on one key");
	bad = 0;
	for (int s = 0; s < 300; s += 2)
		if (subtable_remove(st, "global", P(100000 + s)) != 0)
			bad++;
	is_int(bad, 0, "150 removes");
	{
		size_t n = lookup_copy(st, "global", v, 300);
		int wrong = 0;
		for (size_t i = 0; i < n; i++)
			if (((uintptr_t)v[i].sub - 100000) % 2 != 1)
				wrong++;
		ok(n == 150 && wrong == 0, "exactly the odd subs left");
	}
	/* leave entries in place: subtable_free must free them */
	urcu_memb_barrier();
	subtable_free(st);
	ok(1, "free of a populated table");
}

/* A snapshot taken before writes keeps every entry the writes did not
 * touch, once each, while the key's array is appended to, punched with
 * holes and rebuilt (grown, then shrunk) under it. */
static void
test_snapshot(void)
{
	struct subtable *st = subtable_new();
	const struct subtable_ent *e = NULL;
	size_t n, seen[100] = { 0 };
	int bad = 0, stray = 0;

	for (int s = 0; s < 100; s++)
		subtable_add(st, "global", P(1), P(1000 + s));
	urcu_memb_read_lock();
	n = subtable_lookup(st, "global", &e);
	/* the odd ones go, 300 others come (the array grows twice), then
	 * those go too (it shrinks) */
	for (int s = 1; s < 100; s += 2)
		subtable_remove(st, "global", P(1000 + s));
	for (int s = 0; s < 300; s++)
		subtable_add(st, "global", P(2), P(5000 + s));
	for (int s = 0; s < 300; s++)
		subtable_remove(st, "global", P(5000 + s));
	for (size_t i = 0; i < n; i++) {
		void *stream, *sub;
		uintptr_t v;

		if (!subtable_get(e, i, &stream, &sub))
			continue;
		v = (uintptr_t)sub;
		if (v < 1000 || v >= 1100)
			stray++;
		else
			seen[v - 1000]++;
	}
	urcu_memb_read_unlock();
	for (int s = 0; s < 100; s += 2)
		if (seen[s] != 1)
			bad++;
	is_int(bad, 0, "the 50 untouched entries each seen once in the old snapshot");
	is_int(stray, 0, "nothing in it but what was there");
	{
		struct subtable_ent v[400];
		size_t k = lookup_copy(st, "global", v, 400);
		int even = 0;

		for (size_t i = 0; i < k; i++)
			if (((uintptr_t)v[i].sub - 1000) % 2 == 0 &&
			    (uintptr_t)v[i].sub < 1100)
				even++;
		ok(k == 50 && even == 50, "a new lookup: the 50 even ones (%zu)", k);
	}
	is_int(subtable_subs(st), 50, "50 subs");
	/* remove and add back, many times: no growth without bound */
	for (int r = 0; r < 1000; r++) {
		subtable_remove(st, "global", P(1000));
		subtable_add(st, "global", P(1), P(1000));
	}
	urcu_memb_read_lock();
	n = subtable_lookup(st, "global", &e);
	urcu_memb_read_unlock();
	ok(n <= 200, "1000 remove/add cycles: %zu slots for 50 entries", n);
	is_int(subtable_subs(st), 50, "still 50 subs");
	urcu_memb_barrier();
	subtable_free(st);
}

/* Random adds and removes on one key against a model: the index (and
 * its back-shift deletion) and the rebuilds keep exactly the model. */
static void
test_model(void)
{
	struct subtable *st = subtable_new();
	static char in[500];
	static struct subtable_ent v[500];
	static uintptr_t val[500];	/* random values: index collisions */
	unsigned seed = 4242;
	int wrong_rc = 0, wrong_set = 0;

	memset(in, 0, sizeof(in));
	for (int i = 0; i < 500; i++)
		val[i] = ((uintptr_t)rand_r(&seed) << 16 | (uintptr_t)i) << 4;
	for (int op = 0; op < 20000; op++) {
		int s = (int)(rand_r(&seed) % 500);

		if (rand_r(&seed) % 3 != 0) {
			subtable_add(st, "k", P(7), (void *)val[s]);
			in[s] = 1;
		} else {
			int rc = subtable_remove(st, "k", (void *)val[s]);

			if (rc != (in[s] ? 0 : -1))
				wrong_rc++;
			in[s] = 0;
		}
		if (op % 500 == 499) {
			size_t k = lookup_copy(st, "k", v, 500), want = 0;
			static char got[500];

			memset(got, 0, sizeof(got));
			for (int i = 0; i < 500; i++)
				want += (size_t)in[i];
			for (size_t i = 0; i < k && i < 500; i++) {
				uintptr_t x = ((uintptr_t)v[i].sub >> 4) & 0xffff;

				if (x >= 500 || val[x] != (uintptr_t)v[i].sub ||
				    !in[x] || got[x]++)
					wrong_set++;
			}
			if (k != want)
				wrong_set++;
		}
	}
	is_int(wrong_rc, 0, "20000 random ops: every remove's answer matches the model");
	is_int(wrong_set, 0, "and every lookup has exactly the model's entries");
	urcu_memb_barrier();
	subtable_free(st);
}

/* ---- concurrency ---- */

#define NKEYS		8
#define NSUBS		24	/* per writer */
#define NWRITERS	2
#define NREADERS	4

/* slot[2i] is a stream, slot[2i+1] its sub: sub == stream + 1 */
static char slots[NWRITERS * NSUBS * 2];
static int stop;
static struct subtable *cst;
static const char *const ckeys[NKEYS] = {
	"global", "stream:1", "stream:2", "posts:3", "mentions:4",
	"tag:x", "thread:5", "messages:6",
};

struct writer {
	pthread_t	 th;
	int		 id;
	unsigned	 seed;
	char		 present[NKEYS][NSUBS];
	long		 ops;
	long		 errors;
};

struct reader {
	pthread_t	 th;
	unsigned	 seed;
	long		 lookups, entries;
	long		 errors;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;

	urcu_memb_register_thread();
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		int k = (int)(rand_r(&w->seed) % NKEYS);
		int s = (int)(rand_r(&w->seed) % NSUBS);
		int idx = (w->id * NSUBS + s) * 2;
		void *stream = &slots[idx], *sub = &slots[idx + 1];

		if (!w->present[k][s] || rand_r(&w->seed) % 4 == 0) {
			/* add, or re-add (replace) an existing one */
			subtable_add(cst, ckeys[k], stream, sub);
			w->present[k][s] = 1;
		} else {
			if (subtable_remove(cst, ckeys[k], sub) != 0)
				w->errors++;
			w->present[k][s] = 0;
		}
		/* removing what is not there must fail */
		if (!w->present[k][s] &&
		    subtable_remove(cst, ckeys[k], sub) != -1)
			w->errors++;
		w->ops++;
	}
	urcu_memb_unregister_thread();
	return NULL;
}

static void *
reader_main(void *arg)
{
	struct reader *r = arg;

	urcu_memb_register_thread();
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		const struct subtable_ent *e = NULL;
		int k = (int)(rand_r(&r->seed) % NKEYS);
		size_t n;

		size_t live = 0;

		urcu_memb_read_lock();
		n = subtable_lookup(cst, ckeys[k], &e);
		/* slots: live entries plus holes, at most twice the most
		 * live entries a key can have, plus the spare room */
		if (n > 4 * NWRITERS * NSUBS || (n > 0 && e == NULL))
			r->errors++;
		for (size_t i = 0; n <= 4 * NWRITERS * NSUBS && i < n; i++) {
			void *vs, *vb;
			char *stream, *sub;

			if (!subtable_get(e, i, &vs, &vb))
				continue;
			stream = vs;
			sub = vb;
			live++;
			if (stream < slots || stream >= slots + sizeof(slots) ||
			    (stream - slots) % 2 != 0 || sub != stream + 1)
				r->errors++;
		}
		if (live > NWRITERS * NSUBS)
			r->errors++;
		/* hold the snapshot a little and read it again: it must not
		 * be freed under us, and a slot only ever turns into a hole */
		if (n > 0 && rand_r(&r->seed) % 8 == 0) {
			for (volatile int spin = 0; spin < 2000; spin++)
				;
			for (size_t i = 0; n <= 4 * NWRITERS * NSUBS && i < n; i++) {
				void *vs, *vb;

				if (subtable_get(e, i, &vs, &vb) &&
				    (char *)vb != (char *)vs + 1)
					r->errors++;
			}
		}
		urcu_memb_read_unlock();
		r->lookups++;
		r->entries += (long)n;
	}
	urcu_memb_unregister_thread();
	return NULL;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
test_concurrent(void)
{
	struct writer w[NWRITERS];
	struct reader r[NREADERS];
	long errors = 0, lookups = 0, entries = 0, ops = 0;
	size_t want_keys = 0, want_subs = 0;
	int bad = 0;
	double t0;

	cst = subtable_new();
	memset(w, 0, sizeof(w));
	memset(r, 0, sizeof(r));
	stop = 0;
	for (int i = 0; i < NREADERS; i++) {
		r[i].seed = 1000u + (unsigned)i;
		pthread_create(&r[i].th, NULL, reader_main, &r[i]);
	}
	for (int i = 0; i < NWRITERS; i++) {
		w[i].id = i;
		w[i].seed = 77u + (unsigned)i;
		pthread_create(&w[i].th, NULL, writer_main, &w[i]);
	}
	t0 = now();
	while (now() - t0 < 0.5) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < NWRITERS; i++) {
		pthread_join(w[i].th, NULL);
		errors += w[i].errors;
		ops += w[i].ops;
	}
	for (int i = 0; i < NREADERS; i++) {
		pthread_join(r[i].th, NULL);
		lookups += r[i].lookups;
		entries += r[i].entries;
		errors += r[i].errors;
	}
	is_int(errors, 0, "no malformed entry seen, no failed remove "
	    "(%ld writer ops, %ld lookups, %ld entries seen)", ops, lookups,
	    entries);
	ok(ops > 1000 && lookups > 1000 && entries > 0,
	    "writers and readers made progress");

	urcu_memb_barrier();
	for (int k = 0; k < NKEYS; k++) {
		size_t n = 0;
		struct subtable_ent v[NWRITERS * NSUBS];
		size_t got;

		for (int i = 0; i < NWRITERS; i++)
			for (int s = 0; s < NSUBS; s++)
				n += (size_t)w[i].present[k][s];
		want_subs += n;
		want_keys += n > 0;
		got = lookup_copy(cst, ckeys[k], v, NWRITERS * NSUBS);
		if (got != n)
			bad++;
		for (int i = 0; i < NWRITERS; i++)
			for (int s = 0; s < NSUBS; s++) {
				int idx = (i * NSUBS + s) * 2;
				if (has(v, got, &slots[idx], &slots[idx + 1]) !=
				    w[i].present[k][s])
					bad++;
			}
	}
	is_int(bad, 0, "each key holds exactly what the writers left");
	is_int(subtable_keys(cst), want_keys, "key count = what writers left");
	is_int(subtable_subs(cst), want_subs, "sub count = what writers left");
	urcu_memb_barrier();
	subtable_free(cst);
	cst = NULL;
}

int
main(void)
{
	urcu_memb_register_thread();
	test_basic();
	test_many();
	test_snapshot();
	test_model();
	test_concurrent();
	urcu_memb_unregister_thread();
	return tap_done();
}
