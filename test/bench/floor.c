/* floor.c - the bare-loop floor: the least a server can do to fan events
 * out over WebSocket, to put sluice's and Nchan's figures against.
 * target_floor.c runs it as a child process (sluice-bench --floor-server
 * LISTENFD EVENTFD K LIMIT), so its RSS and CPU are its own.
 *
 * One thread, one epoll loop. It completes the WebSocket handshake
 * (GET /sub/global or /sub/bench{i}), and for each event line read from
 * the bench ("TAG G RECORD\n": the own-key consumer or "-", and 1 when
 * the event is on the shared key) builds one unmasked text frame and
 * writes it to every socket it goes to. No gateway logic: no JSON, no
 * per-event allocation but the frame, no per-connection state but a
 * queue for what did not fit.
 *
 * K = 1: each event is written to each socket in turn, one write per
 * frame (a frame that does not fit is queued and flushed on EPOLLOUT).
 * K > 1: events are taken K at a time, queued on every socket, and each
 * socket's queue is written with writev, up to K frames per call. A
 * queue over LIMIT bytes drops its connection, like a gateway's send
 * buffer limit. */
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#define HS_MAX		8192	/* longest handshake request */
#define EV_BUF		(256 * 1024)
#define MAXEV		512

struct frame {
	uint32_t	 refs;
	uint32_t	 len;
	unsigned char	 b[];
};

struct fconn {
	int		 fd;
	int32_t		 tag;		/* own key's consumer, -1: shared key */
	uint32_t	 gpos;		/* place in the shared-key set */
	bool		 open;		/* handshake done */
	bool		 armed;		/* EPOLLOUT wanted */
	bool		 dirty;		/* in the flush list */
	bool		 dead;		/* closed, freed after this round */
	char		*hs;		/* the handshake request so far */
	uint32_t	 hslen;
	struct frame   **q;		/* ring of queued frames */
	uint32_t	 qh, qn, qcap;
	uint32_t	 off;		/* bytes of q[qh] already written */
	size_t		 qbytes;
	struct fconn	*prev, *next;	/* every live connection */
	struct fconn	*next_dead;
};

struct floor {
	int		 ep, lfd, efd;
	unsigned	 k;
	size_t		 limit;
	struct fconn   **global;	/* on the shared key */
	size_t		 nglobal, capglobal;
	struct fconn   **bytag;		/* by own key */
	size_t		 captag;
	struct fconn   **dirty;
	size_t		 ndirty, capdirty;
	struct fconn	*live;
	struct fconn	*dead;
	char		*ebuf;
	size_t		 elen;
	bool		 eof;
	/* for the stats line */
	uint64_t	 events, frames, writes, drops, conns;
};

static volatile sig_atomic_t stopping;

static void
on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL) {
		fprintf(stderr, "floor: out of memory\n");
		exit(1);
	}
	return p;
}

/* ---- SHA-1 (RFC 3174), for Sec-WebSocket-Accept only ---- */

static uint32_t
rol(uint32_t v, int n)
{
	return v << n | v >> (32 - n);
}

