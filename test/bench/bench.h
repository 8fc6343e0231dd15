/* bench.h - sluice-bench: one run's options and state, the consumers,
 * and the interface to the server being measured (struct target).
 *
 * Threads:
 *   main      starts (or attaches to) the target, grants credentials,
 *             subscribes the consumers, then publishes the events, samples
 *             the server's RSS and CPU, and writes the report.
 *   api       (api.c) a few, only while subscribing: one keep-alive HTTP
 *             connection each, taking consumers from a shared counter.
 *   receiver  (consumer.c) --threads of them: each connects its slice of
 *             the consumers and then reads them all from one epoll loop.
 *
 * Data shared between threads is written by one thread and read by the
 * others with relaxed atomics (LOAD/STORE); counters that several
 * threads bump use ADD. */
#ifndef BENCH_H
#define BENCH_H

#include "fdio.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hist.h"

#define LOAD(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define ADD(x, v)	__atomic_add_fetch(&(x), (v), __ATOMIC_RELAXED)

#define CID_MAX		64	/* longest stream id a target may give */
#define CONF_MAX	64	/* --conf lines */
#define ERR_MAX		200	/* first-error texts */

enum transport { TR_WS, TR_CHUNKED, TR_MIX };
enum keymode { KEYS_ONE, KEYS_EACH, KEYS_MIX };

/* consumer states */
enum {
	CS_IDLE,		/* not started */
	CS_CONNECTING,		/* TCP connect in flight */
	CS_HEADERS,		/* request sent, reading the response head */
	CS_STREAM,		/* reading messages */
	CS_FAILED,		/* never opened */
	CS_CLOSED		/* opened, then ended (by the server or an error) */
};

struct consumer {
	int		 fd;
	uint32_t	 idx;
	uint8_t		 state;		/* CS_* (LOAD/STORE across threads) */
	uint8_t		 ws;		/* WebSocket, else HTTP chunked */
	uint8_t		 global;	/* on the shared key, else its own */
	uint8_t		 subscribed;	/* set by an api thread */
	uint8_t		 ck;		/* chunked decoder state */
	uint8_t		 hello;		/* WS: the connection message came */
	uint8_t		 display;	/* display option set */
	uint8_t		 chunked;	/* the response is chunk-encoded */
	uint16_t	 close_code;	/* WS close code from the server */
	uint32_t	 ck_left;	/* chunk size being read / bytes left */
	uint32_t	 stride;	/* seq distance between its events */
	uint32_t	 turn;		/* own key: its turn among them */
	uint32_t	 clen, ccap;	/* carry-over: bytes of an unfinished */
	char		*carry;		/* frame or message between reads */
	char		*frag;		/* WS: fragments of a message */
	uint32_t	 flen, fcap;
	uint64_t	 next_seq;	/* the next event it should get */
	char		 cid[CID_MAX + 1];
};

struct bench;

/* What is measured: a server that opens streams and is fed events:
 * sluice (target_sluice.c), Nchan (target_nchan.c) and the bare-loop
 * floor (target_floor.c, floor.c). The bench owns the sockets, the
 * clock, the order checks and the figures; a target says what to send
 * and where. */
struct target {
	const char *name;
	/* a WebSocket stream starts with sluice's {"meta":{"type":
	 * "connection"}} message */
	bool	 ws_hello;
	/* start the server, or attach to a running one: fills b->addr,
	 * b->hostport and b->pid (0 when unknown). 0 or -1 */
	int	(*start)(struct bench *b);
	/* make every consumer's credentials valid; 0 or -1 */
	int	(*prepare)(struct bench *b);
	/* the HTTP/1.1 request that opens c's stream (WebSocket upgrade
	 * when c->ws); its length, 0 if it does not fit */
	size_t	(*stream_request)(struct bench *b, const struct consumer *c,
		    char *out, size_t cap);
	/* the response head of c's opened stream: take what later calls
	 * need (c->cid). 0, or -1 with a reason in err. NULL: nothing */
	int	(*stream_opened)(struct bench *b, struct consumer *c,
		    const char *head, size_t len, char *err, size_t errlen);
	/* the request that subscribes c; 0 (or NULL) when the stream
	 * needs none */
	size_t	(*subscribe_request)(struct bench *b, const struct consumer *c,
		    char *out, size_t cap);
	/* publish events seq .. seq+n-1 (event_record), each with its
	 * bench_t taken as it is written. 0 or -1 */
	int	(*publish)(struct bench *b, uint64_t seq, unsigned n);
	/* stop what start started: its exit status, 0 when attached, -1
	 * when it could not be told. May leave figures of its own in
	 * b->tnote and b->tjson. */
	int	(*stop)(struct bench *b);
};

