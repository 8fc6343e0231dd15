/* ws.c - WebSocket workers. An upgraded socket is handed to one worker,
 * round robin, and stays there: its session (wssess) is only ever
 * touched by that thread. The dispatcher wakes a worker through a
 * wait-free queue of connections plus an eventfd written only when the
 * queue goes from empty to non-empty. A timer per worker sends pings,
 * drops peers silent for two keepalive intervals (the only way to notice
 * a dead peer, above all behind TLS), and ends close handshakes that the
 * peer never answers. Sessions wait for that timer in a wheel of slots
 * by their next deadline, so a tick looks only at the sessions due:
 * between keepalives an idle worker does nothing. */
#include "ws.h"
#include "admin.h"
#include "alloc.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "rcu.h"
#include "sluiced.h"
#include "wssess.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#define CLOSE_WAIT_MS	2000	/* how long a close handshake may take */
#define GATHER_MAX	2048	/* io_writev copies a write this small */
#define AHEAD		3	/* woken conns looked ahead at (drain_wakes) */
#define DRAIN_TURN	256	/* conns pulled before the epoll loop gets
				 * a turn (reads, timers) */
#define WHEEL_SLOTS	1024	/* a slot per tick: 256 keepalive intervals
				 * ahead, or 1024 s; later deadlines wait
				 * in the last slot and are slotted again */

struct ws {
	struct cds_wfcq_node	 node;		/* on the worker's new queue */
	struct cds_list_head	 link;		/* in the worker's sessions */
	struct cds_list_head	 tlink;		/* in a slot of the wheel */
	struct wsworker		*w;
	struct conn		*c;
	int			 fd;
	int			 tls_fd;	/* MHD's TCP socket, or -1 */
	struct MHD_UpgradeResponseHandle *urh;	/* TLS only, else NULL */
	struct wssess		*sess;
	char			*extra;		/* bytes MHD read past the headers */
	size_t			 extra_len, extra_off;
	uint32_t		 events;	/* registered with epoll */
	uint64_t		 seen_rx;	/* wssess_received at the last read */
	int64_t			 last_rx_ms;
	uint64_t		 seen_msgs;	/* wssess_peer_messages, idem */
	int64_t			 last_msg_ms;	/* app streams: client keepalive */
	int64_t			 last_ping_ms;
	int64_t			 close_deadline_ms;	/* 0: not closing */
	bool			 dead;		/* torn down, freed after the batch */
};

struct wsworker {
	pthread_t		 thread;
	int			 epfd;
	int			 evfd;
	int			 tfd;
	unsigned		 tick_gen;	/* tick_generation it is armed for */
	struct cds_wfcq_head	 newh;		/* sessions handed over */
	struct cds_wfcq_tail	 newt;
	struct cds_wfcq_head	 wakeh;		/* conns with work */
	struct cds_wfcq_tail	 waket;
	/* conns taken off wakeh and not yet pulled, where drain_wakes
	 * goes on after a turn of the epoll loop: the rest of the list
	 * from lnext, and the ring of those looked ahead at */
	struct __cds_wfcq_head	 lh;
	struct cds_wfcq_tail	 lt;
	struct cds_wfcq_node	*lnext;
	struct conn		*ring[AHEAD];
	unsigned		 rfirst, rn;
	struct cds_list_head	 sessions;
	struct cds_list_head	 wheel[WHEEL_SLOTS];
	int64_t			 slot_ms;	/* a slot's width: the tick */
	int64_t			 wheel_pos;	/* the last tick looked at */
	int64_t			 now;		/* ms, once per epoll batch */
	/* sessions torn down during this epoll batch: a later event of the
	 * same batch may still name them, so they are freed after it */
	struct cds_list_head	 dead;
	bool			 running;
};

static struct wsworker *workers;
static int nworkers;
static unsigned next_worker;	/* atomic */
static long nsessions;		/* atomic */
static long ndetached;		/* atomic: sessions MHD no longer counts */

/* epoll data for the worker's own fds: distinct addresses */
static char tag_ev, tag_timer;

/* ---- I/O callbacks for wssess ---- */

