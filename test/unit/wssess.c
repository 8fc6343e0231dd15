/* wssess.c - tests for lib/wssess.c: one WebSocket session driven
 * with scripted bytes and no socket. The recv callback
 * reads what the test fed as the peer's bytes; writev appends to an
 * output buffer and can be told to take only a few bytes per call, to
 * stop after a budget (EAGAIN: the socket is full) or to fail. What the
 * session wrote is then split into frames and compared. */
#include "wssess.h"
#include "buf.h"
#include "msg.h"
#include "qitem.h"
#include "tap.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXTEXT		16
#define MAXFRAMES	256
#define NOLIMIT		SIZE_MAX

/* The fake socket, and what on_text saw. */
struct io {
	struct buf	 in;		/* the peer's bytes */
	size_t		 inoff;
	size_t		 rchunk;	/* most bytes one recv gives; 0: all */
	bool		 eof;		/* past the input: 0, not EAGAIN */
	int		 rerr;		/* recv fails with this errno */
	struct buf	 out;		/* what the session wrote */
	size_t		 per_call;	/* most bytes one writev takes; 0: all */
	size_t		 budget;	/* bytes until EAGAIN */
	int		 werr;		/* writev fails with this errno */
	int		 nwritev;	/* writev calls that took bytes */
	int		 maxiov;	/* largest iovcnt seen */
	int		 ntext;
	char		*text[MAXTEXT];
	size_t		 textlen[MAXTEXT];
	int		 nwritten;	/* items the written callback saw */
	uint64_t	 wcur[MAXFRAMES];	/* their cursors, in order */
	int		 nwcalls;
};

static ssize_t
t_recv(void *ud, uint8_t *p, size_t len)
{
	struct io *io = ud;
	size_t n = io->in.len - io->inoff;

	if (io->rerr) {
		errno = io->rerr;
		return -1;
	}
	if (n == 0) {
		if (io->eof)
			return 0;
		errno = EAGAIN;
		return -1;
	}
	if (n > len)
		n = len;
	if (io->rchunk && n > io->rchunk)
		n = io->rchunk;
	memcpy(p, io->in.p + io->inoff, n);
	io->inoff += n;
	return (ssize_t)n;
}

static ssize_t
t_writev(void *ud, const struct iovec *iov, int iovcnt)
{
	struct io *io = ud;
	size_t room = io->budget, done = 0;

	if (io->werr) {
		errno = io->werr;
		return -1;
	}
	if (iovcnt > io->maxiov)
		io->maxiov = iovcnt;
	if (io->per_call && room > io->per_call)
		room = io->per_call;
	if (room == 0) {
		errno = EAGAIN;
		return -1;
	}
	for (int i = 0; i < iovcnt && done < room; i++) {
		size_t n = iov[i].iov_len;

		if (n > room - done)
			n = room - done;
		if (n > 0)
			buf_add(&io->out, iov[i].iov_base, n);
		done += n;
	}
	if (io->budget != NOLIMIT)
		io->budget -= done;
	if (done > 0)
		io->nwritev++;
	return (ssize_t)done;
}

static void
t_on_text(void *ud, const uint8_t *msg, size_t len)
{
	struct io *io = ud;
	char *p;

	if (io->ntext == MAXTEXT)
		return;
	p = malloc(len + 1);
	if (p == NULL)
		abort();
	if (len > 0)		/* msg is NULL for an empty message */
		memcpy(p, msg, len);
	p[len] = '\0';
	io->text[io->ntext] = p;
	io->textlen[io->ntext++] = len;
}

static void
t_written(void *ud, const struct qitem *q)
{
	struct io *io = ud;

	io->nwcalls++;
	for (; q != NULL; q = q->next)
		if (io->nwritten < MAXFRAMES)
			io->wcur[io->nwritten++] = q->cursor;
}

static const struct wssess_cb cb = { t_recv, t_writev, t_on_text, t_written, NULL, NULL };
static const struct wssess_cb cb_notext = { t_recv, t_writev, NULL, NULL, NULL, NULL };

static void
io_init(struct io *io)
{
	memset(io, 0, sizeof(*io));
	buf_init(&io->in);
	buf_init(&io->out);
	io->budget = NOLIMIT;
}

static void
io_free(struct io *io)
{
	buf_free(&io->in);
	buf_free(&io->out);
	for (int i = 0; i < io->ntext; i++)
		free(io->text[i]);
}

/* ---- frames ---- */

/* A client frame: b0 is FIN, RSV and opcode as they go on the wire.
 * Clients must mask; the key is the one from RFC 6455 5.7. */
static void
cframe(struct buf *b, uint8_t b0, const void *payload, size_t len, bool mask)
{
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	const uint8_t *p = payload;
	uint8_t m = mask ? 0x80 : 0;

	buf_addc(b, (char)b0);
	if (len < 126)
		buf_addc(b, (char)(m | len));
	else if (len < 65536) {
		buf_addc(b, (char)(m | 126));
		buf_addc(b, (char)(len >> 8));
		buf_addc(b, (char)len);
	} else {
		buf_addc(b, (char)(m | 127));
		for (int i = 7; i >= 0; i--)
			buf_addc(b, (char)((uint64_t)len >> (8 * i)));
	}
	if (mask)
		buf_add(b, key, 4);
	for (size_t i = 0; i < len; i++)
		buf_addc(b, (char)(mask ? p[i] ^ key[i % 4] : p[i]));
}

/* The peer sends one masked frame. */
static void
feed(struct io *io, uint8_t b0, const void *payload, size_t len)
{
	cframe(&io->in, b0, payload, len, true);
}

static void
feeds(struct io *io, uint8_t b0, const char *s)
{
	feed(io, b0, s, strlen(s));
}

/* A close frame payload: the code in network order, then the reason. */
static size_t
close_payload(uint8_t *out, uint16_t code, const char *reason)
{
	size_t n = reason ? strlen(reason) : 0;

	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	if (n > 0)
		memcpy(out + 2, reason, n);
	return 2 + n;
}

/* What a server frame is: written here by hand, not with
 * ws_frame_header, so that qitem_ws is checked too. */
static void
sframe(struct buf *b, uint8_t opcode, const void *payload, size_t len)
{
	buf_addc(b, (char)(0x80 | opcode));
	if (len < 126)
		buf_addc(b, (char)len);
	else if (len < 65536) {
		buf_addc(b, 126);
		buf_addc(b, (char)(len >> 8));
		buf_addc(b, (char)len);
	} else {
		buf_addc(b, 127);
		for (int i = 7; i >= 0; i--)
			buf_addc(b, (char)((uint64_t)len >> (8 * i)));
	}
	buf_add(b, payload, len);
}

struct frame {
	uint8_t		 b0;		/* FIN, RSV, opcode */
	const uint8_t	*p;		/* payload */
	size_t		 len;
	const uint8_t	*raw;		/* the whole frame, header first */
	size_t		 rawlen;
};

/* Split what a server wrote into frames. Returns how many, or -1 when
 * the bytes are not a sequence of whole, well-formed server frames:
 * masked, RSV bits, a reserved opcode, a fragmented or long control
 * frame, or bytes left over. */
static int
parse_frames(const struct buf *b, struct frame *f, int max)
{
	const uint8_t *p = (const uint8_t *)b->p;
	size_t off = 0;
	int n = 0;

	while (off < b->len) {
		uint8_t b0, op;
		uint64_t len;
		size_t h = 2;

		if (n == max || b->len - off < 2)
			return -1;
		b0 = p[off];
		op = b0 & 0x0f;
		if ((b0 & 0x70) || (p[off + 1] & 0x80))
			return -1;
		if ((op >= 3 && op <= 7) || op > 0xa)
			return -1;
		len = p[off + 1] & 0x7f;
		if (len == 126) {
			if (b->len - off < 4)
				return -1;
			len = (uint64_t)p[off + 2] << 8 | p[off + 3];
			h = 4;
		} else if (len == 127) {
			if (b->len - off < 10)
				return -1;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | p[off + 2 + i];
			h = 10;
		}
		if ((op & 0x8) && (len > 125 || !(b0 & 0x80)))
			return -1;
		if (len > b->len - off - h)
			return -1;
		f[n].b0 = b0;
		f[n].p = p + off + h;
		f[n].len = (size_t)len;
		f[n].raw = p + off;
		f[n].rawlen = h + (size_t)len;
		n++;
		off += h + (size_t)len;
	}
	return n;
}

