/* stream.c - user streams, owned by the dispatcher thread. The
 * subscription table holds (stream, sub) pairs; since only the
 * dispatcher reads it, a stream can be freed as soon as its entries are
 * out of the table. */
#include "stream.h"
#include "hash.h"
#include "conn.h"
#include "alloc.h"
#include "buf.h"
#include "log.h"
#include "sluiced.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKET_MIN	1024

/* connection_id -> stream */
static struct stream **bucket;
static size_t nbucket, nstreams;
static CDS_LIST_HEAD(all_streams);
static CDS_LIST_HEAD(idle_streams);	/* see struct stream */

/* token hash -> the number of streams made with it (for
 * max_streams_per_token), and the streams whose consumer presented it
 * (a revoke ends those). Kept while either is not nothing. */
struct tokcount {
	struct tokcount	*next;
	uint8_t		 hash[TOKEN_HASH_LEN];
	size_t		 n;
	struct cds_list_head consumers;	/* of struct stream, by_token */
};
/* as many buckets as the stream table (there are no more tokens with
 * streams than streams), grown with it */
static struct tokcount **tcbucket;
static size_t ntcbucket;

static size_t
tc_slot(const uint8_t *hash, size_t n)
{
	uint64_t v;

	memcpy(&v, hash, sizeof(v));	/* a digest: any 8 bytes will do */
	return (size_t)(v % n);
}

static size_t
cid_slot(const char *cid, size_t n)
{
	uint64_t h = hash_str(HASH_INIT, cid);

	return (size_t)(h % n);
}

void
streams_init(void)
{
	nbucket = NBUCKET_MIN;
	bucket = calloc(nbucket, sizeof(*bucket));
	ntcbucket = NBUCKET_MIN;
	tcbucket = calloc(ntcbucket, sizeof(*tcbucket));
	if (bucket == NULL || tcbucket == NULL)
		fatal("%s: out of memory", __func__);
}

void
streams_free_all(void)
{
	struct stream *st, *n;

	cds_list_for_each_entry_safe(st, n, &all_streams, all)
		stream_delete(st);
	free(bucket);
	bucket = NULL;
	nbucket = 0;
	free(tcbucket);
	tcbucket = NULL;
	ntcbucket = 0;
}

size_t
streams_count(void)
{
	return nstreams;
}

struct cds_list_head *
streams_list(void)
{
	return &all_streams;
}

struct cds_list_head *
streams_idle(void)
{
	return &idle_streams;
}

static struct tokcount **
tc_find(const uint8_t *hash)
{
	struct tokcount **pp = &tcbucket[tc_slot(hash, ntcbucket)];

	for (; *pp; pp = &(*pp)->next)
		if (memcmp((*pp)->hash, hash, TOKEN_HASH_LEN) == 0)
			break;
	return pp;
}

size_t
streams_for_token(const uint8_t *hash)
{
	struct tokcount *t = *tc_find(hash);

	return t ? t->n : 0;
}

/* The entry for hash, made if need be. */
static struct tokcount *
tc_get(const uint8_t *hash)
{
	struct tokcount **pp = tc_find(hash), *t = *pp;

	if (t == NULL) {
		t = xcalloc(1, sizeof(*t));
		memcpy(t->hash, hash, TOKEN_HASH_LEN);
		CDS_INIT_LIST_HEAD(&t->consumers);
		*pp = t;
	}
	return t;
}

/* Forget hash's entry if it holds nothing any more. */
static void
tc_put(const uint8_t *hash)
{
	struct tokcount **pp = tc_find(hash), *t = *pp;

	if (t != NULL && t->n == 0 && cds_list_empty(&t->consumers)) {
		*pp = t->next;
		free(t);
	}
}

static void
tc_add(const uint8_t *hash, int d)
{
	tc_get(hash)->n += (size_t)d;
	tc_put(hash);
}

