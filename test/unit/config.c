/* config.c - tests for lib/config.c: defaults (SPEC 8), value parsers,
 * config files */
#include "config.h"
#include "log.h"
#include "tap.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KiB	1024ULL
#define MiB	(1024ULL * 1024)
#define GiB	(1024ULL * 1024 * 1024)

static char tmpl[64];

/* Write text to a new temp file; returns its path (static). */
static const char *
write_file(const char *text)
{
	int fd;

	strcpy(tmpl, "/tmp/sluice-config-test-XXXXXX");
	fd = mkstemp(tmpl);
	if (fd < 0) {
		perror("mkstemp");
		exit(2);
	}
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror("write");
		exit(2);
	}
	close(fd);
	return tmpl;
}

static void
test_defaults(void)
{
	struct config c;
	cpu_set_t mine, one;
	long ncpu = 0;

	if (sched_getaffinity(0, sizeof(mine), &mine) == 0)
		ncpu = CPU_COUNT(&mine);

	config_defaults(&c);
	is_int(c.listen.n, 1, "one default listen address");
	is_str(c.listen.n ? c.listen.v[0] : NULL, "127.0.0.1:8080", "listen");
	is_str(c.admin_listen, "127.0.0.1:8081", "admin_listen");
	ok(c.tls_cert == NULL && c.tls_key == NULL, "no TLS by default");
	is_str(c.ingest, "unix:./sluice-ingest.sock", "ingest");
	is_int(c.ingest_max_line, MiB, "ingest_max_line 1M");
	ok(c.tokens_file == NULL, "no tokens_file");
	is_int(c.route.n, 0, "no extra routes");
	is_int(c.workers, ncpu, "workers = the CPUs this process may run on");
	is_int(c.max_connections, 100000, "max_connections");
	is_int(c.max_subscriptions, 50, "max_subscriptions");
	is_int(c.max_streams_per_token, 5, "max_streams_per_token");
	is_int(c.max_app_streams, 2, "max_app_streams");
	is_int(c.replay_window_ms, 600000, "replay_window 600s");
	is_int(c.replay_max_bytes, 64 * MiB, "replay_max_bytes 64M");
	is_int(c.send_buffer_limit, MiB, "send_buffer_limit 1M");
	is_int(c.keepalive_interval_ms, 30000, "keepalive_interval 30s");
	is_int(c.app_keepalive_ms, 50000, "app_keepalive 50s");
	is_int(c.ws_max_message, 64 * KiB, "ws_max_message 64K");
	is_int(c.log_level, LOG_INFO, "log_level info");
	config_free(&c);

	/* on one CPU (as under taskset -c N), one worker */
	ok(ncpu >= 1, "this process's CPU affinity is read");
	if (ncpu >= 1) {
		int first = 0;

		while (!CPU_ISSET(first, &mine))
			first++;
		CPU_ZERO(&one);
		CPU_SET(first, &one);
		ok(sched_setaffinity(0, sizeof(one), &one) == 0, "run on one CPU");
		config_defaults(&c);
		is_int(c.workers, 1, "workers = 1 on one CPU");
		config_free(&c);
		{
			char err[256] = "";

			config_load(&c, NULL, err, sizeof(err));
			is_int(c.workers, 1, "config_load without a file: "
			    "workers = 1 there too");
			config_free(&c);
		}
		ok(sched_setaffinity(0, sizeof(mine), &mine) == 0,
		    "back on every CPU it had");
		config_defaults(&c);
		is_int(c.workers, ncpu, "workers = all of them again");
		config_free(&c);
	}

	/* config_load without a file = the defaults */
	{
		char err[256] = "";
		is_int(config_load(&c, NULL, err, sizeof(err)), 0, "load(NULL) ok");
		is_int(c.replay_window_ms, 600000, "load(NULL) gives defaults");
		is_str(c.listen.n ? c.listen.v[0] : NULL, "127.0.0.1:8080",
		    "load(NULL) listen");
		config_free(&c);
	}
	is_int(config_reloadable("replay_window"), 1, "replay_window reloadable");
	is_int(config_reloadable("listen"), 0, "listen not reloadable");
	is_int(config_reloadable("nope"), -1, "unknown key: -1");
}

