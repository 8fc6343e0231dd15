/* wssess.c - one WebSocket session over wslay.
 *
 * Outgoing data frames do not go through wslay: wslay copies every
 * message it queues, while our frames are already built (an unmasked
 * server frame is the same bytes for every socket). They are written
 * from the item queue with writev. wslay still sends the control frames
 * (pong, close, ping) and does all the receiving: UTF-8 checks, masking,
 * fragmentation, size limits. The two writers never interleave inside a
 * frame: wslay may send only when no data frame is half written, and a
 * data frame starts only when wslay has nothing left to send. */
#include "wssess.h"
#include "alloc.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <wslay/wslay.h>

#define IOV_BATCH	64

struct wssess {
	wslay_event_context_ptr	 ctx;
	const struct wssess_cb	*cb;
	void			*ud;
	struct qlist		 out;		/* data frames, head may be partial */
	uint64_t		 received;
	uint64_t		 peer_frames;	/* messages but pongs */
	uint64_t		 written_cursor;
	uint16_t		 peer_code;
	bool			 broken;	/* I/O error: finished */
	bool			 closing;	/* we or the peer started closing */
};

/* Drop queued data frames, but finish one already half written: a
 * control frame must not land inside it. */
static void
drop_unstarted(struct wssess *s)
{
	struct qitem *q = NULL;

	if (s->out.head != NULL && s->out.head->off > 0)
		q = qlist_pop(&s->out);
	qlist_clear(&s->out);
	if (q != NULL)
		qlist_push(&s->out, q);
}

static ssize_t
recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
    void *user_data)
{
	struct wssess *s = user_data;
	ssize_t n = s->cb->recv(s->ud, buf, len);

	if (n > 0) {
		s->received += (uint64_t)n;
		return n;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	else
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

static ssize_t
send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
    void *user_data)
{
	struct wssess *s = user_data;
	struct iovec iov = { (void *)data, len };
	ssize_t n = s->cb->writev(s->ud, &iov, 1);

	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	else
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

static void
msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
    void *user_data)
{
	struct wssess *s = user_data;

	if (arg->opcode != WSLAY_PONG)
		s->peer_frames++;
	switch (arg->opcode) {
	case WSLAY_TEXT_FRAME:
		if (s->cb->on_text != NULL && !s->closing)
			s->cb->on_text(s->ud, arg->msg, arg->msg_length);
		break;
	case WSLAY_CONNECTION_CLOSE:
		/* wslay has queued the reply; no data frame may follow it */
		s->peer_code = arg->status_code;
		s->closing = true;
		drop_unstarted(s);
		break;
	default:
		break;		/* binary, ping, pong: life is all we need */
	}
}

struct wssess *
wssess_new(const struct wssess_cb *cb, void *ud, size_t max_msg)
{
	static const struct wslay_event_callbacks wcb = {
		.recv_callback = recv_cb,
		.send_callback = send_cb,
		.on_msg_recv_callback = msg_cb,
	};
	struct wssess *s = xcalloc(1, sizeof(*s));

	s->cb = cb;
	s->ud = ud;
	if (wslay_event_context_server_init(&s->ctx, &wcb, s) != 0) {
		free(s);
		return NULL;
	}
	wslay_event_config_set_max_recv_msg_length(s->ctx, max_msg);
	return s;
}

void
wssess_free(struct wssess *s)
{
	if (s == NULL)
		return;
	qlist_clear(&s->out);
	wslay_event_context_free(s->ctx);
	free(s);
}

int
wssess_read(struct wssess *s)
{
	if (s->broken || !wslay_event_want_read(s->ctx))
		return 0;
	if (wslay_event_recv(s->ctx) == 0) {
		/* On a protocol error (an unmasked frame, bad UTF-8, a bad
		 * close code...) wslay 1.1 queues the close frame (1002,
		 * 1007, 1009), stops reading and still returns 0: no data
		 * frame may follow that close. */
		if (wslay_event_want_read(s->ctx) || s->closing)
			return 0;
	}
	/* that, or EOF or a read error (wslay then queues an empty close
	 * frame, which the next write sends or fails on) */
	s->closing = true;
	drop_unstarted(s);
	if (!wslay_event_want_write(s->ctx))
		s->broken = true;
	return -1;
}

/* writev as many queued data frames as fit; 1 if the socket filled.
 * With head_only, only the rest of a half-written head frame: wslay's
 * control frames get their turn right after it, so that a steady
 * backlog cannot hold back pings and pongs. */
static int
write_data(struct wssess *s, bool head_only)
{
	while (s->out.head != NULL) {
		struct iovec iov[IOV_BATCH * 2];
		struct qlist done = { 0 };
		struct qitem *q;
		int n = 0;
		ssize_t w;
		size_t left;

		for (q = s->out.head; q && n + 2 <= IOV_BATCH * 2 &&
		    (!head_only || q == s->out.head); q = q->next) {
			size_t o = q == s->out.head ? q->off : 0;
			size_t tl = q->tail ? q->tail->len : 0;

			if (o < q->headlen) {
				iov[n].iov_base = q->head + o;
				iov[n++].iov_len = q->headlen - o;
				o = q->headlen;
			}
			if (tl > 0) {
				iov[n].iov_base = q->tail->data + (o - q->headlen);
				iov[n++].iov_len = tl - (o - q->headlen);
			}
		}
		w = s->cb->writev(s->ud, iov, n);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			if (errno == EINTR)
				continue;
			return -1;
		}
		/* retire what was written */
		left = (size_t)w;
		while (left > 0 && s->out.head != NULL) {
			size_t rest;

			q = s->out.head;
			rest = qitem_len(q) - q->off;
			if (left < rest) {
				q->off += (uint32_t)left;
				break;
			}
			left -= rest;
			if (q->cursor)
				s->written_cursor = q->cursor;
			qlist_push(&done, qlist_pop(&s->out));
		}
		if (done.head != NULL && s->cb->written != NULL)
			s->cb->written(s->ud, done.head);
		qlist_clear(&done);
		if (s->out.head != NULL && s->out.head->off > 0)
			return 1;	/* partial: the socket is full */
		if (head_only)
			break;
	}
	return 0;
}