extern const struct target target_sluice;
extern const struct target target_nchan;
extern const struct target target_floor;

struct opts {
	unsigned	 n;		/* consumers */
	enum transport	 transport;
	unsigned	 sources;	/* loopback source addresses */
	unsigned	 threads;	/* receiver threads */
	bool		 pin;		/* --pin */
	enum keymode	 keys;
	unsigned	 display_sets;
	double		 rate;		/* events/s, 0: as fast as the window lets */
	unsigned	 window;	/* events ahead of the slowest consumer */
	double		 warmup, duration, drain;
	uint64_t	 events;	/* stop after this many (0: by duration) */
	unsigned	 size;		/* bytes per ingest record */
	unsigned	 inflight;	/* connects in flight */
	unsigned	 api_conns;
	double		 connect_timeout;
	bool		 json, keep, quiet;
	const char	*sluiced;
	const char	*connect;	/* HOST:PORT to attach to */
	const char	*ingest;	/* its ingest socket */
	pid_t		 pid;		/* its pid, for RSS and CPU */
	const char	*conf[CONF_MAX];
	unsigned	 nconf;
	double		 idle;		/* s of server CPU with nothing sent */
	unsigned	 floor_batch;	/* floor: frames per write (K) */
	unsigned	 pub_conns;	/* nchan: publisher connections */
	unsigned	 nginx_workers;
	const char	*nginx;		/* nchan: the nginx binary */
	const char	*nchan_module;	/* and its ngx_nchan_module.so */
};

/* one receiver thread */
struct rthread {
	struct bench	*b;
	pthread_t	 th;
	int		 ep;
	uint32_t	 lo, hi;	/* its consumers */
	char		*buf;		/* the one read buffer */
	size_t		 bufsz;
	int64_t		 now;		/* wall clock of the current read, us */
	struct hist	 lat;		/* latency of measured events, us */
	/* read by main while running (LOAD) */
	uint64_t	 delivered;	/* event messages */
	int64_t		 last_rx;	/* wall clock of the last one, us */
	uint64_t	 opened;
	uint64_t	 failed;
	/* read after join */
	uint64_t	 dups, ooo, gaps, warnings, closed, ws_closed;
	uint64_t	 keepalives, pings, bad;
	char		 err[ERR_MAX];	/* the first failure */
};

struct bench {
	struct opts		 o;
	const struct target	*t;
	void			*tctx;		/* the target's own state */
	struct sockaddr_in	 addr;		/* where consumers connect */
	char			 hostport[64];	/* for Host: headers */
	pid_t			 pid;
	char			 exe_dir[512];	/* where this program lives */

	struct consumer		*cons;
	struct rthread		*rt;
	bool			 loopback;	/* bind consumers to 127.0.0.x */

	/* routing: consumer i is on "global" or on its own key; an event
	 * goes to every global consumer and to one own-key consumer, in
	 * turn (tagcons: own-key consumers by their turn) */
	uint32_t		*tagcons;
	uint32_t		 ntag, nglobal;
	long			 global_live;	/* subscribed and open */
	long			 live;		/* all subscribed and open */

	/* the window: done[seq & mask] counts deliveries of seq */
	uint32_t		*done;
	uint64_t		 mask;