static bool
frame_is(const struct frame *f, uint8_t opcode, const void *p, size_t len)
{
	return f->b0 == (0x80 | opcode) && f->len == len &&
	    (len == 0 || memcmp(f->p, p, len) == 0);
}

/* The frame is, byte for byte, the one in want. */
static bool
frame_eq(const struct frame *f, const struct buf *want)
{
	return f->rawlen == want->len && memcmp(f->raw, want->p, want->len) == 0;
}

/* The close code of the last frame written, 0 for a close frame with
 * no code, -1 if the last frame is no close frame. */
static int
last_close_code(const struct io *io)
{
	struct frame f[MAXFRAMES];
	int n = parse_frames(&io->out, f, MAXFRAMES);

	if (n <= 0 || f[n - 1].b0 != 0x88)
		return -1;
	if (f[n - 1].len < 2)
		return 0;
	return f[n - 1].p[0] << 8 | f[n - 1].p[1];
}

static bool
out_is(const struct io *io, const void *p, size_t len)
{
	return io->out.len == len && (len == 0 || memcmp(io->out.p, p, len) == 0);
}

static bool
out_is_buf(const struct io *io, const struct buf *want)
{
	bool eq = out_is(io, want->p, want->len);

	if (!eq)
		printf("#   wrote %zu bytes, want %zu\n", io->out.len, want->len);
	return eq;
}

/* ---- outgoing items ---- */

static void
fill(char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (char)('a' + (i * 7 + seed) % 26);
}

/* A pre-framed text item: head, then a shared tail of n generated
 * bytes (no tail if n is (size_t)-1). want gets the expected frame. */
static struct qitem *
item(const char *head, size_t n, unsigned seed, uint64_t cursor,
    struct buf *want)
{
	size_t hl = head ? strlen(head) : 0;
	struct msg *m = NULL;
	struct qitem *q;
	struct buf pl;

	buf_init(&pl);
	buf_add(&pl, head ? head : "", hl);
	if (n != (size_t)-1) {
		char *t = malloc(n + 1);

		if (t == NULL)
			abort();
		fill(t, n, seed);
		m = msg_new(t, n);
		buf_add(&pl, t, n);
		free(t);
	}
	q = qitem_ws(head, hl, m, cursor);
	msg_unref(m);		/* the item holds its own reference */
	if (want != NULL)
		sframe(want, 0x1, pl.p, pl.len);
	buf_free(&pl);
	return q;
}

static void
enqueue1(struct wssess *s, struct qitem *q)
{
	struct qlist l = { 0 };

	qlist_push(&l, q);
	wssess_enqueue(s, &l);
}

/* Call wssess_write until it reports done (or 100000 calls). */
static int
write_all(struct wssess *s)
{
	int rc = 1;

	for (int i = 0; i < 100000 && rc == 1; i++)
		rc = wssess_write(s);
	return rc;
}

/* Read until the peer's bytes are all taken: after READ_MAX bytes the
 * session waits to be called again, as it would be on the next EPOLLIN. */
static int
read_all(struct wssess *s, struct io *io)
{
	int rc, i = 0;

	do
		rc = wssess_read(s);
	while (rc == 0 && io->inoff < io->in.len && ++i < 100000);
	return rc;
}

/* ---- receiving text ---- */

static void
test_text(void)
{
	struct io io;
	struct wssess *s;
	struct buf f;

	io_init(&io);
	s = wssess_new(&cb, &io, 1024);
	ok(s != NULL, "new session");
	is_int(wssess_read(s), 0, "read with nothing there: 0");
	is_int(io.ntext, 0, "nothing yet");
	is_int(wssess_received(s), 0, "received 0");
	ok(!wssess_finished(s) && !wssess_closing(s), "fresh: not closing");

	feeds(&io, 0x81, "Hello");
	is_int(wssess_read(s), 0, "text frame: read 0");
	is_int(io.ntext, 1, "on_text once");
	is_str(io.text[0], "Hello", "payload unmasked");
	is_int(io.textlen[0], 5, "length 5");
	is_int(wssess_received(s), 11, "received counts frame bytes (2+4+5)");
	is_int(wssess_write(s), 0, "nothing to write: 0");
	is_int(io.out.len, 0, "no reply to a text frame");

	/* one frame split over two reads */
	buf_init(&f);
	cframe(&f, 0x81, "split", 5, true);
	buf_add(&io.in, f.p, 4);
	is_int(wssess_read(s), 0, "first 4 bytes: read 0");
	is_int(io.ntext, 1, "no message from half a frame");
	buf_add(&io.in, f.p + 4, f.len - 4);
	is_int(wssess_read(s), 0, "the rest: read 0");
	is_int(io.ntext, 2, "message once the frame is whole");
	is_str(io.text[1], "split", "split frame payload");
	buf_free(&f);

	/* two messages in one read, and an empty one */
	feeds(&io, 0x81, "one");
	feeds(&io, 0x81, "");
	feeds(&io, 0x81, "two");
	is_int(wssess_read(s), 0, "three messages in one read");
	is_int(io.ntext, 5, "three on_text calls");
	ok(io.ntext == 5 && strcmp(io.text[2], "one") == 0 &&
	    io.textlen[3] == 0 && strcmp(io.text[4], "two") == 0,
	    "in order, the empty one with length 0");

	/* binary and pong frames: no on_text, no reply, but life */
	{
		uint64_t rx = wssess_received(s);

		feed(&io, 0x82, "\x00\x01\xff", 3);
		feeds(&io, 0x8a, "unsolicited");
		is_int(wssess_read(s), 0, "binary and pong: read 0");
		is_int(io.ntext, 5, "binary is not text");
		is_int(wssess_received(s) - rx, 9 + 17, "received grows by both frames");
		is_int(wssess_write(s), 0, "no reply to binary or pong");
		is_int(io.out.len, 0, "nothing written");
	}
	ok(!wssess_closing(s) && !wssess_finished(s), "still open");
	wssess_free(s);
	io_free(&io);
}

