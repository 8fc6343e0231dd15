/* wssess.c - one WebSocket session (RFC 6455, server side).
 *
 * Outgoing data frames are built once per event and shared (an unmasked
 * server frame is the same bytes for every socket); they are written
 * from the item queue with writev. Control frames (pong, close, ping,
 * the rare text reply) wait in a second, short queue and go out between
 * whole data frames: never inside one.
 *
 * The reader is ours, not wslay's: wslay keeps two 4 KiB buffers per
 * session (about 7.8 KiB with its context, measured with massif), more
 * than everything else an idle connection costs, while what clients send
 * us is small and rare. This one keeps about 200 bytes and allocates
 * only while a data message is being assembled. It checks what wslay
 * checked: masking, reserved bits and opcodes, fragmentation, control
 * frame size, UTF-8 in text messages and close reasons, close codes,
 * and the message size limit; it answers ping and close itself. */
#include "wssess.h"
#include "alloc.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define IOV_BATCH	64
#define READ_CHUNK	4096		/* bytes per recv (on the stack) */
#define READ_MAX	(64 * 1024)	/* bytes per wssess_read: fairness */

enum { OP_CONT = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2, OP_CLOSE = 0x8,
	OP_PING = 0x9, OP_PONG = 0xa };

struct wssess {
	/* what the write path touches, first: two cache lines */
	const struct wssess_cb	*cb;
	void			*ud;
	struct qlist		 out;		/* data frames, head may be partial */
	struct qlist		 ctl;		/* control frames, idem */
	uint64_t		 written_cursor;
	bool			 read_done;	/* EOF, error, close or protocol error */
	bool			 close_queued;	/* we sent or queued our close */
	bool			 close_sent;	/* it is written whole */
	bool			 broken;	/* I/O error: finished */
	size_t			 max_msg;
	uint64_t		 received;
	uint64_t		 peer_frames;	/* messages but pongs */
	/* the frame being read */
	uint64_t		 left;		/* its payload bytes still to come */
	uint64_t		 pos;		/* payload bytes read (mask phase) */
	uint8_t			 hdr[14];
	uint8_t			 hdrlen;	/* header bytes read; 0 between frames */
	uint8_t			 op;		/* its opcode, once hdrlen is whole */
	bool			 fin;
	/* the data message being assembled (fragments) */
	uint8_t			 msg_op;	/* OP_TEXT, OP_BINARY, 0: none */
	uint8_t			*msg;		/* text only; binary is counted */
	size_t			 msglen, msgcap;
	/* a control frame's payload */
	uint16_t		 peer_code;
	uint8_t			 ctllen;
	uint8_t			 ctlbuf[125];
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

/* Queue a control frame (at most 125 bytes), or a text reply. */
static int
queue_ctl(struct wssess *s, uint8_t op, const void *p, size_t len)
{
	uint8_t small[10 + 125], *frame = small;
	size_t h;

	if (s->close_queued || s->broken || ((op & 0x8) && len > 125))
		return -1;
	if (len > 125)
		frame = xmalloc(10 + len);
	h = ws_frame_header(frame, op, len);
	if (len > 0)
		memcpy(frame + h, p, len);
	qlist_push(&s->ctl, qitem_raw(frame, h + len, NULL, 0));
	if (frame != small)
		free(frame);
	return 0;
}

/* Queue our close frame, once: code 0 sends none (an empty close). */
static void
queue_close(struct wssess *s, uint16_t code, const void *reason, size_t rlen)
{
	uint8_t p[125];
	size_t n = 0;

	if (s->close_queued || s->broken)
		return;
	if (code != 0) {
		p[0] = (uint8_t)(code >> 8);
		p[1] = (uint8_t)code;
		if (rlen > sizeof(p) - 2)
			rlen = sizeof(p) - 2;
		if (rlen > 0)
			memcpy(p + 2, reason, rlen);
		n = 2 + rlen;
	}
	queue_ctl(s, OP_CLOSE, p, n);
	s->close_queued = true;
	drop_unstarted(s);
}

/* We or the peer started closing (our close is queued or sent), or the
 * session broke. */
static bool
closing(const struct wssess *s)
{
	return s->close_queued || s->broken;
}

static void
msg_reset(struct wssess *s)
{
	free(s->msg);
	s->msg = NULL;
	s->msglen = s->msgcap = 0;
	s->msg_op = 0;
}

/* The peer broke the protocol: close with code, read no more. */
static int
fail(struct wssess *s, uint16_t code)
{
	msg_reset(s);
	queue_close(s, code, NULL, 0);
	s->read_done = true;
	return -1;
}

/* RFC 3629 well-formed UTF-8: no overlongs, surrogates or code points
 * past U+10FFFF, nothing cut short. */
static bool
utf8_ok(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = p[i];
		size_t n;
		uint8_t lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else
			return false;
		if (len - i - 1 < n)
			return false;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= n; k++)
			if (p[i + k] < 0x80 || p[i + k] > 0xbf)
				return false;
		i += n + 1;
	}
	return true;
}

