/* dispatch.c - the dispatcher thread. It is the sequencer of sluice:
 * events get their cursor here, in ingest order, and every change to a
 * user stream (attach, subscribe, delete...) is applied here between two
 * events, so a stream's view of the event sequence never has a gap or a
 * duplicate. It never blocks on a client: pushing onto a connection's
 * queue takes that queue's lock for a moment and nothing else. */
#include "dispatch.h"
#include "alloc.h"
#include "appfilter.h"
#include "apps.h"
#include "backfill.h"
#include "conn.h"
#include "event.h"
#include "ingest.h"
#include "log.h"
#include "replay.h"
#include "sluiced.h"
#include "stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

struct dispatch {
	pthread_t	 thread;
	/* held by the dispatcher while it works on a batch, and by an
	 * HTTP thread running an op (dispatch_run): what follows is the
	 * dispatcher's, touched under it */
	pthread_mutex_t	 lock;
	bool		 stopped;	/* the dispatcher has left */
	int		 epfd;
	struct pollable	 opev;		/* eventfd: ops queued */
	struct pollable	 tick;		/* timerfd: keepalives, expiry */
	struct cds_wfcq_head qhead;
	struct cds_wfcq_tail qtail;
	struct ingest	*ingest;
	struct replay	*replay;
	uint64_t	 last_cursor;
	bool		 running;
	bool		 shutting_down;
	/* consumers, least recently written first: keepalives walk the head */
	struct cds_list_head live;
	/* rejected-line log, at most one line a second */
	int64_t		 rej_logged_ms;
	uint64_t	 rej_quiet;
	struct buf	 head;		/* scratch for per-connection heads */
};

static struct dispatch D;

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Bumped by a reload that changes keepalive_interval: every thread with
 * a tick timer re-arms its own at its next tick. */
unsigned tick_generation;

int64_t
tick_period_ms(void)
{
	int64_t tick = __atomic_load_n(&sl.cfg.keepalive_interval_ms,
	    __ATOMIC_RELAXED) / 4;

	if (tick > 1000)
		tick = 1000;
	if (tick < 25)
		tick = 25;
	return tick;
}

void
tick_rearm(int fd)
{
	int64_t tick = tick_period_ms();
	struct itimerspec its;

	its.it_interval.tv_sec = tick / 1000;
	its.it_interval.tv_nsec = (tick % 1000) * 1000000;
	its.it_value = its.it_interval;
	timerfd_settime(fd, 0, &its, NULL);
}

int
tick_timerfd(void)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	if (fd >= 0)
		tick_rearm(fd);
	return fd;
}

int64_t
wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
wall_ms(void)
{
	return wall_us() / 1000;
}

static void
reject(const char *reason, const char *detail)
{
	int64_t now = now_ms();

	int i = ingest_reason_index(reason);

	if (i >= 0)
		METRIC_ADD(rejected[i], 1);
	if (now - D.rej_logged_ms < 1000 && D.rej_logged_ms != 0) {
		D.rej_quiet++;
		return;
	}
	if (D.rej_quiet)
		log_warn("ingest: rejected a line (%s: %s); %llu more rejected "
		    "in the last second", reason, detail,
		    (unsigned long long)D.rej_quiet);
	else
		log_warn("ingest: rejected a line (%s: %s)", reason, detail);
	D.rej_logged_ms = now;
	D.rej_quiet = 0;
}

/* The consumer was written to: it moves to the back of the keepalive
 * order. */
static void
touched(struct conn *c)
{
	if (c->transport != CONN_CHUNKED)
		return;		/* WebSocket workers ping for themselves */
	c->last_push_ms = now_ms();
	cds_list_del(&c->live);
	cds_list_add_tail(&c->live, &D.live);
}

/* The tail for display options d, shared by every connection with the
 * same; one made now is charged to the log. */
static struct msg *
tail_for(struct event *ev, display_t d)
{
	size_t grown;
	struct msg *m = event_tail(ev, d, &grown);

	if (grown)
		replay_charge(D.replay, ev, grown);
	return m;
}

/* One message for st's consumer: the head names the stream and the
 * subscriptions chained on st->matched, the tail is shared. */
