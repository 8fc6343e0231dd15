/* stream.h - user streams (SPEC 4): a connection_id, its subscriptions
 * and at most one consumer. Owned by the dispatcher thread: nothing here
 * is called from anywhere else. */
#ifndef SLUICE_STREAM_H
#define SLUICE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu/list.h>

#include "dispatch.h"
#include "route.h"
#include "subfilter.h"
#include "token.h"

struct conn;

struct sub {
	struct sub	*next;		/* in the stream's list */
	struct stream	*stream;
	char		 id[SUB_ID_MAX + 1];
	char		 key[ROUTE_KEY_MAX];
	char		*endpoint;	/* route pattern (a copy: routes reload) */
	struct subfilter filter;	/* its filter options */
	uint64_t	 since;		/* created after this cursor: a replay
					 * gives it only later events */
	/* the head of a message that matches this subscription alone:
	 * {"meta":{"connection_id":"CID","subscription_ids":["ID"], */
	char		*head;
	size_t		 headlen;
	/* delivery scratch: the event last matched, and the chain of the
	 * stream's subscriptions that matched it */
	uint64_t	 mark;
	struct sub	*match_next;
};

struct stream {
	struct stream	*hnext;		/* registry chain */
	struct cds_list_head all;
	struct cds_list_head idle;	/* in the idle list while nobody reads,
					 * oldest idle_since_ms first */
	char		 cid[CID_LEN + 1];
	char		 user_id[TOKEN_ID_MAX];
	uint8_t		 token_hash[TOKEN_HASH_LEN];
	struct sub	*subs;
	size_t		 nsubs;
	struct conn	*consumer;	/* NULL while nobody reads */
	struct cds_list_head by_token;	/* with the others whose consumer has
					 * its token, while it has one */
	uint64_t	 pos;		/* position: every event up to this cursor
					 * was written to a consumer, or was not
					 * for this stream */
	int64_t		 idle_since_ms;
	bool		 auto_delete;
	/* delivery scratch, see struct sub */
	uint64_t	 mark;
	struct stream	*mark_next;
	struct sub	*matched;
};

void streams_init(void);
void streams_free_all(void);
size_t streams_count(void);
size_t streams_for_token(const uint8_t *token_hash);
struct cds_list_head *streams_list(void);
/* stream_end every stream whose consumer presented this token (a
 * revoke). */
void streams_end_token(const uint8_t *token_hash, uint16_t code,
    const char *reason);
/* The streams without a consumer, longest idle first. */
struct cds_list_head *streams_idle(void);

struct stream *stream_find(const char *cid);
struct stream *stream_create(const struct token_info *tok);
/* Remove its subscriptions, end its consumer, free it. */
void stream_delete(struct stream *st);
/* Attach c as the consumer (taking a reference); an earlier consumer is
 * closed (takeover, stream_close). */
void stream_attach(struct stream *st, struct conn *c);
/* End the consumer (WebSocket close code) and forget it; the position
 * moves to what its writer had committed to, which it still gets. */
void stream_close(struct stream *st, uint16_t code, const char *reason);
/* stream_close, and an auto_delete stream goes too (it lives only as
 * long as its consumer). */
void stream_end(struct stream *st, uint16_t code, const char *reason);
/* Forget a consumer that went away (drops the stream's reference); the
 * position moves to what it had written. */
void stream_detach(struct stream *st);

struct sub *stream_find_sub(struct stream *st, const char *sid);
/* Create or overwrite subscription sid (f is copied). */
struct sub *stream_subscribe(struct stream *st, const char *sid,
    const char *key, const char *endpoint, const struct subfilter *f);
void stream_unsubscribe(struct stream *st, struct sub *s);

/* A fresh random id of CID_LEN hex digits. */
void stream_random_id(char out[CID_LEN + 1]);

#endif
