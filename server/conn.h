/* conn.h - a consumer connection's outbound queue, shared by the
 * dispatcher (which pushes) and the thread that writes the socket. */
#ifndef SLUICE_CONN_H
#define SLUICE_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu/list.h>

#include "msg.h"
#include "token.h"

struct MHD_Connection;
struct stream;

/* One queued message: a per-connection head, then shared bytes, then a
 * per-transport trailer ("\r\n" on chunked streams). */
struct qitem {
	struct qitem	*next;
	struct msg	*tail;		/* NULL: the head is all */
	uint32_t	 headlen;
	uint32_t	 off;		/* bytes already written */
	uint64_t	 cursor;	/* 0 for keepalives and notices */
	char		 head[];
};

enum conn_transport { CONN_CHUNKED, CONN_WEBSOCKET };

struct conn {
	pthread_mutex_t	 mu;
	unsigned	 refs;			/* atomic */
	enum conn_transport transport;
	uint8_t		 token_hash[TOKEN_HASH_LEN];

	/* under mu */
	struct qitem	*qhead, *qtail;
	size_t		 queued;		/* bytes in the queue */
	bool		 warned;		/* falling_behind sent */
	bool		 suspended;		/* MHD connection suspended */
	bool		 closing;		/* end the stream */
	bool		 ended;			/* the writer has ended it */
	uint64_t	 written_cursor;	/* last event fully handed over */
	struct MHD_Connection *mhd;

	/* dispatcher only */
	struct stream	*stream;
	struct cds_list_head live;		/* in the keepalive order */
	int64_t		 last_push_ms;
};

struct conn *conn_new(enum conn_transport t, const uint8_t *token_hash);
struct conn *conn_ref(struct conn *c);
void conn_unref(struct conn *c);

/* Build an item: head bytes, then (a reference to) tail. */
struct qitem *qitem_new(const void *head, size_t headlen, struct msg *tail,
    uint64_t cursor);
void qitem_free(struct qitem *q);
size_t qitem_len(const struct qitem *q);

/* Queue an item (takes it). Applies send_buffer_limit: one
 * falling_behind warning at half, and at the limit the queue is dropped
 * and the connection closed. Returns 0, or -1 if the item was dropped. */
int conn_push(struct conn *c, struct qitem *q);
/* Ask the writer to end the stream; queued messages are dropped. */
void conn_close(struct conn *c);
/* Writer side for chunked streams: copy up to max bytes of queued
 * messages into buf. Returns the count; 0 with *empty set when nothing
 * is queued; -1 when the stream is to end. The caller holds mu. */
long conn_take_locked(struct conn *c, char *buf, size_t max);

#endif