static void
push_to_stream(struct stream *st, struct event *ev)
{
	struct buf *h = &D.head;
	struct sub *s;
	struct msg *tail = tail_for(ev, st->consumer->display);
	struct qitem *q;

	if (st->matched->match_next == NULL) {
		/* the usual case, one subscription: its own head */
		s = st->matched;
		q = conn_item(st->consumer, s->head, s->headlen, tail, ev->cursor);
	} else {
		h->len = 0;
		buf_adds(h, "{\"meta\":{\"connection_id\":\"");
		buf_adds(h, st->cid);
		buf_adds(h, "\",\"subscription_ids\":[");
		for (s = st->matched; s; s = s->match_next) {
			buf_json_str(h, s->id);
			if (s->match_next)
				buf_addc(h, ',');
		}
		buf_adds(h, "],");
		q = conn_item(st->consumer, h->p, h->len, tail, ev->cursor);
	}
	/* a consumer catching up is fed from the log: not timed */
	q->live = !st->consumer->catching_up;
	if (conn_push(st->consumer, q) == 0) {
		if (st->consumer->transport == CONN_CHUNKED)
			METRIC_ADD(deliveries_chunked, 1);
		else
			METRIC_ADD(deliveries_ws, 1);
		touched(st->consumer);
	}
}

static void
deliver(struct event *ev)
{
	struct stream *hit = NULL, *st;
	const struct subtable_ent *e;
	size_t n;

	urcu_memb_read_lock();
	for (size_t k = 0; k < ev->nkeys; k++) {
		n = subtable_lookup(sl.subs, ev->keys[k], &e);
		for (size_t i = 0; i < n; i++) {
			void *vst, *vs;
			struct sub *s;

			if (!subtable_get(e, i, &vst, &vs))
				continue;
			st = vst;
			s = vs;
			if (s->mark == ev->cursor)
				continue;	/* the key was listed twice */
			s->mark = ev->cursor;
			if (!subfilter_pass(&s->filter, ev->facts, ev->subtype))
				continue;
			/* a consumer catching up will find ev in the log */
			if (st->consumer == NULL || st->consumer->catching_up ||
			    !event_visible_to(ev, st->user_id))
				continue;
			if (st->mark != ev->cursor) {
				st->mark = ev->cursor;
				st->matched = NULL;
				st->mark_next = hit;
				hit = st;
			}
			s->match_next = st->matched;
			st->matched = s;
		}
	}
	urcu_memb_read_unlock();

	/* one message per stream, with every matching subscription id */
	for (st = hit; st; st = st->mark_next)
		push_to_stream(st, ev);
	apps_deliver(ev);
}

/* Does a retained event belong to st? Chains the subscriptions that
 * match it on st->matched, as deliver does. */
static bool
replay_match(struct stream *st, const struct event *ev)
{
	struct sub *s;

	st->matched = NULL;
	if (!event_visible_to(ev, st->user_id))
		return false;
	for (s = st->subs; s; s = s->next) {
		if (ev->cursor <= s->since ||
		    !subfilter_pass(&s->filter, ev->facts, ev->subtype))
			continue;
		for (size_t k = 0; k < ev->nkeys; k++)
			if (strcmp(ev->keys[k], s->key) == 0) {
				s->match_next = st->matched;
				st->matched = s;
				break;
			}
	}
	return st->matched != NULL;
}

/* Feed a catching-up consumer from the log, half a send buffer at a
 * time: when its queue is that full, the writer posts OP_DRAINED once
 * it is down to a quarter and this goes on from where it stopped. At
 * the end of the log the consumer goes live; since both happen on this
 * thread, between two events, nothing is missed or sent twice. User
 * and app connections differ only in which events they get. */
static void
catch_up(struct conn *c)
{
	struct stream *st = c->stream;
	size_t i, half = sl.cfg.send_buffer_limit / 2;

	if (!replay_covers(D.replay, c->replay_at)) {
		/* the log moved past this consumer while it caught up */
		log_info("replay overrun: a consumer is closed");
		if (c->kind == CONN_APP)
			apps_close(c, 1008, "replay overrun");
		else
			stream_close(st, 1008, "replay overrun");
		return;
	}
	for (i = replay_after(D.replay, c->replay_at);
	    i < replay_count(D.replay); i++) {
		struct event *ev = replay_at(D.replay, i);

		/* the message: the tail and a head of at most a few
		 * hundred bytes */
		if (conn_wait_drain(c, ev->user_tail->len + 512, half))
			return;
		c->replay_at = ev->cursor;
		if (c->kind == CONN_APP)
			apps_replay_one(c, ev);
		else if (replay_match(st, ev))
			push_to_stream(st, ev);
	}
	c->catching_up = false;
}

