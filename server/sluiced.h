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
 *               sockets handed to them, frame with wslay (wssess.c),
 *               ping, and drop dead peers.
 */
#ifndef SLUICED_H
#define SLUICED_H

#include <stdint.h>

#include "config.h"
#include "event.h"
#include "route.h"
#include "subtable.h"
#include "token.h"

struct dispatch;
struct http;

/* Counters read by the admin listener; updated with relaxed atomics. */
struct metrics {
	uint64_t	events_ingested;
	uint64_t	rejected[INGEST_REASONS];	/* by ingest_reasons[] */
	uint64_t	deliveries_chunked;
	uint64_t	deliveries_ws;
	uint64_t	slow_consumer_drops;
	uint64_t	ws_bytes_written;
	int64_t		conns_chunked_user;
	int64_t		conns_ws_user;
	int64_t		conns_ws_app;
	int64_t		queued_bytes;
};

struct sluiced {
	struct config	 cfg;
	const char	*config_path;
	struct tokens	*tokens;
	struct routes	*routes;
	struct subtable	*subs;
	struct dispatch	*disp;
	struct http	*http;
	struct metrics	 m;
};

extern struct sluiced sl;

#define METRIC_ADD(f, n)	__atomic_add_fetch(&sl.m.f, (n), __ATOMIC_RELAXED)
#define METRIC_GET(f)		__atomic_load_n(&sl.m.f, __ATOMIC_RELAXED)

int64_t now_ms(void);		/* CLOCK_MONOTONIC */
/* A non-blocking timerfd ticking often enough for keepalive_interval:
 * a quarter of it, between 25 ms and 1 s. -1 on error. */
int tick_timerfd(void);
/* Re-arm a tick timer for the keepalive_interval now in force. */
void tick_rearm(int fd);
/* Bumped when a reload changes keepalive_interval. */
extern unsigned tick_generation;
int64_t wall_ms(void);		/* CLOCK_REALTIME */
int64_t wall_us(void);

#endif
