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

struct subarr {
	struct rcu_head		rcu;
	size_t			n;
	struct subtable_ent	e[];
};

struct subkey {
	struct cds_lfht_node	node;
	struct rcu_head		rcu;
	struct subarr		*arr;
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
		free(sk);
	}
	urcu_memb_read_unlock();
	if (cds_lfht_destroy(st->ht, NULL) != 0)
		log_warn("%s: cds_lfht_destroy failed", __func__);
	pthread_mutex_destroy(&st->wlock);
	free(st);
}

static struct subarr *
arr_new(size_t n)
{
	struct subarr *a = malloc(sizeof(*a) + n * sizeof(a->e[0]));

	if (a == NULL)
		fatal("%s: out of memory", __func__);
	a->n = n;
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

void
subtable_add(struct subtable *st, const char *key, void *stream, void *sub)
{
	struct subkey *sk;
	struct subarr *old, *a;
	size_t i;

	pthread_mutex_lock(&st->wlock);
	urcu_memb_read_lock();
	sk = find_key(st, key);
	if (sk == NULL) {
		size_t kl = strlen(key);
		sk = malloc(sizeof(*sk) + kl + 1);
		if (sk == NULL)
			fatal("%s: out of memory", __func__);
		memcpy(sk->key, key, kl + 1);
		cds_lfht_node_init(&sk->node);
		sk->arr = arr_new(1);
		sk->arr->e[0].stream = stream;
		sk->arr->e[0].sub = sub;
		cds_lfht_add(st->ht, key_hash(key), &sk->node);
		st->nkeys++;
		st->nsubs++;
		goto out;
	}
	old = sk->arr;
	for (i = 0; i < old->n; i++)
		if (old->e[i].sub == sub)
			break;
	a = arr_new(old->n + (i == old->n));
	memcpy(a->e, old->e, old->n * sizeof(a->e[0]));
	a->e[i].stream = stream;
	a->e[i].sub = sub;
	if (i == old->n)
		st->nsubs++;
	rcu_assign_pointer(sk->arr, a);
	urcu_memb_call_rcu(&old->rcu, arr_free_rcu);
out:
	urcu_memb_read_unlock();
	pthread_mutex_unlock(&st->wlock);
}

int
subtable_remove(struct subtable *st, const char *key, void *sub)
{
	struct subkey *sk;
	struct subarr *old, *a;
	size_t i, j;
	int rc = -1;

	pthread_mutex_lock(&st->wlock);
	urcu_memb_read_lock();
	sk = find_key(st, key);
	if (sk == NULL)
		goto out;
	old = sk->arr;
	for (i = 0; i < old->n && old->e[i].sub != sub; i++)
		;
	if (i == old->n)
		goto out;
	rc = 0;
	st->nsubs--;
	if (old->n == 1) {
		cds_lfht_del(st->ht, &sk->node);
		st->nkeys--;
		urcu_memb_call_rcu(&sk->rcu, key_free_rcu);
		goto out;
	}
	a = arr_new(old->n - 1);
	for (i = j = 0; i < old->n; i++)
		if (old->e[i].sub != sub)
			a->e[j++] = old->e[i];
	rcu_assign_pointer(sk->arr, a);
	urcu_memb_call_rcu(&old->rcu, arr_free_rcu);
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
	return a->n;
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