/* A consumer just attached starts from cursor start: what came after it
 * is replayed first, then live events. */
static void
begin_replay(struct conn *c, uint64_t start)
{
	c->replay_at = start;
	if (replay_after(D.replay, start) < replay_count(D.replay)) {
		c->catching_up = true;
		catch_up(c);
	}
}

/* Every live stream opened with a token that is no longer valid (a
 * tokens file reloaded without it) ends now: 1008. */
static void
end_revoked(void)
{
	struct stream *st, *n;
	struct token_info ti;

	cds_list_for_each_entry_safe(st, n, streams_list(), all) {
		if (st->consumer != NULL && !tokens_lookup_hash(sl.tokens,
		    st->consumer->token_hash, &ti))
			stream_end(st, 1008, "token revoked");
	}
	apps_close_conns(true, 1008, "token revoked");
}

static void
apply_token(struct token_rec *t)
{
	struct token_info ti;

	memset(&ti, 0, sizeof(ti));
	token_hash(t->token, strlen(t->token), ti.hash);
	if (t->action == TOKEN_REVOKE) {
		struct token_info was;

		if (!tokens_lookup_hash(sl.tokens, ti.hash, &was)) {
			log_info("token revoke: no such token");
			return;
		}
		tokens_revoke(sl.tokens, ti.hash);
		streams_end_token(ti.hash, 1008, "token revoked");
		apps_close_conns(true, 1008, "token revoked");
		log_info("token revoked (%s %s, client %s)", was.kind == TOKEN_APP ?
		    "app" : "user", was.kind == TOKEN_APP ? "-" : was.user_id,
		    was.client_id);
		return;
	}
	ti.kind = t->app ? TOKEN_APP : TOKEN_USER;
	snprintf(ti.client_id, sizeof(ti.client_id), "%s", t->client_id);
	if (t->user_id)
		snprintf(ti.user_id, sizeof(ti.user_id), "%s", t->user_id);
	if (t->scopes)
		snprintf(ti.scopes, sizeof(ti.scopes), "%s", t->scopes);
	tokens_grant(sl.tokens, &ti, TOKEN_FROM_PIPE);
	log_debug("token granted (%s, client %s)", t->app ? "app" : "user",
	    ti.client_id);
}

/* The admin listener's view of the replay log, which only this thread
 * may look at. */
static void
publish_replay(void)
{
	struct event *oldest = replay_at(D.replay, 0);

	PUB_SET(replay_events, replay_count(D.replay));
	PUB_SET(replay_bytes, replay_bytes(D.replay));
	PUB_SET(replay_oldest_ms, oldest != NULL ? oldest->ts_ms : 0);
}

static void
on_line(const char *line, size_t len)
{
	struct ingest_rec rec;
	const char *reason, *detail;
	uint64_t cursor;

	if (line == NULL) {
		reject("too_long", "longer than ingest_max_line");
		return;
	}
	if (ingest_parse(line, len, &rec, &reason, &detail) < 0) {
		if (strcmp(reason, "empty") != 0)
			reject(reason, detail);
		return;
	}
	if (rec.kind == INGEST_TOKEN) {
		apply_token(&rec.tok);
		token_rec_clear(&rec.tok);
		return;
	}
	/* decimal, increasing across restarts too: never below the clock.
	 * The delivery latency histogram reads the stamp from it (admin.c). */
	cursor = (uint64_t)wall_us();
	if (cursor <= D.last_cursor)
		cursor = D.last_cursor + 1;
	D.last_cursor = cursor;
	event_stamp(rec.ev, cursor, wall_ms());
	METRIC_ADD(events_ingested, 1);
	replay_append(D.replay, rec.ev);
	publish_replay();
	deliver(rec.ev);
	event_unref(rec.ev);
}

static void
on_truncated(void)
{
	reject("truncated", "producer disconnected in the middle of a line");
}

/* ---- control ops ---- */

