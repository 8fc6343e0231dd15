/* target_floor.c - the bare-loop floor as the target: floor.c run as a
 * child process of this program, with a listening socket on 127.0.0.1
 * made here and a socket pair down which the events go, one line each
 * ("TAG G RECORD\n"). Consumers open /sub/global or /sub/bench{i}, as
 * on Nchan. */
#include "bench.h"
#include "sys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH_MAX	64	/* events per write to the floor */
#define QUEUE_LIMIT	(4u << 20)	/* bytes queued per socket, as sluice's
					 * send_buffer_limit in the bench */

struct floorctx {
	int	 evfd;		/* our end of the event socket pair */
	pid_t	 child;
	char	 log[300];
	char	*batch;
	size_t	 batchcap;
};

static int
floor_start(struct bench *b)
{
	struct floorctx *f = calloc(1, sizeof(*f));
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	const char *tmp = getenv("TMPDIR");
	char lfds[16], efds[16], ks[16], lims[24];
	char *argv[7], *l;
	int lfd, sv[2], logfd;

	if (f == NULL)
		return -1;
	b->tctx = f;
	f->evfd = -1;
	if (b->o.connect != NULL || b->o.transport != TR_WS) {
		fprintf(stderr, "sluice-bench: the floor is started by the "
		    "bench and speaks WebSocket only (--transport ws)\n");
		return -1;
	}
	f->batchcap = BATCH_MAX * ((size_t)b->o.size + 600);
	if ((f->batch = malloc(f->batchcap)) == NULL)
		return -1;
	snprintf(f->log, sizeof(f->log), "%s/sluice-bench-floor-XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	if ((logfd = mkstemp(f->log)) < 0) {
		fprintf(stderr, "sluice-bench: mkstemp %s: %s\n", f->log,
		    strerror(errno));
		f->log[0] = '\0';
		return -1;
	}
	close(logfd);

	/* both left open across exec for the child, closed here after */
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
		fprintf(stderr, "sluice-bench: the floor's socket: %s\n",
		    strerror(errno));
		if (lfd >= 0)
			close(lfd);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		fprintf(stderr, "sluice-bench: socketpair: %s\n", strerror(errno));
		close(lfd);
		return -1;
	}
	fcntl(sv[0], F_SETFD, FD_CLOEXEC);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	f->evfd = sv[0];
	snprintf(lfds, sizeof(lfds), "%d", lfd);
	snprintf(efds, sizeof(efds), "%d", sv[1]);
	snprintf(ks, sizeof(ks), "%u", b->o.floor_batch);
	snprintf(lims, sizeof(lims), "%u", QUEUE_LIMIT);
	argv[0] = "/proc/self/exe";
	argv[1] = "--floor-server";
	argv[2] = lfds;
	argv[3] = efds;
	argv[4] = ks;
	argv[5] = lims;
	argv[6] = NULL;
	f->child = spawn_logged(argv, f->log);
	close(lfd);
	close(sv[1]);
	if (f->child < 0) {
		fprintf(stderr, "sluice-bench: fork: %s\n", strerror(errno));
		f->child = 0;
		return -1;
	}
	b->pid = f->child;
	b->addr = sa;
	b->loopback = true;
	snprintf(b->hostport, sizeof(b->hostport), "127.0.0.1:%u",
	    ntohs(sa.sin_port));
	/* RSS before any consumer: once it runs its own program */
	if ((l = wait_log(f->log, f->child, "floor: ready", 10)) == NULL) {
		l = read_file(f->log);
		fprintf(stderr, "sluice-bench: the floor did not start: %s\n",
		    l ? l : "");
		free(l);
		return -1;
	}
	free(l);
	note(b, "started the floor (%u frame%s per write) on %s, pid %d",
	    b->o.floor_batch, b->o.floor_batch > 1 ? "s" : "", b->hostport,
	    (int)f->child);
	return 0;
}

static int
floor_prepare(struct bench *b)
{
	(void)b;
	return 0;
}

static int
floor_publish(struct bench *b, uint64_t seq, unsigned n)
{
	struct floorctx *f = b->tctx;
	size_t len = 0;

	while (n > 0) {
		unsigned k = n < BATCH_MAX ? n : BATCH_MAX;

		for (unsigned i = 0; i < k; i++, seq++) {
			long tag = event_tag_consumer(b, seq);
			size_t w;
			int h;

			if (tag >= 0)
				h = snprintf(f->batch + len, f->batchcap - len,
				    "%ld %d ", tag, b->nglobal > 0);
			else
				h = snprintf(f->batch + len, f->batchcap - len,
				    "- 1 ");
			if (h < 0 || (size_t)h >= f->batchcap - len)
				return -1;
			len += (size_t)h;
			w = event_record(b, seq, f->batch + len,
			    f->batchcap - len - 1);
			if (w == 0)
				return -1;
			len += w;
			f->batch[len++] = '\n';
		}
		if (fdio_write_all(f->evfd, f->batch, len) < 0) {
			fprintf(stderr, "sluice-bench: writing events to the "
			    "floor: %s\n", strerror(errno));
			return -1;
		}
		len = 0;
		n -= k;
	}
	return 0;
}

static int
floor_stop(struct bench *b)
{
	struct floorctx *f = b->tctx;
	int st = 0;

	if (f == NULL)
		return 0;
	if (f->evfd >= 0)
		close(f->evfd);		/* the floor ends at EOF */
	if (f->child > 0) {
		int64_t deadline = mono_us() + 2000000;
		char *l, *p;

		/* give it the EOF first, then SIGTERM (also a clean exit) */
		while (kill(f->child, 0) == 0 && mono_us() < deadline) {
			l = read_file(f->log);
			p = l ? strstr(l, "floor-stats:") : NULL;
			free(l);
			if (p != NULL)
				break;
			sleep_us(10000);
		}
		st = stop_child(f->child, 10);
		l = read_file(f->log);
		p = l ? strstr(l, "floor-stats:") : NULL;
		if (p != NULL) {
			unsigned long long conns, ev, fr, wr, dr;

			if (sscanf(p, "floor-stats: connections=%llu events=%llu "
			    "frames=%llu writes=%llu drops=%llu", &conns, &ev,
			    &fr, &wr, &dr) == 5) {
				snprintf(b->tnote, sizeof(b->tnote),
				    "floor           %llu frames in %llu writes "
				    "(%.2f per write, at most %u), %llu "
				    "connections dropped over %u bytes queued\n",
				    fr, wr, wr ? (double)fr / (double)wr : 0,
				    b->o.floor_batch, dr, QUEUE_LIMIT);
				snprintf(b->tjson, sizeof(b->tjson),
				    ",\"floor_batch\":%u,\"floor_frames\":%llu,"
				    "\"floor_writes\":%llu,\"floor_drops\":%llu",
				    b->o.floor_batch, fr, wr, dr);
			}
		}
		if (st != 0 || p == NULL) {
			fprintf(stderr, "sluice-bench: the floor exited with "
			    "status %d; its log %s:\n%s\n", st, f->log,
			    l ? l : "");
			b->o.keep = true;
		}
		free(l);
	}
	if (f->log[0] != '\0' && !b->o.keep)
		unlink(f->log);
	free(f->batch);
	free(f);
	b->tctx = NULL;
	return st;
}

const struct target target_floor = {
	.name = "floor",
	.ws_hello = false,
	.start = floor_start,
	.prepare = floor_prepare,
	.stream_request = ws_channel_request,
	.stream_opened = NULL,
	.subscribe_request = NULL,
	.publish = floor_publish,
	.stop = floor_stop,
};
