/* target_sluice.c - sluice as the target: a sluiced started in a temp
 * dir with a generated config (or a running one), tokens granted and
 * events written through its ingest socket (SPEC 2), user streams and
 * subscriptions over HTTP (SPEC 4). */
#include "bench.h"
#include "sys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define BATCH_MAX	64	/* events per write to the ingest socket */
#define START_TIMEOUT	30	/* seconds for "ready", sanitizer builds too */

struct sluice {
	char	 dir[256];		/* our temp dir, "" when attached */
	char	 conf[300], log[300];
	char	 sock[300];		/* the ingest socket */
	pid_t	 child;			/* the sluiced we started, or 0 */
	int	 ingest;
	char	*batch;
	size_t	 batchcap;
};

/* the config the bench runs sluiced with; --conf replaces or adds. No
 * workers line: sluiced's default, one per CPU it may run on (--pin
 * leaves it fewer) */
static const char *const defaults[][2] = {
	{ "listen", "127.0.0.1:0" },		/* a free port, read from the log */
	{ "admin_listen", "" },
	{ "ingest", NULL },			/* unix:DIR/ingest.sock */
	{ "keepalive_interval", "300s" },
	{ "send_buffer_limit", "4M" },
	{ "max_subscriptions", "50" },
};
#define NDEFAULTS (sizeof(defaults) / sizeof(defaults[0]))

static const char *const display_sets[] = {
	"", "&include_html=0", "&include_raw=1",
	"&include_annotations=1&include_html=0",
};

static int
parse_hostport(struct bench *b, const char *s)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	long port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0')
		strcpy(host, "127.0.0.1");
	port = strtol(colon + 1, NULL, 10);
	if (port <= 0 || port > 65535)
		return -1;
	memset(&b->addr, 0, sizeof(b->addr));
	b->addr.sin_family = AF_INET;
	b->addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &b->addr.sin_addr) != 1)
		return -1;
	snprintf(b->hostport, sizeof(b->hostport), "%s:%ld", host, port);
	b->loopback = (ntohl(b->addr.sin_addr.s_addr) >> 24) == 127;
	return 0;
}

static int
ingest_connect(struct sluice *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(s->sock) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "sluice-bench: ingest socket path too long\n");
		return -1;
	}
	strcpy(sa.sun_path, s->sock);
	s->ingest = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->ingest < 0 || connect(s->ingest, (struct sockaddr *)&sa,
	    sizeof(sa)) < 0) {
		fprintf(stderr, "sluice-bench: cannot reach the ingest socket "
		    "%s: %s\n", s->sock, strerror(errno));
		return -1;
	}
	return 0;
}

/* the sluiced to run: --sluiced, else the one built beside this program
 * (build/test/bench -> build/server), else one installed beside it,
 * else $PATH */
static void
find_sluiced(struct bench *b, char *out, size_t len)
{
	if (b->o.sluiced != NULL) {
		snprintf(out, len, "%s", b->o.sluiced);
		return;
	}
	static const char *const beside[] = { "../../server/sluiced", "sluiced" };
	char path[PATH_MAX + 32];

	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", b->exe_dir, beside[i]);
		if (access(path, X_OK) == 0 && realpath(path, out) != NULL)
			return;
	}
	snprintf(out, len, "sluiced");
}

static int
write_config(struct bench *b, struct sluice *s)
{
	const char *val[NDEFAULTS];
	char ingest[300];
	FILE *f;

	snprintf(ingest, sizeof(ingest), "unix:%s/ingest.sock", s->dir);
	for (size_t i = 0; i < NDEFAULTS; i++)
		val[i] = defaults[i][1] ? defaults[i][1] : ingest;
	if ((f = fopen(s->conf, "w")) == NULL)
		return -1;
	/* a --conf key that is one of ours replaces it; others are added */
	for (unsigned j = 0; j < b->o.nconf; j++) {
		const char *kv = b->o.conf[j], *eq = strchr(kv, '=');
		size_t kl = (size_t)(eq - kv);

		while (kl > 0 && kv[kl - 1] == ' ')
			kl--;
		for (size_t i = 0; i < NDEFAULTS; i++)
			if (strlen(defaults[i][0]) == kl &&
			    strncmp(defaults[i][0], kv, kl) == 0)
				val[i] = NULL;
	}
	for (size_t i = 0; i < NDEFAULTS; i++)
		if (val[i] != NULL)
			fprintf(f, "%s = %s\n", defaults[i][0], val[i]);
	for (unsigned j = 0; j < b->o.nconf; j++) {
		const char *kv = b->o.conf[j], *eq = strchr(kv, '=');

		fprintf(f, "%.*s = %s\n", (int)(eq - kv), kv, eq + 1);
		if (strncmp(kv, "ingest", 6) == 0 && (kv[6] == '=' || kv[6] == ' ')) {
			const char *v = eq + 1;

			while (*v == ' ')
				v++;
			if (strncmp(v, "unix:", 5) != 0) {
				fprintf(stderr, "sluice-bench: --conf ingest "
				    "must be unix:PATH\n");
				fclose(f);
				return -1;
			}
			snprintf(ingest, sizeof(ingest), "%s", v);
		}
	}
	snprintf(s->sock, sizeof(s->sock), "%s", ingest + 5);
	return fclose(f);
}