static void
test_fragments(void)
{
	struct io io;
	struct wssess *s;
	struct buf want;

	/* "Hello, world" in three fragments with a ping between them, fed
	 * one byte per recv */
	io_init(&io);
	s = wssess_new(&cb, &io, 1024);
	io.rchunk = 1;
	feeds(&io, 0x01, "Hel");
	feeds(&io, 0x89, "p");
	feeds(&io, 0x00, "lo, ");
	feeds(&io, 0x80, "world");
	is_int(read_all(s, &io), 0, "fragments byte by byte: read 0");
	is_int(io.ntext, 1, "one message from three fragments");
	is_str(io.text[0], "Hello, world", "fragments reassembled");
	is_int(wssess_received(s), io.in.len, "received counts every byte");
	is_int(wssess_write(s), 0, "pong written");
	buf_init(&want);
	sframe(&want, 0xa, "p", 1);
	ok(out_is_buf(&io, &want), "ping between fragments answered: 8a 01 'p'");
	buf_free(&want);
	wssess_free(s);
	io_free(&io);

	/* a message arriving over several reads, fragment by fragment */
	io_init(&io);
	s = wssess_new(&cb, &io, 1024);
	feeds(&io, 0x01, "ab");
	is_int(wssess_read(s), 0, "first fragment: read 0");
	is_int(io.ntext, 0, "no message before FIN");
	feeds(&io, 0x00, "cd");
	is_int(wssess_read(s), 0, "second fragment: read 0");
	is_int(io.ntext, 0, "still none");
	feeds(&io, 0x80, "ef");
	is_int(wssess_read(s), 0, "last fragment: read 0");
	is_int(io.ntext, 1, "message at FIN");
	is_str(io.text[0], "abcdef", "reassembled over three reads");

	/* a UTF-8 sequence cut between fragments is still valid */
	feed(&io, 0x01, "\xc3", 1);
	feed(&io, 0x80, "\xa9t\xc3\xa9", 4);
	is_int(wssess_read(s), 0, "UTF-8 split between fragments: read 0");
	is_int(io.ntext, 2, "delivered");
	ok(io.ntext == 2 && io.textlen[1] == 5 &&
	    memcmp(io.text[1], "\xc3\xa9t\xc3\xa9", 5) == 0, "\"\xc3\xa9t\xc3\xa9\" whole");
	ok(!wssess_closing(s), "not closing");
	wssess_free(s);
	io_free(&io);

	/* on_text may be NULL */
	io_init(&io);
	s = wssess_new(&cb_notext, &io, 1024);
	feeds(&io, 0x81, "ignored");
	is_int(wssess_read(s), 0, "no on_text: read 0");
	ok(!wssess_closing(s) && io.out.len == 0, "text dropped quietly");
	wssess_free(s);
	io_free(&io);
}

/* ---- ping ---- */

static void
test_ping(void)
{
	struct io io;
	struct wssess *s;
	char big[125];
	struct buf want;

	io_init(&io);
	s = wssess_new(&cb, &io, 1024);
	feeds(&io, 0x89, "abc");
	is_int(wssess_read(s), 0, "ping: read 0");
	is_int(wssess_received(s), 9, "received 9 (2+4+3)");
	is_int(io.out.len, 0, "the pong waits for wssess_write");
	is_int(wssess_write(s), 0, "write: 0");
	ok(out_is(&io, "\x8a\x03" "abc", 5), "pong with the same payload: 8a 03 'abc'");

	buf_free(&io.out);
	feeds(&io, 0x89, "");
	is_int(wssess_read(s), 0, "empty ping: read 0");
	is_int(wssess_received(s), 15, "received grows by 6");
	is_int(wssess_write(s), 0, "write: 0");
	ok(out_is(&io, "\x8a\x00", 2), "empty pong: 8a 00");

	buf_free(&io.out);
	fill(big, sizeof(big), 3);
	feed(&io, 0x89, big, sizeof(big));
	is_int(wssess_read(s), 0, "125-byte ping: read 0");
	is_int(wssess_received(s), 15 + 131, "received grows by 131");
	is_int(wssess_write(s), 0, "write: 0");
	buf_init(&want);
	sframe(&want, 0xa, big, sizeof(big));
	ok(out_is_buf(&io, &want), "125-byte pong, same payload");
	buf_free(&want);
	is_int(io.ntext, 0, "pings are not text");

	/* our own ping */
	buf_free(&io.out);
	is_int(wssess_ping(s), 0, "wssess_ping: 0");
	is_int(wssess_write(s), 0, "write: 0");
	ok(out_is(&io, "\x89\x00", 2), "ping frame: 89 00");
	is_int(wssess_send_text(s, "pong", 4), 0, "wssess_send_text: 0");
	buf_free(&io.out);
	is_int(wssess_write(s), 0, "write: 0");
	ok(out_is(&io, "\x81\x04pong", 6), "text frame: 81 04 'pong'");
	ok(!wssess_closing(s) && !wssess_finished(s), "still open");
	wssess_free(s);
	io_free(&io);
}

/* ---- data items ---- */

#define NITEMS	5

/* The items of test_data, fresh each time; ends[] the offset in the
 * output just past each one, cur[] its cursor. */
static void
make_items(struct qlist *l, struct buf *want, size_t ends[NITEMS],
    uint64_t cur[NITEMS])
{
	static const uint64_t cursors[NITEMS] = { 1, 2, 0, 3, 0 };

	qlist_push(l, item("{\"seq\":1,", 12, 1, cursors[0], want));
	ends[0] = want->len;
	qlist_push(l, item(NULL, 300, 2, cursors[1], want));	/* 16-bit length */
	ends[1] = want->len;
	qlist_push(l, item("keepalive", (size_t)-1, 0, cursors[2], want));	/* head only */
	ends[2] = want->len;
	qlist_push(l, item("h", 70000, 3, cursors[3], want));	/* 64-bit length */
	ends[3] = want->len;
	qlist_push(l, item(NULL, 0, 0, cursors[4], want));	/* empty payload */
	ends[4] = want->len;
	memcpy(cur, cursors, sizeof(cursors));
}

