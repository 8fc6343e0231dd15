/* config.c - sluiced.conf. Every key is one row of `keys`: name, type,
 * default, bounds, whether SIGHUP may change it. Parsing, defaults, -t
 * and reload all walk this table. */
#include "config.h"
#include "alloc.h"
#include "log.h"
#include "route.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum ktype { K_STR, K_STRLIST, K_SIZE, K_DURATION, K_INT, K_LOGLEVEL,
    K_INGEST, K_ADDR, K_ADDRLIST, K_ROUTE };

struct key {
	const char	*name;
	enum ktype	 type;
	size_t		 off;
	const char	*def;		/* default as config text; NULL = none */
	int64_t		 min, max;	/* for numbers */
	bool		 reloadable;
};

#define OFF(f)	offsetof(struct config, f)
#define KiB	1024LL
#define MiB	(1024LL * 1024)
#define GiB	(1024LL * 1024 * 1024)
#define DAY_MS	(86400LL * 1000)

static const struct key keys[] = {
	{ "listen", K_ADDRLIST, OFF(listen), "127.0.0.1:8080", 0, 0, false },
	{ "admin_listen", K_ADDR, OFF(admin_listen), "127.0.0.1:8081", 0, 0, false },
	{ "tls_cert", K_STR, OFF(tls_cert), NULL, 0, 0, false },
	{ "tls_key", K_STR, OFF(tls_key), NULL, 0, 0, false },
	{ "ingest", K_INGEST, OFF(ingest), "unix:./sluice-ingest.sock", 0, 0, false },
	{ "ingest_max_line", K_SIZE, OFF(ingest_max_line), "1M", 256, GiB, true },
	{ "tokens_file", K_STR, OFF(tokens_file), NULL, 0, 0, true },
	{ "route", K_ROUTE, OFF(route), NULL, 0, 0, true },
	{ "workers", K_INT, OFF(workers), NULL, 1, 1024, false },
	{ "max_connections", K_INT, OFF(max_connections), "100000", 1, 10000000, true },
	{ "max_subscriptions", K_INT, OFF(max_subscriptions), "50", 1, 100000, true },
	{ "max_streams_per_token", K_INT, OFF(max_streams_per_token), "5", 1, 100000, true },
	{ "max_app_streams", K_INT, OFF(max_app_streams), "2", 1, 100000, true },
	{ "replay_window", K_DURATION, OFF(replay_window_ms), "600s", 0, 7 * DAY_MS, true },
	{ "replay_max_bytes", K_SIZE, OFF(replay_max_bytes), "64M", 0, 64 * GiB, true },
	{ "send_buffer_limit", K_SIZE, OFF(send_buffer_limit), "1M", 4 * KiB, GiB, true },
	{ "keepalive_interval", K_DURATION, OFF(keepalive_interval_ms), "30s", 100, DAY_MS, true },
	{ "app_keepalive", K_DURATION, OFF(app_keepalive_ms), "50s", 100, DAY_MS, true },
	{ "ws_max_message", K_SIZE, OFF(ws_max_message), "64K", 128, 64 * MiB, true },
	{ "log_level", K_LOGLEVEL, OFF(log_level), "info", 0, 0, true },
	{ NULL, 0, 0, NULL, 0, 0, false }
};

static void
strlist_clear(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void
strlist_add(struct strlist *l, const char *s)
{
	l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	if (l->v == NULL)
		fatal("%s: out of memory", __func__);
	l->v[l->n++] = xstrdup(s);
}

int
config_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': mul = KiB; end++; break;
	case 'M': mul = MiB; end++; break;
	case 'G': mul = GiB; end++; break;
	default: return -1;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0' || (v && mul > UINT64_MAX / v))
		return -1;
	*out = v * mul;
	return 0;
}

int
config_parse_duration_ms(const char *s, int64_t *out)
{
	char *end;
	double v;
	double mul = 1000;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	/* strtod alone would also take hex and exponents */
	if (end != s + strspn(s, "0123456789."))
		return -1;
	if (errno || v < 0)
		return -1;
	if (strcmp(end, "ms") == 0)
		mul = 1;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		mul = 1000;
	else if (strcmp(end, "m") == 0)
		mul = 60000;
	else if (strcmp(end, "h") == 0)
		mul = 3600000;
	else
		return -1;
	if (v * mul > 9.2e18)
		return -1;
	*out = (int64_t)(v * mul + 0.5);
	return 0;
}