static void
sha1(const unsigned char *msg, size_t len, unsigned char out[20])
{
	uint32_t h[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476,
	    0xC3D2E1F0 };
	size_t total = (len + 9 + 63) / 64 * 64;
	unsigned char blk[64];

	for (size_t o = 0; o < total; o += 64) {
		uint32_t w[80], a, b, c, d, e;

		for (size_t i = 0; i < 64; i++) {
			size_t p = o + i;

			if (p < len)
				blk[i] = msg[p];
			else if (p == len)
				blk[i] = 0x80;
			else if (p >= total - 8)
				blk[i] = (unsigned char)((uint64_t)len * 8 >>
				    (8 * (total - 1 - p)));
			else
				blk[i] = 0;
		}
		for (int i = 0; i < 16; i++)
			w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 |
			    (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
		for (int i = 16; i < 80; i++)
			w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
		a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
		for (int i = 0; i < 80; i++) {
			uint32_t f, k, t;

			if (i < 20)
				f = (b & c) | (~b & d), k = 0x5A827999;
			else if (i < 40)
				f = b ^ c ^ d, k = 0x6ED9EBA1;
			else if (i < 60)
				f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
			else
				f = b ^ c ^ d, k = 0xCA62C1D6;
			t = rol(a, 5) + f + e + k + w[i];
			e = d, d = c, c = rol(b, 30), b = a, a = t;
		}
		h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
	}
	for (int i = 0; i < 5; i++) {
		out[4 * i] = (unsigned char)(h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(h[i] >> 8);
		out[4 * i + 3] = (unsigned char)h[i];
	}
}

static void
ws_accept(const char *key, size_t klen, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char in[128], d[20];

	memcpy(in, key, klen);
	memcpy(in + klen, guid, sizeof(guid) - 1);
	sha1(in, klen + sizeof(guid) - 1, d);
	b64_encode(d, sizeof(d), out);
}

/* ---- connections ---- */

static void
frame_put(struct frame *f)
{
	if (--f->refs == 0)
		free(f);
}

static void
arm(struct floor *fl, struct fconn *c, bool out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0),
	    .data.ptr = c };

	if (c->armed == out)
		return;
	c->armed = out;
	epoll_ctl(fl->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
conn_close(struct floor *fl, struct fconn *c)
{
	if (c->dead)
		return;
	if (c->open) {
		if (c->tag < 0) {
			struct fconn *last = fl->global[--fl->nglobal];

			fl->global[c->gpos] = last;
			last->gpos = c->gpos;
		} else
			fl->bytag[c->tag] = NULL;
	}
	while (c->qn > 0) {
		frame_put(c->q[c->qh]);
		c->qh = (c->qh + 1) % c->qcap;
		c->qn--;
	}
	epoll_ctl(fl->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		fl->live = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->dead = true;
	c->next_dead = fl->dead;
	fl->dead = c;
}

/* queue f (its first off bytes already written); false: c was dropped */
static bool
enqueue(struct floor *fl, struct fconn *c, struct frame *f, uint32_t off)
{
	if (c->qbytes + f->len - off > fl->limit) {
		fl->drops++;
		conn_close(fl, c);
		return false;
	}
	if (c->qn == c->qcap) {
		uint32_t ncap = c->qcap ? c->qcap * 2 : 8;
		struct frame **nq = xrealloc(NULL, ncap * sizeof(*nq));

		for (uint32_t i = 0; i < c->qn; i++)
			nq[i] = c->q[(c->qh + i) % c->qcap];
		free(c->q);
		c->q = nq;
		c->qh = 0;
		c->qcap = ncap;
	}
	if (c->qn == 0)
		c->off = off;
	c->q[(c->qh + c->qn) % c->qcap] = f;
	c->qn++;
	c->qbytes += f->len - off;
	f->refs++;
	return true;
}

/* write what is queued, up to k frames per writev, until it is all out
 * or the socket is full */
static void
flush(struct floor *fl, struct fconn *c)
{
	struct iovec iov[IOV_MAX];
	unsigned k = fl->k < IOV_MAX ? fl->k : IOV_MAX;

	while (c->qn > 0) {
		unsigned n = c->qn < k ? c->qn : k;
		size_t want = 0;
		ssize_t w;

		for (unsigned i = 0; i < n; i++) {
			struct frame *f = c->q[(c->qh + i) % c->qcap];
			uint32_t o = i == 0 ? c->off : 0;

			iov[i].iov_base = f->b + o;
			iov[i].iov_len = f->len - o;
			want += f->len - o;
		}
		w = writev(c->fd, iov, (int)n);
		fl->writes++;
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_close(fl, c);
			return;
		}
		c->qbytes -= (size_t)w;
		while (w > 0) {
			struct frame *f = c->q[c->qh];
			size_t left = f->len - c->off;

			if ((size_t)w < left) {
				c->off += (uint32_t)w;
				break;
			}
			w -= (ssize_t)left;
			c->off = 0;
			c->qh = (c->qh + 1) % c->qcap;
			c->qn--;
			fl->frames++;
			frame_put(f);
		}
		if ((size_t)w < want && c->qn > 0)
			break;		/* the socket is full */
	}
	arm(fl, c, c->qn > 0);
}

/* K = 1: f to c now, one write; what does not fit waits in the queue */
static void
send_now(struct floor *fl, struct fconn *c, struct frame *f)
{
	ssize_t w;

	if (c->qn > 0) {
		if (enqueue(fl, c, f, 0) && !c->armed)
			flush(fl, c);
		return;
	}
	w = write(c->fd, f->b, f->len);
	fl->writes++;
	if (w == (ssize_t)f->len) {
		fl->frames++;
		return;
	}
	if (w < 0 && errno != EAGAIN && errno != EINTR) {
		conn_close(fl, c);
		return;
	}
	if (enqueue(fl, c, f, w > 0 ? (uint32_t)w : 0))
		arm(fl, c, true);
}

static void
to_conn(struct floor *fl, struct fconn *c, struct frame *f)
{
	if (fl->k == 1) {
		send_now(fl, c, f);
		return;
	}
	if (!enqueue(fl, c, f, 0) || c->dirty)
		return;
	if (fl->ndirty == fl->capdirty) {
		fl->capdirty = fl->capdirty ? fl->capdirty * 2 : 1024;
		fl->dirty = xrealloc(fl->dirty, fl->capdirty * sizeof(*fl->dirty));
	}
	fl->dirty[fl->ndirty++] = c;
	c->dirty = true;
}

static void
flush_dirty(struct floor *fl)
{
	for (size_t i = 0; i < fl->ndirty; i++) {
		struct fconn *c = fl->dirty[i];

		c->dirty = false;
		/* a full socket is written when EPOLLOUT says so */
		if (!c->dead && !c->armed)
			flush(fl, c);
	}
	fl->ndirty = 0;
}

/* one event line (without its newline) to the sockets it goes to */
static void
event(struct floor *fl, char *line, size_t len)
{
	char *sp1 = memchr(line, ' ', len), *sp2, *rec;
	size_t rl, hl;
	struct frame *f;
	long tag = -1;
	bool global;

	if (sp1 == NULL || (sp2 = memchr(sp1 + 1, ' ',
	    len - (size_t)(sp1 + 1 - line))) == NULL)
		return;
	if (line[0] != '-')
		tag = strtol(line, NULL, 10);
	global = sp1[1] == '1';
	rec = sp2 + 1;
	rl = len - (size_t)(rec - line);
	hl = rl < 126 ? 2 : rl < 65536 ? 4 : 10;
	f = xrealloc(NULL, sizeof(*f) + hl + rl);
	f->refs = 1;		/* ours, while it is being sent */
	f->len = (uint32_t)(hl + rl);
	f->b[0] = 0x81;
	if (hl == 2)
		f->b[1] = (unsigned char)rl;
	else if (hl == 4) {
		f->b[1] = 126;
		f->b[2] = (unsigned char)(rl >> 8);
		f->b[3] = (unsigned char)rl;
	} else {
		f->b[1] = 127;
		for (int i = 0; i < 8; i++)
			f->b[2 + i] = (unsigned char)((uint64_t)rl >> (56 - 8 * i));
	}
	memcpy(f->b + hl, rec, rl);
	fl->events++;
	/* from the end: a connection dropped on the way takes the last
	 * one's place, which has had the frame already */
	if (global)
		for (size_t i = fl->nglobal; i-- > 0;)
			to_conn(fl, fl->global[i], f);
	if (tag >= 0 && (size_t)tag < fl->captag && fl->bytag[tag] != NULL)
		to_conn(fl, fl->bytag[tag], f);
	frame_put(f);
}

static void
read_events(struct floor *fl)
{
	size_t start = 0, taken = 0;
	ssize_t n;
	char *nl;

	n = read(fl->efd, fl->ebuf + fl->elen, EV_BUF - fl->elen);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		fl->eof = true;
		return;
	}
	if (n < 0)
		return;
	fl->elen += (size_t)n;
	while ((nl = memchr(fl->ebuf + start, '\n', fl->elen - start)) != NULL) {
		size_t e = (size_t)(nl - fl->ebuf);

		event(fl, fl->ebuf + start, e - start);
		start = e + 1;
		/* K > 1: K events queued, then written */
		if (fl->k > 1 && ++taken % fl->k == 0)
			flush_dirty(fl);
	}
	if (fl->k > 1)
		flush_dirty(fl);
	memmove(fl->ebuf, fl->ebuf + start, fl->elen - start);
	fl->elen -= start;
	if (fl->elen == EV_BUF)		/* a line longer than the buffer */
		fl->elen = 0;
}

static void
accept_all(struct floor *fl)
{
	for (int i = 0; i < 256; i++) {
		int fd = accept4(fl->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		struct fconn *c;

		if (fd < 0)
			return;
		c = xrealloc(NULL, sizeof(*c));
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->tag = -1;
		c->next = fl->live;
		if (fl->live != NULL)
			fl->live->prev = c;
		fl->live = c;
		ev.data.ptr = c;
		if (epoll_ctl(fl->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			conn_close(fl, c);
			continue;
		}
		fl->conns++;
	}
}

/* a last word to a connection being closed: whether it arrives does
 * not matter */
static void
say(int fd, const char *p, size_t n)
{
	if (write(fd, p, n) < 0)
		return;
}

/* the handshake request is in: answer it and join the key's set */
static void
handshake(struct floor *fl, struct fconn *c)
{
	static const char bad[] = "HTTP/1.1 400 Bad Request\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n";
	char resp[256], acc[29];
	const char *key;
	size_t klen;
	long tag = -1;
	int n, one = 1;

	key = http_header(c->hs, c->hslen, "Sec-WebSocket-Key", &klen);
	if (strncmp(c->hs, "GET /sub/", 9) != 0 || key == NULL || klen == 0 ||
	    klen > 64) {
		say(c->fd, bad, sizeof(bad) - 1);
		conn_close(fl, c);
		return;
	}
	if (strncmp(c->hs + 9, "bench", 5) == 0)
		tag = strtol(c->hs + 14, NULL, 10);
	else if (strncmp(c->hs + 9, "global ", 7) != 0) {
		say(c->fd, bad, sizeof(bad) - 1);
		conn_close(fl, c);
		return;
	}
	ws_accept(key, klen, acc);
	n = snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n\r\n", acc);
	/* a fresh socket takes a hundred bytes at once */
	if (write(c->fd, resp, (size_t)n) != n) {
		conn_close(fl, c);
		return;
	}
	free(c->hs);
	c->hs = NULL;
	c->open = true;
	/* each frame leaves at once, as sluice's WebSockets do */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (tag < 0) {
		if (fl->nglobal == fl->capglobal) {
			fl->capglobal = fl->capglobal ? fl->capglobal * 2 : 1024;
			fl->global = xrealloc(fl->global,
			    fl->capglobal * sizeof(*fl->global));
		}
		c->gpos = (uint32_t)fl->nglobal;
		fl->global[fl->nglobal++] = c;
		return;
	}
	if ((size_t)tag >= fl->captag) {
		size_t ncap = fl->captag ? fl->captag : 1024;

		while (ncap <= (size_t)tag)
			ncap *= 2;
		fl->bytag = xrealloc(fl->bytag, ncap * sizeof(*fl->bytag));
		memset(fl->bytag + fl->captag, 0,
		    (ncap - fl->captag) * sizeof(*fl->bytag));
		fl->captag = ncap;
	}
	if (fl->bytag[tag] != NULL)
		conn_close(fl, fl->bytag[tag]);
	c->tag = (int32_t)tag;
	fl->bytag[tag] = c;
}

static void
readable(struct floor *fl, struct fconn *c)
{
	char buf[4096];
	ssize_t n;

	if (!c->open) {
		if (c->hs == NULL)
			c->hs = xrealloc(NULL, HS_MAX + 1);
		n = read(c->fd, c->hs + c->hslen, HS_MAX - c->hslen);
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EINTR))
				conn_close(fl, c);
			return;
		}
		c->hslen += (uint32_t)n;
		c->hs[c->hslen] = '\0';
		if (memmem(c->hs, c->hslen, "\r\n\r\n", 4) != NULL)
			handshake(fl, c);
		else if (c->hslen == HS_MAX)
			conn_close(fl, c);
		return;
	}
	/* the bench sends only pongs and closes: read and forget */
	n = read(c->fd, buf, sizeof(buf));
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		conn_close(fl, c);
}

