/* apps.c - app streams, owned by the dispatcher thread. Delivery walks
 * only the streams that have consumers (the active list); for each it
 * checks the event's type against the stream's object types, for a
 * private event whether one of its users authorized the app (once per
 * app and event), and the stream's filter (on the message parsed once
 * per event, only if some filter judges its type). The message is the
 * same for every app connection, so one pre-built frame is shared by
 * all. */
#include "apps.h"
#include "appfilter.h"
#include "json.h"
#include "hash.h"
#include "alloc.h"
#include "conn.h"
#include "log.h"
#include "sluiced.h"
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKET	1024

static struct app *bucket[NBUCKET];
static CDS_LIST_HEAD(active);
static uint64_t next_id = 1;

static size_t
slot(const char *client_id)
{
	return (size_t)(hash_str(HASH_INIT, client_id) % NBUCKET);
}

void
apps_init(void)
{
	memset(bucket, 0, sizeof(bucket));
	CDS_INIT_LIST_HEAD(&active);
	next_id = 1;
}

void
apps_free_all(void)
{
	for (size_t i = 0; i < NBUCKET; i++) {
		struct app *a, *n;

		for (a = bucket[i]; a; a = n) {
			struct appstream *as, *asn;

			n = a->hnext;
			cds_list_for_each_entry_safe(as, asn, &a->streams, link)
				apps_delete(as);
			free(a);
		}
		bucket[i] = NULL;
	}
}

struct app *
apps_find(const char *client_id)
{
	struct app *a;

	for (a = bucket[slot(client_id)]; a; a = a->hnext)
		if (strcmp(a->client_id, client_id) == 0)
			return a;
	return NULL;
}

struct app *
apps_get(const char *client_id)
{
	struct app *a = apps_find(client_id);
	size_t s;

	if (a != NULL)
		return a;
	a = xcalloc(1, sizeof(*a));
	snprintf(a->client_id, sizeof(a->client_id), "%s", client_id);
	CDS_INIT_LIST_HEAD(&a->streams);
	s = slot(client_id);
	a->hnext = bucket[s];
	bucket[s] = a;
	return a;
}

struct appstream *
apps_find_stream(struct app *a, const char *key)
{
	struct appstream *as;

	if (a == NULL)
		return NULL;
	cds_list_for_each_entry(as, &a->streams, link)
		if (strcmp(as->def.key, key) == 0)
			return as;
	return NULL;
}

struct appstream *
apps_create(struct app *a, const struct appstream_def *def)
{
	struct appstream *as = xcalloc(1, sizeof(*as));

	as->app = a;
	as->id = next_id++;
	as->def = *def;
	CDS_INIT_LIST_HEAD(&as->conns);
	CDS_INIT_LIST_HEAD(&as->active);
	cds_list_add_tail(&as->link, &a->streams);
	a->nstreams++;
	return as;
}

void
apps_close(struct conn *c, uint16_t code, const char *reason)
{
	conn_close(c, code, reason);
	apps_detach(c);
}

void
apps_delete(struct appstream *as)
{
	struct conn *c, *n;

	cds_list_for_each_entry_safe(c, n, &as->conns, app_link)
		apps_close(c, 1000, "stream deleted");
	cds_list_del(&as->link);
	as->app->nstreams--;
	appfilter_free(as->def.filter);
	free(as);
}

void
apps_attach(struct appstream *as, struct conn *c)
{
	c->app = as;
	cds_list_add_tail(&c->app_link, &as->conns);
	conn_ref(c);
	if (as->nconns++ == 0)
		cds_list_add_tail(&as->active, &active);
	as->app->nconns++;
}

void
apps_detach(struct conn *c)
{
	struct appstream *as = c->app;

	if (as == NULL)
		return;
	cds_list_del(&c->app_link);
	c->app = NULL;
	c->catching_up = false;
	if (--as->nconns == 0)
		cds_list_del_init(&as->active);
	as->app->nconns--;
	conn_unref(c);
}

void
apps_close_conns(bool revoked_only, uint16_t code, const char *reason)
{
	struct appstream *as, *asn;
	struct conn *c, *n;
	struct token_info ti;

	cds_list_for_each_entry_safe(as, asn, &active, active)
		cds_list_for_each_entry_safe(c, n, &as->conns, app_link)
			if (!revoked_only ||
			    !tokens_lookup_hash(sl.tokens, c->token_hash, &ti))
				apps_close(c, code, reason);
}

