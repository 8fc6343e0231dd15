/* main.c - sluiced: command line, start-up, signals, shutdown.
 * The threads and their roles are listed in sluiced.h. */
#include "autoconf.h"
#include "admin.h"
#include "alloc.h"
#include "config.h"
#include "dispatch.h"
#include "http.h"
#include "log.h"
#include "qitem.h"
#include "rcu.h"
#include "sluiced.h"
#include "ws.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct sluiced sl;

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: sluiced [-c FILE] [-t] [-f] [-v] [--version] [--help]\n"
	    "  -c FILE   config file (default: built-in defaults)\n"
	    "  -t        check the config, print \"configuration ok\" or the error\n"
	    "  -f        stay in the foreground (sluiced always does)\n"
	    "  -v        more logging (debug)\n");
}

static int
load_routes(struct routes **out, const struct config *c, char *err,
    size_t errlen)
{
	struct routes *rt = routes_new();

	for (size_t i = 0; i < c->route.n; i++) {
		if (routes_set_line(rt, c->route.v[i], err, errlen) < 0) {
			routes_free(rt);
			return -1;
		}
	}
	*out = rt;
	return 0;
}

static bool
strlist_eq(const struct strlist *a, const struct strlist *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

static bool
str_eq(const char *a, const char *b)
{
	return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

/* What only a restart applies: say so when the file changed it. */
static void
report_fixed(const struct config *run, const struct config *c)
{
	const char *changed[8];
	size_t n = 0;

	if (!strlist_eq(&run->listen, &c->listen))
		changed[n++] = "listen";
	if (!str_eq(run->admin_listen, c->admin_listen))
		changed[n++] = "admin_listen";
	if (!str_eq(run->tls_cert, c->tls_cert))
		changed[n++] = "tls_cert";
	if (!str_eq(run->tls_key, c->tls_key))
		changed[n++] = "tls_key";
	if (!str_eq(run->ingest, c->ingest))
		changed[n++] = "ingest";
	if (run->workers != c->workers)
		changed[n++] = "workers";
	for (size_t i = 0; i < n; i++)
		log_warn("reload: %s changed in the file; it takes effect when "
		    "sluiced is restarted", changed[i]);
}

#define SET(f)	__atomic_store_n(&sl.cfg.f, c.f, __ATOMIC_RELAXED)

/* SIGHUP: the config file and the tokens file again. Every reloadable
 * key takes effect without dropping a connection; a token the file no
 * longer has ends its streams, as a revoke does. Any error keeps the
 * running configuration whole. */
static void
reload(bool verbose)
{
	struct config c;
	struct routes *rt, *old;
	struct op op;
	char err[512];
	char *tf;

	if (config_load(&c, sl.config_path, err, sizeof(err)) < 0) {
		log_err("reload: %s; keeping the running configuration", err);
		return;
	}
	if (load_routes(&rt, &c, err, sizeof(err)) < 0) {
		log_err("reload: %s; keeping the running configuration", err);
		config_free(&c);
		return;
	}
	if (tokens_load_file(sl.tokens, c.tokens_file ? c.tokens_file :
	    "/dev/null", err, sizeof(err)) < 0) {
		log_err("reload: %s; keeping the running configuration and "
		    "tokens", err);
		routes_free(rt);
		config_free(&c);
		return;
	}
	report_fixed(&sl.cfg, &c);
	SET(ingest_max_line);
	SET(max_connections);
	SET(max_subscriptions);
	SET(max_streams_per_token);
	SET(max_app_streams);
	SET(replay_window_ms);
	SET(replay_max_bytes);
	SET(send_buffer_limit);
	SET(app_keepalive_ms);
	SET(ws_max_message);
	SET(log_level);
	if (c.keepalive_interval_ms != sl.cfg.keepalive_interval_ms) {
		SET(keepalive_interval_ms);
		__atomic_add_fetch(&tick_generation, 1, __ATOMIC_RELAXED);
	}
	/* the strings only this thread reads */
	tf = sl.cfg.tokens_file;
	sl.cfg.tokens_file = c.tokens_file;
	c.tokens_file = tf;
	pthread_rwlock_wrlock(&sl.routes_lock);
	old = sl.routes;
	sl.routes = rt;
	pthread_rwlock_unlock(&sl.routes_lock);
	routes_free(old);
	log_set_level(verbose ? LOG_DEBUG : (int)c.log_level);
	/* the dispatcher's share: replay limits, the ingest line bound,
	 * its tick, the streams of tokens that went away */
	memset(&op, 0, sizeof(op));
	op.kind = OP_RELOAD;
	dispatch_call(&op);
	log_info("reloaded %s (tokens: %zu, routes: %zu)", sl.config_path ?
	    sl.config_path : "built-in defaults", tokens_count(sl.tokens),
	    routes_count(rt));
	config_free(&c);
}

/* As many open files as max_connections needs, or as many as the hard
 * limit allows, saying so when that is fewer. */
static void
raise_nofile(void)
{
	rlim_t want = (rlim_t)sl.cfg.max_connections + HTTP_FD_RESERVE;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want)
		log_warn("open-file limit is %llu (hard limit %llu): fewer than "
		    "max_connections = %lld needs; connections beyond about %llu "
		    "are refused", (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_max,
		    (long long)sl.cfg.max_connections,
		    (unsigned long long)(rl.rlim_cur > HTTP_FD_RESERVE ?
		    rl.rlim_cur - HTTP_FD_RESERVE : 0));
	else
		log_info("open-file limit raised to %llu",
		    (unsigned long long)rl.rlim_cur);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	bool check = false, verbose = false;
	char err[512];
	sigset_t set;
	int ch, sig;

	while ((ch = getopt_long(argc, argv, "c:tfvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': sl.config_path = optarg; break;
		case 't': check = true; break;
		case 'f': break;
		case 'v': verbose = true; break;
		case 'V': printf("sluiced %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 1;
	}
	pthread_rwlock_init(&sl.routes_lock, NULL);
	if (config_load(&sl.cfg, sl.config_path, err, sizeof(err)) < 0 ||
	    load_routes(&sl.routes, &sl.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	sl.tokens = tokens_new();
	if (sl.cfg.tokens_file != NULL &&
	    tokens_load_file(sl.tokens, sl.cfg.tokens_file, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (http_tls_check(&sl.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (check) {
		printf("configuration ok\n");
		http_tls_release();
		tokens_free(sl.tokens);
		routes_free(sl.routes);
		config_free(&sl.cfg);
		return 0;
	}
	log_set_level(verbose ? LOG_DEBUG : (int)sl.cfg.log_level);

	/* signals are taken by sigwait below; every thread inherits the mask */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	raise_nofile();
	sl.subs = subtable_new();
	if (dispatch_start(err, sizeof(err)) < 0 ||
	    ws_start((int)sl.cfg.workers, err, sizeof(err)) < 0 ||
	    http_start(err, sizeof(err)) < 0 ||
	    admin_start(err, sizeof(err)) < 0) {
		log_err("%s", err);
		return 1;
	}
	log_info("sluiced %s ready: ingest %s, %zu tokens, %zu routes, "
	    "%ld worker%s", PACKAGE_VERSION, sl.cfg.ingest,
	    tokens_count(sl.tokens), routes_count(sl.routes),
	    (long)sl.cfg.workers, sl.cfg.workers == 1 ? "" : "s");

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(verbose);
			continue;
		}
		break;
	}
	log_info("stopping (signal %d)", sig);
	admin_shutting_down();

	/* stop: no new connections, every stream ended, then the threads */
	http_quiesce();
	{
		struct op op;
		memset(&op, 0, sizeof(op));
		op.kind = OP_SHUTDOWN;
		dispatch_call(&op);
	}
	/* give chunked streams their last chunk and WebSocket peers the
	 * time to answer the 1001 close */
	for (int i = 0; i < 300 && (http_open_streams() > 0 || ws_sessions() > 0); i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	admin_stop();
	ws_stop();
	http_stop();
	dispatch_stop();
	urcu_memb_barrier();
	qitem_pool_drain();
	subtable_free(sl.subs);
	tokens_free(sl.tokens);
	routes_free(sl.routes);
	pthread_rwlock_destroy(&sl.routes_lock);
	config_free(&sl.cfg);
	log_info("stopped");
	return 0;
}
