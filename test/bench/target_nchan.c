/* target_nchan.c - Nchan (nginx with Debian's libnginx-mod-nchan) as the
 * target: an nginx started in a temp dir with a generated config (its
 * own prefix, pid file, logs and temp paths, `daemon off`, so that it
 * is our child), subscribers on WebSocket at /sub/{channel}, events
 * published by HTTP POST to /pub/{channel}, the body being the record
 * sluice gets on its ingest socket (event_record).
 *
 * Publishing: --pub-conns keep-alive connections, requests pipelined
 * on each (as many in flight as the window lets), a channel always on
 * the same connection so that its events stay in order: with one key
 * every event goes down one connection. A reader thread takes the
 * responses, checks them (201 or 202), and times each POST from the
 * moment it was queued to its response: Nchan answers a publish once it
 * has fanned it out, and that is what the time shows. The time the
 * publisher spent blocked in write() (nginx not reading) is reported
 * too. */
#include "bench.h"
#include "sys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NCHAN_MODULE	"/usr/lib/nginx/modules/ngx_nchan_module.so"
#define BATCH_MAX	64		/* events queued before a write */
#define RING		16384		/* POSTs in flight per connection */
#define IN_BUF		65536
#define START_TIMEOUT	20
#define PUB_CONNS_MAX	64

struct pubconn {
	int		 fd;
	/* queue times of the POSTs not yet answered: head written by
	 * main, tail by the reader (release/acquire) */
	int64_t		*ring;
	uint64_t	 head, tail;
	char		*out;		/* main: requests not yet written */
	size_t		 olen, ocap;
	char		*in;		/* reader: responses not yet parsed */
	size_t		 ilen;
	int		 closed;	/* STORE by the reader */
};

struct nchan {
	char		 dir[256];
	char		 conf[300], log[300], out[300];
	pid_t		 child;
	struct pubconn	 pc[PUB_CONNS_MAX];
	unsigned	 npc;
	char		*rec;
	size_t		 reccap;
	pthread_t	 reader;
	bool		 reader_on;
	int		 ep;
	int		 stop;		/* STORE */
	/* main */
	uint64_t	 posts;
	int64_t		 blocked_us;	/* in write() */
	/* reader, read after the join */
	struct hist	 rtt;
	uint64_t	 answered, accepted, refused;
	char		 err[ERR_MAX];
};

static void
find_nginx(struct bench *b, char *out, size_t len)
{
	static const char *const where[] = { "/usr/sbin/nginx", "/sbin/nginx",
	    "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx" };

	if (b->o.nginx != NULL) {
		snprintf(out, len, "%s", b->o.nginx);
		return;
	}
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
		if (access(where[i], X_OK) == 0) {
			snprintf(out, len, "%s", where[i]);
			return;
		}
	snprintf(out, len, "nginx");
}

/* Workers: --nginx-workers, default 2, as sluiced's workers = 2 in the
 * bench's config; both use the machine's two cores. */
static int
write_config(struct bench *b, struct nchan *n, int port, const char *module)
{
	FILE *f = fopen(n->conf, "w");
	size_t body = (size_t)b->o.size * 2 > 65536 ? (size_t)b->o.size * 2 : 65536;

	if (f == NULL)
		return -1;
	fprintf(f,
	    "# written by sluice-bench for one run\n"
	    "daemon off;\n"
	    "master_process on;\n"
	    "worker_processes %u;\n"
	    "%s"
	    "pid %s/nginx.pid;\n"
	    "error_log %s warn;\n"
	    "load_module %s;\n"
	    "events {\n"
	    "\tuse epoll;\n"
	    "\tworker_connections 20000;\n"
	    "\tmulti_accept on;\n"
	    "}\n"
	    "http {\n"
	    "\taccess_log off;\n"
	    "\tclient_body_temp_path %s/tmp/body;\n"
	    "\tproxy_temp_path %s/tmp/proxy;\n"
	    "\tfastcgi_temp_path %s/tmp/fastcgi;\n"
	    "\tuwsgi_temp_path %s/tmp/uwsgi;\n"
	    "\tscgi_temp_path %s/tmp/scgi;\n"
	    /* the publisher's connections carry every event */
	    "\tkeepalive_requests 1000000000;\n"
	    "\tkeepalive_timeout 600s;\n"
	    "\tclient_body_buffer_size %zu;\n"
	    /* 10,000 channels x 10 messages fit */
	    "\tnchan_max_reserved_memory 512M;\n"
	    "\tserver {\n"
	    "\t\tlisten 127.0.0.1:%d backlog=4096;\n"
	    "\t\tlocation ~ ^/pub/(\\w+)$ {\n"
	    "\t\t\tnchan_publisher http;\n"
	    "\t\t\tnchan_channel_id $1;\n"
	    "\t\t\tnchan_message_buffer_length 10;\n"
	    "\t\t\tnchan_message_timeout 60s;\n"
	    "\t\t}\n"
	    "\t\tlocation ~ ^/sub/(\\w+)$ {\n"
	    "\t\t\tnchan_subscriber websocket;\n"
	    "\t\t\tnchan_channel_id $1;\n"
	    "\t\t\tnchan_subscriber_first_message newest;\n"
	    "\t\t}\n"
	    "\t}\n"
	    "}\n",
	    b->o.nginx_workers,
	    /* as root, workers would be nobody, who cannot use our dir */
	    geteuid() == 0 ? "user root;\n" : "",
	    n->dir, n->log, module, n->dir, n->dir, n->dir, n->dir, n->dir,
	    body, port);
	return fclose(f);
}

