/* http.h - the libmicrohttpd listeners: request routing, the JSON API,
 * chunked user streams */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>

#include <microhttpd.h>

/* File descriptors kept back from the client listeners. */
#define HTTP_FD_RESERVE	128

struct config;
struct sockaddr_storage;

/* A listen address ("host:port", "[v6]:port", ":port") as a socket
 * address; host gets its host part. what names the key in messages.
 * 0, or -1 with a message in err. */
int http_sockaddr(const char *what, const char *addr,
    struct sockaddr_storage *ss, char *host, size_t hostlen, int *port,
    char *err, size_t errlen);

/* With tls_cert and tls_key set: both files readable, a PEM certificate
 * and its PEM key. 0, or -1 with "file: reason" in err. What it read is
 * kept for http_start, which releases it, as does http_tls_release. */
int http_tls_check(const struct config *c, char *err, size_t errlen);
void http_tls_release(void);
int http_start(char *err, size_t errlen);
/* Queue a response: body copied, Content-Type type (none if NULL), and
 * headers as name, value pairs ending with a NULL name (or NULL). */
enum MHD_Result http_reply(struct MHD_Connection *mc, unsigned code,
    const char *type, const void *body, size_t len,
    const char *const *headers);
/* libmicrohttpd's error log into ours, at debug level; cls is the
 * prefix ("http", "admin"). */
void http_mhd_log(void *cls, const char *fmt, va_list ap);
/* Client connections open now, of every kind. */
long http_open_connections(void);
/* Stop accepting new connections. */
void http_quiesce(void);
/* Number of chunked streams still open (not yet ended). */
long http_open_streams(void);
void http_stop(void);

#endif
