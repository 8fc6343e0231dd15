/* qitem.h - one outbound message on a connection's queue: a small
 * per-connection head, then a reference to shared rendered bytes, then
 * a per-transport trailer. Nothing is copied per subscriber but the head. */
#ifndef SLUICE_QITEM_H
#define SLUICE_QITEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

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
	char		 head[];
};

extern const char qitem_crlf[2];

/* For HTTP chunked streams: head, tail, then "\r\n". */
struct qitem *qitem_chunked(const void *head, size_t headlen,
    struct msg *tail, uint64_t cursor);
/* For WebSocket: a text frame header, then head and tail as its payload. */
struct qitem *qitem_ws(const void *head, size_t headlen, struct msg *tail,
    uint64_t cursor);
/* Bytes given as they are (e.g. a complete pre-built frame in tail). */
struct qitem *qitem_raw(const void *head, size_t headlen, struct msg *tail,
    uint64_t cursor);
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
