/* subtable.c - the subscription table on a liburcu lock-free hash table.
 * Each key holds an immutable array of entries; a writer builds a new
 * array and swaps the pointer, so the dispatcher walks a consistent
 * snapshot without any lock. */
#include "subtable.h"
#include "hash.h"
#include "log.h"
#include "rcu.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A key's entries. Slots [0, n) are published; a removed entry's sub
 * is NULL (a hole) until the array is next rebuilt. Appending into
 * spare capacity and punching holes are done in place, which readers
 * may see or not, both fine: every entry present for a whole read is
 * seen exactly once. An array is rebuilt (copied without its holes,
 * the old one freed after a grace period) only when it is full or
 * mostly holes, so adding and removing cost O(1) amortised, not a copy
 * of every subscriber of the key. */
struct subarr {
	struct rcu_head		rcu;
	size_t			cap;
	size_t			n;		/* atomic: slots published */
	struct subtable_ent	e[];
};

#define IDX_MIN		8	/* more live entries than this: indexed */

struct subkey {
	struct cds_lfht_node	node;
	struct rcu_head		rcu;
	struct subarr		*arr;
	/* the writers' own: live entries, and for a large key an open-
	 * addressing index sub -> slot + 1 (0: empty) */
	size_t			live;
	uint32_t		*idx;
	size_t			idxcap;		/* a power of two, or 0 */
	char			key[];
};

struct subtable {
	struct cds_lfht	*ht;
	pthread_mutex_t	 wlock;
	size_t		 nkeys;
	size_t		 nsubs;
};

static uint64_t
key_hash(const char *s)
{
	return hash_str(HASH_INIT, s);
}

static int
key_match(struct cds_lfht_node *node, const void *key)
{
	struct subkey *sk = caa_container_of(node, struct subkey, node);

	return strcmp(sk->key, key) == 0;
}

struct subtable *
subtable_new(void)
{
	struct subtable *st = calloc(1, sizeof(*st));

	if (st == NULL)
		fatal("%s: out of memory", __func__);
	st->ht = cds_lfht_new_flavor(1024, 1024, 0, CDS_LFHT_AUTO_RESIZE,
	    &urcu_memb_flavor, NULL);
	if (st->ht == NULL)
		fatal("%s: cds_lfht_new failed", __func__);
	pthread_mutex_init(&st->wlock, NULL);
	return st;
}

void
subtable_free(struct subtable *st)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	if (st == NULL)
		return;
	urcu_memb_read_lock();
	cds_lfht_first(st->ht, &it);
	while ((node = cds_lfht_iter_get_node(&it)) != NULL) {
		struct subkey *sk = caa_container_of(node, struct subkey, node);
		cds_lfht_next(st->ht, &it);
		cds_lfht_del(st->ht, node);
		free(sk->arr);
		free(sk->idx);
		free(sk);
	}
	urcu_memb_read_unlock();
	if (cds_lfht_destroy(st->ht, NULL) != 0)
		log_warn("%s: cds_lfht_destroy failed", __func__);
	pthread_mutex_destroy(&st->wlock);
	free(st);
}

static struct subarr *
arr_new(size_t cap)
{
	struct subarr *a = malloc(sizeof(*a) + cap * sizeof(a->e[0]));

	if (a == NULL)
		fatal("%s: out of memory", __func__);
	a->cap = cap;
	a->n = 0;
	return a;
}

static void
arr_free_rcu(struct rcu_head *h)
{
	free(caa_container_of(h, struct subarr, rcu));
}

static void
key_free_rcu(struct rcu_head *h)
{
	struct subkey *sk = caa_container_of(h, struct subkey, rcu);

	free(sk->arr);
	free(sk->idx);
	free(sk);
}

static struct subkey *
find_key(struct subtable *st, const char *key)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	cds_lfht_lookup(st->ht, key_hash(key), key_match, key, &it);
	node = cds_lfht_iter_get_node(&it);
	return node ? caa_container_of(node, struct subkey, node) : NULL;
}

/* ---- the index (writers only, under wlock) ---- */

static size_t
idx_home(const struct subkey *sk, const void *sub)
{
	uint64_t h = (uint64_t)(uintptr_t)sub * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 32) & (sk->idxcap - 1);
}

static void
idx_put(struct subkey *sk, size_t slot)
{
	size_t p = idx_home(sk, sk->arr->e[slot].sub);

	while (sk->idx[p] != 0)
		p = (p + 1) & (sk->idxcap - 1);
	sk->idx[p] = (uint32_t)slot + 1;
}

/* (Re)build the index for the array as it is, or drop it when the key
 * is small enough to scan. */
static void
idx_build(struct subkey *sk)
{
	struct subarr *a = sk->arr;

	free(sk->idx);
	sk->idx = NULL;
	sk->idxcap = 0;
	if (sk->live <= IDX_MIN)
		return;
	sk->idxcap = 16;
	while (sk->idxcap < 2 * a->cap)
		sk->idxcap *= 2;
	sk->idx = calloc(sk->idxcap, sizeof(*sk->idx));
	if (sk->idx == NULL)
		fatal("%s: out of memory", __func__);
	for (size_t i = 0; i < a->n; i++)
		if (a->e[i].sub != NULL)
			idx_put(sk, i);
}