static ssize_t
io_recv(void *ud, uint8_t *buf, size_t len)
{
	struct ws *s = ud;
	ssize_t n;

	if (s->extra_off < s->extra_len) {
		n = (ssize_t)(s->extra_len - s->extra_off);
		if ((size_t)n > len)
			n = (ssize_t)len;
		memcpy(buf, s->extra + s->extra_off, (size_t)n);
		s->extra_off += (size_t)n;
		return n;
	}
	do
		n = recv(s->fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	return n;
}

static ssize_t
io_writev(void *ud, const struct iovec *iov, int iovcnt)
{
	struct ws *s = ud;
	struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	char one[GATHER_MAX];
	const void *p = NULL;	/* one buffer for send(); NULL: sendmsg() */
	size_t len = 0;
	ssize_t n;

	/* One buffer goes to send(), and so does a small write of several
	 * (a message or two: a frame's header, its head, the shared tail),
	 * copied into one: the kernel's path for a plain buffer costs less
	 * than sendmsg's iovec array. 8 interleaved runs at 5,000 x 10/s:
	 * 146k deliveries per server CPU second with sendmsg, 154k so. */
	if (iovcnt == 1) {
		p = iov[0].iov_base;
		len = iov[0].iov_len;
	} else {
		for (int i = 0; i < iovcnt && len <= sizeof(one); i++)
			len += iov[i].iov_len;
		if (len <= sizeof(one)) {
			for (int i = 0, at = 0; i < iovcnt; at += (int)iov[i++].iov_len)
				memcpy(one + at, iov[i].iov_base, iov[i].iov_len);
			p = one;
		}
	}
	do
		n = p != NULL ? send(s->fd, p, len, MSG_NOSIGNAL) :
		    sendmsg(s->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		METRIC_ADD(ws_bytes_written, (uint64_t)n);
	return n;
}

static void
on_text(void *ud, const uint8_t *msg, size_t len)
{
	struct ws *s = ud;

	/* app streams answer client text with "pong", as pnut does */
	if (s->c->kind == CONN_APP)
		wssess_send_text(s->sess, "pong", 4);
}

static void
on_written(void *ud, const struct qitem *first)
{
	admin_observe_written(first);
}

/* A write is about to begin data frames. The conn's write lock is held
 * across it, until on_end: a close from the dispatcher (takeover,
 * revoke, delete; stream_close) comes either before it, and then no
 * frame is begun, or after it, and then taken_cursor says exactly which
 * events the older consumer gets. The write does not block (the socket
 * is non-blocking). Pushes take only c->mu, never held across the
 * write: when they waited for it (f15ebf0 to 53becda), the dispatcher
 * blocked in the futex whenever it caught up with a worker, and
 * saturating throughput fell from 2.2M to 1.4M deliveries/s. */
static bool
on_begin(void *ud)
{
	struct conn *c = ((struct ws *)ud)->c;
	bool closing;

	pthread_mutex_lock(&c->wmu);
	pthread_mutex_lock(&c->mu);
	closing = c->closing;
	pthread_mutex_unlock(&c->mu);
	if (!closing)
		return true;		/* wmu held until on_end */
	pthread_mutex_unlock(&c->wmu);
	return false;
}

/* A WebSocket conn's taken_cursor is written here only, under wmu,
 * and read under wmu (stream_close): no need for c->mu. */
static void
on_end(void *ud, uint64_t begun)
{
	struct conn *c = ((struct ws *)ud)->c;

	if (begun > c->taken_cursor)
		c->taken_cursor = begun;
	pthread_mutex_unlock(&c->wmu);
}

static const struct wssess_cb io_cb = {
	io_recv, io_writev, on_text, on_written, on_begin, on_end,
};

/* ---- sessions ---- */

static void
set_events(struct ws *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	if (events == s->events)
		return;
	if (epoll_ctl(s->w->epfd, EPOLL_CTL_MOD, s->fd, &ev) == 0)
		s->events = events;
}

/* Keep the conn's idea of what is in flight in step with the session. */
static void
sync_inflight(struct ws *s)
{
	struct conn *c = s->c;
	size_t pending = wssess_pending(s->sess);
	uint64_t cur = wssess_written_cursor(s->sess);
	bool drained;

	pthread_mutex_lock(&c->mu);
	METRIC_ADD(queued_bytes, (int64_t)pending - (int64_t)c->inflight);
	c->inflight = pending;
	if (cur > c->written_cursor)
		c->written_cursor = cur;
	/* taken_cursor moves in on_end, with each write that begins frames */
	if (c->warned && conn_queued_locked(c) < sl.cfg.send_buffer_limit / 4)
		c->warned = false;
	drained = conn_drained_locked(c);
	pthread_mutex_unlock(&c->mu);
	if (drained)
		conn_post_drained(c);
}

static void
teardown(struct ws *s)
{
	struct conn *c = s->c;
	struct op *op;

	epoll_ctl(s->w->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	cds_list_del(&s->link);
	cds_list_del_init(&s->tlink);
	wssess_free(s->sess);
	s->sess = NULL;
	/* Over TLS, MHD 0.9.75 pumps bytes between fd and the client until
	 * both ways are done. CLOSE shuts the socketpair before it marks the
	 * handle closed: if MHD's thread sees that end-of-file in between,
	 * it leaves the inbound way open and looks again only when the
	 * client sends, which a dead client never does, and the connection
	 * stays for good. Ending the TCP socket's reading side first closes
	 * that way; what we wrote still goes out. MHD closes the socket only
	 * after the CLOSE, so it is still the same socket here. */
	if (s->urh != NULL) {
		if (s->tls_fd >= 0)
			(void)shutdown(s->tls_fd, SHUT_RD);
		MHD_upgrade_action(s->urh, MHD_UPGRADE_ACTION_CLOSE);
	} else {
		close(s->fd);
		__atomic_sub_fetch(&ndetached, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_lock(&c->mu);
	METRIC_ADD(queued_bytes, -(int64_t)c->inflight);
	c->inflight = 0;
	c->ws = NULL;
	c->closing = true;
	c->ended = true;
	pthread_mutex_unlock(&c->mu);
	METRIC_ADD(conns[CONN_WEBSOCKET][c->kind], -1);
	__atomic_sub_fetch(&nsessions, 1, __ATOMIC_RELAXED);
	/* the session's reference passes to the op */
	op = xcalloc(1, sizeof(*op));
	op->kind = OP_DETACH;
	op->conn = c;
	dispatch_post(op);
	s->dead = true;
	cds_list_add_tail(&s->link, &s->w->dead);
}

static void
bury(struct wsworker *w)
{
	struct ws *s, *n;

	cds_list_for_each_entry_safe(s, n, &w->dead, link) {
		cds_list_del(&s->link);
		free(s->extra);
		free(s);
	}
}

static void reslot(struct ws *s);
static void note_rx(struct ws *s);
static void wake_worker(struct wsworker *w);

/* The dispatcher asked for the end: what it queued and the session
 * has not committed to is dropped, and the close handshake begins. */
static void
close_asked(struct ws *s)
{
	struct conn *c = s->c;
	uint16_t code;
	const char *reason;

	pthread_mutex_lock(&c->mu);
	code = c->close_code ? c->close_code : 1000;
	reason = c->close_reason;
	METRIC_ADD(queued_bytes, -(int64_t)c->q.bytes);
	qlist_clear(&c->q);
	pthread_mutex_unlock(&c->mu);
	wssess_close(s->sess, code, reason);
}

/* Write what can be written; tear down when the session is over.
 * Returns -1 if s is gone. */
static int
flush(struct ws *s)
{
	int rc = wssess_write(s->sess);

	if (rc == 2) {
		/* the close came before these frames were begun: they are
		 * dropped, what was begun is finished, then the close */
		close_asked(s);
		rc = wssess_write(s->sess);
	}
	sync_inflight(s);
	if (rc < 0 || wssess_finished(s->sess)) {
		teardown(s);
		return -1;
	}
	if (wssess_closing(s->sess) && s->close_deadline_ms == 0) {
		s->close_deadline_ms = now_ms() + CLOSE_WAIT_MS;
		reslot(s);
	}
	set_events(s, EPOLLIN | (rc == 1 ? EPOLLOUT : 0));
	return 0;
}

/* Move what the dispatcher queued into the session, or start closing.
 * woken: the conn was taken off the wake queue, and may be queued
 * again. Only then: a conn still linked in the queue (woken between
 * the start of its session and the session's first pull) must not be
 * queued a second time, which would relink its node and corrupt the
 * queue. */
static int
pull(struct ws *s, bool woken)
{
	struct conn *c = s->c;
	struct qlist items = { 0 };
	bool closing;

	pthread_mutex_lock(&c->mu);
	if (woken)
		c->wake_pending = false;
	closing = c->closing;
	if (!closing) {
		c->inflight += c->q.bytes;
		qlist_splice(&items, &c->q);
	}
	pthread_mutex_unlock(&c->mu);
	if (closing)
		close_asked(s);
	else
		wssess_enqueue(s->sess, &items);
	return flush(s);
}

static void
start_session(struct wsworker *w, struct ws *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
	int fl = fcntl(s->fd, F_GETFL), one = 1, zero = 0;

	fcntl(s->fd, F_SETFL, fl | O_NONBLOCK);
	/* We batch with writev ourselves; Nagle would hold back the tail
	 * of a frame split by a full socket until the peer's delayed ACK
	 * (~40 ms). MHD may leave the socket corked. Over TLS fd is one end
	 * of a socketpair and both calls fail, harmlessly. */
	(void)setsockopt(s->fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero));
	(void)setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->w = w;
	s->sess = wssess_new(&io_cb, s, sl.cfg.ws_max_message);
	s->last_rx_ms = s->last_ping_ms = s->last_msg_ms = w->now;
	cds_list_add_tail(&s->link, &w->sessions);
	reslot(s);
	if (s->sess == NULL || epoll_ctl(w->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		log_warn("websocket: cannot start a session: %s", strerror(errno));
		teardown(s);
		return;
	}
	s->events = EPOLLIN;
	pthread_mutex_lock(&s->c->mu);
	s->c->worker = w;
	s->c->ws = s;
	pthread_mutex_unlock(&s->c->mu);
	/* bytes that came with the upgrade request are read first */
	if (s->extra_len > 0 && wssess_read(s->sess) < 0 &&
	    wssess_finished(s->sess)) {
		teardown(s);
		return;
	}
	pull(s, false);
}

static void
on_session_event(struct ws *s, uint32_t events)
{
	if (s->dead)
		return;
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		wssess_read(s->sess);
		note_rx(s);
	}
	flush(s);
}

/* ---- the timer wheel ---- */

/* When s must next be looked at: a ping due, the peer silent too long,
 * an app client's own keepalive, a close handshake's end. */
static int64_t
next_deadline(const struct ws *s)
{
	int64_t ka = sl.cfg.keepalive_interval_ms;
	int64_t d = s->last_rx_ms + 2 * ka;

	if (s->close_deadline_ms && s->close_deadline_ms < d)
		d = s->close_deadline_ms;
	if (!wssess_closing(s->sess)) {
		if (s->last_ping_ms + ka < d)
			d = s->last_ping_ms + ka;
		if (s->c->kind == CONN_APP &&
		    s->last_msg_ms + sl.cfg.app_keepalive_ms < d)
			d = s->last_msg_ms + sl.cfg.app_keepalive_ms;
	}
	return d;
}

/* Put s in the slot of its next deadline (moving it if it is in one):
 * the first tick at or after the deadline, and never a tick passed. */
static void
reslot(struct ws *s)
{
	struct wsworker *w = s->w;
	int64_t t = (next_deadline(s) + w->slot_ms - 1) / w->slot_ms;

	if (t <= w->wheel_pos)
		t = w->wheel_pos + 1;
	if (t >= w->wheel_pos + WHEEL_SLOTS)
		t = w->wheel_pos + WHEEL_SLOTS - 1;
	cds_list_del(&s->tlink);
	cds_list_add_tail(&s->tlink, &w->wheel[t % WHEEL_SLOTS]);
}

/* A new tick width (keepalive_interval was reloaded): slot all again. */
static void
wheel_reset(struct wsworker *w)
{
	struct ws *s;

	cds_list_for_each_entry(s, &w->sessions, link)
		cds_list_del_init(&s->tlink);
	w->slot_ms = tick_period_ms();
	w->wheel_pos = w->now / w->slot_ms;
	cds_list_for_each_entry(s, &w->sessions, link)
		reslot(s);
}

/* The peer showed life since the last look: note when. */
static void
note_rx(struct ws *s)
{
	uint64_t rx = wssess_received(s->sess), msgs = wssess_peer_messages(s->sess);

	if (rx != s->seen_rx) {
		s->seen_rx = rx;
		s->last_rx_ms = s->w->now;
	}
	if (msgs != s->seen_msgs) {
		s->seen_msgs = msgs;
		s->last_msg_ms = s->w->now;
	}
}

/* s is due: act on what has come due. */
static void
visit(struct ws *s, int64_t now)
{
	int64_t ka = sl.cfg.keepalive_interval_ms;

	if (s->close_deadline_ms && now >= s->close_deadline_ms) {
		teardown(s);		/* the peer never answered */
		return;
	}
	if (now - s->last_rx_ms >= 2 * ka) {
		log_debug("websocket: peer silent for %lld ms, dropped",
		    (long long)(now - s->last_rx_ms));
		teardown(s);
		return;
	}
	/* an app client must speak for itself every app_keepalive: the
	 * pongs its library sends for it do not count */
	if (s->c->kind == CONN_APP && !wssess_closing(s->sess) &&
	    now - s->last_msg_ms >= sl.cfg.app_keepalive_ms) {
		log_debug("websocket: app client silent for %lld ms, closed",
		    (long long)(now - s->last_msg_ms));
		wssess_close(s->sess, 1008, "keepalive");
		flush(s);
		return;
	}
	if (now - s->last_ping_ms >= ka && !wssess_closing(s->sess)) {
		s->last_ping_ms = now;
		wssess_ping(s->sess);
		flush(s);
	}
}

static void
on_tick(struct wsworker *w)
{
	unsigned gen = __atomic_load_n(&tick_generation, __ATOMIC_RELAXED);
	int64_t cur;
	uint64_t v;

	(void)!read(w->tfd, &v, sizeof(v));
	if (w->tick_gen != gen) {
		w->tick_gen = gen;
		tick_rearm(w->tfd);	/* keepalive_interval was reloaded */
		wheel_reset(w);
	}
	cur = w->now / w->slot_ms;
	if (cur - w->wheel_pos > WHEEL_SLOTS)
		w->wheel_pos = cur - WHEEL_SLOTS;
	while (w->wheel_pos < cur) {
		struct cds_list_head *slot, due;
		struct ws *s, *n;

		w->wheel_pos++;
		slot = &w->wheel[w->wheel_pos % WHEEL_SLOTS];
		if (cds_list_empty(slot))
			continue;
		/* take the slot's sessions out first: reslot may put one
		 * back in this very slot, a full turn later */
		CDS_INIT_LIST_HEAD(&due);
		cds_list_splice(slot, &due);
		CDS_INIT_LIST_HEAD(slot);
		cds_list_for_each_entry_safe(s, n, &due, tlink) {
			cds_list_del_init(&s->tlink);
			visit(s, w->now);
			if (!s->dead)
				reslot(s);
		}
	}
}

/* Hints that bring a range of memory into the cache. */
static inline void
prefetch_range(const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, end = (uintptr_t)p + len;

	for (; a < end; a += 64)
		__builtin_prefetch((const void *)a, 1);
}

/* The conns woken, written in the order they were woken. What a conn's
 * write touches was last written on another core (the dispatcher's
 * push), so each conn cost a chain of cache misses: its conn, then its
 * session, then the session's state and its first queued item. A write
 * is a system call of several microseconds, time enough for the next
 * conns' memory to come in: it is asked for a few conns ahead, one
 * level of the chain per step. */

static void
prefetch_conn(struct cds_wfcq_node *node)
{
	if (node != NULL)
		prefetch_range(caa_container_of(node, struct conn, wake_node),
		    offsetof(struct conn, stream));
}

/* The first conn of the lookahead ring, taken off it. */
static struct conn *
ring_pop(struct wsworker *w)
{
	struct conn *c = w->ring[w->rfirst];

	w->rfirst = (w->rfirst + 1) % AHEAD;
	w->rn--;
	return c;
}

static void
drain_wakes(struct wsworker *w)
{
	struct conn *c;
	unsigned turn = DRAIN_TURN;

	for (;;) {
		if (w->rn == 0 && w->lnext == NULL) {
			/* what was queued until now; a later wake finds the
			 * queue empty and writes the eventfd again */
			__cds_wfcq_init(&w->lh, &w->lt);
			if (__cds_wfcq_splice_blocking(&w->lh, &w->lt, &w->wakeh,
			    &w->waket) == CDS_WFCQ_RET_SRC_EMPTY)
				return;
			w->lnext = __cds_wfcq_first_blocking(&w->lh, &w->lt);
			prefetch_conn(w->lnext);
		}
		if (turn-- == 0) {
			/* more to do: after the epoll loop's turn */
			wake_worker(w);
			return;
		}
		/* top the ring up. A conn's link is followed before the conn
		 * is pulled: once pulled it may be queued again */
		while (w->rn < AHEAD && w->lnext != NULL) {
			c = caa_container_of(w->lnext, struct conn, wake_node);
			w->lnext = __cds_wfcq_next_blocking(&w->lh, &w->lt,
			    w->lnext);
			prefetch_conn(w->lnext);
			w->ring[(w->rfirst + w->rn++) % AHEAD] = c;
		}
		if (w->rn > 2 &&
		    (c = w->ring[(w->rfirst + 2) % AHEAD])->ws != NULL) {
			struct qitem *q;

			prefetch_range(c->ws, sizeof(struct ws));
			/* a hint, read without the lock (qlist stores head
			 * atomically): the dispatcher may be pushing, and a
			 * stale address is harmless to prefetch. Not under a
			 * trylock: a dispatcher that met it held blocked on
			 * the futex, and saturating throughput fell from 2.2M
			 * to 1.4M deliveries/s */
			q = __atomic_load_n(&c->q.head, __ATOMIC_RELAXED);
			if (q != NULL)
				prefetch_range(q, 192);
		}
		if (w->rn > 1 &&
		    (c = w->ring[(w->rfirst + 1) % AHEAD])->ws != NULL)
			wssess_prefetch(c->ws->sess);
		c = ring_pop(w);
		/* the session may have ended since the wake was queued; only
		 * this thread clears c->ws, so reading it here is safe */
		if (c->ws != NULL)
			pull(c->ws, true);
		else {
			pthread_mutex_lock(&c->mu);
			c->wake_pending = false;
			pthread_mutex_unlock(&c->mu);
		}
		conn_unref(c);
	}
}

static void
drain_queues(struct wsworker *w)
{
	struct cds_wfcq_node *node;
	uint64_t v;

	(void)!read(w->evfd, &v, sizeof(v));
	while ((node = __cds_wfcq_dequeue_blocking(&w->newh, &w->newt)) != NULL)
		start_session(w, caa_container_of(node, struct ws, node));
	drain_wakes(w);
}

static void *
worker_main(void *arg)
{
	struct wsworker *w = arg;
	struct epoll_event evs[128];

	while (__atomic_load_n(&w->running, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(w->epfd, evs, 128, 1000);

		w->now = now_ms();
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &tag_ev)
				drain_queues(w);
			else if (p == &tag_timer)
				on_tick(w);
			else
				on_session_event(p, evs[i].events);
		}
		bury(w);
	}
	return NULL;
}

static void
wake_worker(struct wsworker *w)
{
	uint64_t one = 1;

	(void)!write(w->evfd, &one, sizeof(one));
}

void
ws_wake(struct wsworker *w, struct conn *c)
{
	cds_wfcq_node_init(&c->wake_node);
	if (!cds_wfcq_enqueue(&w->wakeh, &w->waket, &c->wake_node))
		wake_worker(w);
}

void
ws_handoff(struct conn *c, int fd, int tls_fd,
    struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t extra_len)
{
	struct ws *s = xcalloc(1, sizeof(*s));
	struct wsworker *w;
	int own = -1;

	s->c = c;
	s->tls_fd = tls_fd;
	CDS_INIT_LIST_HEAD(&s->tlink);
	if (extra_len > 0) {
		s->extra = xmalloc(extra_len);
		memcpy(s->extra, extra, extra_len);
		s->extra_len = extra_len;
	}
	/* A plain TCP socket leaves MHD: we keep a duplicate and close
	 * MHD's connection now, which frees its memory pool (32 KiB, the
	 * bulk of an idle connection's memory) and takes it out of MHD's
	 * epoll set before MHD closes its descriptor. Over TLS, MHD relays
	 * between the client and fd, and the connection must stay. */
	if (tls_fd < 0 && (own = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		s->fd = own;
		s->urh = NULL;
		__atomic_add_fetch(&ndetached, 1, __ATOMIC_RELAXED);
	} else {
		s->fd = fd;
		s->urh = urh;
	}
	METRIC_ADD(conns[CONN_WEBSOCKET][c->kind], 1);
	__atomic_add_fetch(&nsessions, 1, __ATOMIC_RELAXED);
	w = &workers[__atomic_fetch_add(&next_worker, 1, __ATOMIC_RELAXED) %
	    (unsigned)nworkers];
	cds_wfcq_node_init(&s->node);
	if (!cds_wfcq_enqueue(&w->newh, &w->newt, &s->node))
		wake_worker(w);
}

long
ws_sessions(void)
{
	return __atomic_load_n(&nsessions, __ATOMIC_RELAXED);
}

long
ws_detached(void)
{
	return __atomic_load_n(&ndetached, __ATOMIC_RELAXED);
}

int
ws_accept_key(const char *key, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	char buf[128];
	uint8_t sha[20];
	gnutls_datum_t in, b64;
	size_t kl = strlen(key);

	/* a base64 16-byte nonce is 24 characters */
	if (kl != 24 || key[22] != '=' || key[23] != '=')
		return -1;
	memcpy(buf, key, kl);
	memcpy(buf + kl, guid, sizeof(guid) - 1);
	if (gnutls_hash_fast(GNUTLS_DIG_SHA1, buf, kl + sizeof(guid) - 1, sha) < 0)
		return -1;
	in.data = sha;
	in.size = sizeof(sha);
	if (gnutls_base64_encode2(&in, &b64) < 0)
		return -1;
	if (b64.size != 28) {
		gnutls_free(b64.data);
		return -1;
	}
	memcpy(out, b64.data, 28);
	out[28] = '\0';
	gnutls_free(b64.data);
	return 0;
}

int
ws_start(int n, char *err, size_t errlen)
{
	nworkers = n;
	workers = xcalloc((size_t)n, sizeof(*workers));
	for (int i = 0; i < n; i++) {
		struct wsworker *w = &workers[i];
		struct epoll_event ev = { .events = EPOLLIN };

		CDS_INIT_LIST_HEAD(&w->sessions);
		CDS_INIT_LIST_HEAD(&w->dead);
		for (int k = 0; k < WHEEL_SLOTS; k++)
			CDS_INIT_LIST_HEAD(&w->wheel[k]);
		w->now = now_ms();
		w->slot_ms = tick_period_ms();
		w->wheel_pos = w->now / w->slot_ms;
		w->tick_gen = __atomic_load_n(&tick_generation, __ATOMIC_RELAXED);
		cds_wfcq_init(&w->newh, &w->newt);
		cds_wfcq_init(&w->wakeh, &w->waket);
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		w->tfd = tick_timerfd();
		if (w->epfd < 0 || w->evfd < 0 || w->tfd < 0) {
			snprintf(err, errlen, "websocket worker: %s", strerror(errno));
			return -1;
		}
		ev.data.ptr = &tag_ev;
		epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev);
		ev.data.ptr = &tag_timer;
		epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->tfd, &ev);
		w->running = true;
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			snprintf(err, errlen, "websocket worker: cannot start a thread");
			return -1;
		}
	}
	return 0;
}

void
ws_stop(void)
{
	for (int i = 0; i < nworkers; i++) {
		__atomic_store_n(&workers[i].running, false, __ATOMIC_RELEASE);
		wake_worker(&workers[i]);
		pthread_join(workers[i].thread, NULL);
	}
	for (int i = 0; i < nworkers; i++) {
		struct wsworker *w = &workers[i];
		struct cds_wfcq_node *node;
		struct ws *s, *n;

		/* late arrivals are started only to be ended */
		while ((node = __cds_wfcq_dequeue_blocking(&w->newh, &w->newt)) != NULL) {
			s = caa_container_of(node, struct ws, node);
			s->w = w;
			cds_list_add_tail(&s->link, &w->sessions);
		}
		cds_list_for_each_entry_safe(s, n, &w->sessions, link)
			teardown(s);
		bury(w);
		/* wakes not pulled: in the ring, on the list, on the queue */
		while (w->rn > 0)
			conn_unref(ring_pop(w));
		while ((node = w->lnext) != NULL) {
			w->lnext = __cds_wfcq_next_blocking(&w->lh, &w->lt, node);
			conn_unref(caa_container_of(node, struct conn, wake_node));
		}
		while ((node = __cds_wfcq_dequeue_blocking(&w->wakeh, &w->waket)) != NULL)
			conn_unref(caa_container_of(node, struct conn, wake_node));
		close(w->epfd);
		close(w->evfd);
		close(w->tfd);
	}
	free(workers);
	workers = NULL;
	nworkers = 0;
}
