/* wssess.h - one WebSocket session: our RFC 6455 reader for the incoming
 * side and control frames, and a queue of pre-framed outgoing messages
 * written with writev without copying. The I/O is injected, so the session is
 * tested with scripted bytes and no socket (test/unit/wssess.c). */
#ifndef SLUICE_WSSESS_H
#define SLUICE_WSSESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "qitem.h"

struct wssess_cb {
	/* read up to len bytes: >0, 0 at end of stream, -1 with errno
	 * (EAGAIN: nothing now) */
	ssize_t	(*recv)(void *ud, uint8_t *buf, size_t len);
	/* write: bytes written, or -1 with errno (EAGAIN: not now) */
	ssize_t	(*writev)(void *ud, const struct iovec *iov, int iovcnt);
	/* a complete text message from the peer (may be NULL) */
	void	(*on_text)(void *ud, const uint8_t *msg, size_t len);
	/* data frames just written whole, a list in order from first
	 * through next; borrowed for the call (may be NULL) */
	void	(*written)(void *ud, const struct qitem *first);
	/* Around each write that begins data frames: begin before it (false:
	 * stop, wssess_write returns 2 and the owner closes the session),
	 * and, if begin said go, end after it with the cursor of the last
	 * event whose frame it began (0: none). The owner may hold a lock
	 * from begin to end, so that its closes know exactly which events
	 * went out. Both may be NULL. */
	bool	(*begin)(void *ud);
	void	(*end)(void *ud, uint64_t begun);
};

struct wssess;

struct wssess *wssess_new(const struct wssess_cb *cb, void *ud, size_t max_msg);
void wssess_free(struct wssess *s);

/* Read what is there. Returns 0, or -1 when the peer is gone or broke
 * the protocol (a close frame is then queued when one is due). */
int wssess_read(struct wssess *s);
/* Write what is queued: control frames between whole data
 * frames. Returns 0 when all is written, 1 when the socket is full, -1
 * on a write error, 2 when begin said stop. */
int wssess_write(struct wssess *s);

/* Append pre-framed items (see qitem_ws); takes them. Ignored (freed)
 * once the session is closing. */
void wssess_enqueue(struct wssess *s, struct qlist *items);
/* Start bringing what enqueue and write touch into the cache: a hint,
 * for a caller that knows it will write to s shortly. */
void wssess_prefetch(const struct wssess *s);
/* A text message, copied (for rare replies such as "pong"). */
int wssess_send_text(struct wssess *s, const char *msg, size_t len);
int wssess_ping(struct wssess *s);
/* Start the close handshake; queued data frames are dropped. */
void wssess_close(struct wssess *s, uint16_t code, const char *reason);

/* The close handshake is over, or the session broke: tear it down. */
bool wssess_finished(const struct wssess *s);
bool wssess_closing(const struct wssess *s);
/* Bytes of data frames queued and not yet written. */
size_t wssess_pending(const struct wssess *s);
/* Total bytes received: changes whenever the peer shows life. */
uint64_t wssess_received(const struct wssess *s);
/* Messages received from the peer, pongs left out: what the peer sent
 * of its own accord (app streams' client keepalive). */
uint64_t wssess_peer_messages(const struct wssess *s);
/* Cursor of the last event message completely written. */
uint64_t wssess_written_cursor(const struct wssess *s);
/* The same, or the cursor of a frame half written: a frame begun is
 * finished even when the session closes, so the peer gets it unless
 * the connection breaks. */
uint64_t wssess_committed_cursor(const struct wssess *s);
/* Close code the peer sent, 0 if none. */
uint16_t wssess_peer_close_code(const struct wssess *s);

#endif