static void
test_data(void)
{
	struct io io;
	struct wssess *s;
	struct qlist l = { 0 };
	struct buf want;
	struct frame f[MAXFRAMES];
	size_t ends[NITEMS];
	uint64_t cur[NITEMS];
	int rc, n;

	/* a socket that takes everything */
	io_init(&io);
	buf_init(&want);
	s = wssess_new(&cb, &io, 1024);
	make_items(&l, &want, ends, cur);
	is_int(wssess_pending(s), 0, "pending 0 before enqueue");
	wssess_enqueue(s, &l);
	ok(l.head == NULL && l.count == 0 && l.bytes == 0, "enqueue takes the items");
	is_int(wssess_pending(s), want.len, "pending is every byte queued");
	is_int(io.out.len, 0, "enqueue writes nothing");
	is_int(wssess_write(s), 0, "write all: 0");
	ok(out_is_buf(&io, &want), "output is the five frames, byte for byte");
	is_int(io.nwritev, 1, "one writev for the whole queue");
	is_int(wssess_pending(s), 0, "pending 0");
	is_int(wssess_written_cursor(s), 3, "written cursor 3: the last non-zero");
	ok(io.nwcalls == 1 && io.nwritten == 5 && io.wcur[0] == 1 &&
	    io.wcur[1] == 2 && io.wcur[2] == 0 && io.wcur[3] == 3 &&
	    io.wcur[4] == 0,
	    "written: one call with the five items in order");
	n = parse_frames(&io.out, f, MAXFRAMES);
	is_int(n, 5, "parses as five frames");
	ok(n == 5 && f[0].len == 21 && memcmp(f[0].p, "{\"seq\":1,", 9) == 0 &&
	    f[1].len == 300 && f[2].len == 9 && f[3].len == 70001 && f[4].len == 0,
	    "frame lengths 21, 300, 9, 70001, 0 in queue order");
	is_int(wssess_write(s), 0, "write again: 0");
	is_int(io.out.len, want.len, "nothing more written");
	ok(!wssess_finished(s), "an open session with an empty queue is not finished");
	wssess_free(s);
	io_free(&io);

	/* partial writes: 7 bytes per writev */
	io_init(&io);
	io.per_call = 7;
	s = wssess_new(&cb, &io, 1024);
	buf_free(&want);
	make_items(&l, &want, ends, cur);
	wssess_enqueue(s, &l);
	{
		int calls = 0, bad_rc = 0, bad_pending = 0, bad_cursor = 0;

		do {
			uint64_t c = 0;

			rc = wssess_write(s);
			calls++;
			if (rc != (io.out.len < want.len ? 1 : 0))
				bad_rc++;
			if (wssess_pending(s) != want.len - io.out.len)
				bad_pending++;
			for (int i = 0; i < NITEMS; i++)
				if (ends[i] <= io.out.len && cur[i] != 0)
					c = cur[i];
			if (wssess_written_cursor(s) != c)
				bad_cursor++;
		} while (rc == 1 && calls < 100000);
		is_int(rc, 0, "7 bytes a call: ends with 0");
		ok(calls > 1000, "many calls (%d)", calls);
		is_int(bad_rc, 0, "1 on every call while bytes remain, 0 at the end");
		is_int(bad_pending, 0, "pending = queued - written after every call");
		is_int(bad_cursor, 0, "cursor of the last whole item after every call");
	}
	ok(out_is_buf(&io, &want), "partial writes: output byte-identical");
	is_int(wssess_written_cursor(s), 3, "written cursor 3");
	wssess_free(s);
	io_free(&io);

	/* a socket that fills: EAGAIN after a budget */
	io_init(&io);
	io.budget = 10;
	s = wssess_new(&cb, &io, 1024);
	buf_free(&want);
	make_items(&l, &want, ends, cur);
	wssess_enqueue(s, &l);
	is_int(wssess_write(s), 1, "socket full after 10 bytes: 1");
	is_int(io.out.len, 10, "10 bytes written");
	is_int(wssess_pending(s), want.len - 10, "pending less 10");
	is_int(wssess_written_cursor(s), 0, "no item whole: cursor 0");
	is_int(io.nwritten, 0, "written: no item whole, none reported");
	is_int(wssess_write(s), 1, "still full (EAGAIN): 1");
	is_int(io.out.len, 10, "nothing more");
	is_int(wssess_pending(s), want.len - 10, "pending unchanged");
	io.budget = ends[1] - 10;	/* exactly to the end of item 2 */
	is_int(wssess_write(s), 1, "room up to the end of the second item: 1");
	is_int(io.out.len, ends[1], "two items written");
	is_int(wssess_written_cursor(s), 2, "cursor 2");
	ok(io.nwritten == 2 && io.wcur[0] == 1 && io.wcur[1] == 2,
	    "written: the two whole items, once each");
	is_int(wssess_pending(s), want.len - ends[1], "pending: the last three");
	io.budget = NOLIMIT;
	is_int(wssess_write(s), 0, "room again: 0");
	ok(out_is_buf(&io, &want), "output byte-identical across EAGAIN");
	is_int(wssess_pending(s), 0, "pending 0");
	is_int(io.nwritten, 5, "written: all five reported, once each");
	wssess_free(s);
	io_free(&io);
	buf_free(&want);

	/* many items: more than fit one writev's iovec array */
	io_init(&io);
	buf_init(&want);
	s = wssess_new(&cb, &io, 1024);
	for (unsigned i = 0; i < 150; i++) {
		char head[32];

		snprintf(head, sizeof(head), "{\"item\":%u,", i);
		qlist_push(&l, item(head, 5 + i % 7, i, i + 1, &want));
	}
	wssess_enqueue(s, &l);
	is_int(wssess_write(s), 0, "150 items: 0");
	ok(out_is_buf(&io, &want), "150 items in order, byte for byte");
	ok(io.maxiov <= IOV_MAX, "iovcnt within IOV_MAX (max %d)", io.maxiov);
	ok(io.nwritev > 1, "split over several writev calls (%d)", io.nwritev);
	is_int(wssess_written_cursor(s), 150, "cursor 150");
	{
		bool inorder = io.nwritten == 150;

		for (int i = 0; inorder && i < 150; i++)
			inorder = io.wcur[i] == (uint64_t)i + 1;
		ok(inorder && io.nwcalls == io.nwritev,
		    "written: 150 items in order, one call a writev");
	}
	n = parse_frames(&io.out, f, MAXFRAMES);
	is_int(n, 150, "150 frames");
	wssess_free(s);
	io_free(&io);
	buf_free(&want);

	/* items queued and never written are freed with the session */
	io_init(&io);
	buf_init(&want);
	s = wssess_new(&cb, &io, 1024);
	make_items(&l, &want, ends, cur);
	{
		/* one more item sharing a message we keep a reference to:
		 * freeing the session must give the item's reference back */
		struct msg *shared = msg_new("shared", 6);
		struct qitem *q = qitem_ws("h", 1, shared, 99);

		qlist_push(&l, q);
		is_int(shared->refs, 2, "the queued item holds the shared message");
		wssess_enqueue(s, &l);
		io.budget = 3;
		is_int(wssess_write(s), 1, "3 bytes then full: 1");
		wssess_free(s);
		is_int(shared->refs, 1, "free with a half-written queue releases "
		    "every item (ASan checks the rest)");
		msg_unref(shared);
	}
	io_free(&io);
	buf_free(&want);
}

/* ---- control frames and data frames ---- */

static void
test_interleave(void)
{
	struct io io;
	struct wssess *s;
	struct buf want, fa, fb;
	struct frame f[MAXFRAMES];
	uint64_t rx;
	int n;

	/* a data frame half written when a ping and a "pong" are queued */
	io_init(&io);
	buf_init(&fa);
	buf_init(&fb);
	s = wssess_new(&cb, &io, 1024);
	io.budget = 50;
	enqueue1(s, item("A", 199, 1, 1, &fa));
	is_int(wssess_write(s), 1, "data frame half written: 1");
	is_int(io.out.len, 50, "50 of its bytes out");
	is_int(wssess_ping(s), 0, "ping queued");
	is_int(wssess_send_text(s, "pong", 4), 0, "\"pong\" queued");
	enqueue1(s, item("B", 20, 2, 2, &fb));
	is_int(wssess_write(s), 1, "still full: 1");
	is_int(io.out.len, 50, "nothing written while full");
	io.budget = NOLIMIT;
	is_int(wssess_write(s), 0, "room: 0");
	n = parse_frames(&io.out, f, MAXFRAMES);
	is_int(n, 4, "output parses as four whole frames");
	ok(n >= 1 && frame_eq(&f[0], &fa),
	    "the half-written frame is finished first, whole");
	{
		int b = -1, ping = -1, pong = -1;

		for (int i = 1; i < n; i++) {
			if (frame_eq(&f[i], &fb))
				b = i;
			else if (frame_is(&f[i], 0x9, NULL, 0))
				ping = i;
			else if (frame_is(&f[i], 0x1, "pong", 4))
				pong = i;
		}
		ok(b > 0 && ping > 0 && pong > 0,
		    "then the next data frame, the ping and \"pong\", each whole");
		ok(ping < pong, "ping before \"pong\"");
	}
	is_int(wssess_written_cursor(s), 2, "cursor 2");
	ok(io.nwritten == 2 && io.wcur[0] == 1 && io.wcur[1] == 2,
	    "written: the two whole items, once each");
	wssess_free(s);
	io_free(&io);
	buf_free(&fa);
	buf_free(&fb);

	/* the same with 3 bytes per writev, and the peer's ping arriving
	 * mid-frame: its pong must not land inside the data frame */
	io_init(&io);
	buf_init(&fa);
	buf_init(&fb);
	s = wssess_new(&cb, &io, 1024);
	io.per_call = 3;
	enqueue1(s, item("A", 150, 4, 1, &fa));
	is_int(wssess_write(s), 1, "3 bytes of the data frame: 1");
	feeds(&io, 0x89, "hi");
	is_int(wssess_read(s), 0, "peer's ping mid-frame: read 0");
	is_int(wssess_send_text(s, "pong", 4), 0, "\"pong\" queued");
	enqueue1(s, item("B", 10, 5, 2, &fb));
	is_int(write_all(s), 0, "3 bytes a call until done: 0");
	n = parse_frames(&io.out, f, MAXFRAMES);
	is_int(n, 4, "output parses as four whole frames");
	ok(n >= 1 && frame_eq(&f[0], &fa),
	    "the data frame is whole and first");
	{
		int b = -1, pong = -1, text = -1;

		for (int i = 1; i < n; i++) {
			if (frame_eq(&f[i], &fb))
				b = i;
			else if (frame_is(&f[i], 0xa, "hi", 2))
				pong = i;
			else if (frame_is(&f[i], 0x1, "pong", 4))
				text = i;
		}
		ok(b > 0 && pong > 0 && text > 0,
		    "the next data frame, pong 'hi' and \"pong\", each whole");
	}
	wssess_free(s);
	io_free(&io);
	buf_free(&fa);
	buf_free(&fb);

	/* a control frame half written: a data frame waits for it */
	io_init(&io);
	buf_init(&want);
	s = wssess_new(&cb, &io, 1024);
	io.budget = 3;
	is_int(wssess_send_text(s, "pong", 4), 0, "\"pong\" queued");
	is_int(wssess_write(s), 1, "3 bytes of it: 1");
	sframe(&want, 0x1, "pong", 4);
	enqueue1(s, item("C", 30, 6, 7, &want));
	io.budget = NOLIMIT;
	is_int(wssess_write(s), 0, "room: 0");
	ok(out_is_buf(&io, &want), "\"pong\" whole, then the data frame");
	is_int(wssess_written_cursor(s), 7, "cursor 7");
	wssess_free(s);
	io_free(&io);
	buf_free(&want);

	/* a ping queued before any data is written goes first */
	io_init(&io);
	buf_init(&want);
	s = wssess_new(&cb, &io, 1024);
	rx = wssess_received(s);
	enqueue1(s, item("D", 5, 7, 1, &want));
	is_int(wssess_ping(s), 0, "ping queued after data, nothing written yet");
	is_int(wssess_write(s), 0, "write: 0");
	n = parse_frames(&io.out, f, MAXFRAMES);
	ok(n == 2 && frame_is(&f[0], 0x9, NULL, 0) &&
	    frame_eq(&f[1], &want),
	    "no frame started: the ping goes first, then the data");
	is_int(wssess_received(s), rx, "writing does not count as received");
	wssess_free(s);
	io_free(&io);
	buf_free(&want);
}

