/* sluiced.h - the daemon's shared state and the role of each thread.
 *
 * Threads:
 *   main        parses the command line and config, starts everything,
 *               then waits for signals (SIGHUP reload, SIGTERM/SIGINT stop).
 *   dispatcher  (dispatch.c) reads the ingest pipe, stamps events, owns
 *               every user stream and the writes to the subscription
 *               table, and pushes rendered messages onto connection
 *               queues. HTTP threads ask it for stream changes through
 *               control ops, so that every change is ordered with the
 *               events around it.
 *   MHD pool    (http.c) libmicrohttpd's epoll threads: parse requests,
 *               answer the JSON API, and write chunked streams from
 *               their connection queues (conn.c). They never enter an
 *               RCU read-side section.
 *   ws workers  (ws.c) one epoll loop each: own the upgraded WebSocket
 *               sockets handed to them, read frames (wssess.c),
 *               ping, and drop dead peers.
 *   admin       (admin.c) libmicrohttpd's thread for admin_listen:
 *               /healthz and /metrics, from atomics only.
 */
#ifndef SLUICED_H
#define SLUICED_H

#include <pthread.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "route.h"
#include "subtable.h"
#include "token.h"

struct dispatch;
struct http;

/* What the admin listener serves (admin.c): counters and gauges, kept
 * per thread. Each thread adds to a shard of its own (a load and a
 * store, no locked instruction, no cache line shared with another
 * writer: on the delivery path a shared counter bounced between the
 * dispatcher's and the workers' cores several times per message), and
 * the admin thread sums the shards. A gauge is the sum of every
 * thread's ups and downs. */
#define LAT_BUCKETS	16
struct metrics {
	uint64_t	events_ingested;
	uint64_t	rejected[INGEST_REASONS];	/* by ingest_reasons[] */
	uint64_t	deliveries_chunked;
	uint64_t	deliveries_ws;
	uint64_t	slow_consumer_drops;
	uint64_t	ws_bytes_written;
	int64_t		conns[2][2];	/* open, [conn_transport][conn_kind] */
	int64_t		queued_bytes;
	int64_t		streams;	/* stream.c */
	int64_t		subscriptions;
	/* the latency histogram (admin.c): per bucket, not cumulative;
	 * the last is above the last bound */
	uint64_t	lat_count[LAT_BUCKETS + 1];
	uint64_t	lat_sum_us;
};

/* A thread's shard, made on its first count and kept for the life of
 * the process, since counters must never go down. */
struct metrics_shard {
	struct metrics	 m;
	struct metrics_shard *next;
} __attribute__((aligned(64)));

struct metrics *metrics_mine(void);
/* The list of shards, for summing (newest first). */
const struct metrics_shard *metrics_shards(void);

/* What only the dispatcher knows, published by it (relaxed atomics). */
struct published {
	uint64_t	replay_bytes;
	uint64_t	replay_events;
	int64_t		replay_oldest_ms;	/* its oldest event's ts; 0: none */
	int64_t		dispatch_tick_ms;	/* now_ms at its last tick */
};

struct sluiced {
	struct config	 cfg;
	const char	*config_path;
	struct tokens	*tokens;
	struct routes	*routes;	/* swapped by a reload: read it under */
	pthread_rwlock_t routes_lock;	/* the read lock */
	struct subtable	*subs;
	struct dispatch	*disp;
	struct http	*http;
	struct published pub;
};

extern struct sluiced sl;

/* this thread is its shard's only writer */
#define METRIC_ADD(f, n) do {						\
	__typeof__(metrics_mine()->f) *p_ = &metrics_mine()->f;		\
	__atomic_store_n(p_, __atomic_load_n(p_, __ATOMIC_RELAXED) +	\
	    (__typeof__(*p_))(n), __ATOMIC_RELAXED);			\
} while (0)
/* the sum over the shards (a gauge may be read mid-move, one thread's
 * down before another's up: readers of gauges clamp at 0) */
#define METRIC_GET(f) __extension__ ({					\
	__typeof__(metrics_mine()->f) v_ = 0;				\
	for (const struct metrics_shard *s_ = metrics_shards(); s_ != NULL; \
	    s_ = s_->next)						\
		v_ += __atomic_load_n(&s_->m.f, __ATOMIC_RELAXED);	\
	v_;								\
})
#define PUB_GET(f)		__atomic_load_n(&sl.pub.f, __ATOMIC_RELAXED)
#define PUB_SET(f, v)		__atomic_store_n(&sl.pub.f, (v), __ATOMIC_RELAXED)

int64_t now_ms(void);		/* CLOCK_MONOTONIC */
/* A non-blocking timerfd ticking often enough for keepalive_interval:
 * a quarter of it, between 25 ms and 1 s. -1 on error. */
int tick_timerfd(void);
/* Re-arm a tick timer for the keepalive_interval now in force. */
void tick_rearm(int fd);
/* The tick period for the keepalive_interval now in force, ms. */
int64_t tick_period_ms(void);
/* Bumped when a reload changes keepalive_interval. */
extern unsigned tick_generation;
int64_t wall_ms(void);		/* CLOCK_REALTIME */
int64_t wall_us(void);

#endif
