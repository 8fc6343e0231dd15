/* ws.h - WebSocket workers: one epoll loop per thread, each session
 * driven by exactly one of them */
#ifndef SLUICE_WS_H
#define SLUICE_WS_H

#include <stddef.h>

struct conn;
struct wsworker;
struct MHD_UpgradeResponseHandle;

int ws_start(int nworkers, char *err, size_t errlen);
/* End every session still open (no handshake) and join the workers. */
void ws_stop(void);
/* Sessions still open. */
long ws_sessions(void);
/* Sessions on plain TCP sockets taken out of MHD at the upgrade (MHD's
 * connection count no longer has them). */
long ws_detached(void);

/* c has something to write or is closing; takes a reference to c. */
void ws_wake(struct wsworker *w, struct conn *c);
/* An upgraded socket: from now on a worker owns it. Takes c's
 * reference. Called from MHD's upgrade handler. Over TLS, fd is one end
 * of MHD's socketpair and tls_fd MHD's TCP socket to the client (the
 * worker only shuts its reading side at the end); else tls_fd is -1,
 * and the worker takes the socket out of MHD (see ws.c). */
void ws_handoff(struct conn *c, int fd, int tls_fd,
    struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t extra_len);
/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2).
 * Returns 0, or -1 if the key is not a base64 16-byte nonce. */
int ws_accept_key(const char *key, char out[29]);

#endif