/* ---- closing ---- */

static void
test_close_local(void)
{
	struct io io;
	struct wssess *s;
	struct buf fa;
	struct frame f[MAXFRAMES];
	uint8_t cp[128];
	size_t cl;
	int n;

	/* close with one frame half written and two not started */
	io_init(&io);
	buf_init(&fa);
	s = wssess_new(&cb, &io, 1024);
	io.budget = 50;
	enqueue1(s, item("A", 199, 1, 1, &fa));
	enqueue1(s, item("B", 10, 2, 2, NULL));
	enqueue1(s, item("C", 10, 3, 3, NULL));
	is_int(wssess_write(s), 1, "first frame half written: 1");
	wssess_close(s, 1008, "buffer full");
	ok(wssess_closing(s), "closing");
	ok(!wssess_finished(s), "not finished");
	is_int(wssess_pending(s), fa.len - 50, "pending: the rest of the half-written frame only");
	io.budget = NOLIMIT;
	is_int(wssess_write(s), 0, "write: 0");
	n = parse_frames(&io.out, f, MAXFRAMES);
	is_int(n, 2, "two frames written");
	ok(n == 2 && frame_eq(&f[0], &fa),
	    "the half-written frame finished, whole");
	cl = close_payload(cp, 1008, "buffer full");
	ok(n == 2 && frame_is(&f[1], 0x8, cp, cl), "then close 1008 \"buffer full\"");
	ok(io.out.len >= 15 && memcmp(io.out.p + io.out.len - 15,
	    "\x88\x0d\x03\xf0" "buffer full", 15) == 0,
	    "close bytes: 88 0d 03 f0 'buffer full'");
	is_int(wssess_pending(s), 0, "pending 0");
	is_int(wssess_written_cursor(s), 1, "cursor 1: B and C never written");
	ok(!wssess_finished(s), "not finished before the peer answers");
	ok(wssess_closing(s), "still closing");

	/* nothing more goes out while waiting for the peer */
	{
		size_t before = io.out.len;

		enqueue1(s, item("D", 10, 4, 4, NULL));
		is_int(wssess_pending(s), 0, "enqueue after close: dropped (ASan checks the free)");
		is_int(wssess_ping(s), -1, "ping after close: -1");
		is_int(wssess_send_text(s, "pong", 4), -1, "send_text after close: -1");
		wssess_close(s, 1000, NULL);
		is_int(wssess_write(s), 0, "write: 0");
		is_int(io.out.len, before, "no second close, nothing more");
	}
	feeds(&io, 0x81, "late");
	cl = close_payload(cp, 1000, NULL);
	feed(&io, 0x88, cp, cl);
	is_int(wssess_read(s), 0, "peer's close reply: read 0");
	is_int(io.ntext, 0, "text after our close is not delivered");
	is_int(wssess_peer_close_code(s), 1000, "peer code 1000");
	ok(wssess_finished(s), "finished after the reply");
	{
		size_t before = io.out.len;

		is_int(wssess_write(s), 0, "write: 0");
		is_int(io.out.len, before, "no close sent in answer to the reply");
	}
	wssess_free(s);
	io_free(&io);
	buf_free(&fa);

	/* close with nothing started: everything queued is dropped */
	io_init(&io);
	s = wssess_new(&cb, &io, 1024);
	enqueue1(s, item("A", 10, 1, 1, NULL));
	enqueue1(s, item("B", 10, 2, 2, NULL));
	wssess_close(s, 1000, NULL);
	is_int(wssess_pending(s), 0, "nothing started: pending 0");
	is_int(wssess_write(s), 0, "write: 0");
	ok(out_is(&io, "\x88\x02\x03\xe8", 4), "only the close: 88 02 03 e8");
	is_int(wssess_written_cursor(s), 0, "cursor 0");
	wssess_free(s);
	io_free(&io);

	/* close while the socket is full: the close frame is written
	 * partially and finished later */
	io_init(&io);
	s = wssess_new(&cb, &io, 1024);
	io.per_call = 3;
	wssess_close(s, 1001, "going away");
	is_int(write_all(s), 0, "3 bytes a call: 0 at the end");
	ok(out_is(&io, "\x88\x0c\x03\xe9going away", 14),
	    "close 1001 \"going away\" whole");
	ok(!wssess_finished(s), "waiting for the peer");
	feed(&io, 0x88, "\x03\xe9", 2);
	is_int(wssess_read(s), 0, "peer's reply: read 0");
	ok(wssess_finished(s), "finished");
	wssess_free(s);
	io_free(&io);
}

static void
test_close_peer(void)
{
	struct io io;
	struct wssess *s;
	struct buf fa;
	struct frame f[MAXFRAMES];
	uint8_t cp[128];
	size_t cl;
	int n;

	/* the peer closes with data queued and not started */
	io_init(&io);
	s = wssess_new(&cb, &io, 1024);
	enqueue1(s, item("A", 10, 1, 1, NULL));
	cl = close_payload(cp, 1001, "bye");
	feed(&io, 0x88, cp, cl);
	feeds(&io, 0x81, "after close");
	is_int(wssess_read(s), 0, "peer's close: read 0");
	is_int(wssess_peer_close_code(s), 1001, "peer close code 1001");
	ok(wssess_closing(s), "closing");
	is_int(io.ntext, 0, "nothing read after the close frame");
	is_int(wssess_pending(s), 0, "queued data dropped");
	ok(!wssess_finished(s), "not finished: the reply is not written yet");
	is_int(wssess_write(s), 0, "write: 0");
	ok(out_is(&io, "\x88\x05\x03\xe9" "bye", 7),
	    "reply echoes the code and reason: 88 05 03 e9 'bye'");
	ok(wssess_finished(s), "finished once the reply is out");
	enqueue1(s, item("B", 10, 2, 2, NULL));
	is_int(wssess_pending(s), 0, "enqueue after closing: freed, not queued");
	is_int(wssess_write(s), 0, "write: 0");
	is_int(io.out.len, 7, "nothing more written");
	is_int(wssess_ping(s), -1, "ping after close: -1");
	wssess_free(s);
	io_free(&io);

	/* the peer closes while a data frame is half written */
	io_init(&io);
	buf_init(&fa);
	s = wssess_new(&cb, &io, 1024);
	io.budget = 20;
	enqueue1(s, item("A", 100, 1, 1, &fa));
	enqueue1(s, item("B", 10, 2, 2, NULL));
	is_int(wssess_write(s), 1, "half written: 1");
	cl = close_payload(cp, 1000, NULL);
	feed(&io, 0x88, cp, cl);
	is_int(wssess_read(s), 0, "peer's close: read 0");
	is_int(wssess_pending(s), fa.len - 20, "pending: the rest of the first frame");
	io.budget = NOLIMIT;
	is_int(wssess_write(s), 0, "write: 0");
	n = parse_frames(&io.out, f, MAXFRAMES);
	ok(n == 2 && frame_eq(&f[0], &fa) &&
	    frame_is(&f[1], 0x8, cp, cl),
	    "the data frame finished, then the close reply 1000");
	is_int(wssess_written_cursor(s), 1, "cursor 1");
	ok(wssess_finished(s), "finished");
	wssess_free(s);
	io_free(&io);
	buf_free(&fa);

	/* a close with no code */
	io_init(&io);
	s = wssess_new(&cb, &io, 1024);
	feed(&io, 0x88, NULL, 0);
	is_int(wssess_read(s), 0, "empty close: read 0");
	is_int(wssess_peer_close_code(s), 0, "no code: 0");
	ok(wssess_closing(s), "closing");
	is_int(wssess_write(s), 0, "write: 0");
	ok(out_is(&io, "\x88\x00", 2), "empty close reply: 88 00");
	ok(wssess_finished(s), "finished");
	wssess_free(s);
	io_free(&io);
}