int
wssess_write(struct wssess *s)
{
	int rc;

	for (;;) {
		if (s->broken)
			return -1;
		/* finish a half-written data frame before anything else */
		if (s->out.head != NULL && s->out.head->off > 0) {
			if ((rc = write_data(s, true)) != 0)
				goto out;
			continue;
		}
		if (wslay_event_want_write(s->ctx)) {
			if (wslay_event_send(s->ctx) != 0) {
				s->broken = true;
				return -1;
			}
			if (wslay_event_want_write(s->ctx))
				return 1;	/* blocked mid control frame */
			continue;
		}
		if (s->out.head == NULL || s->closing)
			return 0;
		if ((rc = write_data(s, false)) != 0)
			goto out;
	}
out:
	if (rc < 0)
		s->broken = true;
	return rc;
}

void
wssess_enqueue(struct wssess *s, struct qlist *items)
{
	if (s->closing) {
		qlist_clear(items);
		return;
	}
	qlist_splice(&s->out, items);
}

int
wssess_send_text(struct wssess *s, const char *msg, size_t len)
{
	struct wslay_event_msg m = { WSLAY_TEXT_FRAME, (const uint8_t *)msg, len };

	return wslay_event_queue_msg(s->ctx, &m) == 0 ? 0 : -1;
}

int
wssess_ping(struct wssess *s)
{
	struct wslay_event_msg m = { WSLAY_PING, NULL, 0 };

	return wslay_event_queue_msg(s->ctx, &m) == 0 ? 0 : -1;
}

void
wssess_close(struct wssess *s, uint16_t code, const char *reason)
{
	if (s->closing && wslay_event_get_close_sent(s->ctx))
		return;
	s->closing = true;
	drop_unstarted(s);
	wslay_event_queue_close(s->ctx, code, (const uint8_t *)reason,
	    reason ? strlen(reason) : 0);
}

bool
wssess_finished(const struct wssess *s)
{
	if (s->broken)
		return true;
	return !wslay_event_want_read(s->ctx) && !wslay_event_want_write(s->ctx) &&
	    s->out.head == NULL;
}

bool
wssess_closing(const struct wssess *s)
{
	return s->closing;
}

size_t
wssess_pending(const struct wssess *s)
{
	return s->out.bytes - (s->out.head ? s->out.head->off : 0);
}

uint64_t
wssess_received(const struct wssess *s)
{
	return s->received;
}

uint64_t
wssess_peer_messages(const struct wssess *s)
{
	return s->peer_frames;
}

uint64_t
wssess_written_cursor(const struct wssess *s)
{
	return s->written_cursor;
}

uint64_t
wssess_committed_cursor(const struct wssess *s)
{
	const struct qitem *q = s->out.head;

	/* a frame begun is finished, even when the session closes */
	if (q != NULL && q->off > 0 && q->cursor > s->written_cursor)
		return q->cursor;
	return s->written_cursor;
}

uint16_t
wssess_peer_close_code(const struct wssess *s)
{
	return s->peer_code;
}
