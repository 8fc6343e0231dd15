/* admin.c - the admin listener: a libmicrohttpd daemon of its own on
 * admin_listen, one internal thread, serving /healthz and /metrics in
 * the Prometheus text format (0.0.4). It never asks another thread for
 * anything: it sums the counters, gauges and latency histogram that
 * the threads keep in shards of their own (sluiced.h), and reads what
 * the dispatcher publishes of what only it may look at, such as the
 * replay log. */
#include "admin.h"
#include "buf.h"
#include "http.h"
#include "log.h"
#include "sluiced.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* /healthz says the dispatcher is stuck when it has not ticked (at
 * least once a second) for this long */
#define STALL_MS	10000

static struct MHD_Daemon *mhd;
static bool stopping;		/* atomic */
static int64_t started_ms;

/* ---- the latency histogram ---- */

static const int64_t lat_le_us[LAT_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000,
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
static const char *const lat_le[LAT_BUCKETS] = {
	"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
	"0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
};

static struct metrics_shard *shards;	/* pushed with a CAS, never removed */
static __thread struct metrics_shard *my_shard;

struct metrics *
metrics_mine(void)
{
	struct metrics_shard *s = my_shard;
	void *p;

	if (s != NULL)
		return &s->m;
	if (posix_memalign(&p, 64, sizeof(*s)) != 0)
		fatal("%s: out of memory", __func__);
	s = memset(p, 0, sizeof(*s));
	s->next = __atomic_load_n(&shards, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(&shards, &s->next, s, true,
	    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
	my_shard = s;
	return &s->m;
}

const struct metrics_shard *
metrics_shards(void)
{
	return __atomic_load_n(&shards, __ATOMIC_ACQUIRE);
}

/* An event's cursor is its stamp: the wall clock at ingest in
 * microseconds (dispatch.c), or just above it when events come faster
 * than one a microsecond. A clock stepped back reads as no delay. */
void
admin_observe_latency(int64_t now, uint64_t stamp)
{
	int64_t d = now - (int64_t)stamp;
	int b;

	if (d < 0)
		d = 0;
	for (b = 0; b < LAT_BUCKETS && d > lat_le_us[b]; b++)
		;
	METRIC_ADD(lat_count[b], 1);
	METRIC_ADD(lat_sum_us, (uint64_t)d);
}

void
admin_observe_written(const struct qitem *q)
{
	int64_t now = 0;

	for (; q != NULL; q = q->next) {
		if (!q->live)
			continue;
		if (now == 0)
			now = wall_us();
		admin_observe_latency(now, q->cursor);
	}
}

/* ---- /metrics ---- */

static void
family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
one(struct buf *b, const char *name, const char *type, const char *help,
    long long v)
{
	family(b, name, type, help);
	buf_printf(b, "%s %lld\n", name, v);
}

static void
latency(struct buf *b)
{
	static const char name[] = "sluice_delivery_latency_seconds";
	uint64_t n[LAT_BUCKETS + 1] = { 0 }, sum = METRIC_GET(lat_sum_us);
	uint64_t cum = 0;
	const struct metrics_shard *s;

	for (s = metrics_shards(); s != NULL; s = s->next)
		for (int i = 0; i <= LAT_BUCKETS; i++)
			n[i] += __atomic_load_n(&s->m.lat_count[i],
			    __ATOMIC_RELAXED);
	family(b, name, "histogram", "Time from an event's stamp at ingest "
	    "to the write of its message into a consumer's socket. Every "
	    "live delivery is observed; replayed events are not.");
	for (int i = 0; i < LAT_BUCKETS; i++) {
		cum += n[i];
		buf_printf(b, "%s_bucket{le=\"%s\"} %llu\n", name, lat_le[i],
		    (unsigned long long)cum);
	}
	/* _count is the +Inf bucket, so that the two always agree */
	cum += n[LAT_BUCKETS];
	buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	    (unsigned long long)cum);
	buf_printf(b, "%s_sum %llu.%06llu\n", name,
	    (unsigned long long)(sum / 1000000),
	    (unsigned long long)(sum % 1000000));
	buf_printf(b, "%s_count %llu\n", name, (unsigned long long)cum);
}

/* a sum of shards read while threads move it may dip below 0 */
static long long
gauge(int64_t v)
{
	return v < 0 ? 0 : (long long)v;
}

static void
render_metrics(struct buf *b)
{
	static const char *const tname[2] = { "chunked", "websocket" };
	static const char *const kname[2] = { "user", "app" };
	int64_t oldest = PUB_GET(replay_oldest_ms), span = 0;

	family(b, "sluice_connections", "gauge", "Consumer connections open "
	    "now, by transport and kind (app streams are WebSocket only).");
	for (int t = 0; t < 2; t++)
		for (int k = 0; k < 2; k++)
			buf_printf(b, "sluice_connections{transport=\"%s\","
			    "kind=\"%s\"} %lld\n", tname[t], kname[k],
			    gauge(METRIC_GET(conns[t][k])));
	one(b, "sluice_streams", "gauge", "User streams, with or without a "
	    "consumer.", gauge(METRIC_GET(streams)));
	one(b, "sluice_subscriptions", "gauge", "Subscriptions of user "
	    "streams.", gauge(METRIC_GET(subscriptions)));
	one(b, "sluice_tokens", "gauge", "Tokens that are valid now, from "
	    "the tokens file and the ingest pipe.",
	    (long long)tokens_count(sl.tokens));
	one(b, "sluice_events_ingested_total", "counter", "Events accepted "
	    "from the ingest pipe.", (long long)METRIC_GET(events_ingested));
	family(b, "sluice_ingest_rejected_total", "counter", "Ingest lines "
	    "rejected, by reason (sluice-ingest(7)).");
	for (int i = 0; i < INGEST_REASONS; i++) {
		/* blank lines are skipped, not rejected */
		if (strcmp(ingest_reasons[i], "empty") == 0)
			continue;
		buf_printf(b, "sluice_ingest_rejected_total{reason=\"%s\"} "
		    "%llu\n", ingest_reasons[i],
		    (unsigned long long)METRIC_GET(rejected[i]));
	}
	family(b, "sluice_deliveries_total", "counter", "Event messages "
	    "queued to consumers, live or replayed, by transport.");
	buf_printf(b, "sluice_deliveries_total{transport=\"chunked\"} %llu\n"
	    "sluice_deliveries_total{transport=\"websocket\"} %llu\n",
	    (unsigned long long)METRIC_GET(deliveries_chunked),
	    (unsigned long long)METRIC_GET(deliveries_ws));
	one(b, "sluice_slow_consumer_drops_total", "counter", "Connections "
	    "closed because their send buffer was full (send_buffer_limit).",
	    (long long)METRIC_GET(slow_consumer_drops));
	one(b, "sluice_queued_bytes", "gauge", "Bytes queued to consumers "
	    "and not yet written to their sockets.",
	    gauge(METRIC_GET(queued_bytes)));
	one(b, "sluice_websocket_written_bytes_total", "counter", "Bytes "
	    "written to WebSocket sockets, frames of every kind.",
	    (long long)METRIC_GET(ws_bytes_written));
	one(b, "sluice_replay_events", "gauge", "Events in the replay log.",
	    (long long)PUB_GET(replay_events));
	one(b, "sluice_replay_bytes", "gauge", "Memory the replay log holds, "
	    "as counted against replay_max_bytes.",
	    (long long)PUB_GET(replay_bytes));
	if (oldest > 0 && PUB_GET(replay_events) > 0 &&
	    (span = wall_ms() - oldest) < 0)
		span = 0;
	family(b, "sluice_replay_span_seconds", "gauge", "Age of the oldest "
	    "event in the replay log; 0 when it is empty.");
	buf_printf(b, "sluice_replay_span_seconds %lld.%03lld\n",
	    (long long)(span / 1000), (long long)(span % 1000));
	latency(b);
	span = now_ms() - started_ms;
	family(b, "sluice_uptime_seconds", "gauge", "Seconds since sluiced "
	    "started.");
	buf_printf(b, "sluice_uptime_seconds %lld.%03lld\n",
	    (long long)(span / 1000), (long long)(span % 1000));
}

/* ---- requests ---- */

static enum MHD_Result
reply(struct MHD_Connection *mc, unsigned code, const char *type,
    struct buf *body)
{
	const char *hdr[] = { MHD_HTTP_HEADER_CACHE_CONTROL, "no-store",
	    code == 405 ? MHD_HTTP_HEADER_ALLOW : NULL, "GET, HEAD", NULL };
	enum MHD_Result ret = http_reply(mc, code, type, body->p, body->len,
	    hdr);

	buf_free(body);
	return ret;
}

static enum MHD_Result
reply_text(struct MHD_Connection *mc, unsigned code, const char *text)
{
	struct buf b;

	buf_init(&b);
	buf_adds(&b, text);
	return reply(mc, code, "text/plain; charset=utf-8", &b);
}

static enum MHD_Result
healthz(struct MHD_Connection *mc)
{
	int64_t tick = PUB_GET(dispatch_tick_ms);

	if (__atomic_load_n(&stopping, __ATOMIC_RELAXED))
		return reply_text(mc, 503, "stopping\n");
	if (tick != 0 && now_ms() - tick > STALL_MS)
		return reply_text(mc, 503, "dispatcher stalled\n");
	return reply_text(mc, 200, "ok\n");
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *mc, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_size, void **req_cls)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	struct buf b;

	if (strcmp(url, "/healthz") != 0 && strcmp(url, "/metrics") != 0)
		return reply_text(mc, 404, "not found: /healthz and /metrics "
		    "are served here\n");
	if (!get)
		return reply_text(mc, 405, "use GET\n");
	if (strcmp(url, "/healthz") == 0)
		return healthz(mc);
	buf_init(&b);
	render_metrics(&b);
	return reply(mc, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

int
admin_start(char *err, size_t errlen)
{
	const char *addr = sl.cfg.admin_listen;
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
	    MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;
	char host[256];
	int port;

	started_ms = now_ms();
	if (addr == NULL || *addr == '\0')
		return 0;
	if (http_sockaddr("admin_listen", addr, &ss, host, sizeof(host), &port,
	    err, errlen) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* a scrape or a probe at a time: a few connections are plenty */
	mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, "admin",
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
	    MHD_OPTION_END);
	if (mhd == NULL) {
		snprintf(err, errlen, "cannot listen on admin_listen %s (%s)",
		    addr, errno ? strerror(errno) : "libmicrohttpd refused");
		return -1;
	}
	di = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
	log_info("admin listening on %s%s%s:%u", strchr(host, ':') ? "[" : "",
	    host[0] ? host : "0.0.0.0", strchr(host, ':') ? "]" : "",
	    di ? di->port : (unsigned)port);
	return 0;
}

void
admin_shutting_down(void)
{
	__atomic_store_n(&stopping, true, __ATOMIC_RELAXED);
}

void
admin_stop(void)
{
	if (mhd != NULL)
		MHD_stop_daemon(mhd);
	mhd = NULL;
}
