/* conn.h - a consumer connection's outbound queue, shared by the
 * dispatcher (which pushes) and the thread that writes the socket (an
 * MHD thread for chunked streams, a WebSocket worker otherwise). */
#ifndef SLUICE_CONN_H
#define SLUICE_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu/list.h>

#include "display.h"
#include "qitem.h"
#include "rcu.h"
#include "token.h"

struct MHD_Connection;
struct appstream;
struct stream;
struct ws;
struct wsworker;

enum conn_transport { CONN_CHUNKED, CONN_WEBSOCKET };
enum conn_kind { CONN_USER, CONN_APP };

struct conn {
	pthread_mutex_t	 mu;
	/* WebSocket: held by the worker across a write that begins data
	 * frames, and taken by a close that needs the exact taken_cursor
	 * (stream_close). Apart from mu, so that the dispatcher's pushes
	 * never wait for a write. Taken before mu, never while holding it. */
	pthread_mutex_t	 wmu;
	unsigned	 refs;			/* atomic */
	enum conn_transport transport;
	enum conn_kind	 kind;
	uint8_t		 token_hash[TOKEN_HASH_LEN];

	/* under mu */
	struct qlist	 q;
	/* chunked: stamps (cursors) of the live events the last call took,
	 * for the next call to observe once MHD has sent them. Kept here,
	 * not as the items, so that the next call does not go back to
	 * memory long gone from the cache; the array grows to the most
	 * events one call has taken. */
	uint64_t	*sent;
	uint32_t	 sent_n, sent_cap;
	size_t		 inflight;		/* taken by the writer, unwritten */
	bool		 warned;		/* falling_behind sent */
	bool		 suspended;		/* chunked: MHD connection suspended */
	bool		 resumed;		/* chunked: woken since the reader
						 * last ran */
	bool		 closing;		/* end the stream */
	bool		 ended;			/* the writer has ended it */
	bool		 wake_pending;		/* websocket: on its worker's queue */
	bool		 want_drain;		/* the dispatcher waits for room */
	uint16_t	 close_code;		/* websocket close code */
	const char	*close_reason;
	uint64_t	 written_cursor;	/* last event fully written to the
						 * socket */
	uint64_t	 taken_cursor;		/* last event the writer has
						 * committed to: chunked, handed to
						 * MHD (under mu); WebSocket, a
						 * frame begun (under wmu instead).
						 * It is sent even if we close the
						 * connection now */
	struct MHD_Connection *mhd;		/* chunked */
	struct wsworker	*worker;		/* websocket, once handed over */
	struct ws	*ws;			/* its session, worker-owned */
	struct cds_wfcq_node wake_node;

	/* dispatcher only */
	struct stream	*stream;		/* user streams */
	display_t	 display;		/* its display options */
	struct appstream *app;			/* app streams */
	struct cds_list_head app_link;		/* in app->conns */
	/* replay: while catching up, events come from the log, paced by
	 * the queue, and live delivery leaves this connection alone */
	bool		 catching_up;
	uint64_t	 replay_at;		/* last cursor looked at */
	struct cds_list_head live;		/* chunked: keepalive order */
	int64_t		 last_push_ms;
};

struct conn *conn_new(enum conn_transport t, enum conn_kind k,
    const uint8_t *token_hash);
struct conn *conn_ref(struct conn *c);
void conn_unref(struct conn *c);

/* An item framed for c's transport. */
struct qitem *conn_item(const struct conn *c, const void *head, size_t headlen,
    struct msg *tail, uint64_t cursor);
/* Queue an item (takes it). Applies send_buffer_limit: one
 * falling_behind warning past half, and at the limit the connection is
 * closed (1008 "buffer full"). Returns 0, or -1 if the item was dropped. */
int conn_push(struct conn *c, struct qitem *q);
/* Ask the writer to end the stream with this WebSocket close code. */
void conn_close(struct conn *c, uint16_t code, const char *reason);
/* Chunked writer: copy up to max bytes of queued messages into buf.
 * Returns the count (0: nothing queued) or -1 when the stream is to
 * end. MHD calls it again only once it has sent the previous bytes, so
 * that is when they count as written. The caller holds mu. */
long conn_take_locked(struct conn *c, char *buf, size_t max);
/* Bytes queued or in flight. The caller holds mu. */
size_t conn_queued_locked(const struct conn *c);

/* Dispatcher, pacing a replay: true when next more bytes would take c
 * to mark bytes or more (the writer will then post OP_DRAINED once the
 * queue is below a quarter of send_buffer_limit), or when c is closing.
 * Staying below half the limit, a replay never earns a falling_behind
 * warning. */
bool conn_wait_drain(struct conn *c, size_t next, size_t mark);
/* Writers, after taking from the queue, with mu held: true when the
 * dispatcher waits for this; then call conn_post_drained unlocked. */
bool conn_drained_locked(struct conn *c);
void conn_post_drained(struct conn *c);

#endif