static int
validate_stream(struct op *op, struct stream **out)
{
	struct stream *st = stream_find(op->cid);

	/* another user's stream is indistinguishable from none */
	if (st == NULL || strcmp(st->user_id, op->tok.user_id) != 0) {
		op->status = 404;
		op->error = "no such connection_id for this user";
		return -1;
	}
	*out = st;
	return 0;
}

static void
op_attach(struct op *op)
{
	struct stream *st = NULL;
	uint64_t start = 0;

	if (D.shutting_down) {
		op->status = 503;
		op->error = "shutting down";
		return;
	}
	if (op->cid[0] != '\0') {
		st = stream_find(op->cid);
		if (st != NULL && strcmp(st->user_id, op->tok.user_id) != 0)
			st = NULL;	/* foreign: a new id, as if unknown */
	}
	if (st != NULL) {
		/* takeover: the older consumer ends, and the newer one goes
		 * on after what the older one still gets */
		if (st->consumer != NULL)
			log_debug("stream %.8s...: taken over by a new consumer",
			    st->cid);
		stream_close(st, 4001, "replaced");
		start = op->has_cursor ? op->cursor : st->pos;
		if (!replay_covers(D.replay, start)) {
			/* as on App.net: a new id, subscriptions to recreate */
			log_debug("stream %.8s...: position left the replay log, "
			    "a new stream", st->cid);
			stream_delete(st);
			st = NULL;
		} else
			log_debug("stream %.8s...: consumer resumes", st->cid);
	}
	if (st == NULL) {
		if (streams_for_token(op->tok.hash) >=
		    (size_t)sl.cfg.max_streams_per_token) {
			op->status = 429;
			op->error = "too many streams for this token";
			return;
		}
		st = stream_create(&op->tok);
		st->pos = start = D.last_cursor;
	}
	st->auto_delete = op->auto_delete;
	stream_attach(st, op->conn);
	if (op->conn->transport == CONN_CHUNKED)
		cds_list_add_tail(&op->conn->live, &D.live);
	else {
		/* a WebSocket consumer hears its id first, before any event */
		struct buf *h = &D.head;

		h->len = 0;
		buf_adds(h, "{\"meta\":{\"type\":\"connection\",\"connection_id\":\"");
		buf_adds(h, st->cid);
		buf_adds(h, "\",\"stream\":{\"endpoint\":");
		buf_json_str(h, op->endpoint);
		buf_adds(h, "}}}");
		conn_push(op->conn, conn_item(op->conn, h->p, h->len, NULL, 0));
	}
	/* what it missed (and, with a cursor, what was lost in flight) */
	begin_replay(op->conn, start);
	strcpy(op->cid, st->cid);
	op->status = 200;
}

static void
op_detach(struct op *op)
{
	struct conn *c = op->conn;
	struct stream *st = c->stream;

	if (c->kind == CONN_APP) {
		apps_detach(c);
		return;
	}
	if (st != NULL && st->consumer == c) {
		stream_detach(st);
		if (st->auto_delete)
			stream_delete(st);
	}
}

/* The subscribing call's answer: the backfill, and whether the
 * subscription was made. Both happen here between two events, so the
 * backfill ends exactly where the live stream begins. */
static void
render_subscribe(struct op *op, struct event **evs, size_t n, bool more,
    bool created)
{
	struct buf *b = &op->body;

	buf_adds(b, "{\"meta\":{\"code\":200,\"connection_id\":");
	buf_json_str(b, op->cid);
	if (created) {
		buf_adds(b, ",\"subscription_id\":");
		buf_json_str(b, op->sid);
		buf_adds(b, ",\"subscription_ids\":[");
		buf_json_str(b, op->sid);
		buf_addc(b, ']');
	}
	if (n > 0) {
		buf_adds(b, ",\"min_id\":");
		buf_json_str(b, evs[n - 1]->id);
		buf_adds(b, ",\"max_id\":");
		buf_json_str(b, evs[0]->id);
	}
	buf_printf(b, ",\"more\":%s},\"data\":[", more ? "true" : "false");
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *d = event_tail_data(evs[i],
		    tail_for(evs[i], op->display), &len);

		if (i > 0)
			buf_addc(b, ',');
		buf_add(b, d, len);
	}
	buf_adds(b, "]}");
}