/* connect to port until it answers, while the child lives: 1 up, 0 the
 * child exited, -1 timed out */
static int
wait_listening(struct bench *b, pid_t child)
{
	int64_t deadline = mono_us() + START_TIMEOUT * 1000000LL;

	while (mono_us() < deadline) {
		int fd = api_connect(b), st;

		if (fd >= 0) {
			close(fd);
			return 1;
		}
		if (waitpid(child, &st, WNOHANG) == child)
			return 0;
		sleep_us(20000);
	}
	return -1;
}

static int
nchan_start(struct bench *b)
{
	struct nchan *n = calloc(1, sizeof(*n));
	const char *tmp = getenv("TMPDIR");
	const char *module = b->o.nchan_module ? b->o.nchan_module : NCHAN_MODULE;
	char exe[512], tmpd[300], *argv[8];
	int up = 0;

	if (n == NULL)
		return -1;
	b->tctx = n;
	n->ep = -1;
	for (unsigned i = 0; i < PUB_CONNS_MAX; i++)
		n->pc[i].fd = -1;
	if (b->o.connect != NULL || b->o.transport != TR_WS) {
		fprintf(stderr, "sluice-bench: Nchan is started by the bench "
		    "and measured over WebSocket only (--transport ws)\n");
		return -1;
	}
	find_nginx(b, exe, sizeof(exe));
	if (access(module, R_OK) != 0) {
		fprintf(stderr, "sluice-bench: Nchan is not installed (no %s): "
		    "apt-get install nginx-light libnginx-mod-nchan\n", module);
		return -1;
	}
	n->reccap = (size_t)b->o.size + 1024;
	if ((n->rec = malloc(n->reccap)) == NULL)
		return -1;
	snprintf(n->dir, sizeof(n->dir), "%s/sluice-bench-nchan-XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(n->dir) == NULL) {
		fprintf(stderr, "sluice-bench: mkdtemp %s: %s\n", n->dir,
		    strerror(errno));
		n->dir[0] = '\0';
		return -1;
	}
	snprintf(n->conf, sizeof(n->conf), "%s/nginx.conf", n->dir);
	snprintf(n->log, sizeof(n->log), "%s/error.log", n->dir);
	snprintf(n->out, sizeof(n->out), "%s/nginx.out", n->dir);
	snprintf(tmpd, sizeof(tmpd), "%s/tmp", n->dir);
	mkdir(tmpd, 0700);
	/* a free port, taken by someone else between our look and nginx's
	 * bind now and then: then another */
	for (int attempt = 0; attempt < 5 && up != 1; attempt++) {
		int port = loopback_port();
		char prefix[300];

		if (port < 0 || write_config(b, n, port, module) < 0) {
			fprintf(stderr, "sluice-bench: cannot write %s\n", n->conf);
			return -1;
		}
		snprintf(prefix, sizeof(prefix), "%s/", n->dir);
		argv[0] = exe;
		argv[1] = "-p";
		argv[2] = prefix;
		argv[3] = "-c";
		argv[4] = n->conf;
		argv[5] = "-e";
		argv[6] = n->log;
		argv[7] = NULL;
		memset(&b->addr, 0, sizeof(b->addr));
		b->addr.sin_family = AF_INET;
		b->addr.sin_port = htons((uint16_t)port);
		b->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		b->loopback = true;
		snprintf(b->hostport, sizeof(b->hostport), "127.0.0.1:%d", port);
		if ((n->child = spawn_logged(argv, n->out)) < 0) {
			fprintf(stderr, "sluice-bench: fork: %s\n", strerror(errno));
			n->child = 0;
			return -1;
		}
		up = wait_listening(b, n->child);
		if (up == 0)
			n->child = 0;	/* exited, and waited for */
		else if (up < 0)
			break;
	}
	if (up != 1) {
		char *l = read_file(n->log), *o = read_file(n->out);

		fprintf(stderr, "sluice-bench: %s did not start (config %s):\n"
		    "%s%s", exe, n->conf, o ? o : "", l ? l : "");
		free(l);
		free(o);
		b->o.keep = true;
		return -1;
	}
	b->pid = n->child;
	note(b, "started %s with Nchan (%u workers) on %s (dir %s)", exe,
	    b->o.nginx_workers, b->hostport, n->dir);
	return 0;
}

