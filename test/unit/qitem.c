/* qitem.c - tests for lib/qitem.c: the items' bytes, the queues, and the
 * pool of recycled items the per-delivery path takes its items from. */
#include "msg.h"
#include "qitem.h"
#include "tap.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* the bytes of q, head then tail then trailer */
static size_t
flat(const struct qitem *q, char *out)
{
	size_t n = q->headlen;

	memcpy(out, q->head, n);
	if (q->tail) {
		memcpy(out + n, q->tail->data, q->tail->len);
		n += q->tail->len;
	}
	if (q->traillen) {
		memcpy(out + n, qitem_crlf, 2);
		n += 2;
	}
	return n;
}

static void
test_bytes(void)
{
	struct msg *m = msg_new("tail", 4);
	char b[512];
	struct qitem *q;
	size_t n;

	q = qitem_ws("head,", 5, m, 7);
	n = flat(q, b);
	ok(n == 11 && memcmp(b, "\x81\x09head,tail", 11) == 0,
	    "pooled WebSocket item: 81 09 'head,tail'");
	ok(q->pooled && q->cursor == 7 && qitem_len(q) == 11, "pooled, cursor, length");
	qitem_free(q);
	q = qitem_chunked("head,", 5, m, 8);
	n = flat(q, b);
	ok(n == 11 && memcmp(b, "head,tail\r\n", 11) == 0,
	    "pooled chunked item: 'head,tail' CRLF");
	qitem_free(q);
	q = qitem_raw("head,", 5, m, 9);
	ok(!q->pooled, "qitem_raw is not pooled");
	qitem_free(q);
	msg_unref(m);
}

static void
test_reuse(void)
{
	struct qitem *a, *b, *big;
	char pad[300];
	uint64_t r0;
	size_t f0;

	memset(pad, 'p', sizeof(pad));
	a = qitem_ws("x", 1, NULL, 1);
	qitem_free(a);
	f0 = qitem_pool_free();
	ok(f0 >= 1, "a freed pooled item goes to the pool (%zu free)", f0);
	r0 = qitem_pool_reused();
	b = qitem_ws("yy", 2, NULL, 2);
	is_int(qitem_pool_reused(), r0 + 1, "the next one is taken from it");
	is_int(qitem_pool_free(), f0 - 1, "one fewer free");
	ok(b->headlen == 4 && memcmp(b->head, "\x81\x02yy", 4) == 0 &&
	    b->tail == NULL && b->off == 0 && !b->live,
	    "a reused item is as good as new");
	qitem_free(b);
	big = qitem_ws(pad, sizeof(pad), NULL, 3);
	ok(!big->pooled && big->headlen == 304 &&
	    memcmp(big->head + 4, pad, sizeof(pad)) == 0,
	    "a head too large for a slot: allocated as usual, whole");
	r0 = qitem_pool_free();
	qitem_free(big);
	is_int(qitem_pool_free(), r0, "and not put in the pool");
}

/* one maker, frees on other threads at the same time: every item comes
 * back intact, none is handed out twice */
#define NITEMS	20000
static struct qitem *batch[2][NITEMS];

struct job {
	struct qitem	**items;
	int		 half;
};

static void *
freer(void *arg)
{
	struct job *j = arg;

	for (int i = j->half; i < NITEMS; i += 2)
		qitem_free(j->items[i]);
	return NULL;
}

static int
cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(struct qitem *const *)a;
	uintptr_t y = (uintptr_t)*(struct qitem *const *)b;

	return x < y ? -1 : x > y;
}

static void
test_threads(void)
{
	pthread_t t[2];
	struct job jobs[2];
	struct msg *m = msg_new("shared", 6);
	int bad = 0;

	for (int round = 0; round < 6; round++) {
		struct qitem **mine = batch[round % 2];
		bool running = round > 0;

		/* the other batch is freed while this one is made */
		if (running)
			for (int k = 0; k < 2; k++) {
				jobs[k].items = batch[(round + 1) % 2];
				jobs[k].half = k;
				pthread_create(&t[k], NULL, freer, &jobs[k]);
			}
		for (int i = 0; i < NITEMS; i++) {
			mine[i] = qitem_ws(&i, sizeof(i), m, (uint64_t)i + 1);
			if (memcmp(mine[i]->head + 2, &i, sizeof(i)) != 0 ||
			    mine[i]->tail != m)
				bad++;
		}
		if (running)
			for (int k = 0; k < 2; k++)
				pthread_join(t[k], NULL);
		/* no live item handed out twice */
		{
			static struct qitem *sorted[NITEMS];

			memcpy(sorted, mine, sizeof(sorted));
			qsort(sorted, NITEMS, sizeof(sorted[0]), cmp_ptr);
			for (int i = 1; i < NITEMS; i++)
				if (sorted[i] == sorted[i - 1])
					bad++;
		}
	}
	for (int i = 0; i < NITEMS; i++)
		qitem_free(batch[1][i]);
	is_int(bad, 0, "120,000 items made while other threads free: all intact, none shared");
	ok(qitem_pool_reused() > NITEMS, "items were reused (%llu)",
	    (unsigned long long)qitem_pool_reused());
	ok(qitem_pool_free() <= 3 * NITEMS,
	    "the pool holds at most what was in flight (%zu)", qitem_pool_free());
	is_int(m->refs, 1, "the shared tail's references all given back");
	msg_unref(m);
}

/* past 65,536 free items, frees go back to malloc */
static void
test_bound(void)
{
	enum { N = 70000 };
	struct qitem **v = malloc(N * sizeof(*v));

	qitem_pool_drain();
	for (int i = 0; i < N; i++)
		v[i] = qitem_ws("b", 1, NULL, 1);
	for (int i = 0; i < N; i++)
		qitem_free(v[i]);
	is_int(qitem_pool_free(), 65536, "70,000 freed: the pool keeps 65,536, the rest is freed");
	free(v);
}

int
main(void)
{
	test_bytes();
	test_reuse();
	test_threads();
	test_bound();
	qitem_pool_drain();
	is_int(qitem_pool_free(), 0, "drained at the end");
	return tap_done();
}