	/* events seq in [m_first, m_last] are the measured ones */
	uint64_t		 m_first, m_last;
	int64_t			 connect_deadline;	/* monotonic us */
	unsigned		 threads_connected;	/* ADD */
	int			 stop;			/* STORE */
	uint64_t		 sub_next;		/* api threads' counter */
	int			 api_broken;		/* STORE: give up subscribing */

	/* what the target adds to the report: text lines, and JSON
	 * members each starting with a comma */
	char			 label[32];		/* e.g. "floor k=8" */
	char			 tnote[1024];
	char			 tjson[1024];
};

/* consumer.c */
int	 receivers_start(struct bench *b);
void	 receivers_stop(struct bench *b);
void	 consumer_close(struct rthread *rt, struct consumer *c);
bool	 consumer_live(struct consumer *c);

/* api.c: blocking HTTP/1.1 over keep-alive connections */
int	 api_connect(struct bench *b);
/* Send req, read one response (Content-Length or none). 0 with the
 * status, -1 when the connection failed or closed. *keep: whether the
 * connection may carry another request. */
int	 api_roundtrip(int fd, const char *req, size_t len, int *status,
	    char *body, size_t bodycap, bool *keep);
/* subscribe every open consumer over o.api_conns connections */
void	 api_subscribe(struct bench *b, uint64_t *ok, uint64_t *failed,
	    char *err, size_t errlen);
/* the value of header name in an HTTP head, not NUL-terminated */
const char *http_header(const char *head, size_t len, const char *name,
	    size_t *vlen);
int	 http_status(const char *head, size_t len);

/* sluice-bench.c */
/* the events consumer c should get among 1..sent */
uint64_t consumer_expected(const struct bench *b, const struct consumer *c,
	    uint64_t sent);
/* the own-key consumer event seq goes to, or -1 */
long	 event_tag_consumer(const struct bench *b, uint64_t seq);
/* Event seq as every target gets it: a post record (SPEC 2.1) of
 * --size bytes, no newline, carrying "bench_seq":SEQ and "bench_t":
 * CLOCK_REALTIME microseconds taken now. Its length, 0 if cap is too
 * small. */
size_t	 event_record(const struct bench *b, uint64_t seq, char *out,
	    size_t cap);
/* a Sec-WebSocket-Key for consumer idx */
/* Base64 of n bytes, padded, NUL-terminated: 4 * ((n + 2) / 3) + 1
 * bytes of out. */
void	 b64_encode(const unsigned char *in, size_t n, char *out);
void	 ws_client_key(uint32_t idx, char out[25]);
/* Nchan's and the floor's stream request: a WebSocket on the channel
 * in the URL, /sub/global or /sub/bench{idx} */
size_t	 ws_channel_request(struct bench *b, const struct consumer *c,
	    char *out, size_t cap);
/* floor.c: the floor server's main, in the child target_floor.c runs */
int	 floor_main(int argc, char **argv);

/* sys.c */
int64_t	 mono_us(void);
int64_t	 wall_us(void);
void	 sleep_us(int64_t us);
long	 proc_rss_kib(pid_t pid);
/* utime + stime of pid in seconds; -1 when unknown */
double	 proc_cpu_s(pid_t pid);
/* the same, summed over pid and its children (nginx's master and
 * workers) */
long	 proc_tree_rss_kib(pid_t pid);
double	 proc_tree_cpu_s(pid_t pid);
double	 self_cpu_s(void);
/* How the scheduler treated pid (and its children if asked), summed
 * over the threads since they started: seconds runnable but waiting for a CPU,
 * context switches because a thread slept (vol) or was preempted
 * (invol). Each -1 when unknown. */
struct sched_figs {
	double	 wait_s, vol, invol;
};
void	 proc_sched(pid_t pid, bool children, struct sched_figs *out);
/* CPU seconds the whole machine has been busy (all cores, /proc/stat) */
double	 machine_busy_s(void);
void	 note(struct bench *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