/* ---- the publisher's responses ---- */

/* the responses complete in pc->in: 0, or -1 when they do not parse */
static int
responses(struct nchan *n, struct pubconn *pc)
{
	size_t at = 0;

	for (;;) {
		const char *e = memmem(pc->in + at, pc->ilen - at, "\r\n\r\n", 4);
		const char *v;
		size_t hl, vl, cl;
		int status;
		uint64_t tail;

		if (e == NULL)
			break;
		hl = (size_t)(e - (pc->in + at)) + 4;
		status = http_status(pc->in + at, hl);
		v = http_header(pc->in + at, hl, "Content-Length", &vl);
		if (status < 0 || v == NULL) {
			snprintf(n->err, sizeof(n->err), "a publish response "
			    "without a status or a Content-Length: %.100s",
			    pc->in + at);
			return -1;
		}
		cl = (size_t)strtoull(v, NULL, 10);
		if (pc->ilen - at < hl + cl)
			break;
		tail = __atomic_load_n(&pc->tail, __ATOMIC_RELAXED);
		if (tail < __atomic_load_n(&pc->head, __ATOMIC_ACQUIRE)) {
			int64_t t = pc->ring[tail % RING], d = mono_us() - t;

			hist_add(&n->rtt, d > 0 ? (uint64_t)d : 0);
			__atomic_store_n(&pc->tail, tail + 1, __ATOMIC_RELEASE);
		}
		n->answered++;
		if (status == 201 || status == 202)
			n->accepted++;
		else {
			n->refused++;
			if (n->err[0] == '\0')
				snprintf(n->err, sizeof(n->err), "a publish "
				    "answered HTTP %d: %.*s", status,
				    (int)(cl > 100 ? 100 : cl), pc->in + at + hl);
		}
		at += hl + cl;
	}
	memmove(pc->in, pc->in + at, pc->ilen - at);
	pc->ilen -= at;
	if (pc->ilen == IN_BUF) {
		snprintf(n->err, sizeof(n->err), "a publish response longer "
		    "than %d bytes", IN_BUF);
		return -1;
	}
	return 0;
}

static void *
reader_main(void *arg)
{
	struct nchan *n = arg;
	struct epoll_event evs[PUB_CONNS_MAX];

	while (!LOAD(n->stop)) {
		int k = epoll_wait(n->ep, evs, PUB_CONNS_MAX, 50);

		for (int i = 0; i < k; i++) {
			struct pubconn *pc = evs[i].data.ptr;
			ssize_t r;

			if (pc->closed)		/* the reader's own */
				continue;
			r = recv(pc->fd, pc->in + pc->ilen, IN_BUF - pc->ilen,
			    MSG_DONTWAIT);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0 || (pc->ilen += (size_t)r,
			    responses(n, pc) < 0)) {
				if (n->err[0] == '\0')
					snprintf(n->err, sizeof(n->err), "nginx "
					    "closed a publisher connection");
				STORE(pc->closed, 1);
				epoll_ctl(n->ep, EPOLL_CTL_DEL, pc->fd, NULL);
			}
		}
	}
	return NULL;
}