static bool
close_code_ok(uint16_t c)
{
	return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) ||
	    (c >= 3000 && c <= 4999);
}

/* Header bytes needed so far: 2, then what the length and mask add. */
static size_t
hdr_need(const struct wssess *s)
{
	size_t n = 2;

	if (s->hdrlen < 2)
		return n;
	switch (s->hdr[1] & 0x7f) {
	case 126: n += 2; break;
	case 127: n += 8; break;
	}
	return n + ((s->hdr[1] & 0x80) ? 4 : 0);
}

/* The header is whole: check it. 0, or -1 after fail(). */
static int
frame_begin(struct wssess *s)
{
	uint8_t b0 = s->hdr[0], b1 = s->hdr[1], l7 = b1 & 0x7f;
	uint64_t len = l7;

	s->fin = (b0 & 0x80) != 0;
	s->op = b0 & 0x0f;
	if (l7 == 126)
		len = (uint64_t)s->hdr[2] << 8 | s->hdr[3];
	else if (l7 == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | s->hdr[2 + i];
		if (len >> 63)
			return fail(s, 1002);
	}
	if ((b0 & 0x70) != 0 || !(b1 & 0x80))
		return fail(s, 1002);	/* extensions, or an unmasked frame */
	switch (s->op) {
	case OP_CLOSE: case OP_PING: case OP_PONG:
		if (!s->fin || len > 125)
			return fail(s, 1002);
		s->ctllen = 0;
		break;
	case OP_CONT:
		if (s->msg_op == 0)
			return fail(s, 1002);
		break;
	case OP_TEXT: case OP_BINARY:
		if (s->msg_op != 0)
			return fail(s, 1002);
		s->msg_op = s->op;
		break;
	default:
		return fail(s, 1002);
	}
	if (!(s->op & 0x8) && len > s->max_msg - s->msglen)
		return fail(s, 1009);
	s->left = len;
	s->pos = 0;
	return 0;
}

/* Payload bytes of the current frame, unmasked in place. */
static void
frame_data(struct wssess *s, uint8_t *p, size_t n)
{
	const uint8_t *mask = s->hdr + s->hdrlen - 4;

	for (size_t i = 0; i < n; i++)
		p[i] ^= mask[(s->pos + i) & 3];
	s->pos += n;
	s->left -= n;
	if (s->op & 0x8) {
		memcpy(s->ctlbuf + s->ctllen, p, n);
		s->ctllen += (uint8_t)n;
		return;
	}
	if (s->msg_op == OP_TEXT) {
		if (s->msglen + n > s->msgcap) {
			size_t cap = s->msgcap ? s->msgcap : 256;

			while (cap < s->msglen + n)
				cap *= 2;
			if (cap > s->max_msg)
				cap = s->max_msg;
			s->msg = xrealloc(s->msg, cap);
			s->msgcap = cap;
		}
		memcpy(s->msg + s->msglen, p, n);
	}
	s->msglen += n;
}