void
streams_end_token(const uint8_t *hash, uint16_t code, const char *reason)
{
	struct tokcount *t = *tc_find(hash);
	struct stream *st, *n;

	if (t == NULL)
		return;
	/* the entry must outlive the walk, which empties its list */
	t->n++;
	cds_list_for_each_entry_safe(st, n, &t->consumers, by_token)
		stream_end(st, code, reason);
	t->n--;
	tc_put(hash);
}

void
stream_random_id(char out[CID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[CID_LEN / 2];

	if (gnutls_rnd(GNUTLS_RND_RANDOM, r, sizeof(r)) < 0)
		fatal("%s: gnutls_rnd failed", __func__);
	for (size_t i = 0; i < sizeof(r); i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[CID_LEN] = '\0';
}

struct stream *
stream_find(const char *cid)
{
	struct stream *st;

	if (nbucket == 0)
		return NULL;
	for (st = bucket[cid_slot(cid, nbucket)]; st; st = st->hnext)
		if (strcmp(st->cid, cid) == 0)
			return st;
	return NULL;
}

static void
rehash(void)
{
	size_t nn = nbucket * 2;
	struct stream **nb = calloc(nn, sizeof(*nb)), *st;
	struct tokcount **ntb, *t;

	if (nb == NULL)
		fatal("%s: out of memory", __func__);
	cds_list_for_each_entry(st, &all_streams, all) {
		size_t s = cid_slot(st->cid, nn);
		st->hnext = nb[s];
		nb[s] = st;
	}
	free(bucket);
	bucket = nb;
	nbucket = nn;
	/* the token counts too */
	ntb = calloc(nn, sizeof(*ntb));
	if (ntb == NULL)
		fatal("%s: out of memory", __func__);
	for (size_t i = 0; i < ntcbucket; i++)
		while ((t = tcbucket[i]) != NULL) {
			size_t s = tc_slot(t->hash, nn);

			tcbucket[i] = t->next;
			t->next = ntb[s];
			ntb[s] = t;
		}
	free(tcbucket);
	tcbucket = ntb;
	ntcbucket = nn;
}

struct stream *
stream_create(const struct token_info *tok)
{
	struct stream *st = calloc(1, sizeof(*st));
	size_t s;

	if (st == NULL)
		fatal("%s: out of memory", __func__);
	do
		stream_random_id(st->cid);
	while (stream_find(st->cid) != NULL);
	strcpy(st->user_id, tok->user_id);
	memcpy(st->token_hash, tok->hash, TOKEN_HASH_LEN);
	st->idle_since_ms = now_ms();
	CDS_INIT_LIST_HEAD(&st->by_token);
	cds_list_add_tail(&st->all, &all_streams);
	cds_list_add_tail(&st->idle, &idle_streams);
	if (++nstreams > nbucket)
		rehash();
	else {
		s = cid_slot(st->cid, nbucket);
		st->hnext = bucket[s];
		bucket[s] = st;
	}
	tc_add(st->token_hash, 1);
	METRIC_ADD(streams, 1);
	return st;
}

void
stream_attach(struct stream *st, struct conn *c)
{
	/* takeover: the newer consumer wins */
	stream_close(st, 4001, "replaced");
	cds_list_del_init(&st->idle);
	st->consumer = conn_ref(c);
	cds_list_add_tail(&st->by_token, &tc_get(c->token_hash)->consumers);
	c->stream = st;
	c->last_push_ms = now_ms();
}

void
stream_close(struct stream *st, uint16_t code, const char *reason)
{
	struct conn *c = st->consumer;

	if (c == NULL)
		return;
	conn_close(c, code, reason);
	/* Closing, its writer takes no more; what it has committed to (a
	 * chunk libmicrohttpd took, a WebSocket frame begun) still reaches
	 * the consumer before the end, so the position includes it. A
	 * consumer that leaves by itself moves it only to what was written
	 * (stream_detach). A WebSocket write begun before the close is
	 * waited for (c->wmu): then taken_cursor counts it. */
	pthread_mutex_lock(&c->wmu);
	pthread_mutex_lock(&c->mu);
	if (c->taken_cursor > st->pos)
		st->pos = c->taken_cursor;
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_unlock(&c->wmu);
	stream_detach(st);
}

void
stream_end(struct stream *st, uint16_t code, const char *reason)
{
	stream_close(st, code, reason);
	if (st->auto_delete)
		stream_delete(st);
}

void
stream_detach(struct stream *st)
{
	struct conn *c = st->consumer;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	if (c->written_cursor > st->pos)
		st->pos = c->written_cursor;
	pthread_mutex_unlock(&c->mu);
	c->catching_up = false;
	cds_list_del_init(&c->live);
	cds_list_del_init(&st->by_token);
	tc_put(c->token_hash);
	c->stream = NULL;
	st->consumer = NULL;
	st->idle_since_ms = now_ms();
	cds_list_add_tail(&st->idle, &idle_streams);
	conn_unref(c);
}

static void
sub_free(struct sub *s)
{
	free(s->endpoint);
	free(s->head);
	subfilter_clear(&s->filter);
	free(s);
}

void
stream_delete(struct stream *st)
{
	struct stream **pp;
	struct sub *s, *n;

	stream_close(st, 1000, "stream deleted");
	for (s = st->subs; s; s = n) {
		n = s->next;
		subtable_remove(sl.subs, s->key, s);
		sub_free(s);
	}
	for (pp = &bucket[cid_slot(st->cid, nbucket)]; *pp; pp = &(*pp)->hnext)
		if (*pp == st) {
			*pp = st->hnext;
			break;
		}
	cds_list_del(&st->all);
	cds_list_del(&st->idle);
	tc_add(st->token_hash, -1);
	nstreams--;
	METRIC_ADD(streams, -1);
	METRIC_ADD(subscriptions, -(int64_t)st->nsubs);
	free(st);
}

struct sub *
stream_find_sub(struct stream *st, const char *sid)
{
	struct sub *s;

	for (s = st->subs; s; s = s->next)
		if (strcmp(s->id, sid) == 0)
			return s;
	return NULL;
}

struct sub *
stream_subscribe(struct stream *st, const char *sid, const char *key,
    const char *endpoint, const struct subfilter *f)
{
	struct sub *s = stream_find_sub(st, sid);

	if (s != NULL) {
		/* the same id again overwrites the subscription */
		if (strcmp(s->key, key) != 0) {
			subtable_remove(sl.subs, s->key, s);
			strcpy(s->key, key);
			subtable_add(sl.subs, s->key, st, s);
		}
		free(s->endpoint);
		s->endpoint = xstrdup(endpoint);
		subfilter_clear(&s->filter);
		subfilter_copy(&s->filter, f);
		return s;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		fatal("%s: out of memory", __func__);
	s->stream = st;
	strcpy(s->id, sid);
	strcpy(s->key, key);
	s->endpoint = xstrdup(endpoint);
	{
		struct buf h;

		buf_init(&h);
		buf_printf(&h, "{\"meta\":{\"connection_id\":\"%s\","
		    "\"subscription_ids\":[", st->cid);
		buf_json_str(&h, s->id);
		buf_adds(&h, "],");
		s->headlen = h.len;
		s->head = buf_steal(&h);
	}
	subfilter_copy(&s->filter, f);
	s->next = st->subs;
	st->subs = s;
	st->nsubs++;
	METRIC_ADD(subscriptions, 1);
	subtable_add(sl.subs, s->key, st, s);
	return s;
}

void
stream_unsubscribe(struct stream *st, struct sub *s)
{
	struct sub **pp;

	for (pp = &st->subs; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	st->nsubs--;
	METRIC_ADD(subscriptions, -1);
	subtable_remove(sl.subs, s->key, s);
	sub_free(s);
}