static int
sluice_start(struct bench *b)
{
	struct sluice *s = calloc(1, sizeof(*s));
	const char *tmp = getenv("TMPDIR");
	char exe[PATH_MAX], *log, *p;
	char *argv[4];

	if (s == NULL)
		return -1;
	b->tctx = s;
	s->ingest = -1;
	s->batchcap = BATCH_MAX * ((size_t)b->o.size + 512);
	s->batch = malloc(s->batchcap);
	if (s->batch == NULL)
		return -1;
	if (b->o.connect != NULL) {
		const char *in = b->o.ingest;

		if (parse_hostport(b, b->o.connect) < 0) {
			fprintf(stderr, "sluice-bench: --connect wants a "
			    "numeric IPv4 HOST:PORT, not '%s'\n", b->o.connect);
			return -1;
		}
		if (in == NULL) {
			fprintf(stderr, "sluice-bench: --connect needs "
			    "--ingest PATH (the sluiced's ingest socket)\n");
			return -1;
		}
		if (strncmp(in, "unix:", 5) == 0)
			in += 5;
		snprintf(s->sock, sizeof(s->sock), "%s", in);
		b->pid = b->o.pid;
		return ingest_connect(s);
	}

	snprintf(s->dir, sizeof(s->dir), "%s/sluice-bench-XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(s->dir) == NULL) {
		fprintf(stderr, "sluice-bench: mkdtemp %s: %s\n", s->dir,
		    strerror(errno));
		s->dir[0] = '\0';
		return -1;
	}
	snprintf(s->conf, sizeof(s->conf), "%s/sluiced.conf", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/sluiced.log", s->dir);
	if (write_config(b, s) < 0) {
		fprintf(stderr, "sluice-bench: cannot write %s\n", s->conf);
		return -1;
	}
	find_sluiced(b, exe, sizeof(exe));
	argv[0] = exe;
	argv[1] = "-c";
	argv[2] = s->conf;
	argv[3] = NULL;
	if ((s->child = spawn_logged(argv, s->log)) < 0) {
		fprintf(stderr, "sluice-bench: fork: %s\n", strerror(errno));
		s->child = 0;
		return -1;
	}
	b->pid = s->child;
	log = wait_log(s->log, s->child, " ready", START_TIMEOUT);
	if (log == NULL) {
		char *l = read_file(s->log);

		fprintf(stderr, "sluice-bench: %s did not start (log %s):\n%s",
		    exe, s->log, l ? l : "");
		free(l);
		b->o.keep = true;
		return -1;
	}
	p = strstr(log, "listening on ");
	if (p != NULL) {
		p += 13;
		p[strcspn(p, " \t\r\n")] = '\0';
	}
	if (p == NULL || parse_hostport(b, p) < 0) {
		fprintf(stderr, "sluice-bench: no listen address in %s\n", s->log);
		free(log);
		b->o.keep = true;
		return -1;
	}
	free(log);
	note(b, "started %s on %s (dir %s)", exe, b->hostport, s->dir);
	return ingest_connect(s);
}

static int
sluice_prepare(struct bench *b)
{
	struct sluice *s = b->tctx;
	size_t len = 0;
	char req[512], body[256];
	int64_t deadline;
	int fd = -1, status = 0, rl;

	for (uint32_t i = 0; i < b->o.n; i++) {
		len += (size_t)snprintf(s->batch + len, s->batchcap - len,
		    "{\"op\":\"token\",\"action\":\"grant\",\"token\":"
		    "\"bench-u%u\",\"user_id\":\"%u\",\"client_id\":\"bench\"}\n",
		    i, i);
		if (len > s->batchcap - 256 || i == b->o.n - 1) {
			if (fdio_write_all(s->ingest, s->batch, len) < 0) {
				fprintf(stderr, "sluice-bench: writing grants: "
				    "%s\n", strerror(errno));
				return -1;
			}
			len = 0;
		}
	}
	/* grants are applied in order: once the last one works, all do */
	rl = snprintf(req, sizeof(req), "GET /stream/0/users/me/streams "
	    "HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer bench-u%u\r\n\r\n",
	    b->hostport, b->o.n - 1);
	deadline = mono_us() + 30 * 1000000LL;
	while (status != 200 && mono_us() < deadline) {
		bool keep;

		if (fd < 0 && (fd = api_connect(b)) < 0)
			break;
		if (api_roundtrip(fd, req, (size_t)rl, &status, body,
		    sizeof(body), &keep) < 0 || !keep) {
			close(fd);
			fd = -1;
		}
		if (status != 200)
			sleep_us(10000);
	}
	if (fd >= 0)
		close(fd);
	if (status != 200) {
		fprintf(stderr, "sluice-bench: the granted tokens do not work "
		    "(HTTP %d %s)\n", status, body);
		return -1;
	}
	return 0;
}

static size_t
sluice_stream_request(struct bench *b, const struct consumer *c, char *out,
    size_t cap)
{
	char key[25], ws[160] = "";
	int n;

	if (c->ws) {
		ws_client_key(c->idx, key);
		snprintf(ws, sizeof(ws), "Upgrade: websocket\r\nConnection: "
		    "Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: "
		    "13\r\n", key);
	}
	/* auto_delete: a run leaves no streams behind in a sluiced it
	 * attached to */
	n = snprintf(out, cap, "GET /stream/user?auto_delete=1%s HTTP/1.1\r\n"
	    "Host: %s\r\nAuthorization: Bearer bench-u%u\r\n%s\r\n",
	    display_sets[c->display % 4], b->hostport, c->idx, ws);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static int
sluice_stream_opened(struct bench *b, struct consumer *c, const char *head,
    size_t len, char *err, size_t errlen)
{
	size_t vl;
	const char *v = http_header(head, len, "Connection-Id", &vl);

	if (v == NULL || vl == 0 || vl > CID_MAX) {
		snprintf(err, errlen, "no Connection-Id in the stream's response");
		return -1;
	}
	memcpy(c->cid, v, vl);
	c->cid[vl] = '\0';
	return 0;
}

static size_t
sluice_subscribe_request(struct bench *b, const struct consumer *c,
    char *out, size_t cap)
{
	char path[64];
	int n;

	if (c->global)
		snprintf(path, sizeof(path), "/posts/stream/global");
	else
		snprintf(path, sizeof(path), "/posts/tag/bench%u", c->idx);
	n = snprintf(out, cap, "GET /stream/0%s?connection_id=%s&"
	    "subscription_id=bench HTTP/1.1\r\nHost: %s\r\nAuthorization: "
	    "Bearer bench-u%u\r\n\r\n", path, c->cid, b->hostport, c->idx);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static int
sluice_publish(struct bench *b, uint64_t seq, unsigned n)
{
	struct sluice *s = b->tctx;
	size_t len = 0;

	while (n > 0) {
		unsigned k = n < BATCH_MAX ? n : BATCH_MAX;

		for (unsigned i = 0; i < k; i++, seq++) {
			size_t w = event_record(b, seq, s->batch + len,
			    s->batchcap - len - 1);

			if (w == 0)
				return -1;
			len += w;
			s->batch[len++] = '\n';
		}
		if (fdio_write_all(s->ingest, s->batch, len) < 0) {
			fprintf(stderr, "sluice-bench: writing events: %s\n",
			    strerror(errno));
			return -1;
		}
		len = 0;
		n -= k;
	}
	return 0;
}

static int
sluice_stop(struct bench *b)
{
	struct sluice *s = b->tctx;
	int st = 0;

	if (s == NULL)
		return 0;
	if (s->ingest >= 0)
		close(s->ingest);
	if (s->child > 0)
		st = stop_child_report(b, s->child, "sluiced", s->log);
	if (s->dir[0] != '\0') {
		if (b->o.keep)
			note(b, "kept %s", s->dir);
		else
			rm_tree(s->dir);
	}
	free(s->batch);
	free(s);
	b->tctx = NULL;
	return st;
}

const struct target target_sluice = {
	.name = "sluice",
	.ws_hello = true,
	.start = sluice_start,
	.prepare = sluice_prepare,
	.stream_request = sluice_stream_request,
	.stream_opened = sluice_stream_opened,
	.subscribe_request = sluice_subscribe_request,
	.publish = sluice_publish,
	.stop = sluice_stop,
};