/* The current frame is complete. 0, 1 when the peer's close ended the
 * reading, or -1 after fail(). */
static int
frame_end(struct wssess *s)
{
	uint16_t code = 0;

	s->hdrlen = 0;
	switch (s->op) {
	case OP_PONG:
		return 0;
	case OP_PING:
		s->peer_frames++;
		(void)queue_ctl(s, OP_PONG, s->ctlbuf, s->ctllen);
		return 0;
	case OP_CLOSE:
		s->peer_frames++;
		if (s->ctllen == 1)
			return fail(s, 1002);
		if (s->ctllen >= 2) {
			code = (uint16_t)(s->ctlbuf[0] << 8 | s->ctlbuf[1]);
			if (!close_code_ok(code))
				return fail(s, 1002);
			if (!utf8_ok(s->ctlbuf + 2, s->ctllen - 2u))
				return fail(s, 1007);
		}
		s->peer_code = code;
		s->read_done = true;
		msg_reset(s);
		/* the reply echoes the code and reason */
		queue_close(s, code, s->ctlbuf + 2, code ? s->ctllen - 2u : 0);
		return 1;
	}
	if (!s->fin)
		return 0;
	s->peer_frames++;
	if (s->msg_op == OP_TEXT) {
		if (!utf8_ok(s->msg, s->msglen))
			return fail(s, 1007);
		if (s->cb->on_text != NULL && !closing(s))
			s->cb->on_text(s->ud, s->msg ? s->msg : (uint8_t *)"",
			    s->msglen);
	}
	msg_reset(s);
	return 0;
}

/* Take n bytes the peer sent. 0, 1 at the peer's close, -1 on a
 * protocol error. */
static int
parse(struct wssess *s, uint8_t *p, size_t n)
{
	int rc;

	while (n > 0) {
		if (s->hdrlen < hdr_need(s)) {
			size_t k = hdr_need(s) - s->hdrlen;

			if (k > n)
				k = n;
			memcpy(s->hdr + s->hdrlen, p, k);
			s->hdrlen += (uint8_t)k;
			p += k;
			n -= k;
			if (s->hdrlen == 2 && hdr_need(s) > 2)
				continue;
			if (s->hdrlen < hdr_need(s))
				return 0;
			if (frame_begin(s) < 0)
				return -1;
		} else {
			size_t k = s->left < n ? (size_t)s->left : n;

			frame_data(s, p, k);
			p += k;
			n -= k;
		}
		if (s->left == 0 && (rc = frame_end(s)) != 0)
			return rc;
	}
	return 0;
}

struct wssess *
wssess_new(const struct wssess_cb *cb, void *ud, size_t max_msg)
{
	struct wssess *s = xcalloc(1, sizeof(*s));

	s->cb = cb;
	s->ud = ud;
	s->max_msg = max_msg;
	return s;
}

void
wssess_free(struct wssess *s)
{
	if (s == NULL)
		return;
	qlist_clear(&s->out);
	qlist_clear(&s->ctl);
	free(s->msg);
	free(s);
}