/* ---- protocol errors ---- */

/* Feed the bytes in `in` to a fresh session with max_msg max; then the
 * session must have written exactly one close frame with the code. */
static void
proto_error(const char *what, const struct buf *in, size_t max, int code)
{
	struct io io;
	struct wssess *s;
	uint8_t want[4] = { 0x88, 0x02, (uint8_t)(code >> 8), (uint8_t)code };
	int wrc;

	io_init(&io);
	s = wssess_new(&cb, &io, max);
	buf_add(&io.in, in->p, in->len);
	wssess_read(s);
	wrc = wssess_write(s);
	is_int(last_close_code(&io), code, "%s: close %d", what, code);
	ok(wrc == 0 && out_is(&io, want, 4) && io.ntext == 0,
	    "%s: only the close frame written, no message", what);
	ok(wssess_finished(s), "%s: finished", what);
	wssess_free(s);
	io_free(&io);
}

static void
test_proto_errors(void)
{
	struct buf in;
	char big[17];

	fill(big, sizeof(big), 9);
	buf_init(&in);

	cframe(&in, 0x81, "hi", 2, false);
	proto_error("unmasked text", &in, 1024, 1002);

	buf_free(&in);
	cframe(&in, 0x89, "hi", 2, false);
	proto_error("unmasked ping", &in, 1024, 1002);

	buf_free(&in);
	cframe(&in, 0x83, "hi", 2, true);
	proto_error("reserved opcode 3", &in, 1024, 1002);

	buf_free(&in);
	cframe(&in, 0x8b, "hi", 2, true);
	proto_error("reserved control opcode 0xb", &in, 1024, 1002);

	buf_free(&in);
	cframe(&in, 0xc1, "hi", 2, true);
	proto_error("RSV1 set", &in, 1024, 1002);

	buf_free(&in);
	cframe(&in, 0xa1, "hi", 2, true);
	proto_error("RSV2 set", &in, 1024, 1002);

	buf_free(&in);
	cframe(&in, 0x91, "hi", 2, true);
	proto_error("RSV3 set", &in, 1024, 1002);

	buf_free(&in);
	cframe(&in, 0x80, "hi", 2, true);
	proto_error("continuation with nothing to continue", &in, 1024, 1002);

	buf_free(&in);
	cframe(&in, 0x01, "hi", 2, true);
	cframe(&in, 0x81, "again", 5, true);
	proto_error("new text inside a fragmented message", &in, 1024, 1002);

	buf_free(&in);
	cframe(&in, 0x88, "\x03\xed", 2, true);
	proto_error("close with the reserved code 1005", &in, 1024, 1002);

	buf_free(&in);
	cframe(&in, 0x81, "\xc3\x28", 2, true);
	proto_error("invalid UTF-8", &in, 1024, 1007);

	buf_free(&in);
	cframe(&in, 0x81, "\xc0\xaf", 2, true);
	proto_error("overlong UTF-8", &in, 1024, 1007);

	buf_free(&in);
	cframe(&in, 0x81, "\xed\xa0\x80", 3, true);
	proto_error("UTF-8 surrogate", &in, 1024, 1007);

	buf_free(&in);
	cframe(&in, 0x81, "ok\xe2\x82", 4, true);
	proto_error("UTF-8 cut at the end of the message", &in, 1024, 1007);

	buf_free(&in);
	cframe(&in, 0x01, "fine", 4, true);
	cframe(&in, 0x80, "\xff", 1, true);
	proto_error("invalid UTF-8 in the last fragment", &in, 1024, 1007);

	buf_free(&in);
	cframe(&in, 0x88, "\x03\xe8\xff", 3, true);
	proto_error("invalid UTF-8 close reason", &in, 1024, 1007);

	buf_free(&in);
	cframe(&in, 0x81, big, 17, true);
	proto_error("17 bytes, max_msg 16", &in, 16, 1009);

	buf_free(&in);
	cframe(&in, 0x01, big, 10, true);
	cframe(&in, 0x80, big + 10, 7, true);
	proto_error("10+7 bytes in fragments, max_msg 16", &in, 16, 1009);

	buf_free(&in);
	cframe(&in, 0x82, big, 17, true);
	proto_error("binary, 17 bytes, max_msg 16", &in, 16, 1009);

	/* at the limit is fine */
	{
		struct io io;
		struct wssess *s;

		io_init(&io);
		s = wssess_new(&cb, &io, 16);
		feed(&io, 0x01, big, 10);
		feed(&io, 0x80, big + 10, 6);
		is_int(wssess_read(s), 0, "16 bytes in fragments, max_msg 16: read 0");
		is_int(io.ntext, 1, "delivered");
		ok(io.ntext == 1 && io.textlen[0] == 16 &&
		    memcmp(io.text[0], big, 16) == 0, "all 16 bytes");
		is_int(wssess_write(s), 0, "write: 0");
		is_int(io.out.len, 0, "no close");
		ok(!wssess_closing(s), "not closing");
		wssess_free(s);
		io_free(&io);
	}
	buf_free(&in);
}

/* ---- the reader's edges: lengths, bytes one at a time ---- */

