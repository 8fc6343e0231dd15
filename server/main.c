/* main.c - sluiced: command line, start-up, signals, shutdown.
 * The threads and their roles are listed in sluiced.h. */
#include "autoconf.h"
#include "admin.h"
#include "alloc.h"
#include "config.h"
#include "dispatch.h"
#include "http.h"
#include "log.h"
#include "rcu.h"
#include "sluiced.h"
#include "ws.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* SIGHUP: the tokens file and the log level are re-read now; the other
 * keys need a restart until the full reload lands. */
static void
reload(bool verbose)
{
	struct config c;
	char err[512];

	if (config_load(&c, sl.config_path, err, sizeof(err)) < 0) {
		log_err("reload: %s; keeping the running configuration", err);
		return;
	}
	if (c.tokens_file != NULL &&
	    tokens_load_file(sl.tokens, c.tokens_file, err, sizeof(err)) < 0) {
		log_err("reload: %s; keeping the running tokens", err);
		config_free(&c);
		return;
	}
	log_set_level(verbose ? LOG_DEBUG : (int)c.log_level);
	log_info("reloaded %s (tokens: %zu)", sl.config_path ?
	    sl.config_path : "built-in defaults", tokens_count(sl.tokens));
	config_free(&c);
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
	if (check) {
		printf("configuration ok\n");
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

	sl.subs = subtable_new();
	if (dispatch_start(err, sizeof(err)) < 0 ||
	    ws_start((int)sl.cfg.workers, err, sizeof(err)) < 0 ||
	    http_start(err, sizeof(err)) < 0 ||
	    admin_start(err, sizeof(err)) < 0) {
		log_err("%s", err);
		return 1;
	}
	log_info("sluiced %s ready: ingest %s, %zu tokens, %zu routes",
	    PACKAGE_VERSION, sl.cfg.ingest, tokens_count(sl.tokens),
	    routes_count(sl.routes));

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
	subtable_free(sl.subs);
	tokens_free(sl.tokens);
	routes_free(sl.routes);
	config_free(&sl.cfg);
	log_info("stopped");
	return 0;
}