static void
op_subscribe(struct op *op)
{
	struct event *evs[BACKFILL_MAX];
	struct backfill_query q = {
		.key = op->key, .user_id = op->tok.user_id,
		.filter = &op->filter, .count = op->count,
		.since_id = op->since_id[0] ? op->since_id : NULL,
		.before_id = op->before_id[0] ? op->before_id : NULL,
	};
	struct stream *st;
	struct sub *old, *s;
	size_t n;
	bool more, create, fresh;

	if (validate_stream(op, &st) < 0)
		return;
	n = backfill_select(D.replay, &q, evs, &more);
	/* App.net: only a forward-looking call subscribes, and with
	 * since_id only when nothing is left out between it and now */
	create = !op->check_only && !(q.since_id != NULL && more);
	if (create) {
		if (op->sid[0] == '\0')
			stream_random_id(op->sid);
		old = stream_find_sub(st, op->sid);
		if (old == NULL && st->nsubs >= (size_t)sl.cfg.max_subscriptions) {
			op->status = 429;
			op->error = "too many subscriptions on this stream";
			return;
		}
		/* the same subscription again (App.net's idempotent
		 * overwrite) keeps its start; a new key starts it afresh */
		fresh = old == NULL || strcmp(old->key, op->key) != 0;
		s = stream_subscribe(st, op->sid, op->key, op->endpoint,
		    &op->filter);
		if (fresh)
			s->since = D.last_cursor;
	}
	render_subscribe(op, evs, n, more, create);
	op->status = 200;
}

static void
op_unsubscribe(struct op *op)
{
	struct stream *st;
	struct sub *s;

	if (validate_stream(op, &st) < 0)
		return;
	if ((s = stream_find_sub(st, op->sid)) == NULL) {
		op->status = 404;
		op->error = "no such subscription_id on this stream";
		return;
	}
	stream_unsubscribe(st, s);
	op->status = 204;
}

static void
op_delete_stream(struct op *op)
{
	struct stream *st;

	if (validate_stream(op, &st) < 0)
		return;
	stream_delete(st);
	op->status = 204;
}

static void
op_list_streams(struct op *op)
{
	struct stream *st;
	struct buf *b = &op->body;
	bool first = true;

	buf_addc(b, '[');
	cds_list_for_each_entry(st, streams_list(), all) {
		struct sub *s;

		if (strcmp(st->user_id, op->tok.user_id) != 0)
			continue;
		if (!first)
			buf_addc(b, ',');
		first = false;
		buf_adds(b, "{\"connection_id\":");
		buf_json_str(b, st->cid);
		buf_printf(b, ",\"connected\":%s,\"auto_delete\":%s,"
		    "\"subscriptions\":[", st->consumer ? "true" : "false",
		    st->auto_delete ? "true" : "false");
		for (s = st->subs; s; s = s->next) {
			buf_adds(b, "{\"subscription_id\":");
			buf_json_str(b, s->id);
			buf_adds(b, ",\"endpoint\":");
			buf_json_str(b, s->endpoint);
			buf_adds(b, ",\"key\":");
			buf_json_str(b, s->key);
			buf_adds(b, ",\"options\":");
			subfilter_render(&s->filter, b);
			buf_addc(b, '}');
			if (s->next)
				buf_addc(b, ',');
		}
		buf_adds(b, "]}");
	}
	buf_addc(b, ']');
	op->status = 200;
}

static void
op_shutdown(struct op *op)
{
	struct stream *st;

	D.shutting_down = true;
	cds_list_for_each_entry(st, streams_list(), all) {
		if (st->consumer != NULL) {
			stream_close(st, 1001, "going away");
		}
	}
	apps_close_conns(false, 1001, "going away");
	op->status = 200;
}

/* ---- app streams ---- */

static struct appstream *
find_app_stream(struct op *op)
{
	struct appstream *as = apps_find_stream(apps_find(op->tok.client_id),
	    op->key);

	if (as == NULL) {
		op->status = 404;
		op->error = "this app has no stream with that key";
	}
	return as;
}

