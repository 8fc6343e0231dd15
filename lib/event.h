/* event.h - ingest records: parsing, the event model, rendering */
#ifndef SLUICE_EVENT_H
#define SLUICE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "display.h"
#include "hash.h"
#include "msg.h"

enum event_action { ACTION_CREATE, ACTION_UPDATE, ACTION_DELETE };

/* One accepted event. Immutable once rendered; shared by reference. */
struct event {
	unsigned	 refs;		/* atomic */
	uint64_t	 cursor;
	int64_t		 ts_ms;		/* ingest time, ms since the epoch */
	enum event_action action;
	char		*type;
	int		 app_type;	/* index in appstream_types, -1: none */
	char		*id;
	char	       **keys;
	size_t		 nkeys;
	uint64_t	 key_bloom;	/* event_key_bloom of every key, or'd */
	char	       **visible_to;	/* NULL: public */
	size_t		 nvisible;
	/* The parsed objects, until event_stamp has rendered them: then
	 * they are freed (the log keeps events for minutes, and a parsed
	 * tree costs several times its text); has_data remembers. */
	cJSON		*data;		/* may be NULL (delete without data) */
	cJSON		*meta;		/* backend meta, may be NULL */
	bool		 has_data;
	/* User-stream message without its per-connection head: the bytes
	 * that follow `{"meta":{"connection_id":..,"subscription_ids":[..],` */
	struct msg	*user_tail;
	/* where, in user_tail, the parts an app-stream message shares with
	 * it lie: delete marks and backend meta; the data object */
	uint32_t	 ext_off, ext_len;
	uint32_t	 data_off, data_len;
	/* The app-stream message as a complete WebSocket text frame (the
	 * same bytes for every app connection), built on first use. */
	struct msg	*app_frame;
	uint8_t		 app_hdr;	/* its WebSocket header's length */
	/* Filter options look only at these (subfilter.h), set at stamp */
	uint8_t		 facts;
	char		*subtype;	/* channel or file type, may be NULL */
	/* Display options (display.h): what they can change here, and the
	 * renderings other than the default (user_tail), made on demand */
	display_t	 affects;
	int8_t		 root_kind;
	char		*full_data;	/* data with nothing removed, when the
					 * default rendering removed something */
	uint32_t	 full_len;
	struct event_variant *variants;
	size_t		 bytes;		/* memory held when stamped, for
					 * accounting; fixed from then on */
	size_t		 charged;	/* added since, while in the replay log
					 * (replay_charge) */
};

struct event_variant {
	struct event_variant *next;
	display_t	 key;
	struct msg	*tail;		/* like user_tail */
};

enum token_action { TOKEN_GRANT, TOKEN_REVOKE };

struct token_rec {
	enum token_action action;
	char		*token;
	bool		 app;
	char		*user_id;	/* user tokens */
	char		*client_id;
	char		*scopes;	/* comma-separated, may be NULL */
};

enum ingest_kind { INGEST_EVENT, INGEST_TOKEN };

struct ingest_rec {
	enum ingest_kind kind;
	struct event	*ev;
	struct token_rec tok;
};

/* Parse one ingest line. Returns 0 and fills rec, or -1 and sets *reason
 * to a short metric label ("json", "missing_type", ...) and *detail to a
 * human explanation. Blank lines are rejected with reason "empty". */
int ingest_parse(const char *line, size_t len, struct ingest_rec *rec,
    const char **reason, const char **detail);
void token_rec_clear(struct token_rec *t);

/* The reasons a line is rejected, as metric labels; "too_long" and
 * "truncated" come from the line reader, the others from ingest_parse. */
#define INGEST_REASONS	10
extern const char *const ingest_reasons[INGEST_REASONS];
/* Index of a reason in ingest_reasons, or -1. */
int ingest_reason_index(const char *reason);

/* Stamp the event with its cursor and time and render its messages;
 * data and meta are freed. */
void event_stamp(struct event *ev, uint64_t cursor, int64_t ts_ms);
bool event_visible_to(const struct event *ev, const char *user_id);
/* The app-stream message (SPEC 3) framed for WebSocket; the event keeps
 * the reference. Built on the first call: one thread only (the
 * dispatcher). */
struct msg *event_app_frame(struct event *ev);
/* The app-stream message itself, the frame's payload (builds the frame
 * if need be, as event_app_frame). */
const char *event_app_message(struct event *ev, size_t *len);
/* The user-stream tail for a connection with display options d: the
 * default one, or a rendering shared by every connection whose options
 * come to the same here, made on the first call (one thread only, the
 * dispatcher). *grown: the bytes a new rendering added, else 0. */
struct msg *event_tail(struct event *ev, display_t d, size_t *grown);
/* The `data` object within a tail (its length, *len). */
const char *event_tail_data(const struct event *ev, const struct msg *tail,
    size_t *len);

/* Two bits of a 64-bit summary for one routing key: an event's summary
 * is those of its keys or'd together, so a key absent from it is
 * certainly not among the event's keys. */
static inline uint64_t
event_key_bloom(const char *key)
{
	uint64_t h = hash_str(HASH_INIT, key);

	return 1ULL << (h & 63) | 1ULL << (h >> 58);
}

struct event *event_ref(struct event *ev);
void event_unref(struct event *ev);

/* Largest id/key/token accepted in a record, in bytes. */
#define EVENT_MAX_ID	128
#define EVENT_MAX_KEYS	4096

#endif
