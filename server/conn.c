/* conn.c - a consumer connection's outbound queue. The dispatcher pushes
 * references to rendered messages; the transport's writer drains them.
 * For chunked streams the writer is MHD's content reader, which suspends
 * the connection when the queue runs dry; a push onto an empty queue of
 * a suspended connection resumes it, exactly once per suspend. */
#include "conn.h"
#include "log.h"
#include "sluiced.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

static const char crlf[] = "\r\n";

struct conn *
conn_new(enum conn_transport t, const uint8_t *token_hash)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		fatal("%s: out of memory", __func__);
	pthread_mutex_init(&c->mu, NULL);
	c->refs = 1;
	c->transport = t;
	if (token_hash != NULL)
		memcpy(c->token_hash, token_hash, TOKEN_HASH_LEN);
	CDS_INIT_LIST_HEAD(&c->live);
	return c;
}

struct conn *
conn_ref(struct conn *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

static void
drop_queue_locked(struct conn *c)
{
	struct qitem *q, *n;

	for (q = c->qhead; q; q = n) {
		n = q->next;
		qitem_free(q);
	}
	METRIC_ADD(queued_bytes, -(int64_t)c->queued);
	c->qhead = c->qtail = NULL;
	c->queued = 0;
}

void
conn_unref(struct conn *c)
{
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	drop_queue_locked(c);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

struct qitem *
qitem_new(const void *head, size_t headlen, struct msg *tail, uint64_t cursor)
{
	struct qitem *q = malloc(sizeof(*q) + headlen);

	if (q == NULL)
		fatal("%s: out of memory", __func__);
	q->next = NULL;
	q->tail = tail ? msg_ref(tail) : NULL;
	q->headlen = (uint32_t)headlen;
	q->off = 0;
	q->cursor = cursor;
	memcpy(q->head, head, headlen);
	return q;
}

void
qitem_free(struct qitem *q)
{
	msg_unref(q->tail);
	free(q);
}

/* head + tail, plus "\r\n" after every message (a keepalive is a bare
 * "\r\n": its head is empty) */
size_t
qitem_len(const struct qitem *q)
{
	return q->headlen + (q->tail ? q->tail->len : 0) + 2;
}

static void
wake_locked(struct conn *c)
{
	if (c->transport == CONN_CHUNKED && c->suspended) {
		c->suspended = false;
		MHD_resume_connection(c->mhd);
	}
}

static void
append_locked(struct conn *c, struct qitem *q)
{
	size_t len = qitem_len(q);

	if (c->qtail)
		c->qtail->next = q;
	else
		c->qhead = q;
	c->qtail = q;
	c->queued += len;
	METRIC_ADD(queued_bytes, (int64_t)len);
}

int
conn_push(struct conn *c, struct qitem *q)
{
	size_t len = qitem_len(q), limit = sl.cfg.send_buffer_limit;

	pthread_mutex_lock(&c->mu);
	if (c->closing) {
		pthread_mutex_unlock(&c->mu);
		qitem_free(q);
		return -1;
	}
	if (c->queued + len > limit) {
		/* the slow-consumer rule: drop it, keep everyone else going */
		log_info("slow consumer: %zu bytes queued, closing the stream",
		    c->queued);
		METRIC_ADD(slow_consumer_drops, 1);
		drop_queue_locked(c);
		c->closing = true;
		wake_locked(c);
		pthread_mutex_unlock(&c->mu);
		qitem_free(q);
		return -1;
	}
	append_locked(c, q);
	if (!c->warned && c->queued > limit / 2) {
		static const char w[] = "{\"meta\":{\"type\":\"warning\","
		    "\"code\":\"falling_behind\",\"percent_full\":50}}";
		c->warned = true;
		append_locked(c, qitem_new(w, sizeof(w) - 1, NULL, 0));
	}
	wake_locked(c);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

void
conn_close(struct conn *c)
{
	pthread_mutex_lock(&c->mu);
	c->closing = true;
	drop_queue_locked(c);
	wake_locked(c);
	pthread_mutex_unlock(&c->mu);
}

long
conn_take_locked(struct conn *c, char *buf, size_t max)
{
	size_t n = 0;

	if (c->closing)
		return -1;
	while (c->qhead != NULL && n < max) {
		struct qitem *q = c->qhead;
		size_t tl = q->tail ? q->tail->len : 0;
		size_t total = q->headlen + tl + 2, o = q->off, k;

		/* copy from whichever part of the item o is in */
		while (o < total && n < max) {
			const char *src;
			size_t avail;

			if (o < q->headlen) {
				src = q->head + o;
				avail = q->headlen - o;
			} else if (o < q->headlen + tl) {
				src = q->tail->data + (o - q->headlen);
				avail = q->headlen + tl - o;
			} else {
				src = crlf + (o - q->headlen - tl);
				avail = total - o;
			}
			k = avail < max - n ? avail : max - n;
			memcpy(buf + n, src, k);
			n += k;
			o += k;
		}
		q->off = (uint32_t)o;
		if (o < total)
			break;
		if (q->cursor)
			c->written_cursor = q->cursor;
		c->qhead = q->next;
		if (c->qhead == NULL)
			c->qtail = NULL;
		c->queued -= total;
		METRIC_ADD(queued_bytes, -(int64_t)total);
		qitem_free(q);
	}
	/* below a quarter full again: a later backlog earns a new warning */
	if (c->warned && c->queued < sl.cfg.send_buffer_limit / 4)
		c->warned = false;
	return (long)n;
}