void
apps_render(const struct appstream *as, const char *endpoint_base,
    struct buf *b)
{
	buf_printf(b, "{\"id\":\"%llu\",\"key\":", (unsigned long long)as->id);
	buf_json_str(b, as->def.key);
	buf_adds(b, ",\"type\":\"long_poll\",\"object_types\":");
	appstream_render_types(as->def.types, b);
	buf_adds(b, ",\"endpoint\":\"");
	/* base and key are made of characters JSON needs no escape for */
	buf_adds(b, endpoint_base);
	buf_adds(b, "/v1/app?key=");
	buf_adds(b, as->def.key);
	buf_addc(b, '"');
	if (as->def.filter != NULL) {
		buf_adds(b, ",\"filter\":");
		appfilter_render(as->def.filter, b);
	}
	buf_addc(b, '}');
}

/* A public event, or one a user who authorized the app may see. */
static bool
app_may_see(struct app *a, const struct event *ev)
{
	if (ev->visible_to == NULL)
		return true;
	if (a->mark == ev->cursor)
		return a->mark_ok;
	a->mark = ev->cursor;
	a->mark_ok = false;
	for (size_t i = 0; i < ev->nvisible; i++)
		if (tokens_authorized(sl.tokens, a->client_id, ev->visible_to[i])) {
			a->mark_ok = true;
			break;
		}
	return a->mark_ok;
}

/* $authorized_userids: has this user a live token of the app? */
static bool
authorized(void *app, const char *user_id)
{
	return tokens_authorized(sl.tokens, ((struct app *)app)->client_id,
	    user_id);
}

/* The app message of one event as a tree, for filters: parsed from its
 * frame the first time a filter needs it, at most once per event. */
struct judged {
	struct event	*ev;
	cJSON		*msg;
};

static const cJSON *
judged_msg(struct judged *j)
{
	if (j->msg == NULL) {
		size_t len;
		const char *m = event_app_message(j->ev, &len), *end = NULL;

		j->msg = json_parse(m, len, &end);
		if (j->msg == NULL)
			fatal("%s: cannot parse an app message", __func__);
	}
	return j->msg;
}

/* Is ev for as: one of its types, visible to the app, through its
 * filter? The definition as it is now, so a PUT applies to the very
 * next event, live or replayed. */
static bool
stream_wants(struct appstream *as, struct judged *j)
{
	struct event *ev = j->ev;

	if (ev->app_type < 0 || !(as->def.types & (1u << ev->app_type)) ||
	    !app_may_see(as->app, ev))
		return false;
	return !appfilter_applies(as->def.filter, ev->app_type) ||
	    appfilter_pass(as->def.filter, ev->app_type, judged_msg(j),
	    authorized, as->app);
}

void
apps_deliver(struct event *ev)
{
	struct appstream *as;
	struct judged j = { ev, NULL };

	if (cds_list_empty(&active) || ev->app_type < 0)
		return;
	cds_list_for_each_entry(as, &active, active) {
		struct msg *frame;
		struct conn *c;

		if (!stream_wants(as, &j))
			continue;
		frame = event_app_frame(ev);
		cds_list_for_each_entry(c, &as->conns, app_link) {
			struct qitem *q;

			/* one catching up will find ev in the log */
			if (c->catching_up)
				continue;
			q = qitem_raw(NULL, 0, frame, ev->cursor);
			q->live = true;
			if (conn_push(c, q) == 0)
				METRIC_ADD(deliveries_ws, 1);
		}
	}
	cJSON_Delete(j.msg);
}

bool
apps_replay_one(struct conn *c, struct event *ev)
{
	struct judged j = { ev, NULL };
	bool wanted = c->app != NULL && stream_wants(c->app, &j);

	cJSON_Delete(j.msg);
	if (!wanted)
		return false;
	if (conn_push(c, qitem_raw(NULL, 0, event_app_frame(ev),
	    ev->cursor)) == 0)
		METRIC_ADD(deliveries_ws, 1);
	return true;
}

uint64_t
apps_resume_from(struct conn *c, struct replay *r, uint64_t cursor)
{
	struct event *oldest;
	struct buf b;

	if (replay_covers(r, cursor))
		return cursor;
	/* events after cursor are lost: say which, then replay all that
	 * is retained */
	oldest = replay_at(r, 0);
	buf_init(&b);
	buf_printf(&b, "{\"meta\":{\"type\":\"gap\",\"from\":\"%llu\","
	    "\"to\":\"%llu\"}}", (unsigned long long)cursor,
	    (unsigned long long)(oldest ? oldest->cursor : replay_floor(r)));
	conn_push(c, conn_item(c, b.p, b.len, NULL, 0));
	buf_free(&b);
	return replay_floor(r);
}
