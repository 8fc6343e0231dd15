/* http.h - the libmicrohttpd listeners: request routing, the JSON API,
 * chunked user streams */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stddef.h>

int http_start(char *err, size_t errlen);
/* Stop accepting new connections. */
void http_quiesce(void);
/* Number of chunked streams still open (not yet ended). */
long http_open_streams(void);
void http_stop(void);

#endif