static void
op_app_create(struct op *op)
{
	struct app *a = apps_get(op->tok.client_id);
	struct appstream *as;

	if (op->def.key[0] != '\0' && apps_find_stream(a, op->def.key)) {
		op->status = 400;
		op->error = "key: this app already has a stream with that key";
		return;
	}
	if (a->nstreams >= APPS_MAX_PER_APP) {
		op->status = 429;
		op->error = "an app may have at most 5 streams: delete one first";
		return;
	}
	if (op->def.key[0] == '\0') {
		do
			stream_random_id(op->def.key);
		while (apps_find_stream(a, op->def.key) != NULL);
	}
	as = apps_create(a, &op->def);
	op->def.filter = NULL;		/* the stream's now */
	log_info("app %s: stream %s created", a->client_id, as->def.key);
	apps_render(as, op->base, &op->body);
	op->status = 201;
}

static void
op_app_list(struct op *op)
{
	struct app *a = apps_find(op->tok.client_id);
	struct appstream *as;

	buf_addc(&op->body, '[');
	if (a != NULL)
		cds_list_for_each_entry(as, &a->streams, link) {
			if (as->link.prev != &a->streams)
				buf_addc(&op->body, ',');
			apps_render(as, op->base, &op->body);
		}
	buf_addc(&op->body, ']');
	op->status = 200;
}

static void
op_app_get(struct op *op)
{
	struct appstream *as = find_app_stream(op);

	if (as == NULL)
		return;
	apps_render(as, op->base, &op->body);
	op->status = 200;
}

static void
op_app_update(struct op *op)
{
	struct appstream *as = find_app_stream(op);

	if (as == NULL)
		return;
	if (op->def.key[0] != '\0' && strcmp(op->def.key, as->def.key) != 0) {
		op->status = 400;
		op->error = "key: a stream's key cannot be changed";
		return;
	}
	/* the next event is matched against the new definition: open
	 * connections follow it without a reconnect */
	as->def.types = op->def.types;
	appfilter_free(as->def.filter);
	as->def.filter = op->def.filter;
	op->def.filter = NULL;
	log_info("app %s: stream %s updated", as->app->client_id, as->def.key);
	apps_render(as, op->base, &op->body);
	op->status = 200;
}

static void
op_app_delete(struct op *op)
{
	struct app *a;
	struct appstream *as, *n;

	if (op->key[0] != '\0') {
		if ((as = find_app_stream(op)) == NULL)
			return;
		apps_render(as, op->base, &op->body);
		log_info("app %s: stream %s deleted", as->app->client_id,
		    as->def.key);
		apps_delete(as);
		op->status = 200;
		return;
	}
	op_app_list(op);
	if ((a = apps_find(op->tok.client_id)) != NULL)
		cds_list_for_each_entry_safe(as, n, &a->streams, link)
			apps_delete(as);
}

static void
op_app_attach(struct op *op)
{
	struct appstream *as;
	struct buf *h = &D.head;

	if (D.shutting_down) {
		op->status = 503;
		op->error = "shutting down";
		return;
	}
	if ((as = find_app_stream(op)) == NULL)
		return;
	op->status = 200;
	if (op->check_only)
		return;
	if (as->app->nconns >= (size_t)sl.cfg.max_app_streams) {
		op->status = 429;
		op->error = "too many app streams in use for this app "
		    "(max_app_streams)";
		return;
	}
	stream_random_id(op->cid);
	apps_attach(as, op->conn);
	/* the connection message goes first, before any event */
	h->len = 0;
	buf_adds(h, "{\"meta\":{\"type\":\"connection\",\"connection_id\":\"");
	buf_adds(h, op->cid);
	buf_adds(h, "\",\"stream\":{\"key\":");
	buf_json_str(h, as->def.key);
	buf_adds(h, ",\"object_types\":");
	appstream_render_types(as->def.types, h);
	buf_adds(h, "}}}");
	conn_push(op->conn, conn_item(op->conn, h->p, h->len, NULL, 0));
	if (op->has_cursor)
		begin_replay(op->conn, apps_resume_from(op->conn, D.replay,
		    op->cursor));
	log_debug("app %s: connection to stream %s", as->app->client_id,
	    as->def.key);
}

/* SIGHUP, once the new values are in sl.cfg: what the dispatcher holds
 * follows them. */
static void
op_reload(struct op *op)
{
	replay_set_limits(D.replay, sl.cfg.replay_window_ms,
	    sl.cfg.replay_max_bytes);
	ingest_set_max_line(D.ingest, sl.cfg.ingest_max_line);
	tick_rearm(D.tick.fd);
	end_revoked();
	op->status = 200;
}

