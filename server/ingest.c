/* ingest.c - the ingest sources. Each producer connection has its own
 * line buffer, so lines from different producers never mix and a
 * producer that disconnects mid-line loses only that line. */
#include "ingest.h"
#include "alloc.h"
#include "linebuf.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <urcu/list.h>

enum src_kind { SRC_LISTENER, SRC_PRODUCER, SRC_FIFO, SRC_STDIN };

struct src {
	struct pollable	 p;		/* first: epoll hands back &p */
	enum src_kind	 kind;
	struct ingest	*in;
	struct linebuf	 lb;
	struct cds_list_head link;
};

struct ingest {
	int		 epfd;
	size_t		 max_line;
	ingest_line_fn	 on_line;
	ingest_truncated_fn on_truncated;
	char		 path[108];
	int		 fifo_keep;	/* a write end kept open: no EOF */
	size_t		 nproducers;
	struct cds_list_head srcs;
};

static void src_event(struct pollable *p, uint32_t events);

static void
line_cb(void *arg, const char *line, size_t len)
{
	struct ingest *in = arg;

	in->on_line(line, len);
}

static struct src *
src_add(struct ingest *in, int fd, enum src_kind kind)
{
	struct src *s = xcalloc(1, sizeof(*s));
	struct epoll_event ev = { .events = EPOLLIN };

	s->p.fd = fd;
	s->p.fn = src_event;
	s->kind = kind;
	s->in = in;
	linebuf_init(&s->lb, in->max_line);
	ev.data.ptr = &s->p;
	if (epoll_ctl(in->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_err("%s: epoll_ctl: %s", __func__, strerror(errno));
		linebuf_free(&s->lb);
		free(s);
		return NULL;
	}
	cds_list_add_tail(&s->link, &in->srcs);
	if (kind == SRC_PRODUCER)
		in->nproducers++;
	return s;
}

static void
src_remove(struct src *s)
{
	epoll_ctl(s->in->epfd, EPOLL_CTL_DEL, s->p.fd, NULL);
	if (s->kind != SRC_STDIN)
		close(s->p.fd);
	if (s->kind == SRC_PRODUCER)
		s->in->nproducers--;
	cds_list_del(&s->link);
	linebuf_free(&s->lb);
	free(s);
}

static void
accept_producers(struct src *l)
{
	for (;;) {
		int fd = accept4(l->p.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("ingest: accept: %s", strerror(errno));
			return;
		}
		if (src_add(l->in, fd, SRC_PRODUCER) == NULL)
			close(fd);
		else
			log_debug("ingest: producer connected");
	}
}

static void
src_event(struct pollable *p, uint32_t events)
{
	struct src *s = (struct src *)p;
	struct ingest *in = s->in;
	char buf[65536];
	ssize_t n;
	int rounds = 0;

	if (s->kind == SRC_LISTENER) {
		accept_producers(s);
		return;
	}
	/* a bounded number of reads per wake-up: one busy producer must
	 * not starve the others or the control ops */
	while (rounds++ < 16) {
		n = read(p->fd, buf, sizeof(buf));
		if (n > 0) {
			linebuf_feed(&s->lb, buf, (size_t)n, line_cb, in);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		/* EOF or error: the producer is gone */
		if (n < 0)
			log_warn("ingest: read: %s", strerror(errno));
		if (linebuf_reset(&s->lb))
			in->on_truncated();
		if (s->kind == SRC_STDIN)
			log_info("ingest: end of stdin");
		else
			log_debug("ingest: producer disconnected");
		src_remove(s);
		return;
	}
}

static int
open_unix(struct ingest *in, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat stb;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "ingest socket path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (lstat(path, &stb) == 0) {
		/* a socket left by an earlier run is removed; a live one
		 * means another sluiced is using it */
		if (!S_ISSOCK(stb.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			close(fd);
			return -1;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa,
		    sizeof(sa)) == 0) {
			close(probe);
			close(fd);
			snprintf(err, errlen, "%s is in use by another process", path);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 128) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	strcpy(in->path, path);
	if (src_add(in, fd, SRC_LISTENER) == NULL) {
		snprintf(err, errlen, "%s: cannot watch the socket", path);
		close(fd);
		return -1;
	}
	return 0;
}

static int
open_fifo(struct ingest *in, const char *path, char *err, size_t errlen)
{
	struct stat stb;
	int fd;

	if (stat(path, &stb) < 0) {
		if (mkfifo(path, 0600) < 0) {
			snprintf(err, errlen, "mkfifo %s: %s", path, strerror(errno));
			return -1;
		}
	} else if (!S_ISFIFO(stb.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a named pipe", path);
		return -1;
	}
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* holding a write end means writers may come and go without the
	 * reader ever seeing end-of-file */
	in->fifo_keep = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (src_add(in, fd, SRC_FIFO) == NULL) {
		close(fd);
		snprintf(err, errlen, "%s: cannot watch the pipe", path);
		return -1;
	}
	return 0;
}

struct ingest *
ingest_open(const char *spec, size_t max_line, int epfd, ingest_line_fn on_line,
    ingest_truncated_fn on_truncated, char *err, size_t errlen)
{
	struct ingest *in = xcalloc(1, sizeof(*in));
	int rc;

	in->epfd = epfd;
	in->max_line = max_line;
	in->on_line = on_line;
	in->on_truncated = on_truncated;
	in->fifo_keep = -1;
	CDS_INIT_LIST_HEAD(&in->srcs);
	if (strncmp(spec, "unix:", 5) == 0)
		rc = open_unix(in, spec + 5, err, errlen);
	else if (strncmp(spec, "fifo:", 5) == 0)
		rc = open_fifo(in, spec + 5, err, errlen);
	else if (strcmp(spec, "stdin") == 0) {
		int fl = fcntl(STDIN_FILENO, F_GETFL);
		fcntl(STDIN_FILENO, F_SETFL, fl | O_NONBLOCK);
		rc = src_add(in, STDIN_FILENO, SRC_STDIN) ? 0 : -1;
		if (rc < 0)
			snprintf(err, errlen, "stdin cannot be watched (a regular "
			    "file? use a pipe)");
	} else {
		snprintf(err, errlen, "unknown ingest '%s'", spec);
		rc = -1;
	}
	if (rc < 0) {
		free(in);
		return NULL;
	}
	return in;
}

void
ingest_set_max_line(struct ingest *in, size_t max_line)
{
	struct src *s;

	in->max_line = max_line;
	cds_list_for_each_entry(s, &in->srcs, link)
		s->lb.max = max_line;
}

size_t
ingest_producers(const struct ingest *in)
{
	return in->nproducers;
}

void
ingest_close(struct ingest *in)
{
	struct src *s, *n;

	if (in == NULL)
		return;
	cds_list_for_each_entry_safe(s, n, &in->srcs, link)
		src_remove(s);
	if (in->path[0])
		unlink(in->path);
	if (in->fifo_keep >= 0)
		close(in->fifo_keep);
	free(in);
}