static void
test_size(void)
{
	static const struct { const char *s; uint64_t v; } good[] = {
		{ "0", 0 }, { "1", 1 }, { "4096", 4096 },
		{ "1K", KiB }, { "1k", KiB }, { "64K", 64 * KiB },
		{ "1M", MiB }, { "64m", 64 * MiB }, { "2G", 2 * GiB },
		{ "1g", GiB }, { "10KB", 10 * KiB }, { "3Mb", 3 * MiB },
		{ "16384G", 16384 * GiB },
	};
	static const char *const bad[] = {
		"", "K", "M", "-1", " 1", "1 ", "1X", "1T", "1.5M", "1KK",
		"1Kx", "abc", "0x10", "+5", "18446744073709551616",
		"99999999999G",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		v = 12345;
		int rc = config_parse_size(good[i].s, &v);
		ok(rc == 0 && v == good[i].v, "size '%s' = %llu (got rc %d, %llu)",
		    good[i].s, (unsigned long long)good[i].v, rc,
		    (unsigned long long)v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		v = 12345;
		int rc = config_parse_size(bad[i], &v);
		ok(rc == -1 && v == 12345, "size '%s' rejected, out untouched",
		    bad[i]);
	}
}

static void
test_duration(void)
{
	static const struct { const char *s; int64_t v; } good[] = {
		{ "0", 0 }, { "30", 30000 }, { "30s", 30000 }, { "600s", 600000 },
		{ "250ms", 250 }, { "0ms", 0 }, { "1m", 60000 },
		{ "10m", 600000 }, { "1h", 3600000 }, { "24h", 86400000 },
		{ "1.5s", 1500 }, { "0.5", 500 }, { "1.5m", 90000 },
	};
	static const char *const bad[] = {
		"", "s", "ms", "-1", "-1s", " 1s", "1s ", "1x", "1d", "1sec",
		"1S", "1mss", "10 s", "abc", "1e400",
		/* strtod syntax is not a duration */
		"0x10", "1e3",
	};
	int64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		v = 12345;
		int rc = config_parse_duration_ms(good[i].s, &v);
		ok(rc == 0 && v == good[i].v, "duration '%s' = %lld ms "
		    "(got rc %d, %lld)", good[i].s, (long long)good[i].v, rc,
		    (long long)v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		v = 12345;
		int rc = config_parse_duration_ms(bad[i], &v);
		ok(rc == -1 && v == 12345, "duration '%s' rejected", bad[i]);
	}
}

static void
test_addr(void)
{
	static const struct { const char *s, *host; int port; } good[] = {
		{ "127.0.0.1:8080", "127.0.0.1", 8080 },
		{ "0.0.0.0:80", "0.0.0.0", 80 },
		{ "[::1]:8080", "::1", 8080 },
		{ "[::]:443", "::", 443 },
		{ "[2001:db8::1]:65535", "2001:db8::1", 65535 },
		{ ":8080", "", 8080 },
		{ ":0", "", 0 },
	};
	static const char *const bad[] = {
		"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:http", ":", "::1:80",
		"[::1]", "[::1]:", "[::1]80", "[::1:80", "1.2.3.4:65536",
		"1.2.3.4:-1", "1.2.3.4:+80", "1.2.3.4:80x", "1.2.3.4: 80", "8080",
		/* names would need a resolver: numeric addresses only */
		"localhost:1", "[localhost]:1", "[127.0.0.1]:80", "999.1.1.1:80",
	};
	char host[64];
	int port;

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		strcpy(host, "junk");
		port = -7;
		int rc = config_parse_addr(good[i].s, host, sizeof(host), &port);
		ok(rc == 0 && strcmp(host, good[i].host) == 0 &&
		    port == good[i].port, "addr '%s' -> '%s' %d (got rc %d, '%s' %d)",
		    good[i].s, good[i].host, good[i].port, rc, host, port);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		port = -7;
		int rc = config_parse_addr(bad[i], host, sizeof(host), &port);
		ok(rc == -1 && port == -7, "addr '%s' rejected", bad[i]);
	}
	/* host buffer too small */
	is_int(config_parse_addr("[2001:db8::1]:80", host, 8, &port), -1,
	    "host longer than the buffer rejected");
	is_int(config_parse_addr("1.2.3.4:80", host, 8, &port), 0,
	    "host of buffer size - 1 fits");
	is_str(host, "1.2.3.4", "host copied");
}

