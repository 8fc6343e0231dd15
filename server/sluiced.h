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

/* What the admin listener serves (admin.c): counters and gauges kept
 * by the threads that change them, with relaxed atomics. The latency
 * histogram lives in admin.c. */
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
	/* the dispatcher owns the replay log: it publishes these */
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
	struct metrics	 m;
};

extern struct sluiced sl;

#define METRIC_ADD(f, n)	__atomic_add_fetch(&sl.m.f, (n), __ATOMIC_RELAXED)
#define METRIC_GET(f)		__atomic_load_n(&sl.m.f, __ATOMIC_RELAXED)
#define METRIC_SET(f, v)	__atomic_store_n(&sl.m.f, (v), __ATOMIC_RELAXED)

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
