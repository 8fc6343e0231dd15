/* http.h - the libmicrohttpd listeners: request routing, the JSON API,
 * chunked user streams */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stddef.h>

/* File descriptors kept back from the client listeners. */
#define HTTP_FD_RESERVE	128

int http_start(char *err, size_t errlen);
/* Client connections open now, of every kind. */
long http_open_connections(void);
/* Stop accepting new connections. */
void http_quiesce(void);
/* Number of chunked streams still open (not yet ended). */
long http_open_streams(void);
void http_stop(void);

#endif