/* The slot holding sub, or -1; with the index, *pos is where. */
static long
find_slot(const struct subkey *sk, const void *sub, size_t *pos)
{
	const struct subarr *a = sk->arr;

	if (sk->idx == NULL) {
		for (size_t i = 0; i < a->n; i++)
			if (a->e[i].sub == sub)
				return (long)i;
		return -1;
	}
	for (size_t p = idx_home(sk, sub); sk->idx[p] != 0;
	    p = (p + 1) & (sk->idxcap - 1))
		if (a->e[sk->idx[p] - 1].sub == sub) {
			*pos = p;
			return (long)sk->idx[p] - 1;
		}
	return -1;
}

/* Empty index position p, shifting back the entries of its run
 * (linear probing needs no tombstones then). */
static void
idx_del(struct subkey *sk, size_t p)
{
	size_t mask = sk->idxcap - 1, q = p;

	sk->idx[p] = 0;
	for (;;) {
		size_t home;

		q = (q + 1) & mask;
		if (sk->idx[q] == 0)
			return;
		home = idx_home(sk, sk->arr->e[sk->idx[q] - 1].sub);
		/* move it back to p unless its home lies in (p, q] */
		if ((p < q) ? (home <= p || home > q) : (home <= p && home > q)) {
			sk->idx[p] = sk->idx[q];
			sk->idx[q] = 0;
			p = q;
		}
	}
}

/* A new array with the live entries and room to grow; the old one goes
 * after a grace period. */
static void
rebuild(struct subkey *sk)
{
	struct subarr *old = sk->arr, *a;
	size_t cap = sk->live < 2 ? 4 : 2 * sk->live, j = 0;

	a = arr_new(cap);
	for (size_t i = 0; i < old->n; i++)
		if (old->e[i].sub != NULL)
			a->e[j++] = old->e[i];
	a->n = j;
	rcu_assign_pointer(sk->arr, a);
	urcu_memb_call_rcu(&old->rcu, arr_free_rcu);
	idx_build(sk);
}

void
subtable_add(struct subtable *st, const char *key, void *stream, void *sub)
{
	struct subkey *sk;
	struct subarr *a;
	size_t pos = 0, slot;
	long i;

	pthread_mutex_lock(&st->wlock);
	urcu_memb_read_lock();
	sk = find_key(st, key);
	if (sk == NULL) {
		size_t kl = strlen(key);
		sk = calloc(1, sizeof(*sk) + kl + 1);
		if (sk == NULL)
			fatal("%s: out of memory", __func__);
		memcpy(sk->key, key, kl + 1);
		cds_lfht_node_init(&sk->node);
		sk->arr = arr_new(4);
		sk->arr->e[0].stream = stream;
		sk->arr->e[0].sub = sub;
		sk->arr->n = 1;
		sk->live = 1;
		cds_lfht_add(st->ht, key_hash(key), &sk->node);
		st->nkeys++;
		st->nsubs++;
		goto out;
	}
	if ((i = find_slot(sk, sub, &pos)) >= 0) {
		/* the same sub again: its stream is replaced in place */
		__atomic_store_n(&sk->arr->e[i].stream, stream, __ATOMIC_RELEASE);
		goto out;
	}
	if (sk->arr->n == sk->arr->cap)
		rebuild(sk);
	a = sk->arr;
	slot = a->n;
	a->e[slot].stream = stream;
	a->e[slot].sub = sub;
	__atomic_store_n(&a->n, slot + 1, __ATOMIC_RELEASE);
	sk->live++;
	st->nsubs++;
	if (sk->idx != NULL)
		idx_put(sk, slot);
	else if (sk->live > IDX_MIN)
		idx_build(sk);
out:
	urcu_memb_read_unlock();
	pthread_mutex_unlock(&st->wlock);
}

int
subtable_remove(struct subtable *st, const char *key, void *sub)
{
	struct subkey *sk;
	struct subarr *a;
	size_t pos = 0;
	long i;
	int rc = -1;

	pthread_mutex_lock(&st->wlock);
	urcu_memb_read_lock();
	sk = find_key(st, key);
	if (sk == NULL || (i = find_slot(sk, sub, &pos)) < 0)
		goto out;
	rc = 0;
	st->nsubs--;
	if (--sk->live == 0) {
		cds_lfht_del(st->ht, &sk->node);
		st->nkeys--;
		urcu_memb_call_rcu(&sk->rcu, key_free_rcu);
		goto out;
	}
	a = sk->arr;
	if (sk->idx != NULL)
		idx_del(sk, pos);
	__atomic_store_n(&a->e[i].sub, NULL, __ATOMIC_RELEASE);
	/* mostly holes: rebuild smaller */
	if (a->n > 8 && a->n - sk->live > sk->live)
		rebuild(sk);
out:
	urcu_memb_read_unlock();
	pthread_mutex_unlock(&st->wlock);
	return rc;
}

size_t
subtable_lookup(struct subtable *st, const char *key,
    const struct subtable_ent **out)
{
	struct subkey *sk = find_key(st, key);
	struct subarr *a;

	if (sk == NULL)
		return 0;
	a = rcu_dereference(sk->arr);
	*out = a->e;
	return __atomic_load_n(&a->n, __ATOMIC_ACQUIRE);
}

size_t
subtable_keys(struct subtable *st)
{
	size_t n;

	pthread_mutex_lock(&st->wlock);
	n = st->nkeys;
	pthread_mutex_unlock(&st->wlock);
	return n;
}

size_t
subtable_subs(struct subtable *st)
{
	size_t n;

	pthread_mutex_lock(&st->wlock);
	n = st->nsubs;
	pthread_mutex_unlock(&st->wlock);
	return n;
}
