/* apps.h - app streams (SPEC 5): each app's stream definitions and
 * their open connections. Owned by the dispatcher thread, like user
 * streams: HTTP threads reach it through control ops. */
#ifndef SLUICE_APPS_H
#define SLUICE_APPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu/list.h>

#include "appstream.h"
#include "buf.h"
#include "event.h"
#include "replay.h"
#include "token.h"

#define APPS_MAX_PER_APP	5	/* streams one app may create (SPEC 5) */

struct conn;

/* One client_id: the streams it created and the connections it has. */
struct app {
	struct app	*hnext;
	char		 client_id[TOKEN_ID_MAX];
	struct cds_list_head streams;	/* oldest first */
	size_t		 nstreams;
	size_t		 nconns;	/* open connections: max_app_streams */
	/* delivery scratch: may the app see the event last looked at? */
	uint64_t	 mark;
	bool		 mark_ok;
};

struct appstream {
	struct cds_list_head link;	/* in its app's streams */
	struct cds_list_head active;	/* in the active list while consumed */
	struct app	*app;
	uint64_t	 id;
	struct appstream_def def;
	struct cds_list_head conns;	/* its consumers, by conn->app_link */
	size_t		 nconns;
};

void apps_init(void);
void apps_free_all(void);

struct app *apps_find(const char *client_id);
struct app *apps_get(const char *client_id);	/* created if need be */
struct appstream *apps_find_stream(struct app *a, const char *key);
/* A new stream; def->key must be set and free in a. */
struct appstream *apps_create(struct app *a, const struct appstream_def *def);
/* Close its consumers (1000 "stream deleted") and free it. */
void apps_delete(struct appstream *as);

/* c consumes as (a reference is taken). */
void apps_attach(struct appstream *as, struct conn *c);
/* End c with a WebSocket close code and detach it. */
void apps_close(struct conn *c, uint16_t code, const char *reason);
/* c no longer does; nothing if it was already detached. */
void apps_detach(struct conn *c);
/* Close and detach every app connection, or with revoked_only those
 * whose token is no longer valid. */
void apps_close_conns(bool revoked_only, uint16_t code, const char *reason);

/* The stream object; endpoint_base is e.g. "ws://host:port" or "". */
void apps_render(const struct appstream *as, const char *endpoint_base,
    struct buf *b);
/* Push ev to every app connection that is to get it. */
void apps_deliver(struct event *ev);

/* c (just attached) resumes after cursor: a gap message first if the
 * log lost events after it. Returns where its replay starts. */
uint64_t apps_resume_from(struct conn *c, struct replay *r, uint64_t cursor);
/* Replay: push ev to c if its stream is to get it; true if so. */
bool apps_replay_one(struct conn *c, struct event *ev);

#endif
