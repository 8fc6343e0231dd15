/* conn.c - a consumer connection's outbound queue. The dispatcher pushes
 * references to rendered messages; the transport's writer drains them.
 * For chunked streams the writer is MHD's content reader, which suspends
 * the connection when the queue runs dry; a push onto the queue of a
 * suspended connection resumes it, exactly once per suspend. For
 * WebSocket the writer is the session's worker, woken through its
 * queue only when the connection is not already waiting there. */
#include "conn.h"
#include "admin.h"
#include "alloc.h"
#include "dispatch.h"
#include "log.h"
#include "sluiced.h"
#include "ws.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

struct conn *
conn_new(enum conn_transport t, enum conn_kind k, const uint8_t *token_hash)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->wmu, NULL);
	c->refs = 1;
	c->transport = t;
	c->kind = k;
	if (token_hash != NULL)
		memcpy(c->token_hash, token_hash, TOKEN_HASH_LEN);
	CDS_INIT_LIST_HEAD(&c->live);
	CDS_INIT_LIST_HEAD(&c->app_link);
	cds_wfcq_node_init(&c->wake_node);
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
	METRIC_ADD(queued_bytes, -(int64_t)c->q.bytes);
	qlist_clear(&c->q);
}

void
conn_unref(struct conn *c)
{
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	drop_queue_locked(c);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->wmu);
	free(c->sent);
	free(c);
}

struct qitem *
conn_item(const struct conn *c, const void *head, size_t headlen,
    struct msg *tail, uint64_t cursor)
{
	/* the dispatcher's lock is held: pooled items may be made */
	if (c->transport == CONN_WEBSOCKET)
		return qitem_ws(head, headlen, tail, cursor);
	return qitem_chunked(head, headlen, tail, cursor);
}

size_t
conn_queued_locked(const struct conn *c)
{
	return c->q.bytes + c->inflight;
}

static void
wake_locked(struct conn *c)
{
	if (c->transport == CONN_CHUNKED) {
		if (c->suspended) {
			c->suspended = false;
			c->resumed = true;
			MHD_resume_connection(c->mhd);
		}
	} else if (!c->wake_pending && c->worker != NULL) {
		c->wake_pending = true;
		ws_wake(c->worker, conn_ref(c));
	}
}

static void
append_locked(struct conn *c, struct qitem *q)
{
	qlist_push(&c->q, q);
	METRIC_ADD(queued_bytes, (int64_t)qitem_len(q));
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
	/* one message alone may exceed the limit (events can be as large as
	 * ingest_max_line): only a backlog makes a slow consumer */
	if (conn_queued_locked(c) > 0 && conn_queued_locked(c) + len > limit) {
		/* the slow-consumer rule: drop it, keep everyone else going */
		log_warn("slow consumer: %zu bytes queued, closing its stream",
		    conn_queued_locked(c));
		METRIC_ADD(slow_consumer_drops, 1);
		c->closing = true;
		c->close_code = 1008;
		c->close_reason = "buffer full";
		if (c->transport == CONN_CHUNKED)
			drop_queue_locked(c);
		wake_locked(c);
		pthread_mutex_unlock(&c->mu);
		qitem_free(q);
		return -1;
	}
	/* likewise, one message alone is no backlog to warn about */
	bool backlog = conn_queued_locked(c) > 0;

	append_locked(c, q);
	if (!c->warned && backlog && conn_queued_locked(c) > limit / 2) {
		static const char w[] = "{\"meta\":{\"type\":\"warning\","
		    "\"code\":\"falling_behind\",\"percent_full\":50}}";
		c->warned = true;
		append_locked(c, conn_item(c, w, sizeof(w) - 1, NULL, 0));
	}
	wake_locked(c);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

void
conn_close(struct conn *c, uint16_t code, const char *reason)
{
	pthread_mutex_lock(&c->mu);
	if (!c->closing) {
		c->closing = true;
		c->close_code = code;
		c->close_reason = reason;
		if (c->transport == CONN_CHUNKED)
			drop_queue_locked(c);
		wake_locked(c);
	}
	pthread_mutex_unlock(&c->mu);
}

/* What the last call took is written: its live events are observed. */
static void
observe_sent_locked(struct conn *c)
{
	int64_t now = wall_us();

	for (uint32_t i = 0; i < c->sent_n; i++)
		admin_observe_latency(now, c->sent[i]);
	c->sent_n = 0;
}

static void
note_sent_locked(struct conn *c, uint64_t stamp)
{
	if (c->sent_n == c->sent_cap) {
		c->sent_cap = c->sent_cap ? 2 * c->sent_cap : 4;
		c->sent = xrealloc(c->sent, c->sent_cap * sizeof(*c->sent));
	}
	c->sent[c->sent_n++] = stamp;
}

long
conn_take_locked(struct conn *c, char *buf, size_t max)
{
	size_t n = 0;

	/* MHD asks for more only once it has sent what it had: what the
	 * previous calls took is now written */
	c->written_cursor = c->taken_cursor;
	if (c->sent_n > 0)
		observe_sent_locked(c);
	if (c->closing)
		return -1;
	while (c->q.head != NULL && n < max) {
		struct qitem *q = c->q.head;
		size_t tl = q->tail ? q->tail->len : 0;
		size_t total = qitem_len(q), o = q->off, k;

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
				src = qitem_crlf + (o - q->headlen - tl);
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
			c->taken_cursor = q->cursor;
		METRIC_ADD(queued_bytes, -(int64_t)total);
		if (q->live)
			note_sent_locked(c, q->cursor);
		qitem_free(qlist_pop(&c->q));
	}
	/* below a quarter full again: a later backlog earns a new warning */
	if (c->warned && c->q.bytes < sl.cfg.send_buffer_limit / 4)
		c->warned = false;
	return (long)n;
}

bool
conn_wait_drain(struct conn *c, size_t next, size_t mark)
{
	bool wait;

	pthread_mutex_lock(&c->mu);
	/* a closing connection takes nothing more: stop feeding it */
	wait = c->closing || (conn_queued_locked(c) > 0 &&
	    conn_queued_locked(c) + next >= mark);
	if (wait && !c->closing)
		c->want_drain = true;
	pthread_mutex_unlock(&c->mu);
	return wait;
}

bool
conn_drained_locked(struct conn *c)
{
	if (!c->want_drain || c->closing ||
	    conn_queued_locked(c) >= sl.cfg.send_buffer_limit / 4)
		return false;
	c->want_drain = false;
	return true;
}

void
conn_post_drained(struct conn *c)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->kind = OP_DRAINED;
	op->conn = conn_ref(c);
	dispatch_post(op);
}
