/* sluice-bench.c - the load generator: opens N streams on a target
 * server, subscribes them, publishes events at a rate (or as fast as
 * the slowest consumer allows) and reports connect rate, deliveries/s,
 * latency percentiles, losses, and the server's memory and CPU.
 * The phases are in run(); the roles of the threads in bench.h. */
#include "bench.h"
#include "sys.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define STALL_US	(3 * 1000000LL)	/* a window slot that long: skip it */

struct sample {
	int64_t		 t, wall;
	double		 srv_cpu, self_cpu, machine;
	struct sched_figs srv_sched, self_sched;
	uint64_t	 delivered;
};

struct report {
	uint64_t	 up, failed, subscribed, sub_failed;
	double		 t_open, t_subscribed;		/* s from the first connect */
	uint64_t	 sent, measured_events;
	double		 measured_s, drain_s;	/* publishing, draining */
	uint64_t	 delivered, expected;
	double		 deliver_s;		/* measuring start to last delivery */
	uint64_t	 delivered_measured;	/* in deliver_s */
	struct hist	 lat;
	uint64_t	 lost, dups, ooo, closed, ws_closed, warnings, skips;
	uint64_t	 no_hello, keepalives, pings, bad;
	long		 rss_before, rss_connected, rss_end;
	double		 srv_cpu, self_cpu;		/* % over the measured interval */
	double		 rest_cpu;	/* the rest of the machine, same interval */
	double		 per_cpu_s;	/* deliveries per server CPU second */
	/* how the two shared the cores, measured interval: % of it spent
	 * runnable but waiting for a CPU (threads summed), and context
	 * switches per 1,000 deliveries, slept and preempted */
	double		 srv_wait, self_wait;
	double		 srv_vol, srv_invol, self_vol, self_invol;
	double		 idle_s, idle_srv_cpu, idle_self_cpu;	/* --idle */
	int		 server_exit;
	char		 err[ERR_MAX], sub_err[ERR_MAX];
	struct sample	 s0, s1;	/* measuring starts; last progress */
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: sluice-bench [-n N] [--transport ws|chunked|mix] [--keys one|each|mix]\n"
	    "                    [--rate R] [--duration S] [--target T] [options]\n"
	    "  --target T            what to measure: sluice, nchan, floor, floor:K, or\n"
	    "                        several, comma-separated, one after the other, with\n"
	    "                        a side-by-side table; all = sluice,nchan,floor\n"
	    "                        (default sluice)\n"
	    "  -n N                  consumers (default 100)\n"
	    "  --transport T         ws, chunked, or mix (every other one) (default ws)\n"
	    "  --keys K              one: all on /posts/stream/global; each: consumer i on\n"
	    "                        /posts/tag/bench{i}; mix: half and half (default one)\n"
	    "  --display-sets S      consumer i opens its stream with display option set\n"
	    "                        i %% S, 1-4: none, include_html=0, include_raw=1,\n"
	    "                        include_annotations=1&include_html=0 (default 1)\n"
	    "  --rate R              events/s; 0: as fast as the window allows (default 100)\n"
	    "  --window W            events the publisher may be ahead of the slowest\n"
	    "                        consumer (default 256)\n"
	    "  --warmup S            seconds of events before measuring (default 1)\n"
	    "  --duration S          seconds measured (default 10)\n"
	    "  --events N            stop after N events in all, if that comes first\n"
	    "  --size B              bytes per ingest record (default 320; at least ~320)\n"
	    "  --drain S             after the last event, wait up to S s without\n"
	    "                        progress for the rest to arrive (default 5)\n"
	    "  --threads T           receiver threads (default 1)\n"
	    "  --pin                 run this program on its first CPU and the servers\n"
	    "                        it starts on the others (needs 2 CPUs or more)\n"
	    "  --sources K           bind consumers to 127.0.0.1..127.0.0.K (default 4)\n"
	    "  --inflight N          connects in flight at once (default 256)\n"
	    "  --api-conns N         keep-alive connections subscribing (default 4)\n"
	    "  --connect-timeout S   for all streams to open (default 60)\n"
	    "  --sluiced PATH        the sluiced to start (default: the one built beside\n"
	    "                        this program, else sluiced from $PATH)\n"
	    "  --conf KEY=VALUE      add to or replace in its config (repeatable)\n"
	    "  --keep                keep its temp dir (config and log)\n"
	    "  --connect HOST:PORT --ingest PATH [--pid PID]\n"
	    "                        measure a running sluiced instead (PID: for its\n"
	    "                        RSS and CPU)\n"
	    "  --idle S              once all are subscribed, S s of server CPU with\n"
	    "                        nothing published (idle cost)\n"
	    "  --floor-batch K       floor: up to K queued frames per write (default 1)\n"
	    "  --pub-conns N         nchan: publisher connections (default 4)\n"
	    "  --nginx-workers N     nchan: worker_processes (default: the CPUs the\n"
	    "                        server may run on, as sluiced's workers)\n"
	    "  --nginx PATH          nchan: the nginx binary (default /usr/sbin/nginx)\n"
	    "  --nchan-module PATH   nchan: ngx_nchan_module.so (default Debian's)\n"
	    "  --json                the report as one JSON object on stdout\n"
	    "  -q, --quiet           no progress lines on stderr\n");
}

static double
num_arg(const char *name, const char *s, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
		fprintf(stderr, "sluice-bench: %s wants a number from %g to %g, "
		    "not '%s'\n", name, lo, hi, s);
		exit(2);
	}
	return v;
}

static int
pick(const char *name, const char *s, const char *const *words)
{
	for (int i = 0; words[i] != NULL; i++)
		if (strcmp(s, words[i]) == 0)
			return i;
	fprintf(stderr, "sluice-bench: bad %s '%s'\n", name, s);
	exit(2);
}

enum {
	OPT_TRANSPORT = 256, OPT_SOURCES, OPT_THREADS, OPT_KEYS, OPT_DISPLAY,
	OPT_RATE, OPT_WINDOW, OPT_WARMUP, OPT_DURATION, OPT_EVENTS, OPT_SIZE,
	OPT_DRAIN, OPT_INFLIGHT, OPT_API, OPT_CTIMEOUT, OPT_SLUICED, OPT_CONF,
	OPT_CONNECT, OPT_INGEST, OPT_PID, OPT_KEEP, OPT_JSON, OPT_TARGET,
	OPT_IDLE, OPT_FLOOR_BATCH, OPT_PUB_CONNS, OPT_NGINX_WORKERS, OPT_NGINX,
	OPT_NCHAN_MODULE, OPT_PIN
};

#define TARGETS_MAX	8

/* one entry of --target */
struct run {
	const struct target	*t;
	unsigned		 floor_batch;	/* 0: --floor-batch */
	char			 label[32];
	/* its outcome */
	struct bench		*b;
	struct report		*r;
	int			 rc;		/* 0 clean, 1 did not add up,
						 * 2 could not run */
};

