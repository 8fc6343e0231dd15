/* dispatch.h - the dispatcher thread and the control ops HTTP threads
 * send it */
#ifndef SLUICE_DISPATCH_H
#define SLUICE_DISPATCH_H

#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>

#include "appstream.h"
#include "buf.h"
#include "display.h"
#include "event.h"
#include "rcu.h"
#include "route.h"
#include "subfilter.h"
#include "token.h"

struct conn;

enum op_kind {
	OP_ATTACH,		/* a consumer connects to a user stream */
	OP_DETACH,		/* its connection is gone (async) */
	OP_SUBSCRIBE,
	OP_UNSUBSCRIBE,
	OP_DELETE_STREAM,
	OP_LIST_STREAMS,
	OP_SHUTDOWN,		/* end every stream, refuse new consumers */
	OP_APP_CREATE,		/* app streams: the management API */
	OP_APP_LIST,
	OP_APP_GET,
	OP_APP_UPDATE,
	OP_APP_DELETE,		/* key "": every stream of the app */
	OP_APP_ATTACH,		/* a consumer connects to an app stream */
	OP_DRAINED,		/* a replaying consumer's queue has room (async) */
	OP_RELOAD,		/* SIGHUP: apply the reloaded configuration */
};

#define SUB_ID_MAX	64
#define CID_LEN		32

struct op {
	struct cds_wfcq_node node;
	enum op_kind	 kind;
	bool		 async;		/* the dispatcher frees it */
	sem_t		 done;

	/* in */
	struct token_info tok;
	char		 cid[CID_LEN + 1];
	char		 sid[SUB_ID_MAX + 1];
	char		 key[ROUTE_KEY_MAX];
	char		 endpoint[512];	/* route pattern */
	bool		 auto_delete;
	bool		 has_cursor;	/* ATTACH, APP_ATTACH: resume from cursor */
	uint64_t	 cursor;
	bool		 check_only;	/* SUBSCRIBE, APP_ATTACH: validate,
					 * create nothing */
	display_t	 display;	/* ATTACH: the connection's; SUBSCRIBE:
					 * the backfill's */
	struct subfilter filter;	/* SUBSCRIBE (the caller clears it) */
	int		 count;		/* SUBSCRIBE: backfill */
	char		 since_id[EVENT_MAX_ID];	/* "": none */
	char		 before_id[EVENT_MAX_ID];
	struct appstream_def def;	/* APP_CREATE, APP_UPDATE */
	char		 base[300];	/* stream objects: "ws://host" */
	struct conn	*conn;		/* ATTACH/DETACH: a reference the op owns */

	/* out */
	int		 status;	/* HTTP status */
	const char	*error;		/* message when status is not 2xx */
	struct buf	 body;		/* SUBSCRIBE, LIST_STREAMS, APP_*: the
					 * JSON response */
};

int dispatch_start(char *err, size_t errlen);
/* Run op on the dispatcher and wait for it. */
void dispatch_call(struct op *op);
/* Run op here, now, serialised with the dispatcher (which holds a lock
 * while it works): for HTTP threads, which thus skip two thread
 * switches per call. After ops queued before it; it does not wait for
 * an ingest burst in progress to end, only for the dispatcher's current
 * batch. */
void dispatch_run(struct op *op);
/* Hand op over (op->async set); the dispatcher frees it. */
void dispatch_post(struct op *op);
void dispatch_stop(void);

#endif