static void
test_reader(void)
{
	struct io io;
	struct wssess *s;
	struct buf in, want;
	char *big = malloc(70000);
	uint8_t hdr[10] = { 0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1 };

	fill(big, 70000, 3);

	/* 16- and 64-bit lengths, two texts in one stream, read one
	 * byte per recv: every header and mask boundary is crossed */
	io_init(&io);
	s = wssess_new(&cb, &io, 100000);
	feed(&io, 0x81, big, 300);
	feed(&io, 0x81, big, 70000);
	feeds(&io, 0x89, "p");
	io.rchunk = 1;
	for (int i = 0; i < 200000 && io.inoff < io.in.len; i++)
		(void)wssess_read(s);
	is_int(io.inoff, io.in.len, "every byte read, one per recv");
	is_int(io.ntext, 2, "two texts");
	ok(io.ntext == 2 && io.textlen[0] == 300 && io.textlen[1] == 70000 &&
	    memcmp(io.text[0], big, 300) == 0 &&
	    memcmp(io.text[1], big, 70000) == 0,
	    "300 bytes (16-bit length) and 70000 (64-bit length), intact");
	is_int(wssess_write(s), 0, "write: 0");
	ok(out_is(&io, "\x8a\x01p", 3), "the ping after them answered");
	is_int(wssess_peer_messages(s), 3, "three peer messages");
	ok(!wssess_closing(s), "not closing");
	wssess_free(s);
	io_free(&io);

	/* an empty text, and an empty fragmented one */
	io_init(&io);
	s = wssess_new(&cb, &io, 16);
	feed(&io, 0x81, NULL, 0);
	feed(&io, 0x01, NULL, 0);
	feed(&io, 0x80, NULL, 0);
	is_int(wssess_read(s), 0, "empty texts: read 0");
	ok(io.ntext == 2 && io.textlen[0] == 0 && io.textlen[1] == 0,
	    "two empty texts delivered");
	wssess_free(s);
	io_free(&io);

	/* a 64-bit length with the top bit set */
	buf_init(&in);
	buf_add(&in, hdr, sizeof(hdr));
	buf_add(&in, "\1\2\3\4", 4);
	proto_error("64-bit length with the top bit set", &in, 1024, 1002);

	/* a close with a one-byte payload */
	buf_free(&in);
	cframe(&in, 0x88, "\x03", 1, true);
	proto_error("close with one byte", &in, 1024, 1002);

	/* control frames: too long, fragmented */
	buf_free(&in);
	cframe(&in, 0x89, big, 126, true);
	proto_error("126-byte ping", &in, 1024, 1002);
	buf_free(&in);
	cframe(&in, 0x09, "p", 1, true);
	proto_error("fragmented ping", &in, 1024, 1002);

	/* close codes: reserved, out of range, and the valid edges */
	{
		static const uint16_t bad[] = { 999, 1004, 1006, 1012, 1016,
			2999, 5000, 65535 };
		static const uint16_t good[] = { 1000, 1003, 1007, 1011, 3000,
			4999 };
		char what[64];
		uint8_t cp[8];
		size_t cl;

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			buf_free(&in);
			cl = close_payload(cp, bad[i], NULL);
			cframe(&in, 0x88, cp, cl, true);
			snprintf(what, sizeof(what), "close code %u", bad[i]);
			proto_error(what, &in, 1024, 1002);
		}
		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			io_init(&io);
			s = wssess_new(&cb, &io, 1024);
			cl = close_payload(cp, good[i], "ok");
			feed(&io, 0x88, cp, cl);
			is_int(wssess_read(s), 0, "close %u: read 0", good[i]);
			is_int(wssess_peer_close_code(s), good[i],
			    "close %u: the code", good[i]);
			(void)wssess_write(s);
			ok(io.out.len == 6 && memcmp(io.out.p + 2, cp, 4) == 0,
			    "close %u: echoed", good[i]);
			wssess_free(s);
			io_free(&io);
		}
	}

	/* a 4-byte UTF-8 character and the last code point pass; past
	 * U+10FFFF does not */
	io_init(&io);
	s = wssess_new(&cb, &io, 1024);
	feeds(&io, 0x81, "\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xef\xbf\xbf");
	is_int(wssess_read(s), 0, "4-byte UTF-8: read 0");
	is_int(io.ntext, 1, "delivered");
	wssess_free(s);
	io_free(&io);
	buf_free(&in);
	cframe(&in, 0x81, "\xf4\x90\x80\x80", 4, true);
	proto_error("UTF-8 past U+10FFFF", &in, 1024, 1007);

	/* a text reply longer than a control frame may be */
	io_init(&io);
	buf_init(&want);
	s = wssess_new(&cb, &io, 1024);
	is_int(wssess_send_text(s, big, 300), 0, "300-byte text reply queued");
	is_int(wssess_write(s), 0, "write: 0");
	sframe(&want, 0x1, big, 300);
	ok(out_is_buf(&io, &want), "written as one text frame: 81 7e 01 2c ...");
	wssess_free(s);
	io_free(&io);
	buf_free(&want);

	buf_free(&in);
	free(big);
}

/* ---- the peer gone, write errors ---- */

static void
test_io_errors(void)
{
	struct io io;
	struct wssess *s;
	struct buf f;

	/* EOF */
	io_init(&io);
	s = wssess_new(&cb, &io, 1024);
	io.eof = true;
	is_int(wssess_read(s), -1, "EOF: read -1");
	ok(wssess_closing(s), "EOF: closing");
	ok(wssess_write(s) != 1, "EOF: write does not block");
	ok(wssess_finished(s), "EOF: finished after the write");
	wssess_free(s);
	io_free(&io);

	/* EOF in the middle of a frame, with data queued */
	io_init(&io);
	buf_init(&f);
	s = wssess_new(&cb, &io, 1024);
	enqueue1(s, item("A", 10, 1, 1, NULL));
	cframe(&f, 0x81, "cut short", 9, true);
	buf_add(&io.in, f.p, 6);
	io.eof = true;
	is_int(wssess_read(s), -1, "EOF mid-frame: read -1");
	is_int(io.ntext, 0, "no message from half a frame");
	is_int(wssess_received(s), 6, "received 6");
	is_int(wssess_pending(s), 0, "queued data dropped");
	ok(wssess_write(s) != 1, "write does not block");
	ok(wssess_finished(s), "finished after the write");
	buf_free(&f);
	wssess_free(s);
	io_free(&io);

	/* a read error */
	io_init(&io);
	s = wssess_new(&cb, &io, 1024);
	io.rerr = ECONNRESET;
	is_int(wssess_read(s), -1, "ECONNRESET: read -1");
	ok(wssess_closing(s), "closing");
	wssess_free(s);
	io_free(&io);

	/* a write error on a data frame */
	io_init(&io);
	s = wssess_new(&cb, &io, 1024);
	enqueue1(s, item("A", 10, 1, 1, NULL));
	io.werr = EPIPE;
	is_int(wssess_write(s), -1, "EPIPE on data: write -1");
	ok(wssess_finished(s), "finished after a write error");
	is_int(wssess_write(s), -1, "write again: still -1");
	is_int(wssess_written_cursor(s), 0, "cursor 0");
	wssess_free(s);		/* ASan: the item must not leak */
	io_free(&io);

	/* a write error after a partial write */
	io_init(&io);
	s = wssess_new(&cb, &io, 1024);
	enqueue1(s, item("A", 100, 1, 1, NULL));
	io.budget = 10;
	is_int(wssess_write(s), 1, "partial: 1");
	io.werr = EPIPE;
	is_int(wssess_write(s), -1, "then EPIPE: -1");
	ok(wssess_finished(s), "finished");
	wssess_free(s);
	io_free(&io);

	/* a write error on a control frame */
	io_init(&io);
	s = wssess_new(&cb, &io, 1024);
	is_int(wssess_ping(s), 0, "ping queued");
	io.werr = EPIPE;
	is_int(wssess_write(s), -1, "EPIPE on a ping: write -1");
	ok(wssess_finished(s), "finished");
	wssess_free(s);
	io_free(&io);

	/* EAGAIN on a control frame is no error */
	io_init(&io);
	s = wssess_new(&cb, &io, 1024);
	is_int(wssess_ping(s), 0, "ping queued");
	io.budget = 0;
	is_int(wssess_write(s), 1, "EAGAIN on a ping: 1");
	ok(!wssess_finished(s), "not finished");
	io.budget = NOLIMIT;
	is_int(wssess_write(s), 0, "room: 0");
	ok(out_is(&io, "\x89\x00", 2), "the ping: 89 00");
	wssess_free(s);
	io_free(&io);
}

/* Two faults this test found in wssess, kept fixed: data written after
 * the close that answers a protocol error, and control frames held
 * back until the whole data backlog had drained. */