static void
op_drained(struct op *op)
{
	struct conn *c = op->conn;

	/* a connection detached meanwhile is no longer catching up */
	if (c->catching_up)
		catch_up(c);
}

static void
exec_op(struct op *op)
{
	switch (op->kind) {
	case OP_ATTACH:		op_attach(op); break;
	case OP_DETACH:		op_detach(op); break;
	case OP_SUBSCRIBE:	op_subscribe(op); break;
	case OP_UNSUBSCRIBE:	op_unsubscribe(op); break;
	case OP_DELETE_STREAM:	op_delete_stream(op); break;
	case OP_LIST_STREAMS:	op_list_streams(op); break;
	case OP_SHUTDOWN:	op_shutdown(op); break;
	case OP_APP_CREATE:	op_app_create(op); break;
	case OP_APP_LIST:	op_app_list(op); break;
	case OP_APP_GET:	op_app_get(op); break;
	case OP_APP_UPDATE:	op_app_update(op); break;
	case OP_APP_DELETE:	op_app_delete(op); break;
	case OP_APP_ATTACH:	op_app_attach(op); break;
	case OP_DRAINED:	op_drained(op); break;
	case OP_RELOAD:		op_reload(op); break;
	}
}

static void
run_op(struct op *op)
{
	exec_op(op);
	if (op->async) {
		if (op->conn)
			conn_unref(op->conn);
		buf_free(&op->body);
		free(op);
	} else
		sem_post(&op->done);
}

static void
drain_ops(void)
{
	struct cds_wfcq_node *node;

	while ((node = __cds_wfcq_dequeue_blocking(&D.qhead, &D.qtail)) != NULL)
		run_op(caa_container_of(node, struct op, node));
}

static void
on_opev(struct pollable *p, uint32_t events)
{
	uint64_t v;

	(void)!read(p->fd, &v, sizeof(v));
	drain_ops();
}

static void
on_tick(struct pollable *p, uint32_t events)
{
	int64_t now = now_ms(), ka = sl.cfg.keepalive_interval_ms;
	struct stream *st;
	struct conn *c;
	uint64_t v;

	(void)!read(p->fd, &v, sizeof(v));
	if (D.rej_quiet > 0 && now - D.rej_logged_ms >= 1000) {
		log_warn("ingest: %llu more lines rejected in the last second",
		    (unsigned long long)D.rej_quiet);
		D.rej_quiet = 0;
		D.rej_logged_ms = now;
	}
	/* keepalives: only the consumers idle for an interval, oldest first */
	while (!cds_list_empty(&D.live)) {
		c = cds_list_first_entry(&D.live, struct conn, live);
		if (now - c->last_push_ms < ka)
			break;
		conn_push(c, conn_item(c, "", 0, NULL, 0));
		touched(c);
	}
	replay_expire(D.replay, wall_ms());
	publish_replay();
	PUB_SET(dispatch_tick_ms, now);
	/* streams nobody has read for replay_window are deleted: only
	 * those, longest idle first, so an idle tick costs nothing */
	while (!cds_list_empty(streams_idle())) {
		st = cds_list_first_entry(streams_idle(), struct stream, idle);
		if (now - st->idle_since_ms < sl.cfg.replay_window_ms)
			break;
		stream_delete(st);
	}
}

static void *
dispatch_main(void *arg)
{
	struct epoll_event evs[64];

	urcu_memb_register_thread();
	while (__atomic_load_n(&D.running, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(D.epfd, evs, 64, 1000);

		if (n < 0 && errno != EINTR) {
			log_err("%s: epoll_wait: %s", __func__, strerror(errno));
			break;
		}
		pthread_mutex_lock(&D.lock);
		for (int i = 0; i < n; i++) {
			struct pollable *p = evs[i].data.ptr;
			p->fn(p, evs[i].events);
			/* control ops wait for no ingest burst */
			if (p != &D.opev)
				drain_ops();
		}
		pthread_mutex_unlock(&D.lock);
	}
	pthread_mutex_lock(&D.lock);
	drain_ops();
	D.stopped = true;
	pthread_mutex_unlock(&D.lock);
	urcu_memb_unregister_thread();
	return NULL;
}

static int
add_pollable(struct pollable *p)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = p };

	return epoll_ctl(D.epfd, EPOLL_CTL_ADD, p->fd, &ev);
}

