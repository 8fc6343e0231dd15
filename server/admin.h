/* admin.h - the admin listener (SPEC 7): /healthz and /metrics on
 * admin_listen, and the delivery latency histogram that the writers
 * feed. */
#ifndef SLUICE_ADMIN_H
#define SLUICE_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "qitem.h"

/* Listen on admin_listen; "" is no listener. Logs "admin listening on
 * HOST:PORT" with the port bound. */
int admin_start(char *err, size_t errlen);
/* The daemon is stopping: /healthz answers 503 from now on. */
void admin_shutting_down(void);
void admin_stop(void);

/* Writers, from any thread, with no lock and no shared cache line:
 * observe in sluice_delivery_latency_seconds a message of an event
 * stamped at stamp (its cursor) and written to a socket at now
 * (wall_us). */
void admin_observe_latency(int64_t now, uint64_t stamp);
/* The same for each live item (q->live) from first through next, just
 * written; one clock read for them all. */
void admin_observe_written(const struct qitem *first);

#endif