/* Load text as a config file. Returns config_load's result; the error
 * (with the temp path replaced by "PATH") in err. */
static int
load_text(struct config *c, const char *text, char *err, size_t errlen)
{
	char raw[512], path[64];
	int rc;

	strcpy(path, write_file(text));
	raw[0] = '\0';
	rc = config_load(c, path, raw, sizeof(raw));
	unlink(path);
	err[0] = '\0';
	if (rc < 0) {
		size_t pl = strlen(path);
		if (strncmp(raw, path, pl) == 0)
			snprintf(err, errlen, "PATH%s", raw + pl);
		else
			snprintf(err, errlen, "%s", raw);
	}
	return rc;
}

static void
test_load(void)
{
	struct config c;
	char err[512];
	int rc;

	rc = load_text(&c,
	    "# sluiced.conf\n"
	    "\n"
	    "   \n"
	    "\t# indented comment\n"
	    "listen = 0.0.0.0:9000\n"
	    "listen = [::1]:9001   # trailing comment\n"
	    "listen=:9002\n"
	    "admin_listen =\n"
	    "ingest = fifo:/tmp/sluice.fifo\n"
	    "ingest_max_line = 2M\n"
	    "tokens_file = /etc/sluice/tokens\n"
	    "workers = 3\n"
	    "max_connections = 500\n"
	    "max_subscriptions = 7\n"
	    "max_streams_per_token = 9\n"
	    "max_app_streams = 4\n"
	    "  replay_window   =   10m  \n"
	    "replay_max_bytes = 1G\n"
	    "send_buffer_limit = 256K\n"
	    "keepalive_interval = 1500ms\n"
	    "app_keepalive = 2m\n"
	    "ws_max_message = 1M\r\n"
	    "log_level = debug\n"
	    "route = /users/{user_id}/stars = stars:{user_id}\n"
	    "tls_cert = /etc/cert.pem\n"
	    "tls_key = /etc/key.pem", err, sizeof(err));
	is_int(rc, 0, "good file loads (%s)", err);
	if (rc == 0) {
		is_int(c.listen.n, 3, "three listen addresses, default replaced");
		is_str(c.listen.n > 0 ? c.listen.v[0] : NULL, "0.0.0.0:9000", "listen 1");
		is_str(c.listen.n > 1 ? c.listen.v[1] : NULL, "[::1]:9001",
		    "listen 2, comment stripped");
		is_str(c.listen.n > 2 ? c.listen.v[2] : NULL, ":9002", "listen 3");
		is_str(c.admin_listen, "", "admin_listen empty = off");
		is_str(c.ingest, "fifo:/tmp/sluice.fifo", "ingest");
		is_int(c.ingest_max_line, 2 * MiB, "ingest_max_line");
		is_str(c.tokens_file, "/etc/sluice/tokens", "tokens_file");
		is_int(c.workers, 3, "workers");
		is_int(c.max_connections, 500, "max_connections");
		is_int(c.max_subscriptions, 7, "max_subscriptions");
		is_int(c.max_streams_per_token, 9, "max_streams_per_token");
		is_int(c.max_app_streams, 4, "max_app_streams");
		is_int(c.replay_window_ms, 600000, "replay_window 10m, blanks trimmed");
		is_int(c.replay_max_bytes, GiB, "replay_max_bytes");
		is_int(c.send_buffer_limit, 256 * KiB, "send_buffer_limit");
		is_int(c.keepalive_interval_ms, 1500, "keepalive_interval");
		is_int(c.app_keepalive_ms, 120000, "app_keepalive");
		is_int(c.ws_max_message, MiB, "ws_max_message, CRLF line");
		is_int(c.log_level, LOG_DEBUG, "log_level");
		is_int(c.route.n, 1, "one route");
		is_str(c.route.n ? c.route.v[0] : NULL,
		    "/users/{user_id}/stars = stars:{user_id}", "route value");
		is_str(c.tls_cert, "/etc/cert.pem", "tls_cert");
		is_str(c.tls_key, "/etc/key.pem", "tls_key (last line without \\n)");
		config_free(&c);
	}

	/* a file with only comments = defaults */
	rc = load_text(&c, "# nothing\n\n#listen = 1.2.3.4:5\n", err, sizeof(err));
	is_int(rc, 0, "comments-only file loads");
	is_int(c.listen.n, 1, "default listen kept");
	is_str(c.listen.n ? c.listen.v[0] : NULL, "127.0.0.1:8080",
	    "commented-out listen ignored");
	config_free(&c);

	/* repeatable route lines accumulate */
	rc = load_text(&c, "route = /a/{x} = a:{x}\nroute = /b/{y} = b:{y}\n",
	    err, sizeof(err));
	is_int(rc, 0, "two route lines");
	is_int(c.route.n, 2, "both kept");
	config_free(&c);

	/* SPEC 8 form without '=' after the key: route /path/{x} = key:{x} */
	rc = load_text(&c, "route /users/{user_id}/stars = stars:{user_id}\n"
	    "route\t/b/{y} = b:{y}\n", err, sizeof(err));
	is_int(rc, 0, "'route /path = key' lines load (%s)", err);
	if (rc == 0) {
		is_int(c.route.n, 2, "both routes kept");
		is_str(c.route.n ? c.route.v[0] : NULL,
		    "/users/{user_id}/stars = stars:{user_id}", "route value");
		config_free(&c);
	}
	rc = load_text(&c, "route /a/{x} = a:{zz}\n", err, sizeof(err));
	is_int(rc, -1, "bad 'route /path = key' line rejected");

	/* a later scalar overrides an earlier one */
	rc = load_text(&c, "max_connections = 10\nmax_connections = 20\n",
	    err, sizeof(err));
	is_int(rc, 0, "repeated scalar");
	is_int(c.max_connections, 20, "last value wins");
	config_free(&c);

	/* errors name the file and line */
	rc = load_text(&c, "# first\nlisten = :1\nbogus_key = 1\n", err, sizeof(err));
	is_int(rc, -1, "unknown key rejected");
	ok(strncmp(err, "PATH:3: unknown key", 19) == 0,
	    "error begins with PATH:3: unknown key (%s)", err);
	ok(strstr(err, "bogus_key") != NULL, "error names the key");
	ok(c.listen.n == 0 && c.ingest == NULL && c.admin_listen == NULL,
	    "config freed after an error");
	config_free(&c);	/* harmless after an error */

	rc = load_text(&c, "max_connections = lots\n", err, sizeof(err));
	is_int(rc, -1, "bad integer");
	ok(strncmp(err, "PATH:1: ", 8) == 0 && strstr(err, "max_connections"),
	    "bad integer: PATH:1: and the key (%s)", err);

	rc = load_text(&c, "\n\nreplay_window = 5 days\n", err, sizeof(err));
	is_int(rc, -1, "bad duration");
	ok(strncmp(err, "PATH:3: ", 8) == 0, "bad duration at line 3 (%s)", err);

	rc = load_text(&c, "send_buffer_limit = 1T\n", err, sizeof(err));
	is_int(rc, -1, "bad size");
	ok(strncmp(err, "PATH:1: ", 8) == 0, "bad size (%s)", err);

	rc = load_text(&c, "log_level = verbose\n", err, sizeof(err));
	is_int(rc, -1, "bad log level");
	ok(strncmp(err, "PATH:1: ", 8) == 0, "bad log level (%s)", err);

	rc = load_text(&c, "listen = 8080\n", err, sizeof(err));
	is_int(rc, -1, "bad listen address");
	ok(strncmp(err, "PATH:1: ", 8) == 0, "bad listen (%s)", err);

	rc = load_text(&c, "admin_listen = nowhere\n", err, sizeof(err));
	is_int(rc, -1, "bad admin_listen address");

	rc = load_text(&c, "ingest = tcp:1.2.3.4:5\n", err, sizeof(err));
	is_int(rc, -1, "bad ingest");
	rc = load_text(&c, "ingest = unix:\n", err, sizeof(err));
	is_int(rc, -1, "ingest unix: without a path");

	rc = load_text(&c, "route = /a/{x} = a:{y}\n", err, sizeof(err));
	is_int(rc, -1, "bad route");
	ok(strncmp(err, "PATH:1: ", 8) == 0, "bad route (%s)", err);

	rc = load_text(&c, "max_connections =\n", err, sizeof(err));
	is_int(rc, -1, "missing value");
	ok(strncmp(err, "PATH:1: ", 8) == 0, "missing value (%s)", err);

	rc = load_text(&c, "just some words\n", err, sizeof(err));
	is_int(rc, -1, "line without '='");
	ok(strncmp(err, "PATH:1: ", 8) == 0, "no '=' (%s)", err);

	/* out of range values */
	{
		static const char *const oor[] = {
			"max_connections = 0\n",
			"max_connections = 10000001\n",
			"max_subscriptions = -1\n",
			"workers = 0\n",
			"workers = 1025\n",
			"ws_max_message = 100\n",
			"ws_max_message = 65M\n",
			"send_buffer_limit = 1K\n",
			"ingest_max_line = 2G\n",
			"keepalive_interval = 50ms\n",
			"app_keepalive = 25h\n",
			"replay_window = 8d\n",
			"replay_window = 169h\n",
			"replay_max_bytes = 65G\n",
		};
		for (size_t i = 0; i < sizeof(oor) / sizeof(*oor); i++) {
			rc = load_text(&c, oor[i], err, sizeof(err));
			ok(rc == -1 && strncmp(err, "PATH:1: ", 8) == 0,
			    "out of range rejected: %.*s (%s)",
			    (int)strlen(oor[i]) - 1, oor[i], err);
		}
		rc = load_text(&c, "replay_window = 168h\nws_max_message = 128\n"
		    "keepalive_interval = 100ms\nmax_connections = 10000000\n",
		    err, sizeof(err));
		is_int(rc, 0, "values at the bounds accepted (%s)", err);
		if (rc == 0) {
			is_int(c.replay_window_ms, 168LL * 3600000, "168h");
			is_int(c.ws_max_message, 128, "128 bytes");
			is_int(c.keepalive_interval_ms, 100, "100ms");
			is_int(c.max_connections, 10000000, "10000000");
			config_free(&c);
		}
	}

	/* tls_cert without tls_key and the reverse */
	rc = load_text(&c, "tls_cert = /etc/cert.pem\n", err, sizeof(err));
	is_int(rc, -1, "tls_cert without tls_key rejected");
	ok(strncmp(err, "PATH", 4) == 0 && strstr(err, "tls_key") != NULL,
	    "error names the file and tls_key (%s)", err);
	rc = load_text(&c, "tls_key = /etc/key.pem\n", err, sizeof(err));
	is_int(rc, -1, "tls_key without tls_cert rejected");

	/* missing file */
	{
		char raw[256] = "";
		rc = config_load(&c, "/nonexistent/sluiced.conf", raw, sizeof(raw));
		is_int(rc, -1, "missing file rejected");
		ok(strncmp(raw, "/nonexistent/sluiced.conf: ", 27) == 0,
		    "error names the file (%s)", raw);
		config_free(&c);
	}

	/* a line too long for the reader */
	{
		char *text = malloc(6000);
		strcpy(text, "tokens_file = /");
		memset(text + 15, 'a', 5000);
		strcpy(text + 5015, "\n");
		rc = load_text(&c, text, err, sizeof(err));
		is_int(rc, -1, "over-long line rejected");
		ok(strncmp(err, "PATH:1: ", 8) == 0, "over-long line (%s)", err);
		free(text);
	}
}