int
config_parse_addr(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	long p;

	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hl = (size_t)(colon - s);
		if (memchr(s, ':', hl) != NULL)
			return -1;	/* bare IPv6 needs brackets */
	}
	if (hl >= hostlen)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (hl > 0) {
		/* numeric only: a name would need a resolver at start-up */
		unsigned char a[16];
		if (inet_pton(*s == '[' ? AF_INET6 : AF_INET, host, a) != 1)
			return -1;
	}
	if (!isdigit((unsigned char)colon[1]))
		return -1;
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 0 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

static const struct key *
find_key(const char *name)
{
	for (const struct key *k = keys; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

int
config_reloadable(const char *name)
{
	const struct key *k = find_key(name);

	return k ? k->reloadable : -1;
}

/* Set one key from text. seen[] tells whether a repeatable key was
 * already given in this file (the first occurrence replaces the default). */
static int
set_key(struct config *c, const struct key *k, const char *v, bool *seen,
    char *err, size_t errlen)
{
	void *f = (char *)c + k->off;
	uint64_t u;
	int64_t i;
	char *end, host[256];
	int port;

	switch (k->type) {
	case K_STR:
		free(*(char **)f);
		*(char **)f = v[0] ? xstrdup(v) : NULL;
		return 0;
	case K_STRLIST:
	case K_ADDRLIST:
	case K_ROUTE:
		if (k->type == K_ADDRLIST &&
		    config_parse_addr(v, host, sizeof(host), &port) < 0) {
			snprintf(err, errlen, "%s: '%s' is not an address "
			    "(host:port, [v6]:port or :port)", k->name, v);
			return -1;
		}
		if (k->type == K_ROUTE) {
			struct routes *rt = routes_new();
			int rc = routes_set_line(rt, v, err, errlen);
			routes_free(rt);
			if (rc < 0)
				return -1;
		}
		if (seen != NULL && !*seen)
			strlist_clear(f);
		if (seen != NULL)
			*seen = true;
		strlist_add(f, v);
		return 0;
	case K_ADDR:
		if (v[0] && config_parse_addr(v, host, sizeof(host), &port) < 0) {
			snprintf(err, errlen, "%s: '%s' is not an address "
			    "(host:port, [v6]:port or :port; empty for off)", k->name, v);
			return -1;
		}
		free(*(char **)f);
		*(char **)f = xstrdup(v);
		return 0;
	case K_INGEST:
		if (strcmp(v, "stdin") != 0 &&
		    !((strncmp(v, "unix:", 5) == 0 || strncmp(v, "fifo:", 5) == 0) &&
		    v[5] != '\0')) {
			snprintf(err, errlen, "ingest: '%s' is not unix:PATH, "
			    "fifo:PATH or stdin", v);
			return -1;
		}
		if (strncmp(v, "unix:", 5) == 0 && strlen(v + 5) >= 108) {
			snprintf(err, errlen, "ingest: socket path too long");
			return -1;
		}
		free(*(char **)f);
		*(char **)f = xstrdup(v);
		return 0;
	case K_SIZE:
		if (config_parse_size(v, &u) < 0) {
			snprintf(err, errlen, "%s: '%s' is not a size (a number "
			    "with an optional K, M or G)", k->name, v);
			return -1;
		}
		if ((int64_t)u < k->min || (int64_t)u > k->max) {
			snprintf(err, errlen, "%s: %s is out of range "
			    "(%lld to %lld bytes)", k->name, v,
			    (long long)k->min, (long long)k->max);
			return -1;
		}
		*(uint64_t *)f = u;
		return 0;
	case K_DURATION:
		if (config_parse_duration_ms(v, &i) < 0) {
			snprintf(err, errlen, "%s: '%s' is not a duration (a "
			    "number with an optional ms, s, m or h)", k->name, v);
			return -1;
		}
		if (i < k->min || i > k->max) {
			snprintf(err, errlen, "%s: %s is out of range "
			    "(%lldms to %llds)", k->name, v, (long long)k->min,
			    (long long)(k->max / 1000));
			return -1;
		}
		*(int64_t *)f = i;
		return 0;
	case K_INT:
		errno = 0;
		i = strtoll(v, &end, 10);
		if (errno || end == v || *end != '\0') {
			snprintf(err, errlen, "%s: '%s' is not a whole number",
			    k->name, v);
			return -1;
		}
		if (i < k->min || i > k->max) {
			snprintf(err, errlen, "%s: %lld is out of range (%lld to %lld)",
			    k->name, (long long)i, (long long)k->min,
			    (long long)k->max);
			return -1;
		}
		*(int64_t *)f = i;
		return 0;
	case K_LOGLEVEL:
		if ((i = log_level_parse(v)) < 0) {
			snprintf(err, errlen, "log_level: '%s' is not one of "
			    "error, warn, info, debug", v);
			return -1;
		}
		*(int64_t *)f = i;
		return 0;
	}
	return -1;
}

/* The CPUs this process may run on (its affinity: fewer than are
 * online under taskset, a cpuset or a container's CPU list), as nproc
 * counts them; the online CPUs if that cannot be read. */
static long
config_cpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 &&
	    (n = CPU_COUNT(&set)) > 0)
		return n;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? n : 1;
}