int
dispatch_start(char *err, size_t errlen)
{
	memset(&D, 0, sizeof(D));
	pthread_mutex_init(&D.lock, NULL);
	CDS_INIT_LIST_HEAD(&D.live);
	cds_wfcq_init(&D.qhead, &D.qtail);
	buf_init(&D.head);
	streams_init();
	apps_init();
	/* cursors of an earlier run are below the clock now */
	D.replay = replay_new(sl.cfg.replay_window_ms, sl.cfg.replay_max_bytes,
	    (uint64_t)wall_us());
	D.last_cursor = (uint64_t)wall_us();
	D.epfd = epoll_create1(EPOLL_CLOEXEC);
	D.opev.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	D.opev.fn = on_opev;
	D.tick.fd = tick_timerfd();
	D.tick.fn = on_tick;
	if (D.epfd < 0 || D.opev.fd < 0 || D.tick.fd < 0 ||
	    add_pollable(&D.opev) < 0 || add_pollable(&D.tick) < 0) {
		snprintf(err, errlen, "dispatcher: %s", strerror(errno));
		return -1;
	}
	D.ingest = ingest_open(sl.cfg.ingest, sl.cfg.ingest_max_line, D.epfd,
	    on_line, on_truncated, err, errlen);
	if (D.ingest == NULL)
		return -1;
	D.running = true;
	if (pthread_create(&D.thread, NULL, dispatch_main, NULL) != 0) {
		snprintf(err, errlen, "dispatcher: cannot start its thread");
		return -1;
	}
	return 0;
}

static void
enqueue(struct op *op)
{
	uint64_t one = 1;

	/* the eventfd is written only on empty -> non-empty */
	if (!cds_wfcq_enqueue(&D.qhead, &D.qtail, &op->node))
		(void)!write(D.opev.fd, &one, sizeof(one));
}

void
dispatch_call(struct op *op)
{
	op->async = false;
	cds_wfcq_node_init(&op->node);
	sem_init(&op->done, 0, 0);
	enqueue(op);
	while (sem_wait(&op->done) < 0 && errno == EINTR)
		;
	sem_destroy(&op->done);
}

/* An HTTP thread runs ops itself (dispatch_run), inside RCU read-side
 * sections like the dispatcher's: it registers with liburcu on its
 * first op and unregisters when it exits. */
static pthread_key_t rcu_key;
static pthread_once_t rcu_key_once = PTHREAD_ONCE_INIT;
static __thread bool rcu_registered;

static void
rcu_thread_exit(void *v)
{
	(void)v;
	urcu_memb_unregister_thread();
}

static void
rcu_key_make(void)
{
	if (pthread_key_create(&rcu_key, rcu_thread_exit) != 0)
		fatal("%s: pthread_key_create failed", __func__);
}

void
dispatch_run(struct op *op)
{
	if (!rcu_registered) {
		pthread_once(&rcu_key_once, rcu_key_make);
		urcu_memb_register_thread();
		(void)pthread_setspecific(rcu_key, op);	/* any non-NULL */
		rcu_registered = true;
	}
	op->async = false;
	pthread_mutex_lock(&D.lock);
	if (D.stopped) {
		pthread_mutex_unlock(&D.lock);
		op->status = 503;
		op->error = "the server is stopping";
		return;
	}
	/* what other threads queued before this runs first, in order */
	drain_ops();
	exec_op(op);
	pthread_mutex_unlock(&D.lock);
}

void
dispatch_post(struct op *op)
{
	op->async = true;
	cds_wfcq_node_init(&op->node);
	enqueue(op);
}

void
dispatch_stop(void)
{
	uint64_t one = 1;

	__atomic_store_n(&D.running, false, __ATOMIC_RELEASE);
	(void)!write(D.opev.fd, &one, sizeof(one));
	pthread_join(D.thread, NULL);
	urcu_memb_register_thread();
	streams_free_all();
	apps_free_all();
	replay_free(D.replay);
	urcu_memb_unregister_thread();
	ingest_close(D.ingest);
	close(D.opev.fd);
	close(D.tick.fd);
	close(D.epfd);
	buf_free(&D.head);
}