static int
nchan_prepare(struct bench *b)
{
	struct nchan *n = b->tctx;
	char req[512], body[512];
	int status = 0, one = 1;
	bool keep;
	int rl;

	hist_init(&n->rtt);
	n->npc = b->o.pub_conns;
	if (n->npc > PUB_CONNS_MAX)
		n->npc = PUB_CONNS_MAX;
	if ((n->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return -1;
	for (unsigned i = 0; i < n->npc; i++) {
		struct pubconn *pc = &n->pc[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = pc };

		pc->ring = calloc(RING, sizeof(*pc->ring));
		pc->in = malloc(IN_BUF);
		pc->ocap = BATCH_MAX * ((size_t)b->o.size + 1024);
		pc->out = malloc(pc->ocap);
		if (pc->ring == NULL || pc->in == NULL || pc->out == NULL)
			return -1;
		if ((pc->fd = api_connect(b)) < 0) {
			fprintf(stderr, "sluice-bench: cannot connect to nginx: "
			    "%s\n", strerror(errno));
			return -1;
		}
		setsockopt(pc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* the channel answers before the reader takes over */
		if (i == 0) {
			rl = snprintf(req, sizeof(req), "POST /pub/benchprobe "
			    "HTTP/1.1\r\nHost: %s\r\nContent-Length: 2\r\n\r\n{}",
			    b->hostport);
			if (api_roundtrip(pc->fd, req, (size_t)rl, &status, body,
			    sizeof(body), &keep) < 0 || status / 100 != 2 ||
			    !keep) {
				fprintf(stderr, "sluice-bench: Nchan's publisher "
				    "answers HTTP %d %s\n", status, body);
				return -1;
			}
		}
		if (epoll_ctl(n->ep, EPOLL_CTL_ADD, pc->fd, &ev) < 0) {
			fprintf(stderr, "sluice-bench: epoll_ctl for Nchan's "
			    "publisher: %s\n", strerror(errno));
			return -1;
		}
	}
	if (pthread_create(&n->reader, NULL, reader_main, n) != 0)
		return -1;
	n->reader_on = true;
	return 0;
}

/* queue a POST of n->rec (len bytes) to channel on pc */
static int
post(struct bench *b, struct nchan *n, struct pubconn *pc, const char *chan,
    size_t len)
{
	int64_t waited = mono_us();
	int h;

	/* the ring is far larger than the window: a full one means
	 * nginx has stopped answering */
	while (pc->head - __atomic_load_n(&pc->tail, __ATOMIC_ACQUIRE) >= RING) {
		if (LOAD(pc->closed) || mono_us() - waited > 10000000) {
			fprintf(stderr, "sluice-bench: Nchan answers no "
			    "publish (%s)\n", n->err[0] ? n->err : "10 s");
			return -1;
		}
		sleep_us(100);
	}
	if (pc->ocap - pc->olen < len + 256)
		return -1;
	h = snprintf(pc->out + pc->olen, pc->ocap - pc->olen, "POST /pub/%s "
	    "HTTP/1.1\r\nHost: %s\r\nContent-Length: %zu\r\n\r\n", chan,
	    b->hostport, len);
	pc->olen += (size_t)h;
	memcpy(pc->out + pc->olen, n->rec, len);
	pc->olen += len;
	pc->ring[pc->head % RING] = mono_us();
	__atomic_store_n(&pc->head, pc->head + 1, __ATOMIC_RELEASE);
	n->posts++;
	return 0;
}

static int
flush_posts(struct nchan *n)
{
	for (unsigned i = 0; i < n->npc; i++) {
		struct pubconn *pc = &n->pc[i];
		int64_t t0;

		if (pc->olen == 0)
			continue;
		t0 = mono_us();
		if (fdio_write_all(pc->fd, pc->out, pc->olen) < 0) {
			fprintf(stderr, "sluice-bench: publishing to Nchan: %s "
			    "(%s)\n", strerror(errno), n->err[0] ? n->err : "");
			return -1;
		}
		n->blocked_us += mono_us() - t0;
		pc->olen = 0;
	}
	return 0;
}

static int
nchan_publish(struct bench *b, uint64_t seq, unsigned count)
{
	struct nchan *n = b->tctx;

	while (count > 0) {
		unsigned k = count < BATCH_MAX ? count : BATCH_MAX;

		for (unsigned i = 0; i < k; i++, seq++) {
			long tag = event_tag_consumer(b, seq);
			size_t len = event_record(b, seq, n->rec, n->reccap);
			char chan[32];

			if (len == 0)
				return -1;
			if (b->nglobal > 0 && post(b, n, &n->pc[0], "global",
			    len) < 0)
				return -1;
			if (tag >= 0) {
				snprintf(chan, sizeof(chan), "bench%ld", tag);
				if (post(b, n, &n->pc[(unsigned long)tag % n->npc],
				    chan, len) < 0)
					return -1;
			}
		}
		if (flush_posts(n) < 0)
			return -1;
		count -= k;
	}
	return 0;
}

static int
nchan_stop(struct bench *b)
{
	struct nchan *n = b->tctx;
	int st = 0;

	if (n == NULL)
		return 0;
	if (n->reader_on) {
		int64_t deadline = mono_us() + 2000000;
		bool pending = true;

		/* the last answers, for the counts */
		while (pending && mono_us() < deadline) {
			pending = false;
			for (unsigned i = 0; i < n->npc; i++)
				if (!LOAD(n->pc[i].closed) && __atomic_load_n(&n->pc[i].tail,
				    __ATOMIC_ACQUIRE) < n->pc[i].head)
					pending = true;
			if (pending)
				sleep_us(5000);
		}
		STORE(n->stop, 1);
		pthread_join(n->reader, NULL);
	}
	for (unsigned i = 0; i < PUB_CONNS_MAX; i++) {
		if (n->pc[i].fd >= 0)
			close(n->pc[i].fd);
		free(n->pc[i].ring);
		free(n->pc[i].in);
		free(n->pc[i].out);
	}
	if (n->ep >= 0)
		close(n->ep);
	if (n->child > 0)
		st = stop_child_report(b, n->child, "nginx", n->log);
	if (n->reader_on) {
		snprintf(b->tnote, sizeof(b->tnote),
		    "publish         %llu POSTs, %llu answered 201/202, %llu "
		    "refused; POST queued to answered p50 %.2f ms, p99 %.2f "
		    "ms, max %.2f ms; the publisher spent %.2f s in write()\n"
		    "%s%s%s",
		    (unsigned long long)n->posts,
		    (unsigned long long)n->accepted,
		    (unsigned long long)n->refused,
		    (double)hist_pct(&n->rtt, 50) / 1000,
		    (double)hist_pct(&n->rtt, 99) / 1000,
		    (double)(n->rtt.n ? n->rtt.max : 0) / 1000,
		    (double)n->blocked_us / 1e6,
		    n->err[0] ? "publish error   " : "", n->err,
		    n->err[0] ? "\n" : "");
		snprintf(b->tjson, sizeof(b->tjson),
		    ",\"nginx_workers\":%u,\"pub_conns\":%u,\"posts\":%llu,"
		    "\"posts_accepted\":%llu,\"posts_refused\":%llu,"
		    "\"post_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},"
		    "\"publisher_blocked_seconds\":%.3f",
		    b->o.nginx_workers, n->npc, (unsigned long long)n->posts,
		    (unsigned long long)n->accepted,
		    (unsigned long long)n->refused,
		    (double)hist_pct(&n->rtt, 50) / 1000,
		    (double)hist_pct(&n->rtt, 99) / 1000,
		    (double)(n->rtt.n ? n->rtt.max : 0) / 1000,
		    (double)n->blocked_us / 1e6);
	}
	if (n->dir[0] != '\0') {
		if (b->o.keep)
			note(b, "kept %s", n->dir);
		else
			rm_tree(n->dir);
	}
	free(n->rec);
	free(n);
	b->tctx = NULL;
	return st;
}

const struct target target_nchan = {
	.name = "nchan",
	.ws_hello = false,
	.start = nchan_start,
	.prepare = nchan_prepare,
	.stream_request = ws_channel_request,
	.stream_opened = NULL,
	.subscribe_request = NULL,
	.publish = nchan_publish,
	.stop = nchan_stop,
};
