/* api.c - blocking HTTP/1.1 for the calls around the streams (grants
 * checks, subscriptions): a few keep-alive connections, one request at
 * a time on each, in parallel threads. */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define API_BUF		65536
#define API_THREADS_MAX	64

int
http_status(const char *head, size_t len)
{
	/* "HTTP/1.1 200 OK" */
	if (len < 12 || strncmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ')
		return -1;
	if (head[9] < '0' || head[9] > '9' || head[10] < '0' ||
	    head[10] > '9' || head[11] < '0' || head[11] > '9')
		return -1;
	return (head[9] - '0') * 100 + (head[10] - '0') * 10 + head[11] - '0';
}

const char *
http_header(const char *head, size_t len, const char *name, size_t *vlen)
{
	size_t nl = strlen(name), i = 0, v, e;

	/* from the start of each line after the status line */
	for (;;) {
		while (i < len && head[i] != '\n')
			i++;
		if (++i >= len)
			return NULL;
		if (len - i <= nl || head[i + nl] != ':' ||
		    strncasecmp(head + i, name, nl) != 0)
			continue;
		v = i + nl + 1;
		while (v < len && (head[v] == ' ' || head[v] == '\t'))
			v++;
		e = v;
		while (e < len && head[e] != '\r' && head[e] != '\n')
			e++;
		while (e > v && head[e - 1] == ' ')
			e--;
		*vlen = e - v;
		return head + v;
	}
}

int
api_connect(struct bench *b)
{
	struct timeval tv = { 10, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&b->addr, sizeof(b->addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
api_roundtrip(int fd, const char *req, size_t len, int *status, char *body,
    size_t bodycap, bool *keep)
{
	char buf[API_BUF];
	size_t have = 0, hl, blen = 0, want;
	const char *e = NULL, *v;
	size_t vl;
	bool until_close = false;
	ssize_t n;

	if (fdio_write_all(fd, req, len) < 0)
		return -1;
	while (e == NULL) {
		n = read(fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		have += (size_t)n;
		e = memmem(buf, have, "\r\n\r\n", 4);
		if (e == NULL && have == sizeof(buf))
			return -1;
	}
	hl = (size_t)(e - buf) + 4;
	*status = http_status(buf, hl);
	v = http_header(buf, hl, "Connection", &vl);
	*keep = !(v != NULL && vl == 5 && strncasecmp(v, "close", 5) == 0);
	v = http_header(buf, hl, "Content-Length", &vl);
	if (v != NULL)
		want = (size_t)strtoull(v, NULL, 10);
	else if (*status == 204 || *status == 304)
		want = 0;
	else {
		want = SIZE_MAX;	/* the body ends with the connection */
		until_close = true;
		*keep = false;
	}
	/* keep what fits in body, count the rest */
	for (size_t off = hl, got = have - hl;; off = 0) {
		size_t take = got < want - blen ? got : want - blen;
		size_t room = bodycap > 0 ? bodycap - 1 : 0;

		if (blen < room)
			memcpy(body + blen, buf + off,
			    take < room - blen ? take : room - blen);
		blen += take;
		if (blen >= want)
			break;
		do
			n = read(fd, buf, sizeof(buf));
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			if (until_close)
				break;
			return -1;
		}
		got = (size_t)n;
	}
	if (bodycap > 0)
		body[blen < bodycap - 1 ? blen : bodycap - 1] = '\0';
	return 0;
}

struct apith {
	struct bench	*b;
	pthread_t	 th;
	uint64_t	 ok, failed;
	char		 err[ERR_MAX];
};

static void *
api_main(void *arg)
{
	struct apith *a = arg;
	struct bench *b = a->b;
	char req[4096], body[512];
	int fd = -1;

	for (;;) {
		uint64_t i = ADD(b->sub_next, 1) - 1;
		struct consumer *c;
		size_t len;
		int status = -1, rc = -1;
		bool keep = false;

		if (i >= b->o.n || LOAD(b->api_broken))
			break;
		c = &b->cons[i];
		if (LOAD(c->state) != CS_STREAM)
			continue;
		len = b->t->subscribe_request == NULL ? 0 :
		    b->t->subscribe_request(b, c, req, sizeof(req));
		if (len == 0) {
			STORE(c->subscribed, 1);
			a->ok++;
			continue;
		}
		/* a request on a kept-alive connection that the server has
		 * closed meanwhile gets one more try on a new one */
		for (;;) {
			bool fresh = fd < 0;

			if (fd < 0 && (fd = api_connect(b)) < 0)
				break;
			rc = api_roundtrip(fd, req, len, &status, body,
			    sizeof(body), &keep);
			if (rc < 0 || !keep) {
				close(fd);
				fd = -1;
			}
			if (rc == 0 || fresh)
				break;
		}
		if (rc == 0 && status == 200) {
			STORE(c->subscribed, 1);
			a->ok++;
			continue;
		}
		a->failed++;
		/* the server takes no more requests (at its connection
		 * limit, say): waiting out each one would take minutes */
		if (rc < 0)
			STORE(b->api_broken, 1);
		if (a->err[0] == '\0') {
			if (rc < 0)
				snprintf(a->err, sizeof(a->err), "subscribing: "
				    "the connection failed (%s)", strerror(errno));
			else
				snprintf(a->err, sizeof(a->err), "subscribing: "
				    "HTTP %d %.150s", status, body);
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

void
api_subscribe(struct bench *b, uint64_t *ok, uint64_t *failed, char *err,
    size_t errlen)
{
	unsigned n = b->o.api_conns, started = 0;
	struct apith a[API_THREADS_MAX];

	if (n > API_THREADS_MAX)
		n = API_THREADS_MAX;
	if (n < 1)
		n = 1;
	*ok = *failed = 0;
	STORE(b->sub_next, 0);
	for (unsigned i = 0; i < n; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].b = b;
		if (pthread_create(&a[i].th, NULL, api_main, &a[i]) != 0)
			break;
		started++;
	}
	if (started == 0)	/* no thread at all: do it here */
		api_main(&a[0]);
	for (unsigned i = 0; i < (started ? started : 1); i++) {
		if (started)
			pthread_join(a[i].th, NULL);
		*ok += a[i].ok;
		*failed += a[i].failed;
		if (err[0] == '\0' && a[i].err[0] != '\0')
			snprintf(err, errlen, "%s", a[i].err);
	}
}
