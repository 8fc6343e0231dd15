/* consumer.c - the consumers: non-blocking connects spread over loopback
 * source addresses, then one epoll loop per receiver thread reading
 * WebSocket frames or HTTP chunks.
 *
 * Reading is kept cheap because the client shares the machine with the
 * server: each thread reads into one large buffer, messages are scanned
 * where they lie, and only the unfinished tail of a read (a frame or
 * message cut by the read) is copied aside, to be put back in front of
 * the next read. Nothing is allocated per message. */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#define HEAD_MAX	16384	/* longest response head */
#define MAXEV		512
#define STALL_CONNECT_US (10 * 1000000LL)	/* no stream opened or failed */

/* chunked decoder states */
enum { CK_SIZE, CK_SIZE_REST, CK_DATA, CK_DATA_CR, CK_DATA_LF, CK_END };

static void
fail(struct rthread *rt, struct consumer *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(struct rthread *rt, const char *fmt, va_list ap)
{
	if (rt->err[0] == '\0')
		vsnprintf(rt->err, sizeof(rt->err), fmt, ap);
}

static void
drop_fd(struct rthread *rt, struct consumer *c)
{
	if (c->fd >= 0) {
		epoll_ctl(rt->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
}

/* c never opened */
static void
fail(struct rthread *rt, struct consumer *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_err(rt, fmt, ap);
	va_end(ap);
	drop_fd(rt, c);
	STORE(c->state, CS_FAILED);
	ADD(rt->failed, 1);
}

bool
consumer_live(struct consumer *c)
{
	return LOAD(c->state) == CS_STREAM && LOAD(c->subscribed);
}

/* c was open and has ended */
void
consumer_close(struct rthread *rt, struct consumer *c)
{
	if (LOAD(c->state) != CS_STREAM)
		return;
	if (LOAD(c->subscribed)) {
		ADD(rt->b->live, -1);
		if (c->global)
			ADD(rt->b->global_live, -1);
	}
	drop_fd(rt, c);
	STORE(c->state, CS_CLOSED);
	rt->closed++;
}

static int
start_connect(struct rthread *rt, struct consumer *c)
{
	struct bench *b = rt->b;
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fail(rt, c, "socket: %s", strerror(errno));
		return -1;
	}
	c->fd = fd;
	if (b->loopback && b->o.sources > 1) {
		struct sockaddr_in src = { .sin_family = AF_INET };

		/* the port is chosen at connect, per destination, so each
		 * source address has the whole ephemeral range */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		    sizeof(one));
		src.sin_addr.s_addr = htonl(0x7f000001u + c->idx % b->o.sources);
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			fail(rt, c, "bind 127.0.0.%u: %s",
			    1 + c->idx % b->o.sources, strerror(errno));
			return -1;
		}
	}
	if (connect(fd, (struct sockaddr *)&b->addr, sizeof(b->addr)) < 0 &&
	    errno != EINPROGRESS) {
		fail(rt, c, "connect: %s", strerror(errno));
		return -1;
	}
	if (epoll_ctl(rt->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		fail(rt, c, "epoll_ctl: %s", strerror(errno));
		return -1;
	}
	STORE(c->state, CS_CONNECTING);
	return 0;
}

static void
connected(struct rthread *rt, struct consumer *c)
{
	struct bench *b = rt->b;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	char req[4096];
	socklen_t sl = sizeof(int);
	int e = 0;
	size_t len;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
		e = errno;
	if (e != 0) {
		fail(rt, c, "connect: %s", strerror(e));
		return;
	}
	len = b->t->stream_request(b, c, req, sizeof(req));
	if (len == 0) {
		fail(rt, c, "the stream request does not fit");
		return;
	}
	/* a fresh socket takes a few hundred bytes at once */
	if (send(c->fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		fail(rt, c, "sending the stream request: %s", strerror(errno));
		return;
	}
	if (epoll_ctl(rt->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		fail(rt, c, "epoll_ctl: %s", strerror(errno));
		return;
	}
	STORE(c->state, CS_HEADERS);
}

void
b64_encode(const unsigned char *in, size_t n, char *out)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[o] = '\0';
}

void
ws_client_key(uint32_t idx, char out[25])
{
	unsigned char k[16];
	uint32_t r = idx * 2654435761u ^ (uint32_t)random();

	for (int i = 0; i < 16; i++) {
		r = r * 1103515245u + 12345u;
		k[i] = (unsigned char)(r >> 16);
	}
	b64_encode(k, sizeof(k), out);
}

size_t
ws_channel_request(struct bench *b, const struct consumer *c, char *out,
    size_t cap)
{
	char key[25], chan[32];
	int n;

	ws_client_key(c->idx, key);
	if (c->global)
		snprintf(chan, sizeof(chan), "global");
	else
		snprintf(chan, sizeof(chan), "bench%u", c->idx);
	n = snprintf(out, cap, "GET /sub/%s HTTP/1.1\r\nHost: %s\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
	    chan, b->hostport, key);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* ---- messages ---- */

/* The unsigned number after "key": at p (spaces allowed). cJSON, as
 * sluice renders records, writes an integer it can print exactly in 15
 * digits as 1.79545770440157e+15: that form is read too. */
static bool
number_at(const char *p, const char *end, uint64_t *out)
{
	uint64_t v = 0;
	const char *s;

	while (p < end && *p == ' ')
		p++;
	s = p;
	while (p < end && *p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) {
		/* a JSON number is always followed by ',', '}' or ']',
		 * so strtod stops inside the message */
		double d = strtod(s, NULL);

		v = d > 0 ? (uint64_t)(d + 0.5) : 0;
	}
	*out = v;
	return p > s;
}

static void
on_message(struct rthread *rt, struct consumer *c, const char *p, size_t len)
{
	static const char kseq[] = "\"bench_seq\":", kt[] = "\"bench_t\":";
	struct bench *b = rt->b;
	const char *end = p + len, *q, *r;
	uint64_t seq, t;
	int64_t lat;

	if (len == 0)
		return;
	q = memmem(p, len, kseq, sizeof(kseq) - 1);
	if (q == NULL) {
		if (c->ws && !c->hello && memmem(p, len, "\"connection\"", 12))
			c->hello = 1;
		else if (memmem(p, len, "\"warning\"", 9))
			rt->warnings++;
		return;
	}
	q += sizeof(kseq) - 1;
	if (!number_at(q, end, &seq)) {
		rt->bad++;
		return;
	}
	/* bench_t follows bench_seq in the record; the whole message is
	 * searched only if a renderer reordered them */
	r = memmem(q, (size_t)(end - q), kt, sizeof(kt) - 1);
	if (r == NULL)
		r = memmem(p, len, kt, sizeof(kt) - 1);
	if (r == NULL || !number_at(r + sizeof(kt) - 1, end, &t)) {
		rt->bad++;
		return;
	}
	rt->last_rx = rt->now;
	STORE(rt->delivered, rt->delivered + 1);
	if (seq == c->next_seq) {
		c->next_seq += c->stride;
	} else if (seq > c->next_seq) {
		rt->gaps += (seq - c->next_seq) / c->stride;
		c->next_seq = seq + c->stride;
	} else {
		if (seq + c->stride == c->next_seq)
			rt->dups++;
		else
			rt->ooo++;
		return;
	}
	ADD(b->done[seq & b->mask], 1);
	if (seq >= LOAD(b->m_first) && seq <= LOAD(b->m_last)) {
		lat = rt->now - (int64_t)t;
		hist_add(&rt->lat, lat > 0 ? (uint64_t)lat : 0);
	}
}

/* Split decoded chunked bytes [from, to) into messages, each ended by
 * "\r\n"; a bare "\r\n" is a keepalive. The first byte not consumed. */
static size_t
split_lines(struct rthread *rt, struct consumer *c, char *buf, size_t from,
    size_t to)
{
	size_t s = from;
	char *nl;

	while (s < to && (nl = memchr(buf + s, '\n', to - s)) != NULL) {
		size_t e = (size_t)(nl - buf), l = e - s;

		if (l > 0 && buf[e - 1] == '\r')
			l--;
		if (l == 0)
			rt->keepalives++;
		else
			on_message(rt, c, buf + s, l);
		s = e + 1;
	}
	return s;
}

/* Decode chunked transfer coding in place: raw bytes [from, to) become
 * the payload bytes [from, returned end). The state is kept in c, so
 * a chunk head cut by a read goes on in the next one. */
static size_t
dechunk(struct rthread *rt, struct consumer *c, char *buf, size_t from,
    size_t to)
{
	size_t p = from, dst = from;

	while (p < to) {
		char ch;

		switch (c->ck) {
		case CK_SIZE:
			ch = buf[p++];
			if (ch >= '0' && ch <= '9')
				c->ck_left = c->ck_left * 16 + (uint32_t)(ch - '0');
			else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
				c->ck_left = c->ck_left * 16 + (uint32_t)((ch | 0x20) - 'a' + 10);
			else if (ch == '\n')
				c->ck = c->ck_left ? CK_DATA : CK_END;
			else
				c->ck = CK_SIZE_REST;	/* ';' ext or '\r' */
			if (c->ck_left > (1u << 30)) {
				rt->bad++;
				c->ck = CK_END;
			}
			break;
		case CK_SIZE_REST:
			if (buf[p++] == '\n')
				c->ck = c->ck_left ? CK_DATA : CK_END;
			break;
		case CK_DATA: {
			size_t n = to - p;

			if (n > c->ck_left)
				n = c->ck_left;
			memmove(buf + dst, buf + p, n);
			dst += n;
			p += n;
			c->ck_left -= (uint32_t)n;
			if (c->ck_left == 0)
				c->ck = CK_DATA_CR;
			break;
		}
		case CK_DATA_CR:
			c->ck = buf[p++] == '\r' ? CK_DATA_LF : CK_END;
			break;
		case CK_DATA_LF:
			c->ck = buf[p++] == '\n' ? CK_SIZE : CK_END;
			break;
		case CK_END:
			return dst;
		}
	}
	return dst;
}

static void
ws_send(struct consumer *c, unsigned opcode, const char *payload, size_t len)
{
	unsigned char f[2 + 4 + 125];
	uint32_t key = (uint32_t)random();

	if (len > 125)
		len = 125;
	f[0] = (unsigned char)(0x80 | opcode);
	f[1] = (unsigned char)(0x80 | len);
	memcpy(f + 2, &key, 4);
	for (size_t i = 0; i < len; i++)
		f[6 + i] = (unsigned char)payload[i] ^ f[2 + i % 4];
	/* control frames are tiny; a full socket buffer only loses a pong,
	 * and the server's next ping asks again */
	(void)send(c->fd, f, 6 + len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void
frag_add(struct consumer *c, const char *p, size_t n)
{
	if (c->flen + n > c->fcap) {
		c->fcap = (uint32_t)(c->flen + n) * 2;
		c->frag = realloc(c->frag, c->fcap);
		if (c->frag == NULL)
			abort();
	}
	memcpy(c->frag + c->flen, p, n);
	c->flen += (uint32_t)n;
}

/* WebSocket frames in [from, to); the first byte not consumed. May close c. */
static size_t
ws_frames(struct rthread *rt, struct consumer *c, char *buf, size_t from,
    size_t to)
{
	size_t p = from;

	while (to - p >= 2) {
		const unsigned char *h = (const unsigned char *)buf + p;
		unsigned op = h[0] & 0x0f, fin = h[0] & 0x80;
		uint64_t len = h[1] & 0x7f;
		size_t hl = 2;
		char *pl;

		if (len == 126) {
			if (to - p < 4)
				break;
			len = (uint64_t)h[2] << 8 | h[3];
			hl = 4;
		} else if (len == 127) {
			if (to - p < 10)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | h[2 + i];
			hl = 10;
		}
		if (h[1] & 0x80) {
			rt->bad++;	/* servers do not mask */
			hl += 4;
		}
		if (len > rt->bufsz / 2) {
			if (rt->err[0] == '\0')
				snprintf(rt->err, sizeof(rt->err), "a %llu-byte "
				    "frame is larger than the read buffer",
				    (unsigned long long)len);
			consumer_close(rt, c);
			return to;
		}
		if (to - p < hl + len)
			break;
		pl = buf + p + hl;
		p += hl + (size_t)len;
		switch (op) {
		case 0x1:
		case 0x2:
			if (fin)
				on_message(rt, c, pl, (size_t)len);
			else {
				c->flen = 0;
				frag_add(c, pl, (size_t)len);
			}
			break;
		case 0x0:
			frag_add(c, pl, (size_t)len);
			if (fin) {
				on_message(rt, c, c->frag, c->flen);
				c->flen = 0;
			}
			break;
		case 0x8:
			c->close_code = len >= 2 ? (uint16_t)((unsigned char)pl[0] << 8 |
			    (unsigned char)pl[1]) : 1005;
			ws_send(c, 0x8, pl, len >= 2 ? 2 : 0);
			rt->ws_closed++;
			if (rt->err[0] == '\0')
				snprintf(rt->err, sizeof(rt->err), "the server "
				    "closed a WebSocket: %u %.*s", c->close_code,
				    len > 2 ? (int)(len - 2) : 0, pl + 2);
			consumer_close(rt, c);
			return to;
		case 0x9:
			rt->pings++;
			ws_send(c, 0xA, pl, (size_t)len);
			break;
		default:
			break;		/* pong */
		}
	}
	return p;
}

/* The response head in buf[0, to): on success c streams and *body is
 * where the body starts. 0: the head is incomplete; -1: c failed. */
static int
head(struct rthread *rt, struct consumer *c, char *buf, size_t to,
    size_t *body)
{
	struct bench *b = rt->b;
	const char *e = memmem(buf, to, "\r\n\r\n", 4), *te;
	char err[ERR_MAX];
	size_t hl, tel;
	int status;

	if (e == NULL) {
		if (to > HEAD_MAX) {
			fail(rt, c, "a response head longer than %d bytes", HEAD_MAX);
			return -1;
		}
		return 0;
	}
	hl = (size_t)(e - buf) + 4;
	status = http_status(buf, hl);
	if (status != (c->ws ? 101 : 200)) {
		size_t bl = to - hl;
		fail(rt, c, "HTTP %d opening a stream: %.*s", status,
		    (int)(bl > 120 ? 120 : bl), buf + hl);
		return -1;
	}
	if (b->t->stream_opened != NULL &&
	    b->t->stream_opened(b, c, buf, hl, err, sizeof(err)) < 0) {
		fail(rt, c, "%s", err);
		return -1;
	}
	te = http_header(buf, hl, "Transfer-Encoding", &tel);
	c->chunked = !c->ws && te != NULL && tel >= 7 &&
	    strncasecmp(te, "chunked", 7) == 0;
	STORE(c->state, CS_STREAM);
	STORE(rt->opened, rt->opened + 1);
	*body = hl;
	return 1;
}

static void
save_carry(struct consumer *c, const char *p, size_t n)
{
	if (n > c->ccap) {
		c->ccap = (uint32_t)(n < 2048 ? 2048 : n * 2);
		free(c->carry);
		c->carry = malloc(c->ccap);
		if (c->carry == NULL)
			abort();
	}
	memcpy(c->carry, p, n);
	c->clen = (uint32_t)n;
}

static void
readable(struct rthread *rt, struct consumer *c)
{
	char *buf = rt->buf;
	size_t off = c->clen, to, from, end, body;
	ssize_t n;

	if (off > 0)
		memcpy(buf, c->carry, off);
	n = read(c->fd, buf + off, rt->bufsz - off);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		if (c->state == CS_HEADERS)
			fail(rt, c, "reading the response: %s", strerror(errno));
		else
			consumer_close(rt, c);
		return;
	}
	if (n == 0) {
		if (c->state == CS_HEADERS)
			fail(rt, c, "the server closed before the response head");
		else
			consumer_close(rt, c);
		return;
	}
	rt->now = wall_us();
	to = off + (size_t)n;
	if (c->state == CS_HEADERS) {
		int r = head(rt, c, buf, to, &body);

		if (r <= 0) {
			if (r == 0)
				save_carry(c, buf, to);
			return;
		}
		off = body;		/* nothing decoded yet */
		from = body;
	} else {
		from = 0;		/* a chunked carry is decoded bytes */
	}
	if (c->ws) {
		from = ws_frames(rt, c, buf, from, to);
		end = to;
	} else {
		end = c->chunked ? dechunk(rt, c, buf, off, to) : to;
		from = split_lines(rt, c, buf, from, end);
		if (c->ck == CK_END && c->state == CS_STREAM) {
			consumer_close(rt, c);	/* the last chunk */
			return;
		}
	}
	if (c->state != CS_STREAM)
		return;
	if (end - from >= rt->bufsz / 2) {
		if (rt->err[0] == '\0')
			snprintf(rt->err, sizeof(rt->err), "a message is "
			    "larger than the read buffer");
		consumer_close(rt, c);
		return;
	}
	if (end > from)
		save_carry(c, buf + from, end - from);
	else
		c->clen = 0;
}

/* ---- the receiver threads ---- */

static void *
rthread_main(void *arg)
{
	struct rthread *rt = arg;
	struct bench *b = rt->b;
	struct epoll_event evs[MAXEV];
	unsigned share = b->o.inflight / b->o.threads, inflight = 0;
	uint32_t next = rt->lo;
	uint64_t seen = 0;
	int64_t progress = mono_us(), now;
	bool connecting = true;

	if (share == 0)
		share = 1;
	while (!LOAD(b->stop)) {
		int n;

		if (connecting) {
			while (inflight < share && next < rt->hi)
				if (start_connect(rt, &b->cons[next++]) == 0)
					inflight++;
			now = mono_us();
			if (rt->opened + rt->failed != seen) {
				seen = rt->opened + rt->failed;
				progress = now;
			}
			/* a server at its connection limit may leave
			 * connects unanswered */
			if (inflight > 0 && (now > b->connect_deadline ||
			    now - progress > STALL_CONNECT_US)) {
				for (uint32_t i = rt->lo; i < next; i++) {
					struct consumer *c = &b->cons[i];
					if (c->state == CS_CONNECTING ||
					    c->state == CS_HEADERS)
						fail(rt, c, "no stream opened "
						    "within %s", now > b->connect_deadline ?
						    "--connect-timeout" :
						    "10 s of the last one");
				}
				inflight = 0;
				next = rt->hi;
			}
			if (inflight == 0 && next == rt->hi) {
				connecting = false;
				ADD(b->threads_connected, 1);
			}
		}
		n = epoll_wait(rt->ep, evs, MAXEV, connecting ? 10 : 50);
		for (int i = 0; i < n; i++) {
			struct consumer *c = evs[i].data.ptr;
			uint8_t was = c->state;

			if (was == CS_CONNECTING)
				connected(rt, c);
			else if (was == CS_HEADERS || was == CS_STREAM)
				readable(rt, c);
			if ((was == CS_CONNECTING || was == CS_HEADERS) &&
			    c->state != CS_CONNECTING && c->state != CS_HEADERS)
				inflight--;
		}
	}
	return NULL;
}

int
receivers_start(struct bench *b)
{
	unsigned nt = b->o.threads;
	uint32_t per = (b->o.n + nt - 1) / nt;
	size_t bufsz = 256 * 1024;

	if (bufsz < (size_t)b->o.size * 8 + 65536)
		bufsz = (size_t)b->o.size * 8 + 65536;
	b->rt = calloc(nt, sizeof(*b->rt));
	if (b->rt == NULL)
		return -1;
	for (unsigned i = 0; i < nt; i++) {
		struct rthread *rt = &b->rt[i];

		rt->b = b;
		rt->lo = i * per < b->o.n ? i * per : b->o.n;
		rt->hi = rt->lo + per < b->o.n ? rt->lo + per : b->o.n;
		rt->bufsz = bufsz;
		rt->buf = malloc(bufsz);
		rt->ep = epoll_create1(EPOLL_CLOEXEC);
		hist_init(&rt->lat);
		if (rt->buf == NULL || rt->ep < 0)
			return -1;
	}
	for (unsigned i = 0; i < nt; i++)
		if (pthread_create(&b->rt[i].th, NULL, rthread_main, &b->rt[i]) != 0)
			return -1;
	return 0;
}

/* join the threads and close every consumer */
void
receivers_stop(struct bench *b)
{
	STORE(b->stop, 1);
	for (unsigned i = 0; i < b->o.threads; i++)
		pthread_join(b->rt[i].th, NULL);
	for (uint32_t i = 0; i < b->o.n; i++) {
		struct consumer *c = &b->cons[i];

		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		free(c->carry);
		free(c->frag);
		c->carry = c->frag = NULL;
	}
	for (unsigned i = 0; i < b->o.threads; i++) {
		close(b->rt[i].ep);
		free(b->rt[i].buf);
	}
}
