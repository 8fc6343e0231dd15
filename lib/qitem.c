/* qitem.c - outbound messages and queues of them */
#include "qitem.h"
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

/* A pool slot: an item and a head of up to this many bytes in all. The
 * heads of event deliveries (frame header, connection id, subscription
 * ids) are ~100 bytes. */
#define POOL_SLOT	256
/* Above this many free items, frees go back to malloc: the pool keeps
 * what is usually in flight, not a saturating burst's high-water mark. */
#define POOL_MAX	65536

const char qitem_crlf[2] = { '\r', '\n' };

static struct cds_wfcq_head pool_head;
static struct cds_wfcq_tail pool_tail;
static size_t pool_len;		/* atomic */
static uint64_t pool_reused;	/* atomic */

__attribute__((constructor)) static void
pool_init(void)
{
	cds_wfcq_init(&pool_head, &pool_tail);
}

size_t
ws_frame_header(uint8_t out[10], uint8_t opcode, uint64_t len)
{
	out[0] = 0x80 | (opcode & 0x0f);	/* FIN, no RSV bits */
	if (len < 126) {
		out[1] = (uint8_t)len;
		return 2;
	}
	if (len < 65536) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	return 10;
}

static struct qitem *
build(const void *pre, size_t prelen, const void *head, size_t headlen,
    struct msg *tail, uint64_t cursor, uint8_t traillen, bool pool)
{
	size_t size = sizeof(struct qitem) + prelen + headlen;
	struct qitem *q = NULL;

	if (pool && size <= POOL_SLOT) {
		struct cds_wfcq_node *n =
		    __cds_wfcq_dequeue_blocking(&pool_head, &pool_tail);

		if (n != NULL) {
			q = caa_container_of(n, struct qitem, fnode);
			__atomic_sub_fetch(&pool_len, 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&pool_reused, 1, __ATOMIC_RELAXED);
		} else
			q = xmalloc(POOL_SLOT);
		q->pooled = true;
	} else {
		q = xmalloc(size);
		q->pooled = false;
	}

	q->next = NULL;
	q->tail = tail ? msg_ref(tail) : NULL;
	q->headlen = (uint32_t)(prelen + headlen);
	q->off = 0;
	q->cursor = cursor;
	q->traillen = traillen;
	q->live = false;
	if (prelen)
		memcpy(q->head, pre, prelen);
	if (headlen)
		memcpy(q->head + prelen, head, headlen);
	return q;
}

struct qitem *
qitem_raw(const void *head, size_t headlen, struct msg *tail, uint64_t cursor)
{
	return build(NULL, 0, head, headlen, tail, cursor, 0, false);
}

struct qitem *
qitem_chunked(const void *head, size_t headlen, struct msg *tail,
    uint64_t cursor)
{
	return build(NULL, 0, head, headlen, tail, cursor, 2, true);
}

struct qitem *
qitem_ws(const void *head, size_t headlen, struct msg *tail,
    uint64_t cursor)
{
	uint8_t hdr[10];
	size_t n = ws_frame_header(hdr, 0x1, headlen + (tail ? tail->len : 0));

	return build(hdr, n, head, headlen, tail, cursor, 0, true);
}

void
qitem_pool_drain(void)
{
	struct cds_wfcq_node *n;

	while ((n = __cds_wfcq_dequeue_blocking(&pool_head, &pool_tail)) != NULL) {
		free(caa_container_of(n, struct qitem, fnode));
		__atomic_sub_fetch(&pool_len, 1, __ATOMIC_RELAXED);
	}
}

size_t
qitem_pool_free(void)
{
	return __atomic_load_n(&pool_len, __ATOMIC_RELAXED);
}

uint64_t
qitem_pool_reused(void)
{
	return __atomic_load_n(&pool_reused, __ATOMIC_RELAXED);
}

void
qitem_free(struct qitem *q)
{
	msg_unref(q->tail);
	if (q->pooled && __atomic_load_n(&pool_len, __ATOMIC_RELAXED) < POOL_MAX) {
		q->tail = NULL;
		cds_wfcq_node_init(&q->fnode);
		__atomic_add_fetch(&pool_len, 1, __ATOMIC_RELAXED);
		cds_wfcq_enqueue(&pool_head, &pool_tail, &q->fnode);
		return;
	}
	free(q);
}

size_t
qitem_len(const struct qitem *q)
{
	return q->headlen + (q->tail ? q->tail->len : 0) + q->traillen;
}

/* A list's head is stored atomically (relaxed: a plain store on the
 * machines we run on): a WebSocket worker reads a conn's head without
 * its lock, to prefetch the item (ws.c drain_wakes), while the
 * dispatcher may be pushing. Every other access is under the lock. */
#define SET_HEAD(l, v)	__atomic_store_n(&(l)->head, (v), __ATOMIC_RELAXED)

void
qlist_push(struct qlist *l, struct qitem *q)
{
	q->next = NULL;
	if (l->tail)
		l->tail->next = q;
	else
		SET_HEAD(l, q);
	l->tail = q;
	l->bytes += qitem_len(q);
	l->count++;
}

struct qitem *
qlist_pop(struct qlist *l)
{
	struct qitem *q = l->head;

	if (q == NULL)
		return NULL;
	SET_HEAD(l, q->next);
	if (l->head == NULL)
		l->tail = NULL;
	l->bytes -= qitem_len(q);
	l->count--;
	q->next = NULL;
	return q;
}

void
qlist_splice(struct qlist *to, struct qlist *from)
{
	if (from->head == NULL)
		return;
	if (to->tail)
		to->tail->next = from->head;
	else
		SET_HEAD(to, from->head);
	to->tail = from->tail;
	to->bytes += from->bytes;
	to->count += from->count;
	SET_HEAD(from, NULL);
	from->tail = NULL;
	from->bytes = from->count = 0;
}

void
qlist_clear(struct qlist *l)
{
	struct qitem *q;

	while ((q = qlist_pop(l)) != NULL)
		qitem_free(q);
}