static void
test_regressions(void)
{
	struct io io;
	struct wssess *s;
	struct buf fa, want;
	struct frame f[MAXFRAMES];
	int n, ping = -1;

	/* an unmasked frame while data is queued: only the close goes out */
	io_init(&io);
	buf_init(&fa);
	s = wssess_new(&cb, &io, 1024);
	enqueue1(s, item("A", 10, 1, 1, &fa));
	cframe(&io.in, 0x81, "hi", 2, false);
	is_int(wssess_read(s), -1, "protocol error with data queued: read -1");
	ok(wssess_closing(s), "the session is closing");
	is_int(wssess_pending(s), 0, "the unstarted data frame is dropped");
	is_int(write_all(s), 0, "write: 0");
	ok(out_is(&io, "\x88\x02\x03\xea", 4), "only the 1002 close frame is written");
	wssess_free(s);
	io_free(&io);
	buf_free(&fa);

	/* a frame begun counts as committed: closing finishes it */
	io_init(&io);
	buf_init(&fa);
	s = wssess_new(&cb, &io, 1024);
	io.budget = 10;
	enqueue1(s, item("A", 100, 1, 7, &fa));
	enqueue1(s, item("A", 100, 2, 8, &fa));
	is_int(wssess_write(s), 1, "a frame half written: 1");
	is_int(wssess_written_cursor(s), 0, "written: none whole yet");
	is_int(wssess_committed_cursor(s), 7, "committed: the frame begun");
	wssess_close(s, 1001, "going away");
	io.budget = NOLIMIT;
	(void)write_all(s);
	is_int(wssess_written_cursor(s), 7, "the close finished it");
	is_int(wssess_committed_cursor(s), 7, "and nothing more was begun");
	wssess_free(s);
	io_free(&io);
	buf_free(&fa);

	/* a steady backlog under a full socket: the ping goes out right
	 * after the frame that was half written, not after the backlog */
	io_init(&io);
	buf_init(&want);
	s = wssess_new(&cb, &io, 1024);
	io.budget = 60;
	enqueue1(s, item("B", 100, 2, 1, &want));
	enqueue1(s, item("B", 100, 3, 2, &want));
	is_int(wssess_write(s), 1, "backlog, socket full: 1");
	is_int(wssess_ping(s), 0, "ping queued mid-frame");
	for (int i = 0; i < 20; i++) {
		enqueue1(s, item("B", 100, 4 + (unsigned)i, 3 + (uint64_t)i, &want));
		enqueue1(s, item("B", 100, 40 + (unsigned)i, 30 + (uint64_t)i, &want));
		io.budget = 60;
		(void)wssess_write(s);
	}
	io.budget = NOLIMIT;
	is_int(write_all(s), 0, "then room: 0");
	n = parse_frames(&io.out, f, MAXFRAMES);
	is_int(n, 43, "42 data frames and the ping, all whole");
	for (int i = 0; i < n; i++)
		if (frame_is(&f[i], 0x9, NULL, 0))
			ping = i;
	is_int(ping, 1, "the ping follows the frame that was half written");
	wssess_free(s);
	io_free(&io);
	buf_free(&want);
}

/* ---- begin and end around writes that begin data frames ---- */

static int nbegin, nend;
static bool begin_go, held;
static uint64_t end_begun;
static bool written_while_held = true;

static bool
t_begin(void *ud)
{
	(void)ud;
	nbegin++;
	if (held)		/* begin twice without end */
		written_while_held = false;
	if (!begin_go)
		return false;
	held = true;
	return true;
}

static void
t_end(void *ud, uint64_t begun)
{
	(void)ud;
	if (!held)
		written_while_held = false;
	nend++;
	held = false;
	end_begun = begun;
}

static ssize_t
t_writev_held(void *ud, const struct iovec *iov, int iovcnt)
{
	struct io *io = ud;

	/* data frames are only ever begun between begin and end */
	if (!held && iovcnt > 0 && ((const uint8_t *)iov[0].iov_base)[0] == 0x81)
		written_while_held = false;
	return t_writev(io, iov, iovcnt);
}

static const struct wssess_cb cb_hold = {
	t_recv, t_writev_held, t_on_text, t_written, t_begin, t_end,
};

static void
test_begin_end(void)
{
	struct io io;
	struct wssess *s;
	struct buf fa;
	struct frame f[MAXFRAMES];
	uint8_t cp[128];
	size_t cl;
	int n;

	/* the socket takes part of the first frame: end says it alone was
	 * begun; a close then finishes it and drops the two others */
	io_init(&io);
	buf_init(&fa);
	s = wssess_new(&cb_hold, &io, 1024);
	nbegin = nend = 0;
	begin_go = true;
	io.budget = 10;
	enqueue1(s, item("A", 100, 1, 5, &fa));
	enqueue1(s, item("B", 100, 2, 6, NULL));
	enqueue1(s, item("C", 100, 3, 7, NULL));
	is_int(wssess_write(s), 1, "socket full after 10 bytes: 1");
	ok(nbegin == 1 && nend == 1, "one begin, one end");
	is_int(end_begun, 5, "end: the frame of event 5 was begun, no other");
	is_int(wssess_committed_cursor(s), 5, "committed: 5");
	wssess_close(s, 4001, "replaced");
	io.budget = NOLIMIT;
	is_int(write_all(s), 0, "then room: 0");
	n = parse_frames(&io.out, f, MAXFRAMES);
	ok(n == 2 && frame_eq(&f[0], &fa), "the begun frame is finished, whole");
	is_int(last_close_code(&io), 4001, "then close 4001; 6 and 7 never begun");
	is_int(wssess_written_cursor(s), 5, "written through 5");
	is_int(nbegin, 1, "finishing a begun frame asks no begin");
	wssess_free(s);
	io_free(&io);
	buf_free(&fa);

	/* a write that takes everything: end names the last event */
	io_init(&io);
	s = wssess_new(&cb_hold, &io, 1024);
	nbegin = nend = 0;
	for (unsigned i = 0; i < 3; i++)
		enqueue1(s, item("D", 50, i, 10 + i, NULL));
	is_int(wssess_write(s), 0, "all written: 0");
	ok(nbegin == 1 && nend == 1 && end_begun == 12,
	    "one begin and end for the batch, which began 10 to 12");
	wssess_free(s);
	io_free(&io);

	/* a full socket: begin and end, nothing begun */
	io_init(&io);
	s = wssess_new(&cb_hold, &io, 1024);
	nbegin = nend = 0;
	end_begun = 99;
	io.budget = 0;
	enqueue1(s, item("E", 50, 1, 20, NULL));
	is_int(wssess_write(s), 1, "socket full: 1");
	ok(nbegin == 1 && nend == 1 && end_begun == 0, "end: nothing begun");
	is_int(wssess_committed_cursor(s), 0, "nothing committed");
	wssess_free(s);
	io_free(&io);

	/* begin says stop: nothing is written, no end; the close that
	 * follows drops the frame */
	io_init(&io);
	s = wssess_new(&cb_hold, &io, 1024);
	nbegin = nend = 0;
	begin_go = false;
	enqueue1(s, item("F", 50, 1, 30, NULL));
	is_int(wssess_write(s), 2, "begin says stop: 2");
	ok(io.out.len == 0 && nend == 0, "nothing written, no end");
	wssess_close(s, 1008, "token revoked");
	is_int(write_all(s), 0, "write: 0");
	n = parse_frames(&io.out, f, MAXFRAMES);
	cl = close_payload(cp, 1008, "token revoked");
	ok(n == 1 && frame_is(&f[0], 0x8, cp, cl), "only close 1008 goes out");
	is_int(nbegin, 1, "the close frame asks no begin");
	begin_go = true;
	wssess_free(s);
	io_free(&io);

	ok(written_while_held, "data frames are begun only between begin and end, "
	    "and every begin that said go has its end");
}

int
main(void)
{
	test_regressions();
	test_text();
	test_fragments();
	test_ping();
	test_data();
	test_interleave();
	test_close_local();
	test_close_peer();
	test_proto_errors();
	test_reader();
	test_io_errors();
	test_begin_end();
	return tap_done();
}