static unsigned
parse_targets(const char *arg, struct run *runs)
{
	char buf[256], *save = NULL, *w;
	unsigned n = 0;

	snprintf(buf, sizeof(buf), "%s", arg);
	for (w = strtok_r(buf, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
		const char *one[3] = { w, NULL, NULL };
		unsigned k = 1;

		if (strcmp(w, "all") == 0) {
			one[0] = "sluice";
			one[1] = "nchan";
			one[2] = "floor";
			k = 3;
		}
		for (unsigned i = 0; i < k; i++) {
			struct run *r = &runs[n];
			const char *name = one[i];

			if (n == TARGETS_MAX) {
				fprintf(stderr, "sluice-bench: at most %d "
				    "targets\n", TARGETS_MAX);
				exit(2);
			}
			memset(r, 0, sizeof(*r));
			if (strcmp(name, "sluice") == 0)
				r->t = &target_sluice;
			else if (strcmp(name, "nchan") == 0)
				r->t = &target_nchan;
			else if (strcmp(name, "floor") == 0)
				r->t = &target_floor;
			else if (strncmp(name, "floor:", 6) == 0) {
				r->t = &target_floor;
				r->floor_batch = (unsigned)num_arg("--target "
				    "floor:K", name + 6, 1, 1024);
			} else {
				fprintf(stderr, "sluice-bench: bad --target "
				    "'%s': sluice, nchan, floor, floor:K or "
				    "all\n", name);
				exit(2);
			}
			n++;
		}
	}
	if (n == 0) {
		fprintf(stderr, "sluice-bench: --target names nothing\n");
		exit(2);
	}
	return n;
}

static unsigned
parse_args(struct opts *o, struct run *runs, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "transport", required_argument, NULL, OPT_TRANSPORT },
		{ "sources", required_argument, NULL, OPT_SOURCES },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "pin", no_argument, NULL, OPT_PIN },
		{ "keys", required_argument, NULL, OPT_KEYS },
		{ "display-sets", required_argument, NULL, OPT_DISPLAY },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "window", required_argument, NULL, OPT_WINDOW },
		{ "warmup", required_argument, NULL, OPT_WARMUP },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "events", required_argument, NULL, OPT_EVENTS },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "drain", required_argument, NULL, OPT_DRAIN },
		{ "inflight", required_argument, NULL, OPT_INFLIGHT },
		{ "api-conns", required_argument, NULL, OPT_API },
		{ "connect-timeout", required_argument, NULL, OPT_CTIMEOUT },
		{ "sluiced", required_argument, NULL, OPT_SLUICED },
		{ "conf", required_argument, NULL, OPT_CONF },
		{ "connect", required_argument, NULL, OPT_CONNECT },
		{ "ingest", required_argument, NULL, OPT_INGEST },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "keep", no_argument, NULL, OPT_KEEP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "idle", required_argument, NULL, OPT_IDLE },
		{ "floor-batch", required_argument, NULL, OPT_FLOOR_BATCH },
		{ "pub-conns", required_argument, NULL, OPT_PUB_CONNS },
		{ "nginx-workers", required_argument, NULL, OPT_NGINX_WORKERS },
		{ "nginx", required_argument, NULL, OPT_NGINX },
		{ "nchan-module", required_argument, NULL, OPT_NCHAN_MODULE },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const transports[] = { "ws", "chunked", "mix", NULL };
	static const char *const keys[] = { "one", "each", "mix", NULL };
	const char *targets = "sluice";
	unsigned nruns;
	int ch;

	*o = (struct opts){
		.n = 100, .transport = TR_WS, .sources = 4, .threads = 1,
		.keys = KEYS_ONE, .display_sets = 1, .rate = 100, .window = 256,
		.warmup = 1, .duration = 10, .drain = 5, .size = 320,
		.inflight = 256, .api_conns = 4, .connect_timeout = 60,
		.floor_batch = 1, .pub_conns = 4, .nginx_workers = 0,
	};
	while ((ch = getopt_long(argc, argv, "n:qh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n': o->n = (unsigned)num_arg("-n", optarg, 1, 1e7); break;
		case 'q': o->quiet = true; break;
		case 'h': usage(stdout); exit(0);
		case OPT_TRANSPORT: o->transport = pick("--transport", optarg, transports); break;
		case OPT_KEYS: o->keys = pick("--keys", optarg, keys); break;
		case OPT_SOURCES: o->sources = (unsigned)num_arg("--sources", optarg, 1, 254); break;
		case OPT_THREADS: o->threads = (unsigned)num_arg("--threads", optarg, 1, 64); break;
		case OPT_PIN: o->pin = true; break;
		case OPT_DISPLAY: o->display_sets = (unsigned)num_arg("--display-sets", optarg, 1, 4); break;
		case OPT_RATE: o->rate = num_arg("--rate", optarg, 0, 1e7); break;
		case OPT_WINDOW: o->window = (unsigned)num_arg("--window", optarg, 1, 1 << 20); break;
		case OPT_WARMUP: o->warmup = num_arg("--warmup", optarg, 0, 3600); break;
		case OPT_DURATION: o->duration = num_arg("--duration", optarg, 0.01, 86400); break;
		case OPT_EVENTS: o->events = (uint64_t)num_arg("--events", optarg, 1, 1e15); break;
		case OPT_SIZE: o->size = (unsigned)num_arg("--size", optarg, 1, 1 << 20); break;
		case OPT_DRAIN: o->drain = num_arg("--drain", optarg, 0, 3600); break;
		case OPT_INFLIGHT: o->inflight = (unsigned)num_arg("--inflight", optarg, 1, 1e6); break;
		case OPT_API: o->api_conns = (unsigned)num_arg("--api-conns", optarg, 1, 64); break;
		case OPT_CTIMEOUT: o->connect_timeout = num_arg("--connect-timeout", optarg, 0.1, 86400); break;
		case OPT_SLUICED: o->sluiced = optarg; break;
		case OPT_CONF:
			if (strchr(optarg, '=') == NULL || o->nconf == CONF_MAX) {
				fprintf(stderr, "sluice-bench: --conf wants KEY=VALUE "
				    "(at most %d)\n", CONF_MAX);
				exit(2);
			}
			o->conf[o->nconf++] = optarg;
			break;
		case OPT_CONNECT: o->connect = optarg; break;
		case OPT_INGEST: o->ingest = optarg; break;
		case OPT_PID: o->pid = (pid_t)num_arg("--pid", optarg, 1, INT_MAX); break;
		case OPT_KEEP: o->keep = true; break;
		case OPT_JSON: o->json = true; break;
		case OPT_TARGET: targets = optarg; break;
		case OPT_IDLE: o->idle = num_arg("--idle", optarg, 0, 3600); break;
		case OPT_FLOOR_BATCH: o->floor_batch = (unsigned)num_arg("--floor-batch", optarg, 1, 1024); break;
		case OPT_PUB_CONNS: o->pub_conns = (unsigned)num_arg("--pub-conns", optarg, 1, 64); break;
		case OPT_NGINX_WORKERS: o->nginx_workers = (unsigned)num_arg("--nginx-workers", optarg, 1, 64); break;
		case OPT_NGINX: o->nginx = optarg; break;
		case OPT_NCHAN_MODULE: o->nchan_module = optarg; break;
		default: usage(stderr); exit(2);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(2);
	}
	if (o->threads > o->n)
		o->threads = o->n;
	if (o->connect != NULL && o->pin) {
		fprintf(stderr, "sluice-bench: --pin places the servers it "
		    "starts; with --connect, place the server yourself "
		    "(taskset)\n");
		exit(2);
	}
	if (o->connect != NULL && (o->sluiced != NULL || o->nconf > 0)) {
		fprintf(stderr, "sluice-bench: --connect measures a running "
		    "sluiced: --sluiced and --conf do not apply\n");
		exit(2);
	}
	nruns = parse_targets(targets, runs);
	for (unsigned i = 0; i < nruns; i++) {
		if (runs[i].t != &target_sluice && o->connect != NULL) {
			fprintf(stderr, "sluice-bench: --connect measures a "
			    "running sluiced: --target sluice only\n");
			exit(2);
		}
		if (runs[i].t != &target_sluice && o->transport != TR_WS) {
			fprintf(stderr, "sluice-bench: %s is measured over "
			    "WebSocket only (--transport ws)\n", runs[i].t->name);
			exit(2);
		}
		if (runs[i].t == &target_floor && runs[i].floor_batch == 0)
			runs[i].floor_batch = o->floor_batch;
		if (runs[i].t == &target_floor && runs[i].floor_batch > 1)
			snprintf(runs[i].label, sizeof(runs[i].label),
			    "floor k=%u", runs[i].floor_batch);
		else
			snprintf(runs[i].label, sizeof(runs[i].label), "%s",
			    runs[i].t->name);
	}
	return nruns;
}

/* Can n consumers be opened at all? Raises RLIMIT_NOFILE to the hard
 * limit first (a sluiced started by the bench inherits it). */
static int
check_limits(struct bench *b)
{
	struct rlimit rl;
	unsigned long long need = (unsigned long long)b->o.n + b->o.api_conns +
	    b->o.pub_conns + 64;
	unsigned lo = 32768, hi = 60999;
	FILE *f;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    need > rl.rlim_cur) {
		fprintf(stderr, "sluice-bench: -n %u cannot be reached: this "
		    "process may have %llu files open (RLIMIT_NOFILE, hard limit "
		    "%llu) and needs %llu; -n %llu at most\n", b->o.n,
		    (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
		    need, (unsigned long long)rl.rlim_cur - b->o.api_conns -
		    b->o.pub_conns - 64);
		return -1;
	}
	if ((f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) != NULL) {
		if (fscanf(f, "%u %u", &lo, &hi) != 2)
			lo = 32768, hi = 60999;
		fclose(f);
	}
	if ((unsigned long long)b->o.n > (unsigned long long)(hi - lo + 1) *
	    b->o.sources) {
		fprintf(stderr, "sluice-bench: -n %u cannot be reached: %u "
		    "ephemeral ports (%u-%u) per source address x %u sources; "
		    "raise --sources\n", b->o.n, hi - lo + 1, lo, hi, b->o.sources);
		return -1;
	}
	return 0;
}

/* Who gets what: a consumer is on the shared key or its own; events
 * go to all shared-key consumers and to one own-key consumer in turn. */
static int
setup_consumers(struct bench *b)
{
	const struct opts *o = &b->o;
	uint64_t ring = 1024;

	b->cons = calloc(o->n, sizeof(*b->cons));
	b->tagcons = calloc(o->n, sizeof(*b->tagcons));
	while (ring < (uint64_t)o->window * 2)
		ring *= 2;
	b->done = calloc(ring, sizeof(*b->done));
	b->mask = ring - 1;
	if (b->cons == NULL || b->tagcons == NULL || b->done == NULL)
		return -1;
	for (uint32_t i = 0; i < o->n; i++) {
		struct consumer *c = &b->cons[i];

		c->fd = -1;
		c->idx = i;
		c->ws = o->transport == TR_WS || (o->transport == TR_MIX && i % 2 == 0);
		c->display = (uint8_t)(i % o->display_sets);
		c->global = o->keys == KEYS_ONE || (o->keys == KEYS_MIX && i % 2 == 0);
		if (c->global) {
			b->nglobal++;
			c->stride = 1;
			c->next_seq = 1;
		} else {
			c->turn = b->ntag;
			c->next_seq = c->turn + 1;
			b->tagcons[b->ntag++] = i;
		}
	}
	for (uint32_t i = 0; i < o->n; i++)
		if (!b->cons[i].global)
			b->cons[i].stride = b->ntag;
	return 0;
}

long
event_tag_consumer(const struct bench *b, uint64_t seq)
{
	return b->ntag ? (long)b->tagcons[(seq - 1) % b->ntag] : -1;
}

size_t
event_record(const struct bench *b, uint64_t seq, char *out, size_t cap)
{
	char keys[64];
	long tag = event_tag_consumer(b, seq);
	unsigned long long q = (unsigned long long)seq;
	size_t pad;
	int w;

	if (tag >= 0)
		snprintf(keys, sizeof(keys), "%s\"tag:bench%ld\"",
		    b->nglobal ? "\"global\"," : "", tag);
	else
		snprintf(keys, sizeof(keys), "\"global\"");
	w = snprintf(out, cap,
	    "{\"type\":\"post\",\"action\":\"create\",\"id\":"
	    "\"%llu\",\"keys\":[%s],\"data\":{\"id\":\"%llu\","
	    "\"bench_seq\":%llu,\"bench_t\":%lld,\"content\":"
	    "{\"text\":\"post\",\"html\":\"<p>post</p>\"},"
	    "\"raw\":[{\"type\":\"x\",\"value\":{}}],"
	    "\"annotations\":[{\"type\":\"x\",\"value\":{}}],"
	    "\"user\":{\"id\":\"1\",\"username\":\"b\",\"raw\":"
	    "[{\"type\":\"x\",\"value\":{}}]},\"pad\":\"",
	    q, keys, q, q, (long long)wall_us());
	if (w < 0 || (size_t)w + 3 > cap)
		return 0;
	/* --size bytes with the newline a line-based target adds,
	 * unless the fields alone are longer */
	pad = b->o.size > (size_t)w + 4 ? b->o.size - (size_t)w - 4 : 0;
	if (pad > cap - (size_t)w - 3)
		return 0;
	memset(out + w, 'x', pad);
	memcpy(out + w + pad, "\"}}", 3);
	return (size_t)w + pad + 3;
}

uint64_t
consumer_expected(const struct bench *b, const struct consumer *c,
    uint64_t sent)
{
	uint64_t first = (uint64_t)c->turn + 1;

	if (c->global)
		return sent;
	return sent >= first ? (sent - first) / b->ntag + 1 : 0;
}

static uint64_t
delivered_now(struct bench *b)
{
	uint64_t d = 0;

	for (unsigned i = 0; i < b->o.threads; i++)
		d += LOAD(b->rt[i].delivered);
	return d;
}

/* every consumer still open has event seq */
static bool
event_done(struct bench *b, uint64_t seq)
{
	long want = LOAD(b->global_live);
	long tag = event_tag_consumer(b, seq);

	if (tag >= 0 && consumer_live(&b->cons[tag]))
		want++;
	return (long)LOAD(b->done[seq & b->mask]) >= want;
}

/* ---- the run ---- */

static void
take_sample(struct bench *b, struct sample *s)
{
	s->t = mono_us();
	s->wall = wall_us();
	s->srv_cpu = proc_tree_cpu_s(b->pid);
	s->self_cpu = self_cpu_s();
	s->machine = machine_busy_s();
	proc_sched(b->pid, true, &s->srv_sched);
	proc_sched(getpid(), false, &s->self_sched);
	s->delivered = delivered_now(b);
}

/* Publish for warm-up + duration (or --events), keeping at most
 * --window events in flight. 0, or -1 if publishing failed. */
static int
publish(struct bench *b, struct report *r)
{
	const struct opts *o = &b->o;
	int64_t start = mono_us(), blocked_since = 0, now;
	int64_t warmup = (int64_t)(o->warmup * 1e6), dur = (int64_t)(o->duration * 1e6);
	uint64_t seq = 1, completed = 0, cap = o->events ? o->events : UINT64_MAX;
	struct sample *s0 = &r->s0;
	bool measuring = false;

	for (;;) {
		uint64_t ahead, allowed, n;

		now = mono_us();
		if (!measuring && (now - start >= warmup || seq > cap)) {
			take_sample(b, s0);
			STORE(b->m_first, seq);
			measuring = true;
		}
		if (measuring && (now - s0->t >= dur || seq > cap))
			break;
		if (LOAD(b->live) <= 0) {
			fprintf(stderr, "sluice-bench: every consumer has gone; "
			    "publishing stops\n");
			if (!measuring) {
				take_sample(b, s0);
				STORE(b->m_first, seq);
			}
			break;
		}
		while (completed + 1 < seq && event_done(b, completed + 1)) {
			completed++;
			STORE(b->done[completed & b->mask], 0);
			blocked_since = 0;
		}
		ahead = seq - 1 - completed;
		allowed = ahead < o->window ? o->window - ahead : 0;
		n = allowed;
		if (o->rate > 0) {
			double due = (double)(now - start) / 1e6 * o->rate + 1;

			n = due > (double)seq ? (uint64_t)due - seq + 1 : 0;
			if (n > allowed)
				n = allowed;
		}
		if (n > cap - seq + 1)
			n = cap - seq + 1;
		if (n > 1024)
			n = 1024;
		if (n > 0) {
			if (b->t->publish(b, seq, (unsigned)n) < 0)
				return -1;
			seq += n;
			continue;
		}
		if (allowed == 0) {
			/* a consumer that never gets an event must not stop
			 * the run: its slot is given up after a while */
			if (blocked_since == 0)
				blocked_since = now;
			else if (now - blocked_since > STALL_US) {
				completed++;
				STORE(b->done[completed & b->mask], 0);
				r->skips++;
				blocked_since = 0;
			}
			sleep_us(100);
		} else {
			int64_t next = start + (int64_t)((double)(seq - 1) / o->rate * 1e6);
			int64_t wait = next - now;

			sleep_us(wait < 50 ? 50 : wait > 10000 ? 10000 : wait);
		}
	}
	STORE(b->m_last, seq - 1);
	r->sent = seq - 1;
	r->measured_events = seq - LOAD(b->m_first);
	r->measured_s = (double)(mono_us() - s0->t) / 1e6;
	return 0;
}

/* Wait for what is still on its way, until all of it came or nothing
 * more did for --drain seconds. r->s1 is sampled at the last progress,
 * so that waiting for lost events does not thin the CPU figures. */
static void
drain(struct bench *b, struct report *r)
{
	int64_t start = mono_us(), last = start, now;
	uint64_t seen = delivered_now(b), d;

	r->expected = 0;
	for (uint32_t i = 0; i < b->o.n; i++)
		if (b->cons[i].subscribed)
			r->expected += consumer_expected(b, &b->cons[i], r->sent);
	take_sample(b, &r->s1);
	while ((d = delivered_now(b)) < r->expected) {
		now = mono_us();
		if (d != seen) {
			seen = d;
			last = now;
			take_sample(b, &r->s1);
		} else if (now - last > (int64_t)(b->o.drain * 1e6))
			break;
		sleep_us(5000);
	}
	if (d >= r->expected)
		take_sample(b, &r->s1);
	r->drain_s = (double)(mono_us() - start) / 1e6;
}

/* a - b, or -1 if either is unknown */
static double
delta(double a, double b)
{
	return a < 0 || b < 0 ? -1 : a - b;
}

static double
per_k(double n, uint64_t deliveries)
{
	return n < 0 || deliveries == 0 ? -1 : n * 1000 / (double)deliveries;
}

/* How the server and the bench shared the cores, over s seconds */
static void
sched_figures(struct report *r, double s)
{
	const struct sched_figs *a = &r->s0.srv_sched, *b = &r->s1.srv_sched;
	const struct sched_figs *c = &r->s0.self_sched, *d = &r->s1.self_sched;
	uint64_t n = r->s1.delivered - r->s0.delivered;
	double w;

	r->srv_wait = (w = delta(b->wait_s, a->wait_s)) < 0 ? -1 : w / s * 100;
	r->self_wait = (w = delta(d->wait_s, c->wait_s)) < 0 ? -1 : w / s * 100;
	r->srv_vol = per_k(delta(b->vol, a->vol), n);
	r->srv_invol = per_k(delta(b->invol, a->invol), n);
	r->self_vol = per_k(delta(d->vol, c->vol), n);
	r->self_invol = per_k(delta(d->invol, c->invol), n);
}

/* Server and bench CPU from measuring start to the last progress */
static void
cpu_figures(struct report *r)
{
	double s = (double)(r->s1.t - r->s0.t) / 1e6;

	r->srv_cpu = r->self_cpu = -1;
	r->srv_wait = r->self_wait = -1;
	r->srv_vol = r->srv_invol = r->self_vol = r->self_invol = -1;
	if (s <= 0)
		return;
	if (r->s0.srv_cpu >= 0 && r->s1.srv_cpu >= 0) {
		double cpu = r->s1.srv_cpu - r->s0.srv_cpu;

		r->srv_cpu = cpu / s * 100;
		/* less sensitive than deliveries/s to what the bench and
		 * the neighbours take of a shared machine */
		if (cpu > 0)
			r->per_cpu_s = (double)(r->s1.delivered -
			    r->s0.delivered) / cpu;
	}
	r->self_cpu = (r->s1.self_cpu - r->s0.self_cpu) / s * 100;
	sched_figures(r, s);
	r->rest_cpu = -1;
	if (r->s0.machine >= 0 && r->s1.machine >= 0 && r->srv_cpu >= 0) {
		r->rest_cpu = (r->s1.machine - r->s0.machine) / s * 100 -
		    r->srv_cpu - r->self_cpu;
		if (r->rest_cpu < 0)
			r->rest_cpu = 0;
	}
}

static void
connect_all(struct bench *b, struct report *r)
{
	int64_t start = mono_us(), last_note = start;
	uint64_t ok, failed;

	b->connect_deadline = start + (int64_t)(b->o.connect_timeout * 1e6);
	if (receivers_start(b) < 0) {
		fprintf(stderr, "sluice-bench: cannot start the receiver "
		    "threads\n");
		b->t->stop(b);	/* not leave the server under test behind */
		exit(2);
	}
	while (LOAD(b->threads_connected) < b->o.threads) {
		sleep_us(2000);
		if (mono_us() - last_note > 1000000) {
			uint64_t up = 0, bad = 0;

			for (unsigned i = 0; i < b->o.threads; i++) {
				up += LOAD(b->rt[i].opened);
				bad += LOAD(b->rt[i].failed);
			}
			note(b, "connecting: %llu open, %llu failed",
			    (unsigned long long)up, (unsigned long long)bad);
			last_note = mono_us();
		}
	}
	r->t_open = (double)(mono_us() - start) / 1e6;
	for (unsigned i = 0; i < b->o.threads; i++) {
		r->up += LOAD(b->rt[i].opened);
		r->failed += LOAD(b->rt[i].failed);
		if (r->err[0] == '\0' && b->rt[i].err[0] != '\0')
			snprintf(r->err, sizeof(r->err), "%s", b->rt[i].err);
	}
	note(b, "%llu streams open in %.2f s", (unsigned long long)r->up,
	    r->t_open);
	api_subscribe(b, &ok, &failed, r->sub_err, sizeof(r->sub_err));
	r->t_subscribed = (double)(mono_us() - start) / 1e6;
	r->subscribed = ok;
	r->sub_failed = r->up > ok ? r->up - ok : failed;
	for (uint32_t i = 0; i < b->o.n; i++)
		if (consumer_live(&b->cons[i])) {
			ADD(b->live, 1);
			if (b->cons[i].global)
				ADD(b->global_live, 1);
		}
	note(b, "%llu subscribed in %.2f s", (unsigned long long)ok,
	    r->t_subscribed - r->t_open);
}

/* the counts the receivers kept, and what never arrived */
static void
collect(struct bench *b, struct report *r)
{
	int64_t last_rx = 0;

	hist_init(&r->lat);
	for (unsigned i = 0; i < b->o.threads; i++) {
		struct rthread *rt = &b->rt[i];

		if (rt->last_rx > last_rx)
			last_rx = rt->last_rx;
		hist_merge(&r->lat, &rt->lat);
		r->delivered += rt->delivered;
		r->dups += rt->dups;
		r->ooo += rt->ooo;
		r->lost += rt->gaps;
		r->closed += rt->closed;
		r->ws_closed += rt->ws_closed;
		r->warnings += rt->warnings;
		r->keepalives += rt->keepalives;
		r->pings += rt->pings;
		r->bad += rt->bad;
		if (r->err[0] == '\0' && rt->err[0] != '\0')
			snprintf(r->err, sizeof(r->err), "%s", rt->err);
	}
	/* every delivery from measuring start to the last one: in a steady
	 * run and in one burst of --events alike */
	if (r->s0.wall > 0 && last_rx > r->s0.wall) {
		r->deliver_s = (double)(last_rx - r->s0.wall) / 1e6;
		r->delivered_measured = r->delivered - r->s0.delivered;
	}
	for (uint32_t i = 0; i < b->o.n; i++) {
		struct consumer *c = &b->cons[i];

		if (b->t->ws_hello && c->ws && c->state >= CS_STREAM &&
		    c->state != CS_FAILED && !c->hello)
			r->no_hello++;
		if (c->subscribed && c->next_seq <= r->sent)
			r->lost += (r->sent - c->next_seq) / c->stride + 1;
	}
}

/* ---- the report ---- */

static double
ms(uint64_t us)
{
	return (double)us / 1000.0;
}

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void
report_json(struct bench *b, struct report *r)
{
	static const char *const tr[] = { "ws", "chunked", "mix" };
	static const char *const keys[] = { "one", "each", "mix" };
	const struct opts *o = &b->o;
	char pb[64], ps[64];
	double per = r->up && r->rss_connected > 0 && r->rss_before > 0 ?
	    (double)(r->rss_connected - r->rss_before) / (double)r->up : -1;

	printf("{\"target\":\"%s\",\"transport\":\"%s\",\"keys\":\"%s\","
	    "\"display_sets\":%u,\"rate\":%g,\"window\":%u,\"size\":%u,"
	    "\"threads\":%u,\"sources\":%u,",
	    b->label, tr[o->transport], keys[o->keys], o->display_sets,
	    o->rate, o->window, o->size, o->threads, o->sources);
	if (pinned_cpus(pb, ps, sizeof(pb)))
		printf("\"pinned\":{\"bench\":\"%s\",\"server\":\"%s\"},",
		    pb, ps);
	else
		printf("\"pinned\":null,");
	printf("\"consumers\":%u,\"connected\":%llu,\"connect_failed\":%llu,"
	    "\"subscribed\":%llu,\"subscribe_failed\":%llu,"
	    "\"open_seconds\":%.3f,\"connect_seconds\":%.3f,"
	    "\"connect_rate\":%.1f,",
	    o->n, (unsigned long long)r->up, (unsigned long long)r->failed,
	    (unsigned long long)r->subscribed, (unsigned long long)r->sub_failed,
	    r->t_open, r->t_subscribed,
	    r->t_subscribed > 0 ? (double)r->subscribed / r->t_subscribed : 0);
	printf("\"events_sent\":%llu,\"events_measured\":%llu,"
	    "\"measured_seconds\":%.3f,\"events_per_sec\":%.1f,"
	    "\"deliveries\":%llu,\"deliveries_expected\":%llu,"
	    "\"deliveries_measured\":%llu,\"deliveries_seconds\":%.3f,"
	    "\"deliveries_per_sec\":%.1f,\"drain_seconds\":%.3f,",
	    (unsigned long long)r->sent, (unsigned long long)r->measured_events,
	    r->measured_s, r->measured_s > 0 ? (double)r->measured_events / r->measured_s : 0,
	    (unsigned long long)r->delivered, (unsigned long long)r->expected,
	    (unsigned long long)r->delivered_measured, r->deliver_s,
	    r->deliver_s > 0 ? (double)r->delivered_measured / r->deliver_s : 0,
	    r->drain_s);
	printf("\"latency_ms\":{\"count\":%llu,\"p50\":%.3f,\"p90\":%.3f,"
	    "\"p99\":%.3f,\"max\":%.3f},",
	    (unsigned long long)r->lat.n, ms(hist_pct(&r->lat, 50)),
	    ms(hist_pct(&r->lat, 90)), ms(hist_pct(&r->lat, 99)),
	    ms(r->lat.n ? r->lat.max : 0));
	printf("\"lost\":%llu,\"duplicates\":%llu,\"out_of_order\":%llu,"
	    "\"closed\":%llu,\"ws_closed_by_server\":%llu,\"warnings\":%llu,"
	    "\"window_skips\":%llu,\"ws_without_hello\":%llu,"
	    "\"pings\":%llu,\"keepalives\":%llu,\"unparsed\":%llu,",
	    (unsigned long long)r->lost, (unsigned long long)r->dups,
	    (unsigned long long)r->ooo, (unsigned long long)r->closed,
	    (unsigned long long)r->ws_closed, (unsigned long long)r->warnings,
	    (unsigned long long)r->skips, (unsigned long long)r->no_hello,
	    (unsigned long long)r->pings, (unsigned long long)r->keepalives,
	    (unsigned long long)r->bad);
	printf("\"server_pid\":%d,\"server_rss_kib\":{\"before\":%ld,"
	    "\"connected\":%ld,\"end\":%ld},\"server_kib_per_conn\":%.2f,"
	    "\"server_cpu_pct\":%.1f,\"bench_cpu_pct\":%.1f,"
	    "\"deliveries_per_server_cpu_sec\":%.0f,\"rest_cpu_pct\":%.1f,"
	    "\"server_exit_status\":%d",
	    (int)b->pid, r->rss_before, r->rss_connected, r->rss_end,
	    per, r->srv_cpu, r->self_cpu, r->per_cpu_s, r->rest_cpu,
	    r->server_exit);
	printf(",\"server_runqueue_wait_pct\":%.1f,\"bench_runqueue_wait_pct\":%.1f,"
	    "\"per_1k_deliveries\":{\"server_slept\":%.2f,"
	    "\"server_preempted\":%.2f,\"bench_slept\":%.2f,"
	    "\"bench_preempted\":%.2f}", r->srv_wait, r->self_wait,
	    r->srv_vol, r->srv_invol, r->self_vol, r->self_invol);
	if (r->err[0] != '\0') {
		printf(",\"first_error\":");
		json_str(r->err);
	}
	if (r->sub_err[0] != '\0') {
		printf(",\"subscribe_error\":");
		json_str(r->sub_err);
	}
	if (o->idle > 0)
		printf(",\"idle_seconds\":%.3f,\"idle_server_cpu_pct\":%.2f,"
		    "\"idle_bench_cpu_pct\":%.2f", r->idle_s, r->idle_srv_cpu,
		    r->idle_self_cpu);
	printf("%s}", b->tjson);
}

static void
mib(char *out, size_t len, long kib)
{
	if (kib < 0)
		snprintf(out, len, "?");
	else
		snprintf(out, len, "%.1f MiB", (double)kib / 1024);
}

static void
report_text(struct bench *b, struct report *r)
{
	static const char *const tr[] = { "ws", "chunked", "mix" };
	static const char *const keys[] = { "one", "each", "mix" };
	const struct opts *o = &b->o;
	char m0[32], m1[32], m2[32], pb[64], ps[64];
	double dps = r->deliver_s > 0 ? (double)r->delivered_measured / r->deliver_s : 0;

	printf("target          %s at %s (pid %d)\n", b->label, b->hostport,
	    (int)b->pid);
	printf("setup           %u consumers, %s, keys %s, display sets %u, "
	    "%u receiver thread%s, %u sources", o->n, tr[o->transport],
	    keys[o->keys], o->display_sets, o->threads, o->threads > 1 ? "s" : "",
	    o->sources);
	if (pinned_cpus(pb, ps, sizeof(pb)))
		printf("; the bench on CPU %s, the server on CPU %s", pb, ps);
	printf("\n");
	printf("connections     %llu of %u up", (unsigned long long)r->up, o->n);
	if (r->failed)
		printf(", %llu failed", (unsigned long long)r->failed);
	printf(", %llu subscribed", (unsigned long long)r->subscribed);
	if (r->sub_failed)
		printf(", %llu subscriptions failed", (unsigned long long)r->sub_failed);
	printf("\n");
	printf("connect         open %.2f s, subscribed %.2f s: %.0f connections/s\n",
	    r->t_open, r->t_subscribed,
	    r->t_subscribed > 0 ? (double)r->subscribed / r->t_subscribed : 0);
	if (o->rate > 0)
		printf("events          %llu sent at %g/s; %llu measured in %.2f s\n",
		    (unsigned long long)r->sent, o->rate,
		    (unsigned long long)r->measured_events, r->measured_s);
	else
		printf("events          %llu sent as fast as allowed (window %u); "
		    "%llu measured in %.2f s: %.0f/s\n", (unsigned long long)r->sent,
		    o->window, (unsigned long long)r->measured_events, r->measured_s,
		    r->measured_s > 0 ? (double)r->measured_events / r->measured_s : 0);
	printf("deliveries      %llu of %llu expected; %llu in %.2f s measured: "
	    "%.0f/s\n", (unsigned long long)r->delivered,
	    (unsigned long long)r->expected,
	    (unsigned long long)r->delivered_measured, r->deliver_s, dps);
	printf("latency         p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms "
	    "(%llu samples)\n", ms(hist_pct(&r->lat, 50)), ms(hist_pct(&r->lat, 90)),
	    ms(hist_pct(&r->lat, 99)), ms(r->lat.n ? r->lat.max : 0),
	    (unsigned long long)r->lat.n);
	printf("order           %llu lost, %llu duplicates, %llu out of order\n",
	    (unsigned long long)r->lost, (unsigned long long)r->dups,
	    (unsigned long long)r->ooo);
	if (r->closed || r->warnings || r->skips || r->no_hello || r->bad)
		printf("trouble         %llu streams ended (%llu WebSocket closes), "
		    "%llu falling_behind warnings, %llu window slots skipped, "
		    "%llu WebSockets without a connection message, %llu "
		    "unparsed\n", (unsigned long long)r->closed,
		    (unsigned long long)r->ws_closed, (unsigned long long)r->warnings,
		    (unsigned long long)r->skips, (unsigned long long)r->no_hello,
		    (unsigned long long)r->bad);
	mib(m0, sizeof(m0), r->rss_before);
	mib(m1, sizeof(m1), r->rss_connected);
	mib(m2, sizeof(m2), r->rss_end);
	printf("server RSS      %s before, %s connected, %s at the end", m0, m1, m2);
	if (r->up && r->rss_before >= 0 && r->rss_connected >= 0)
		printf(": %.1f KiB per connection",
		    (double)(r->rss_connected - r->rss_before) / (double)r->up);
	printf("\n");
	if (r->srv_cpu >= 0)
		printf("CPU             server %.0f%%, bench %.0f%%, the rest of the "
		    "machine %.0f%% (100%% = one core): %.0f deliveries per server "
		    "CPU second\n", r->srv_cpu, r->self_cpu, r->rest_cpu,
		    r->per_cpu_s);
	else
		printf("CPU             bench %.0f%% (server unknown: no --pid)\n",
		    r->self_cpu);
	if (r->srv_wait >= 0)
		printf("scheduling      waiting for a CPU: server %.0f%%, bench "
		    "%.0f%%; per 1,000 deliveries the server slept %.1f and "
		    "was preempted %.1f times, the bench %.1f and %.1f\n",
		    r->srv_wait, r->self_wait, r->srv_vol, r->srv_invol,
		    r->self_vol, r->self_invol);
	if (o->idle > 0)
		printf("idle CPU        server %.2f%%, bench %.2f%% over %.1f s with "
		    "%llu consumers open and nothing sent\n", r->idle_srv_cpu,
		    r->idle_self_cpu, r->idle_s, (unsigned long long)r->up);
	fputs(b->tnote, stdout);
	if (r->err[0] != '\0')
		printf("first error     %s\n", r->err);
	if (r->sub_err[0] != '\0')
		printf("subscribe error %s\n", r->sub_err);
}

/* ---- several targets side by side ---- */

static double
dps(const struct report *r)
{
	return r->deliver_s > 0 ? (double)r->delivered_measured / r->deliver_s : 0;
}

static double
p99_ms(const struct report *r)
{
	return ms(hist_pct(&r->lat, 99));
}

/* the first run of target t that ran (for floor: k = 1 first) */
static const struct run *
find_run(const struct run *runs, unsigned n, const struct target *t)
{
	const struct run *any = NULL;

	for (unsigned i = 0; i < n; i++)
		if (runs[i].t == t && runs[i].rc < 2) {
			if (runs[i].floor_batch <= 1)
				return &runs[i];
			if (any == NULL)
				any = &runs[i];
		}
	return any;
}

struct ratio {
	const char	*key, *what, *goal;
	double		 v;	/* < 0: not measured */
};

static void
ratios(const struct run *runs, unsigned n, struct ratio out[3])
{
	const struct run *s = find_run(runs, n, &target_sluice);
	const struct run *c = find_run(runs, n, &target_nchan);
	const struct run *f = find_run(runs, n, &target_floor);

	out[0] = (struct ratio){ "sluice_nchan_deliveries",
	    "sluice / Nchan deliveries/s", ">= 5 saturating, 5,000 on one key", -1 };
	out[1] = (struct ratio){ "sluice_floor_p99", "sluice p99 / floor p99",
	    "<= 1.15 at 5,000 x 10 events/s", -1 };
	out[2] = (struct ratio){ "sluice_nchan_p99", "sluice p99 / Nchan p99",
	    "<= 0.5 at 1,000 x 100 events/s", -1 };
	if (s != NULL && c != NULL && dps(c->r) > 0)
		out[0].v = dps(s->r) / dps(c->r);
	if (s != NULL && f != NULL && p99_ms(f->r) > 0)
		out[1].v = p99_ms(s->r) / p99_ms(f->r);
	if (s != NULL && c != NULL && p99_ms(c->r) > 0)
		out[2].v = p99_ms(s->r) / p99_ms(c->r);
}

static void
row(const char *name, const struct run *runs, unsigned n,
    void (*cell)(char *out, size_t len, const struct run *))
{
	printf("%-22s", name);
	for (unsigned i = 0; i < n; i++) {
		char v[48] = "-";

		if (runs[i].rc < 2)
			cell(v, sizeof(v), &runs[i]);
		printf(" %13s", v);
	}
	printf("\n");
}

#define CELL(fn, ...)							\
static void								\
fn(char *out, size_t len, const struct run *u)				\
{									\
	const struct report *r = u->r;					\
	(void)r;							\
	snprintf(out, len, __VA_ARGS__);				\
}

CELL(c_connected, "%llu", (unsigned long long)r->subscribed)
CELL(c_connect_rate, "%.0f", r->t_subscribed > 0 ?
    (double)r->subscribed / r->t_subscribed : 0)
CELL(c_events, "%.0f", r->measured_s > 0 ?
    (double)r->measured_events / r->measured_s : 0)
CELL(c_dps, "%.0f", dps(r))
CELL(c_p50, "%.2f", ms(hist_pct(&r->lat, 50)))
CELL(c_p90, "%.2f", ms(hist_pct(&r->lat, 90)))
CELL(c_p99, "%.2f", p99_ms(r))
CELL(c_max, "%.2f", ms(r->lat.n ? r->lat.max : 0))
CELL(c_order, "%llu/%llu/%llu", (unsigned long long)r->lost,
    (unsigned long long)r->dups, (unsigned long long)r->ooo)
CELL(c_rss, "%.1f", r->rss_connected >= 0 ? (double)r->rss_connected / 1024 : -1)
CELL(c_per_conn, "%.2f", r->up && r->rss_connected >= 0 && r->rss_before >= 0 ?
    (double)(r->rss_connected - r->rss_before) / (double)r->up : -1)
CELL(c_rss_end, "%.1f", r->rss_end >= 0 ? (double)r->rss_end / 1024 : -1)
CELL(c_srv_cpu, "%.0f", r->srv_cpu)
CELL(c_self_cpu, "%.0f", r->self_cpu)
CELL(c_rest_cpu, "%.0f", r->rest_cpu)
CELL(c_per_cpu, "%.0f", r->per_cpu_s)
CELL(c_srv_wait, "%.0f", r->srv_wait)
CELL(c_self_wait, "%.0f", r->self_wait)
CELL(c_srv_invol, "%.1f", r->srv_invol)
CELL(c_self_vol, "%.1f", r->self_vol)
CELL(c_idle, "%.2f", r->idle_srv_cpu)

static void
c_outcome(char *out, size_t len, const struct run *u)
{
	snprintf(out, len, "%s", u->rc == 0 ? "ok" : "did not add up");
}

static void
side_by_side_text(const struct run *runs, unsigned n)
{
	struct ratio rt[3];

	printf("\nside by side%10s", "");
	for (unsigned i = 0; i < n; i++)
		printf(" %13s", runs[i].label);
	printf("\n");
	row("consumers subscribed", runs, n, c_connected);
	row("connections/s", runs, n, c_connect_rate);
	row("events/s", runs, n, c_events);
	row("deliveries/s", runs, n, c_dps);
	row("latency p50 ms", runs, n, c_p50);
	row("latency p90 ms", runs, n, c_p90);
	row("latency p99 ms", runs, n, c_p99);
	row("latency max ms", runs, n, c_max);
	row("lost/dup/out of order", runs, n, c_order);
	row("RSS connected MiB", runs, n, c_rss);
	row("RSS KiB/connection", runs, n, c_per_conn);
	row("RSS at the end MiB", runs, n, c_rss_end);
	row("server CPU %", runs, n, c_srv_cpu);
	row("bench CPU %", runs, n, c_self_cpu);
	row("rest of machine CPU %", runs, n, c_rest_cpu);
	row("deliv./server CPU s", runs, n, c_per_cpu);
	row("server CPU wait %", runs, n, c_srv_wait);
	row("bench CPU wait %", runs, n, c_self_wait);
	row("server preempted/1k", runs, n, c_srv_invol);
	row("bench slept/1k", runs, n, c_self_vol);
	if (runs[0].b->o.idle > 0)
		row("idle server CPU %", runs, n, c_idle);
	row("outcome", runs, n, c_outcome);
	for (unsigned i = 0; i < n; i++)
		if (runs[i].rc == 2)
			printf("(%s: did not run; why is on stderr)\n",
			    runs[i].label);
	ratios(runs, n, rt);
	printf("ratios (issue 7's goals; each holds for its own scenario):\n");
	for (int i = 0; i < 3; i++) {
		if (rt[i].v < 0)
			printf("  %-28s %8s   goal %s\n", rt[i].what, "-",
			    rt[i].goal);
		else
			printf("  %-28s %8.2f   goal %s\n", rt[i].what, rt[i].v,
			    rt[i].goal);
	}
}

static void
side_by_side_json(const struct run *runs, unsigned n)
{
	struct ratio rt[3];

	printf("{\"runs\":[");
	for (unsigned i = 0; i < n; i++) {
		if (i > 0)
			putchar(',');
		if (runs[i].rc == 2)
			printf("{\"target\":\"%s\",\"error\":\"did not run\"}",
			    runs[i].label);
		else
			report_json(runs[i].b, runs[i].r);
	}
	ratios(runs, n, rt);
	printf("],\"ratios\":{");
	for (int i = 0; i < 3; i++) {
		printf("%s\"%s\":", i ? "," : "", rt[i].key);
		if (rt[i].v < 0)
			printf("null");
		else
			printf("%.4f", rt[i].v);
	}
	printf("}}\n");
}

/* ---- main ---- */

static void
set_exe_dir(struct bench *b)
{
	ssize_t n = readlink("/proc/self/exe", b->exe_dir, sizeof(b->exe_dir) - 1);
	char *slash;

	if (n <= 0) {
		strcpy(b->exe_dir, ".");
		return;
	}
	b->exe_dir[n] = '\0';
	if ((slash = strrchr(b->exe_dir, '/')) != NULL)
		*slash = '\0';
}

/* --idle: the server's CPU with every consumer open and nothing sent */
static void
idle(struct bench *b, struct report *r)
{
	int64_t t0 = mono_us();
	double s0 = proc_tree_cpu_s(b->pid), self0 = self_cpu_s(), s1;

	note(b, "idle: %.3g s with nothing sent", b->o.idle);
	sleep_us((int64_t)(b->o.idle * 1e6));
	r->idle_s = (double)(mono_us() - t0) / 1e6;
	s1 = proc_tree_cpu_s(b->pid);
	r->idle_srv_cpu = s0 >= 0 && s1 >= 0 ? (s1 - s0) / r->idle_s * 100 : -1;
	r->idle_self_cpu = (self_cpu_s() - self0) / r->idle_s * 100;
}

static int
run(struct bench *b, struct report *r)
{
	int rc = 0;

	r->rss_before = proc_tree_rss_kib(b->pid);
	connect_all(b, r);
	if (r->up < b->o.n)
		fprintf(stderr, "sluice-bench: only %llu of %u consumers "
		    "connected (%llu failed; first error: %s)\n",
		    (unsigned long long)r->up, b->o.n,
		    (unsigned long long)r->failed, r->err);
	if (r->sub_failed > 0)
		fprintf(stderr, "sluice-bench: %llu subscriptions failed (%s)\n",
		    (unsigned long long)r->sub_failed, r->sub_err);
	r->rss_connected = proc_tree_rss_kib(b->pid);
	if (r->subscribed == 0) {
		fprintf(stderr, "sluice-bench: no consumer is subscribed; "
		    "nothing to measure\n");
		return -1;
	}
	if (b->o.idle > 0)
		idle(b, r);
	note(b, "publishing: %.3g s warm-up, %.3g s measured", b->o.warmup,
	    b->o.duration);
	if (publish(b, r) < 0)
		rc = -1;
	drain(b, r);
	cpu_figures(r);
	r->rss_end = proc_tree_rss_kib(b->pid);
	return rc;
}

/* One target through the whole run: u->rc 0 when everything added up,
 * 1 when the run finished but did not, 2 when it could not run. */
static void
run_target(const struct opts *o, struct run *u)
{
	struct bench *b = calloc(1, sizeof(*b));
	struct report *r = calloc(1, sizeof(*r));

	u->b = b;
	u->r = r;
	u->rc = 2;
	if (b == NULL || r == NULL) {
		fprintf(stderr, "sluice-bench: out of memory\n");
		return;
	}
	b->o = *o;
	if (u->floor_batch > 0)
		b->o.floor_batch = u->floor_batch;
	b->t = u->t;
	snprintf(b->label, sizeof(b->label), "%s", u->label);
	set_exe_dir(b);
	if (setup_consumers(b) < 0) {
		fprintf(stderr, "sluice-bench: out of memory\n");
		return;
	}
	b->m_first = b->m_last = UINT64_MAX;
	note(b, "target %s", u->label);
	if (b->t->start(b) < 0 || b->t->prepare(b) < 0) {
		b->t->stop(b);
		goto out;
	}
	u->rc = run(b, r) < 0 ? 2 : 0;
	if (b->rt != NULL) {
		receivers_stop(b);
		collect(b, r);
	}
	r->server_exit = b->t->stop(b);
	if (u->rc == 0 && (r->up < b->o.n || r->subscribed < r->up ||
	    r->lost || r->dups || r->ooo || r->server_exit != 0))
		u->rc = 1;
out:
	free(b->rt);
	free(b->cons);
	free(b->tagcons);
	free(b->done);
	b->rt = NULL;
	b->cons = NULL;
	b->tagcons = NULL;
	b->done = NULL;
}

int
main(int argc, char **argv)
{
	struct run runs[TARGETS_MAX];
	struct bench lim;
	unsigned n;
	int rc = 0;

	/* the floor's server, in the child target_floor.c starts */
	if (argc > 1 && strcmp(argv[1], "--floor-server") == 0)
		return floor_main(argc, argv);
	memset(&lim, 0, sizeof(lim));
	n = parse_args(&lim.o, runs, argc, argv);
	if (lim.o.pin && pin_cpus() < 0)
		return 2;
	/* like sluiced's workers: one per CPU the server may run on */
	if (lim.o.nginx_workers == 0)
		lim.o.nginx_workers = server_cpus();
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)(getpid() ^ wall_us()));
	if (check_limits(&lim) < 0)
		return 2;
	for (unsigned i = 0; i < n; i++) {
		run_target(&lim.o, &runs[i]);
		if (runs[i].rc > rc)
			rc = runs[i].rc;
		if (n == 1 && runs[i].rc < 2) {
			if (lim.o.json) {
				report_json(runs[i].b, runs[i].r);
				putchar('\n');
			} else
				report_text(runs[i].b, runs[i].r);
		} else if (n > 1 && !lim.o.json && runs[i].rc < 2) {
			report_text(runs[i].b, runs[i].r);
			printf("\n");
			fflush(stdout);
		}
	}
	if (n > 1) {
		if (lim.o.json)
			side_by_side_json(runs, n);
		else
			side_by_side_text(runs, n);
	}
	for (unsigned i = 0; i < n; i++) {
		free(runs[i].b);
		free(runs[i].r);
	}
	return rc;
}