/* config_line directly */
static void
test_line(void)
{
	struct config c;
	bool seen[64] = { false };
	char err[256];

	config_defaults(&c);
	is_int(config_line(&c, "# only a comment", seen, err, sizeof(err)), 0,
	    "comment line");
	is_int(config_line(&c, "   ", seen, err, sizeof(err)), 0, "blank line");
	is_int(config_line(&c, "listen = :1", seen, err, sizeof(err)), 0,
	    "listen via config_line");
	is_int(config_line(&c, "listen = :2", seen, err, sizeof(err)), 0,
	    "second listen");
	is_int(c.listen.n, 2, "first replaces the default, second appends");
	is_str(c.listen.n ? c.listen.v[0] : NULL, ":1", "first");
	is_int(config_line(&c, "tls_cert = x", seen, err, sizeof(err)), 0, "tls_cert");
	is_int(config_line(&c, "tls_cert =", seen, err, sizeof(err)), 0,
	    "empty tls_cert");
	ok(c.tls_cert == NULL, "empty string value unsets");
	err[0] = '\0';
	is_int(config_line(&c, "nope = 1", seen, err, sizeof(err)), -1,
	    "unknown key");
	is_str(err, "unknown key 'nope'", "message without file:line");
	config_free(&c);
}

/* Every key of SPEC 8 with a value it takes and values it refuses:
 * the lower and upper bounds, the wrong type, junk after the value. */
