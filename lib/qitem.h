/* qitem.h - one outbound message on a connection's queue: a small
 * per-connection head, then a reference to shared rendered bytes, then
 * a per-transport trailer. Nothing is copied per subscriber but the head. */
#ifndef SLUICE_QITEM_H
#define SLUICE_QITEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#include <urcu/wfcqueue.h>

struct qitem {
	struct qitem	*next;
	struct msg	*tail;		/* NULL: the head is all */
	uint32_t	 headlen;
	uint32_t	 off;		/* bytes already written */
	uint64_t	 cursor;	/* 0 for keepalives and notices */
	uint8_t		 traillen;	/* 0, or 2 for "\r\n" (chunked) */
	bool		 live;		/* an event delivered live, not
					 * replayed: its writer measures
					 * its ingest-to-socket latency */
	bool		 pooled;	/* back to the pool when freed */
	struct cds_wfcq_node fnode;	/* on the pool's free list */
	char		 head[];
};

extern const char qitem_crlf[2];

/* The per-delivery items come from a pool of recycled ones: no malloc
 * once the pool holds what is in flight. Any thread may free them
 * (qitem_free), but only one thread at a time may make them (in sluiced,
 * the dispatcher's lock serialises the makers). Items too large for a
 * pool slot are allocated as usual. */
/* For HTTP chunked streams: head, tail, then "\r\n". */
struct qitem *qitem_chunked(const void *head, size_t headlen,
    struct msg *tail, uint64_t cursor);
/* For WebSocket: a text frame header, then head and tail as its payload. */
struct qitem *qitem_ws(const void *head, size_t headlen, struct msg *tail,
    uint64_t cursor);
/* Bytes given as they are (e.g. a complete pre-built frame in tail):
 * allocated, not pooled, so that any thread may make them. */
struct qitem *qitem_raw(const void *head, size_t headlen, struct msg *tail,
    uint64_t cursor);
/* Free every pooled item (at exit, once no thread uses items). */
void qitem_pool_drain(void);
/* Items in the pool now, and made from it so far (for tests). */
size_t qitem_pool_free(void);
uint64_t qitem_pool_reused(void);
void qitem_free(struct qitem *q);
size_t qitem_len(const struct qitem *q);

/* An unmasked, final WebSocket frame header for a payload of len bytes.
 * Returns its size (2, 4 or 10). */
size_t ws_frame_header(uint8_t out[10], uint8_t opcode, uint64_t len);

/* A FIFO of items, owned by one thread or guarded by its owner. */
struct qlist {
	struct qitem	*head, *tail;
	size_t		 bytes;
	size_t		 count;
};

void qlist_push(struct qlist *l, struct qitem *q);
struct qitem *qlist_pop(struct qlist *l);
/* Move every item of from to the end of to. */
void qlist_splice(struct qlist *to, struct qlist *from);
void qlist_clear(struct qlist *l);

#endif