int
wssess_read(struct wssess *s)
{
	uint8_t buf[READ_CHUNK];
	size_t total = 0;
	ssize_t n;
	int rc;

	if (s->broken || s->read_done)
		return 0;
	while (total < READ_MAX) {
		n = s->cb->recv(s->ud, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			break;		/* EOF or a read error */
		s->received += (uint64_t)n;
		total += (size_t)n;
		if ((rc = parse(s, buf, (size_t)n)) > 0)
			return 0;	/* the peer closed */
		if (rc < 0)
			return -1;
	}
	if (total >= READ_MAX)
		return 0;		/* more later: epoll says so */
	/* the peer is gone: an empty close goes out if it still can */
	s->read_done = true;
	msg_reset(s);
	queue_close(s, 0, NULL, 0);
	return -1;
}

/* writev as many queued frames of l as fit; 1 if the socket filled, 2
 * if begin said stop.
 * With head_only, only the rest of a half-written head frame: control
 * frames get their turn right after it, so that a steady backlog cannot
 * hold back pings and pongs. */
static int
write_list(struct wssess *s, struct qlist *l, bool head_only, bool data)
{
	while (l->head != NULL) {
		struct iovec iov[IOV_BATCH * 2];
		struct qlist done = { 0 };
		struct qitem *q;
		int n = 0;
		ssize_t w;
		size_t left;
		uint64_t begun = 0;
		bool held;

		for (q = l->head; q && n + 2 <= IOV_BATCH * 2 &&
		    (!head_only || q == l->head); q = q->next) {
			size_t o = q == l->head ? q->off : 0;
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
		/* frames about to be begun: the owner hears of it first,
		 * and after the write which of them were */
		held = data && l->head->off == 0 && s->cb->begin != NULL;
		if (held && !s->cb->begin(s->ud))
			return 2;
		w = s->cb->writev(s->ud, iov, n);
		if (w < 0) {
			if (held)
				s->cb->end(s->ud, 0);
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			if (errno == EINTR)
				continue;
			return -1;
		}
		/* retire what was written; the last event it touched is the
		 * last one begun */
		left = (size_t)w;
		while (left > 0 && l->head != NULL) {
			size_t rest;

			q = l->head;
			rest = qitem_len(q) - q->off;
			if (q->cursor)
				begun = q->cursor;
			if (left < rest) {
				q->off += (uint32_t)left;
				break;
			}
			left -= rest;
			if (q->cursor)
				s->written_cursor = q->cursor;
			qlist_push(&done, qlist_pop(l));
		}
		if (held)
			s->cb->end(s->ud, begun);
		if (data && done.head != NULL && s->cb->written != NULL)
			s->cb->written(s->ud, done.head);
		qlist_clear(&done);
		if (l->head != NULL && l->head->off > 0)
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
			if ((rc = write_list(s, &s->out, true, true)) != 0)
				goto out;
			continue;
		}
		if (s->ctl.head != NULL && !s->close_sent) {
			if ((rc = write_list(s, &s->ctl, false, false)) != 0)
				goto out;
			if (s->close_queued) {
				/* nothing follows a close */
				s->close_sent = true;
				qlist_clear(&s->out);
			}
			continue;
		}
		if (s->out.head == NULL || closing(s))
			return 0;
		if ((rc = write_list(s, &s->out, false, true)) != 0)
			goto out;
	}
out:
	if (rc < 0)
		s->broken = true;
	return rc;	/* 2: begin said stop */
}

void
wssess_enqueue(struct wssess *s, struct qlist *items)
{
	if (closing(s)) {
		qlist_clear(items);
		return;
	}
	qlist_splice(&s->out, items);
}

int
wssess_send_text(struct wssess *s, const char *msg, size_t len)
{
	return queue_ctl(s, OP_TEXT, msg, len);
}

int
wssess_ping(struct wssess *s)
{
	return queue_ctl(s, OP_PING, NULL, 0);
}

void
wssess_close(struct wssess *s, uint16_t code, const char *reason)
{
	queue_close(s, code, reason, reason ? strlen(reason) : 0);
}

bool
wssess_finished(const struct wssess *s)
{
	if (s->broken)
		return true;
	return s->read_done && s->ctl.head == NULL && s->out.head == NULL &&
	    (s->close_sent || !s->close_queued);
}

bool
wssess_closing(const struct wssess *s)
{
	return closing(s);
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

void
wssess_prefetch(const struct wssess *s)
{
	/* the fields before max_msg, which enqueue and write use */
	uintptr_t a = (uintptr_t)s & ~(uintptr_t)63;

	for (; a < (uintptr_t)&s->max_msg; a += 64)
		__builtin_prefetch((const void *)a, 1);
}