static void
test_every_key(void)
{
	static const struct {
		const char *key, *good, *bad[4];
	} t[] = {
		{ "listen", "[::1]:8080", { "localhost", "1.2.3.4:99999", "1.2.3.4:", NULL } },
		{ "admin_listen", "127.0.0.1:9", { "nowhere", "127.0.0.1:-1", NULL } },
		{ "tls_cert", "/etc/ssl/x.pem", { NULL } },
		{ "tls_key", "/etc/ssl/x.key", { NULL } },
		{ "ingest", "fifo:/tmp/x", { "tcp:1.2.3.4:5", "unix:", "fifo", NULL } },
		{ "ingest_max_line", "64K", { "100", "2G", "1X", "-1M" } },
		{ "tokens_file", "/etc/sluice/tokens", { NULL } },
		{ "route", "/a/{b} = a:{b}", { "/a/{b}", "= x", "/a/{b} = {c}", NULL } },
		{ "workers", "4", { "0", "1025", "four", "2.5" } },
		{ "max_connections", "1", { "0", "10000001", "many", NULL } },
		{ "max_subscriptions", "100000", { "0", "100001", "1e3", NULL } },
		{ "max_streams_per_token", "7", { "0", "-1", "", NULL } },
		{ "max_app_streams", "3", { "0", "x", NULL } },
		{ "replay_window", "10m", { "8d", "1y", "-1s", "s" } },
		{ "replay_max_bytes", "1G", { "65G", "1Q", "lots", NULL } },
		{ "send_buffer_limit", "4K", { "4095", "2G", "1 M x", NULL } },
		{ "keepalive_interval", "1h", { "99ms", "2d", "soon", NULL } },
		{ "app_keepalive", "50", { "50ms", "0s", "x", NULL } },
		{ "ws_max_message", "128", { "127", "65M", "big", NULL } },
		{ "log_level", "debug", { "loud", "5", "", NULL } },
	};
	char err[256], line[128];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct config c;
		bool seen[64] = { false };

		config_defaults(&c);
		snprintf(line, sizeof(line), "%s = %s", t[i].key, t[i].good);
		err[0] = '\0';
		ok(config_line(&c, line, seen, err, sizeof(err)) == 0,
		    "%s takes '%s' (%s)", t[i].key, t[i].good, err);
		ok(config_reloadable(t[i].key) >= 0, "%s is in the table", t[i].key);
		for (int j = 0; j < 4 && t[i].bad[j]; j++) {
			snprintf(line, sizeof(line), "%s = %s", t[i].key, t[i].bad[j]);
			err[0] = '\0';
			ok(config_line(&c, line, seen, err, sizeof(err)) < 0 &&
			    strstr(err, t[i].key) != NULL,
			    "%s refuses '%s' naming the key (%s)", t[i].key,
			    t[i].bad[j], err);
		}
		config_free(&c);
	}
	is_int(config_reloadable("listen"), 0, "listen needs a restart");
	is_int(config_reloadable("max_connections"), 1, "max_connections reloads");
	is_int(config_reloadable("colour"), -1, "no such key");
}

int
main(void)
{
	test_every_key();
	test_defaults();
	test_size();
	test_duration();
	test_addr();
	test_load();
	test_line();
	return tap_done();
}