void
config_defaults(struct config *c)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	for (const struct key *k = keys; k->name; k++)
		if (k->def != NULL && set_key(c, k, k->def, NULL, err, sizeof(err)) < 0)
			fatal("%s: default of %s: %s", __func__, k->name, err);
	c->workers = config_cpus();
}

void
config_free(struct config *c)
{
	for (const struct key *k = keys; k->name; k++) {
		void *f = (char *)c + k->off;
		switch (k->type) {
		case K_STR: case K_ADDR: case K_INGEST:
			free(*(char **)f);
			*(char **)f = NULL;
			break;
		case K_STRLIST: case K_ADDRLIST: case K_ROUTE:
			strlist_clear(f);
			break;
		default:
			break;
		}
	}
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		*--e = '\0';
	return s;
}

int
config_line(struct config *c, const char *line, bool *seen, char *err,
    size_t errlen)
{
	char copy[4096], *p, *eq, *name, *val;
	const struct key *k;

	if (strlen(line) >= sizeof(copy)) {
		snprintf(err, errlen, "line too long");
		return -1;
	}
	strcpy(copy, line);
	/* no value needs '#', so a '#' anywhere starts a comment */
	if ((p = strchr(copy, '#')) != NULL)
		*p = '\0';
	p = trim(copy);
	if (*p == '\0')
		return 0;
	/* "key = value"; route lines also read "route /path/{x} = key:{x}" */
	name = p;
	while (*p && *p != '=' && *p != ' ' && *p != '\t')
		p++;
	eq = p;
	val = trim(p);
	if (*val == '=')
		val = trim(val + 1);
	else if (!(eq - name == 5 && strncmp(name, "route", 5) == 0 && *val)) {
		snprintf(err, errlen, "expected 'key = value'");
		return -1;
	}
	*eq = '\0';
	if ((k = find_key(name)) == NULL) {
		snprintf(err, errlen, "unknown key '%s'", name);
		return -1;
	}
	if (*val == '\0' && k->type != K_STR && k->type != K_ADDR) {
		snprintf(err, errlen, "%s: missing value", name);
		return -1;
	}
	return set_key(c, k, val, seen ? &seen[k - keys] : NULL, err, errlen);
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	bool seen[sizeof(keys) / sizeof(keys[0])] = { false };
	char line[4096], msg[512];
	size_t lineno = 0;
	FILE *fp;

	config_defaults(c);
	if (path == NULL)
		return 0;
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		config_free(c);
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			snprintf(err, errlen, "%s:%zu: line too long", path, lineno);
			goto fail;
		}
		if (config_line(c, line, seen, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "%s:%zu: %s", path, lineno, msg);
			goto fail;
		}
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error", path);
		goto fail;
	}
	fclose(fp);
	if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
		snprintf(err, errlen, "%s: tls_cert and tls_key must be set together",
		    path);
		config_free(c);
		return -1;
	}
	return 0;
fail:
	fclose(fp);
	config_free(c);
	return -1;
}
