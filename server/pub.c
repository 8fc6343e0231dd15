/* pub.c - sluice-pub: NDJSON records from stdin or files into a running
 * sluiced's ingest socket. Each line is checked with the daemon's own
 * parser first, so the counts it prints are what sluiced will accept. */
#include "config.h"
#include "event.h"
#include "fdio.h"
#include "linebuf.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct pub {
	int		 fd;		/* destination */
	const char	*name;		/* current input, for messages */
	size_t		 lineno;
	unsigned long	 accepted;
	unsigned long	 rejected;
	bool		 quiet;
	bool		 failed;	/* the socket went away */
};

static void
on_line(void *arg, const char *line, size_t len)
{
	struct pub *p = arg;
	struct ingest_rec rec;
	const char *reason, *detail;

	p->lineno++;
	if (p->failed)
		return;
	if (line == NULL) {
		p->rejected++;
		if (!p->quiet)
			fprintf(stderr, "%s:%zu: rejected (too_long: longer than "
			    "ingest_max_line)\n", p->name, p->lineno);
		return;
	}
	if (ingest_parse(line, len, &rec, &reason, &detail) < 0) {
		if (strcmp(reason, "empty") == 0)
			return;
		p->rejected++;
		if (!p->quiet)
			fprintf(stderr, "%s:%zu: rejected (%s: %s)\n", p->name,
			    p->lineno, reason, detail);
		return;
	}
	if (rec.kind == INGEST_EVENT)
		event_unref(rec.ev);
	else
		token_rec_clear(&rec.tok);
	if (fdio_write_all(p->fd, line, len) < 0 || fdio_write_all(p->fd, "\n", 1) < 0) {
		fprintf(stderr, "sluice-pub: write: %s\n", strerror(errno));
		p->failed = true;
		return;
	}
	p->accepted++;
}

static int
feed(struct pub *p, int in, size_t max_line)
{
	struct linebuf lb;
	char buf[65536];
	ssize_t n;

	linebuf_init(&lb, max_line);
	p->lineno = 0;
	while (!p->failed && (n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "sluice-pub: %s: %s\n", p->name, strerror(errno));
			linebuf_free(&lb);
			return -1;
		}
		linebuf_feed(&lb, buf, (size_t)n, on_line, p);
	}
	/* a last line without its newline still counts */
	if (lb.len > 0 && !p->failed) {
		size_t len = lb.len;
		lb.len = 0;
		on_line(p, lb.buf, len);
	}
	linebuf_free(&lb);
	return 0;
}

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: sluice-pub [-s SOCKET | -c CONFIG] [-n] [-q] [FILE...]\n"
	    "  -s SOCKET  ingest socket (default: $SLUICE_INGEST, else the\n"
	    "             config's ingest, else ./sluice-ingest.sock)\n"
	    "  -c CONFIG  take the socket and ingest_max_line from a sluiced.conf\n"
	    "  -n         check only: parse and count, send nothing\n"
	    "  -q         do not report each rejected line\n");
}

int
main(int argc, char **argv)
{
	struct pub p = { .fd = -1 };
	struct config cfg;
	const char *sock = getenv("SLUICE_INGEST"), *conf = NULL;
	char err[512], *path = NULL;
	bool dry = false;
	int ch, rc = 0;

	while ((ch = getopt(argc, argv, "s:c:nqh")) != -1) {
		switch (ch) {
		case 's': sock = optarg; break;
		case 'c': conf = optarg; break;
		case 'n': dry = true; break;
		case 'q': p.quiet = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (config_load(&cfg, conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice-pub: %s\n", err);
		return 2;
	}
	if (sock == NULL || conf != NULL)
		sock = cfg.ingest;
	if (strncmp(sock, "unix:", 5) == 0 || strncmp(sock, "fifo:", 5) == 0)
		sock += 5;
	path = strdup(sock);
	signal(SIGPIPE, SIG_IGN);
	if (dry) {
		p.fd = open("/dev/null", O_WRONLY);
	} else {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(path) >= sizeof(sa.sun_path)) {
			fprintf(stderr, "sluice-pub: socket path too long\n");
			return 2;
		}
		strcpy(sa.sun_path, path);
		struct stat stb;

		if (stat(path, &stb) == 0 && S_ISFIFO(stb.st_mode)) {
			/* ingest = fifo:PATH: without O_NONBLOCK, opening a
			 * pipe nobody reads would wait forever */
			p.fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
			if (p.fd >= 0)
				fcntl(p.fd, F_SETFL, fcntl(p.fd, F_GETFL) & ~O_NONBLOCK);
		} else {
			p.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (p.fd >= 0 && connect(p.fd, (struct sockaddr *)&sa,
			    sizeof(sa)) < 0) {
				int e = errno;
				close(p.fd);
				p.fd = -1;
				errno = e;
			}
		}
		if (p.fd < 0) {
			fprintf(stderr, "sluice-pub: cannot reach the ingest "
			    "socket %s: %s (is sluiced running?)\n", path,
			    errno == ENXIO ? "nobody reads the pipe" : strerror(errno));
			free(path);
			config_free(&cfg);
			return 2;
		}
	}
	if (optind == argc) {
		p.name = "<stdin>";
		rc |= feed(&p, STDIN_FILENO, cfg.ingest_max_line);
	}
	for (int i = optind; i < argc && !p.failed; i++) {
		int fd = strcmp(argv[i], "-") == 0 ? STDIN_FILENO :
		    open(argv[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "sluice-pub: %s: %s\n", argv[i], strerror(errno));
			rc = -1;
			continue;
		}
		p.name = argv[i];
		rc |= feed(&p, fd, cfg.ingest_max_line);
		if (fd != STDIN_FILENO)
			close(fd);
	}
	close(p.fd);
	printf("%lu accepted, %lu rejected\n", p.accepted, p.rejected);
	free(path);
	config_free(&cfg);
	if (p.failed || rc < 0)
		return 2;
	return p.rejected ? 1 : 0;
}
