/* admin.h - the admin listener (SPEC 7): /healthz and /metrics on
 * admin_listen, and the delivery latency histogram that the writers
 * feed. */
#ifndef SLUICE_ADMIN_H
#define SLUICE_ADMIN_H

#include <stddef.h>

#include "qitem.h"

/* Listen on admin_listen; "" is no listener. Logs "admin listening on
 * HOST:PORT" with the port bound. */
int admin_start(char *err, size_t errlen);
/* The daemon is stopping: /healthz answers 503 from now on. */
void admin_shutting_down(void);
void admin_stop(void);

/* Writers, from any thread: the items from first (through next) have
 * just been written to a socket. Each live one (q->live) is observed in
 * sluice_delivery_latency_seconds, from its stamp to now: one clock
 * read for the batch, no lock, no shared cache line. */
void admin_observe_written(const struct qitem *first);

#endif