static void
free_dead(struct floor *fl)
{
	while (fl->dead != NULL) {
		struct fconn *c = fl->dead;

		fl->dead = c->next_dead;
		free(c->hs);
		free(c->q);
		free(c);
	}
}

int
floor_main(int argc, char **argv)
{
	struct floor fl = { .k = 1 };
	struct epoll_event evs[MAXEV], ev = { .events = EPOLLIN };
	struct sigaction sa = { .sa_handler = on_term };

	if (argc != 6) {
		fprintf(stderr, "usage: sluice-bench --floor-server LISTENFD "
		    "EVENTFD K LIMIT\n");
		return 2;
	}
	fl.lfd = atoi(argv[2]);
	fl.efd = atoi(argv[3]);
	fl.k = (unsigned)atoi(argv[4]);
	fl.limit = (size_t)strtoull(argv[5], NULL, 10);
	if (fl.k < 1)
		fl.k = 1;
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fl.ebuf = xrealloc(NULL, EV_BUF);
	if ((fl.ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		perror("floor: epoll_create1");
		return 1;
	}
	ev.data.ptr = &fl.lfd;
	epoll_ctl(fl.ep, EPOLL_CTL_ADD, fl.lfd, &ev);
	ev.data.ptr = &fl.efd;
	epoll_ctl(fl.ep, EPOLL_CTL_ADD, fl.efd, &ev);
	fprintf(stderr, "floor: ready, %u frame%s per write\n", fl.k,
	    fl.k > 1 ? "s" : "");
	while (!stopping && !fl.eof) {
		int n = epoll_wait(fl.ep, evs, MAXEV, -1);

		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			struct fconn *c = p;

			if (p == &fl.lfd)
				accept_all(&fl);
			else if (p == &fl.efd)
				read_events(&fl);
			else if (!c->dead) {
				if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
					readable(&fl, c);
				if (!c->dead && (evs[i].events & EPOLLOUT))
					flush(&fl, c);
			}
		}
		free_dead(&fl);
	}
	while (fl.live != NULL)
		conn_close(&fl, fl.live);
	free_dead(&fl);
	free(fl.global);
	free(fl.bytag);
	free(fl.dirty);
	free(fl.ebuf);
	close(fl.ep);
	fprintf(stderr, "floor-stats: connections=%llu events=%llu "
	    "frames=%llu writes=%llu drops=%llu\n",
	    (unsigned long long)fl.conns, (unsigned long long)fl.events,
	    (unsigned long long)fl.frames, (unsigned long long)fl.writes,
	    (unsigned long long)fl.drops);
	return 0;
}
