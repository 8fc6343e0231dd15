/* http.c - the libmicrohttpd listeners. Every request lands in
 * handle_request, which routes it by path; the user-stream and stream
 * management calls turn into control ops for the dispatcher. Chunked
 * streams are callback responses that suspend their connection while
 * the queue is empty, so an idle stream costs nothing. */
#include "http.h"
#include "alloc.h"
#include "appfilter.h"
#include "appstream.h"
#include "backfill.h"
#include "buf.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "sluiced.h"
#include "ws.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LISTENERS	16
/* MHD's block for a callback response: chunked streams never use it
 * (MHD reads our chunks straight into the connection's write buffer),
 * but it is allocated and zeroed for each stream. */
#define CHUNK_BLOCK	256
/* Each connection's memory pool: the request's headers, then a chunked
 * stream's write buffer, kept as long as the stream is open. MHD's
 * default, 32 KiB, was most of an idle chunked stream's memory; 16 KiB
 * takes request headers up to about 15 KiB (more: 431) and still
 * streams events of any size (test_http_limits). */
#define HTTP_POOL	(16 * 1024)
#define PEM_MAX		(1024 * 1024)	/* a certificate chain is a few KiB */

static struct MHD_Daemon *daemons[MAX_LISTENERS];
static int ndaemons;
static long open_streams;	/* atomic */
static long open_conns;		/* atomic: client TCP connections, every
				 * kind, upgraded ones included */
static unsigned mhd_limit;	/* what each listener accepts at most */
/* tls_cert and tls_key as read and checked at start (http_tls_check),
 * until MHD has loaded them into its GnuTLS credentials (MHD reads
 * them only then). */
static char *tls_cert_pem, *tls_key_pem;
static bool tls_on;

/* ---- responses ---- */

enum MHD_Result
http_reply(struct MHD_Connection *mc, unsigned code, const char *type,
    const void *body, size_t len, const char *const *headers)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body,
	    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	if (type != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	for (; headers != NULL && headers[0] != NULL; headers += 2)
		MHD_add_response_header(r, headers[0], headers[1]);
	ret = MHD_queue_response(mc, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
respond(struct MHD_Connection *mc, unsigned code, const struct buf *body,
    const char *retry_after)
{
	const char *hdr[] = { MHD_HTTP_HEADER_RETRY_AFTER, retry_after, NULL };

	return http_reply(mc, code, body ? "application/json" : NULL,
	    body ? body->p : NULL, body ? body->len : 0,
	    retry_after ? hdr : NULL);
}

static const char *
error_slug(unsigned code)
{
	switch (code) {
	case 400: return "bad-request";
	case 401: return "invalid-token";
	case 403: return "not-authorized";
	case 404: return "not-found";
	case 405: return "method-not-allowed";
	case 426: return "upgrade-required";
	case 429: return "rate-limited";
	case 501: return "not-implemented";
	case 503: return "unavailable";
	default:  return "error";
	}
}

static enum MHD_Result
respond_error(struct MHD_Connection *mc, unsigned code, const char *message)
{
	struct buf b;
	enum MHD_Result ret;

	buf_init(&b);
	buf_printf(&b, "{\"meta\":{\"code\":%u,\"error_message\":", code);
	buf_json_str(&b, message);
	buf_adds(&b, ",\"error_slug\":");
	buf_json_str(&b, error_slug(code));
	buf_adds(&b, "}}");
	ret = respond(mc, code, &b, code == 429 ? "30" :
	    code == 503 ? "5" : NULL);
	buf_free(&b);
	return ret;
}

/* ---- requests ---- */

static const char *
arg(struct MHD_Connection *mc, const char *name)
{
	return MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, name);
}

/* arg() for the option parsers of lib/ (options.h) */
static const char *
query_get(void *mc, const char *name)
{
	return arg(mc, name);
}

static bool
arg_true(struct MHD_Connection *mc, const char *name)
{
	const char *v = arg(mc, name);

	return v != NULL && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0);
}

/* The token from "Authorization: Bearer T" or ?access_token=T; 0 and the
 * record, or an HTTP status (401, 403) with a message. */
static unsigned
authenticate(struct MHD_Connection *mc, enum token_kind want,
    struct token_info *ti, const char **msg)
{
	const char *h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	const char *tok = NULL;

	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
		tok = h + 7;
		while (*tok == ' ')
			tok++;
	}
	if (tok == NULL || *tok == '\0')
		tok = arg(mc, "access_token");
	if (tok == NULL || *tok == '\0') {
		*msg = "an access token is required (Authorization: Bearer "
		    "or ?access_token=)";
		return 401;
	}
	if (!tokens_lookup(sl.tokens, tok, ti)) {
		*msg = "the access token is unknown or revoked";
		return 401;
	}
	if (ti->kind != want) {
		*msg = want == TOKEN_USER ? "this call needs a user token, "
		    "not an app token" : "this call needs an app token, not "
		    "a user token";
		return 403;
	}
	return 0;
}

static bool
printable_id(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			return false;
	return true;
}

/* ?cursor=: a cursor as sent in meta.cursor (decimal digits). 0 if
 * absent or good (op filled in), else 400 with a message. */
static unsigned
cursor_arg(struct MHD_Connection *mc, struct op *op, const char **msg)
{
	const char *v = arg(mc, "cursor");
	char *end;
	unsigned long long c;

	if (v == NULL)
		return 0;
	errno = 0;
	c = strtoull(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 ||
	    strlen(v) > 20) {
		*msg = "cursor must be a cursor as given in meta.cursor";
		return 400;
	}
	op->has_cursor = true;
	op->cursor = (uint64_t)c;
	return 0;
}

/* ---- chunked user streams ---- */

/* Has the client closed its end? An HTTP/1.1 client sends nothing
 * while it reads a streaming response, so a shut-down read side (FIN)
 * or an error means it left. Asked of the socket, not by peeking at
 * bytes: over TLS a client's close_notify record arrives before its
 * FIN and would hide it from a peek. */
static bool
peer_gone(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc,
	    MHD_CONNECTION_INFO_CONNECTION_FD);
	struct pollfd p;

	if (ci == NULL)
		return false;
	p.fd = ci->connect_fd;
	p.events = POLLRDHUP;
	p.revents = 0;
	if (poll(&p, 1, 0) <= 0)
		return false;
	return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static ssize_t
chunk_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct conn *c = cls;
	bool drained;
	long n;

	pthread_mutex_lock(&c->mu);
	/* A suspended connection does not see its client leave; events
	 * written into a closed socket would count as sent and be missing
	 * from the resume. Look before taking anything, once per wake-up:
	 * while it is busy, a client that left makes the writes fail. */
	if (c->resumed && !c->closing && peer_gone(c->mhd)) {
		c->closing = true;
		log_debug("chunked stream: the client has gone");
	}
	c->resumed = false;
	n = conn_take_locked(c, buf, max);
	if (n < 0) {
		if (!c->ended) {
			c->ended = true;
			__atomic_sub_fetch(&open_streams, 1, __ATOMIC_RELAXED);
		}
		pthread_mutex_unlock(&c->mu);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	if (n == 0) {
		/* nothing to send: sleep until the dispatcher pushes.
		 * Returning 0 without suspending would spin. */
		c->suspended = true;
		MHD_suspend_connection(c->mhd);
	}
	drained = conn_drained_locked(c);
	pthread_mutex_unlock(&c->mu);
	if (drained)
		conn_post_drained(c);
	return n;
}

static void
chunk_free(void *cls)
{
	struct conn *c = cls;
	struct op *op = xcalloc(1, sizeof(*op));

	pthread_mutex_lock(&c->mu);
	if (!c->ended) {
		c->ended = true;
		__atomic_sub_fetch(&open_streams, 1, __ATOMIC_RELAXED);
	}
	c->closing = true;
	c->mhd = NULL;
	pthread_mutex_unlock(&c->mu);
	METRIC_ADD(conns[CONN_CHUNKED][CONN_USER], -1);
	/* the response's reference passes to the op */
	op->kind = OP_DETACH;
	op->conn = c;
	dispatch_post(op);
}

static bool
wants_websocket(struct MHD_Connection *mc)
{
	const char *up = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_UPGRADE);

	return up != NULL && strcasecmp(up, "websocket") == 0;
}

/* ---- WebSocket upgrades ---- */

/* Per-request state: an upgrade (MHD hands the socket to upgrade_cb,
 * or, if the 101 never reaches the client, only tells request_done),
 * or a request body being read. */
struct req {
	struct conn	*conn;		/* our reference until handed over */
	struct buf	 body;
	bool		 too_big;
};

static struct req *
req_new(void **req_cls)
{
	struct req *u = xcalloc(1, sizeof(*u));

	buf_init(&u->body);
	*req_cls = u;
	return u;
}

static void
upgrade_cb(void *cls, struct MHD_Connection *mc, void *req_cls,
    const char *extra, size_t extra_len, MHD_socket sock,
    struct MHD_UpgradeResponseHandle *urh)
{
	struct req *u = req_cls;
	struct conn *c = u->conn;
	const union MHD_ConnectionInfo *ci = NULL;

	u->conn = NULL;
	if (tls_on)
		ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
	ws_handoff(c, sock, ci != NULL ? ci->connect_fd : -1, urh, extra,
	    extra_len);
}

static void
request_done(void *cls, struct MHD_Connection *mc, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *u = *req_cls;

	if (u == NULL)
		return;
	if (u->conn != NULL) {
		/* attached but never upgraded: let the stream go */
		struct op *op = xcalloc(1, sizeof(*op));
		op->kind = OP_DETACH;
		op->conn = u->conn;
		dispatch_post(op);
	}
	buf_free(&u->body);
	free(u);
	*req_cls = NULL;
}

/* Check the handshake (RFC 6455 4.2.1); 0, or an HTTP status. */
static unsigned
ws_check(struct MHD_Connection *mc, char accept[29], const char **msg)
{
	const char *ver = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
	    "Sec-WebSocket-Version");
	const char *key = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
	    "Sec-WebSocket-Key");

	if (ver == NULL || strcmp(ver, "13") != 0) {
		*msg = "only WebSocket version 13 is spoken";
		return 426;
	}
	if (key == NULL || ws_accept_key(key, accept) < 0) {
		*msg = "missing or malformed Sec-WebSocket-Key";
		return 400;
	}
	return 0;
}

/* Attach c (a new WebSocket conn) through op and answer 101. */
static enum MHD_Result
ws_upgrade(struct MHD_Connection *mc, void **req_cls, struct op *op,
    const char *accept)
{
	struct MHD_Response *r;
	struct req *u;
	enum MHD_Result ret;
	struct conn *c = op->conn;

	dispatch_run(op);
	if (op->status != 200) {
		conn_unref(c);
		return respond_error(mc, (unsigned)op->status, op->error);
	}
	u = *req_cls != NULL ? *req_cls : req_new(req_cls);
	u->conn = c;
	r = MHD_create_response_for_upgrade(upgrade_cb, NULL);
	if (r == NULL)
		return MHD_NO;		/* request_done lets the stream go */
	MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
	MHD_add_response_header(r, "Connection-Id", op->cid);
	ret = MHD_queue_response(mc, MHD_HTTP_SWITCHING_PROTOCOLS, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
user_stream(struct MHD_Connection *mc, const char *url, void **req_cls,
    const struct token_info *ti)
{
	struct MHD_Response *r;
	struct op op;
	struct conn *c;
	const char *cid = arg(mc, "connection_id");
	enum MHD_Result ret;
	bool ws = wants_websocket(mc);
	char accept[29];

	const char *msg;
	unsigned code;
	char err[128];

	if (ws && (code = ws_check(mc, accept, &msg)) != 0)
		return respond_error(mc, code, msg);
	memset(&op, 0, sizeof(op));
	if ((code = cursor_arg(mc, &op, &msg)) != 0)
		return respond_error(mc, code, msg);
	if (display_parse(query_get, mc, &op.display, err, sizeof(err)) < 0)
		return respond_error(mc, 400, err);
	op.kind = OP_ATTACH;
	op.tok = *ti;
	/* an id that cannot be ours is treated like an unknown one */
	if (cid != NULL && strlen(cid) == CID_LEN)
		strcpy(op.cid, cid);
	op.auto_delete = arg_true(mc, "auto_delete");
	snprintf(op.endpoint, sizeof(op.endpoint), "%s", url);
	if (ws) {
		op.conn = conn_new(CONN_WEBSOCKET, CONN_USER, ti->hash);
		op.conn->display = op.display;
		return ws_upgrade(mc, req_cls, &op, accept);
	}
	c = conn_new(CONN_CHUNKED, CONN_USER, ti->hash);
	c->mhd = mc;
	c->display = op.display;
	op.conn = c;
	dispatch_run(&op);
	if (op.status != 200) {
		conn_unref(c);
		return respond_error(mc, (unsigned)op.status, op.error);
	}
	/* the response owns c's creation reference from here on */
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, CHUNK_BLOCK,
	    chunk_reader, c, chunk_free);
	if (r == NULL) {
		struct op *d = xcalloc(1, sizeof(*d));
		d->kind = OP_DETACH;
		d->conn = c;
		dispatch_post(d);
		return MHD_NO;
	}
	__atomic_add_fetch(&open_streams, 1, __ATOMIC_RELAXED);
	METRIC_ADD(conns[CONN_CHUNKED][CONN_USER], 1);
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Connection-Id", op.cid);
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	ret = MHD_queue_response(mc, 200, r);
	MHD_destroy_response(r);
	log_debug("user stream %.8s... connected", op.cid);
	return ret;
}

/* ---- the JSON API ---- */

/* An object id in since_id/before_id: "" if absent, else copied;
 * false if it cannot be an id. */
static bool
id_arg(struct MHD_Connection *mc, const char *name, char *out, size_t outlen)
{
	const char *v = arg(mc, name);

	out[0] = '\0';
	if (v == NULL)
		return true;
	if (!printable_id(v, outlen - 1))
		return false;
	strcpy(out, v);
	return true;
}

static enum MHD_Result
subscribe(struct MHD_Connection *mc, const char *path,
    const struct token_info *ti)
{
	const char *cid = arg(mc, "connection_id"), *sid = arg(mc, "subscription_id");
	const char *count = arg(mc, "count"), *pattern;
	bool routed;
	struct op op;
	char err[160];
	enum MHD_Result ret;

	memset(&op, 0, sizeof(op));
	/* the pattern is the table's: copied while a reload cannot free it */
	pthread_rwlock_rdlock(&sl.routes_lock);
	pattern = routes_match(sl.routes, path, ti->user_id, op.key,
	    sizeof(op.key));
	if ((routed = pattern != NULL))
		snprintf(op.endpoint, sizeof(op.endpoint), "%s", pattern);
	pthread_rwlock_unlock(&sl.routes_lock);
	pattern = op.endpoint;
	if (!routed)
		return respond_error(mc, 404, "no stream endpoint at this path");
	if (cid == NULL || *cid == '\0')
		return respond_error(mc, 400, "connection_id is required: open "
		    "/stream/user first and pass the id it gives");
	if (sid != NULL && !printable_id(sid, SUB_ID_MAX))
		return respond_error(mc, 400, "subscription_id must be 1-64 "
		    "printable characters");
	op.count = 20;
	if (count != NULL) {
		char *end;
		long v = strtol(count, &end, 10);
		if (*count == '\0' || *end != '\0' || v > BACKFILL_MAX ||
		    v < -BACKFILL_MAX)
			return respond_error(mc, 400, "count must be a whole "
			    "number from -200 to 200");
		op.count = (int)v;
	}
	if (!id_arg(mc, "since_id", op.since_id, sizeof(op.since_id)) ||
	    !id_arg(mc, "before_id", op.before_id, sizeof(op.before_id)))
		return respond_error(mc, 400, "since_id and before_id must be "
		    "object ids (1-127 printable characters)");
	/* App.net: only a forward-looking call subscribes */
	op.check_only = op.count < 0 || op.before_id[0] != '\0';
	if (display_parse(query_get, mc, &op.display, err, sizeof(err)) < 0)
		return respond_error(mc, 400, err);
	if (subfilter_parse(query_get, mc, strcmp(pattern, "/posts/stream") == 0,
	    &op.filter, err, sizeof(err)) < 0)
		return respond_error(mc, 400, err);
	if (strlen(cid) != CID_LEN) {
		subfilter_clear(&op.filter);
		return respond_error(mc, 404, "no such connection_id for this user");
	}
	op.kind = OP_SUBSCRIBE;
	op.tok = *ti;
	strcpy(op.cid, cid);
	if (sid != NULL)
		strcpy(op.sid, sid);
	buf_init(&op.body);
	dispatch_run(&op);
	subfilter_clear(&op.filter);
	if (op.status != 200)
		ret = respond_error(mc, (unsigned)op.status, op.error);
	else
		ret = respond(mc, 200, &op.body, NULL);
	buf_free(&op.body);
	return ret;
}

/* /users/me/streams[/{cid}[/{sid}]] */
static enum MHD_Result
manage_streams(struct MHD_Connection *mc, const char *method, const char *rest,
    const struct token_info *ti)
{
	struct op op;
	const char *slash;
	enum MHD_Result ret;

	memset(&op, 0, sizeof(op));
	op.tok = *ti;
	if (*rest == '\0' || strcmp(rest, "/") == 0) {
		struct buf b;

		if (strcmp(method, "GET") != 0)
			return respond_error(mc, 405, "use GET to list streams");
		op.kind = OP_LIST_STREAMS;
		buf_init(&op.body);
		dispatch_run(&op);
		buf_init(&b);
		buf_adds(&b, "{\"meta\":{\"code\":200},\"data\":");
		buf_add(&b, op.body.p, op.body.len);
		buf_addc(&b, '}');
		ret = respond(mc, 200, &b, NULL);
		buf_free(&b);
		buf_free(&op.body);
		return ret;
	}
	if (strcmp(method, "DELETE") != 0)
		return respond_error(mc, 405, "use DELETE on a stream or "
		    "subscription");
	rest++;
	slash = strchr(rest, '/');
	if ((slash ? (size_t)(slash - rest) : strlen(rest)) != CID_LEN)
		return respond_error(mc, 404, "no such connection_id for this user");
	memcpy(op.cid, rest, CID_LEN);
	if (slash == NULL || slash[1] == '\0') {
		op.kind = OP_DELETE_STREAM;
	} else {
		if (!printable_id(slash + 1, SUB_ID_MAX))
			return respond_error(mc, 404, "no such subscription_id");
		op.kind = OP_UNSUBSCRIBE;
		strcpy(op.sid, slash + 1);
	}
	dispatch_run(&op);
	if (op.status != 204)
		return respond_error(mc, (unsigned)op.status, op.error);
	return respond(mc, 204, NULL, NULL);
}

/* ---- app streams (SPEC 5) ---- */

/* "ws://host" for the endpoint of stream objects, from the Host header
 * when it is a plain host[:port]; "" otherwise. */
static void
endpoint_base(struct MHD_Connection *mc, char *out, size_t outlen)
{
	const char *host = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_HOST);
	const char *p;

	out[0] = '\0';
	if (host == NULL || *host == '\0' || strlen(host) > 255)
		return;
	for (p = host; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-:[]", *p))
			return;
	snprintf(out, outlen, "%s://%s", sl.cfg.tls_cert ? "wss" : "ws", host);
}

static enum MHD_Result
respond_op_body(struct MHD_Connection *mc, struct op *op)
{
	struct buf b;
	enum MHD_Result ret;

	if (op->status >= 300)
		return respond_error(mc, (unsigned)op->status, op->error);
	buf_init(&b);
	buf_printf(&b, "{\"meta\":{\"code\":%d},\"data\":", op->status);
	buf_add(&b, op->body.p, op->body.len);
	buf_addc(&b, '}');
	ret = respond(mc, (unsigned)op->status, &b, NULL);
	buf_free(&b);
	return ret;
}

/* /streams[/{key}]: rest is what follows "/streams". Bodies of POST and
 * PUT arrive over several calls: they are collected in the request
 * state and answered on the last call. */
static enum MHD_Result
app_streams(struct MHD_Connection *mc, const char *method, const char *rest,
    const char *upload_data, size_t *upload_size, void **req_cls)
{
	bool has_body = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0;
	struct req *u = *req_cls;
	struct token_info ti;
	const char *msg, *key = NULL;
	char err[256];
	unsigned code;
	struct op op;
	enum MHD_Result ret;
	int rc;

	if (u != NULL && *upload_size > 0) {
		/* more of the body */
		if (u->body.len + *upload_size > APPSTREAM_BODY_MAX)
			u->too_big = true;
		else
			buf_add(&u->body, upload_data, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (*rest == '/' && rest[1] != '\0')
		key = rest + 1;
	if (u == NULL) {
		/* the headers: answer what needs no body at once */
		if ((code = authenticate(mc, TOKEN_APP, &ti, &msg)) != 0)
			return respond_error(mc, code, msg);
		bool get_or_delete = strcmp(method, "GET") == 0 ||
		    strcmp(method, "DELETE") == 0;

		if (!get_or_delete && strcmp(method, key ? "PUT" : "POST") != 0)
			return respond_error(mc, 405, key ? "use GET, PUT or "
			    "DELETE on /streams/{key}" : "use GET, POST or "
			    "DELETE on /streams");
		if (key != NULL && !appstream_key_valid(key))
			return respond_error(mc, 404, "this app has no stream "
			    "with that key");
		if (has_body) {
			req_new(req_cls);
			return MHD_YES;
		}
	} else if (u->too_big) {
		snprintf(err, sizeof(err), "the body is larger than %d bytes",
		    APPSTREAM_BODY_MAX);
		return respond_error(mc, 400, err);
	}
	/* after a body the token is looked up again: it may have been
	 * revoked while the body came in */
	if (u != NULL && (code = authenticate(mc, TOKEN_APP, &ti, &msg)) != 0)
		return respond_error(mc, code, msg);
	memset(&op, 0, sizeof(op));
	op.tok = ti;
	if (key != NULL)
		snprintf(op.key, sizeof(op.key), "%s", key);
	endpoint_base(mc, op.base, sizeof(op.base));
	if (has_body) {
		rc = appstream_parse(u->body.p ? u->body.p : "", u->body.len,
		    strcmp(method, "PUT") == 0, &op.def, err, sizeof(err));
		if (rc != 0)
			return respond_error(mc, (unsigned)rc, err);
	}
	if (strcmp(method, "POST") == 0)
		op.kind = OP_APP_CREATE;
	else if (strcmp(method, "PUT") == 0)
		op.kind = OP_APP_UPDATE;
	else if (strcmp(method, "DELETE") == 0)
		op.kind = OP_APP_DELETE;
	else
		op.kind = key ? OP_APP_GET : OP_APP_LIST;
	buf_init(&op.body);
	dispatch_run(&op);
	appfilter_free(op.def.filter);	/* one the dispatcher did not take */
	ret = respond_op_body(mc, &op);
	buf_free(&op.body);
	return ret;
}

/* GET /v0/apps?key=KEY: WebSocket only. */
static enum MHD_Result
app_connect(struct MHD_Connection *mc, void **req_cls)
{
	struct token_info ti;
	const char *msg, *key = arg(mc, "key");
	unsigned code;
	char accept[29];
	struct op op;

	if ((code = authenticate(mc, TOKEN_APP, &ti, &msg)) != 0)
		return respond_error(mc, code, msg);
	if (key == NULL || *key == '\0')
		return respond_error(mc, 400, "key is required: the key of one "
		    "of this app's streams");
	memset(&op, 0, sizeof(op));
	if ((code = cursor_arg(mc, &op, &msg)) != 0)
		return respond_error(mc, code, msg);
	op.kind = OP_APP_ATTACH;
	op.tok = ti;
	if (!appstream_key_valid(key))
		return respond_error(mc, 404, "this app has no stream with that key");
	strcpy(op.key, key);
	code = wants_websocket(mc) ? ws_check(mc, accept, &msg) : 426;
	if (code == 426 && !wants_websocket(mc))
		msg = "app streams are WebSocket only: send Upgrade: websocket";
	if (code != 0) {
		/* an unknown key says so first, whatever the handshake */
		op.check_only = true;
		dispatch_run(&op);
		if (op.status != 200)
			return respond_error(mc, (unsigned)op.status, op.error);
		return respond_error(mc, code, msg);
	}
	op.conn = conn_new(CONN_WEBSOCKET, CONN_APP, ti.hash);
	return ws_upgrade(mc, req_cls, &op, accept);
}

static const char *
strip_prefix(const char *url)
{
	static const char *const prefixes[] = { "/stream/0/", "/v0/", "/v1/", NULL };

	for (int i = 0; prefixes[i]; i++) {
		size_t n = strlen(prefixes[i]);
		if (strncmp(url, prefixes[i], n) == 0)
			return url + n - 1;	/* keep the '/' */
	}
	return NULL;
}

/* One warning a second at most while requests are turned away. */
static void
log_rate_limited_503(void)
{
	static int64_t last_ms;		/* atomic */
	static long quiet;		/* atomic */
	int64_t now = now_ms(), last = __atomic_load_n(&last_ms, __ATOMIC_RELAXED);

	if (now - last < 1000 || !__atomic_compare_exchange_n(&last_ms, &last,
	    now, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		__atomic_add_fetch(&quiet, 1, __ATOMIC_RELAXED);
		return;
	}
	log_warn("max_connections (%lld) reached: a request is answered 503 "
	    "(%ld more since the last warning)",
	    (long long)__atomic_load_n(&sl.cfg.max_connections, __ATOMIC_RELAXED),
	    __atomic_exchange_n(&quiet, 0, __ATOMIC_RELAXED));
}

static void
conn_notify(void *cls, struct MHD_Connection *mc, void **socket_ctx,
    enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	(void)mc;
	(void)socket_ctx;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		__atomic_add_fetch(&open_conns, 1, __ATOMIC_RELAXED);
	else
		__atomic_sub_fetch(&open_conns, 1, __ATOMIC_RELAXED);
}

long
http_open_connections(void)
{
	return __atomic_load_n(&open_conns, __ATOMIC_RELAXED) + ws_detached();
}

static enum MHD_Result
handle_request(void *cls, struct MHD_Connection *mc, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_size, void **req_cls)
{
	struct token_info ti;
	const char *msg, *path;
	unsigned code;

	/* beyond max_connections a request is answered 503 and its
	 * connection closed; listeners accept a little more than the
	 * limit so that there is a connection to answer on */
	if (*req_cls == NULL && http_open_connections() >
	    __atomic_load_n(&sl.cfg.max_connections, __ATOMIC_RELAXED)) {
		log_rate_limited_503();
		return respond_error(mc, 503, "too many connections: the "
		    "server is at max_connections, try again later");
	}
	if (strcmp(url, "/v0/apps") == 0 || strcmp(url, "/v1/app") == 0 ||
	    strcmp(url, "/stream/app") == 0) {
		if (strcmp(method, "GET") != 0)
			return respond_error(mc, 405, "app streams are opened with GET");
		return app_connect(mc, req_cls);
	}
	if ((path = strip_prefix(url)) != NULL &&
	    (strcmp(path, "/streams") == 0 || strncmp(path, "/streams/", 9) == 0))
		return app_streams(mc, method, path + 8, upload_data,
		    upload_size, req_cls);
	/* the other requests of this API carry no body: answer on the
	 * first call */
	if (strcmp(url, "/stream/user") == 0 || strcmp(url, "/v0/user") == 0 ||
	    strcmp(url, "/v1/user") == 0) {
		if (strcmp(method, "GET") != 0)
			return respond_error(mc, 405, "user streams are opened with GET");
		if ((code = authenticate(mc, TOKEN_USER, &ti, &msg)) != 0)
			return respond_error(mc, code, msg);
		return user_stream(mc, url, req_cls, &ti);
	}
	if ((path = strip_prefix(url)) == NULL)
		return respond_error(mc, 404, "not found");
	if (strcmp(path, "/users/me/streams") == 0 ||
	    strncmp(path, "/users/me/streams/", 18) == 0) {
		if ((code = authenticate(mc, TOKEN_USER, &ti, &msg)) != 0)
			return respond_error(mc, code, msg);
		return manage_streams(mc, method, path + 17, &ti);
	}
	if (strcmp(method, "GET") != 0)
		return respond_error(mc, 405, "subscriptions are made with GET");
	if ((code = authenticate(mc, TOKEN_USER, &ti, &msg)) != 0)
		return respond_error(mc, code, msg);
	return subscribe(mc, path, &ti);
}

void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_debug("%s: %s", (const char *)cls, line);
}

/* ---- TLS ---- */

/* The whole of a PEM file as a string; NULL and err on failure. */
static char *
read_pem(const char *path, size_t *lenp, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	char *p;
	size_t n;

	if (fp == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	p = xmalloc(PEM_MAX + 1);
	n = fread(p, 1, PEM_MAX + 1, fp);
	if (ferror(fp) || n > PEM_MAX || n == 0) {
		snprintf(err, errlen, "%s: %s", path, ferror(fp) ?
		    strerror(errno) : n == 0 ? "empty file" :
		    "larger than 1 MiB, not a PEM file");
		fclose(fp);
		free(p);
		return NULL;
	}
	fclose(fp);
	p[n] = '\0';
	if (strlen(p) != n) {
		snprintf(err, errlen, "%s: has NUL bytes, not a PEM file", path);
		free(p);
		return NULL;
	}
	*lenp = n;
	return p;
}

static void
free_secret(char *p)
{
	if (p != NULL) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

/* Read c's tls_cert and tls_key and check them with GnuTLS as MHD
 * will use them: a PEM certificate (chain), a PEM private key, and
 * the key belonging to the first certificate. Each error names the
 * file at fault. */
static int
tls_load(const struct config *c, char **certp, char **keyp, char *err,
    size_t errlen)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_x509_crt_t *crts = NULL;
	gnutls_x509_privkey_t pk = NULL;
	gnutls_datum_t cd, kd;
	unsigned ncrt = 0;
	char *cert = NULL, *key = NULL;
	size_t clen, klen;
	int rc, ret = -1;

	if ((cert = read_pem(c->tls_cert, &clen, err, errlen)) == NULL ||
	    (key = read_pem(c->tls_key, &klen, err, errlen)) == NULL)
		goto out;
	cd.data = (unsigned char *)cert;
	cd.size = (unsigned)clen;
	kd.data = (unsigned char *)key;
	kd.size = (unsigned)klen;
	rc = gnutls_x509_crt_list_import2(&crts, &ncrt, &cd,
	    GNUTLS_X509_FMT_PEM, 0);
	if (rc < 0) {
		snprintf(err, errlen, "%s: not a PEM certificate (%s)",
		    c->tls_cert, gnutls_strerror(rc));
		goto out;
	}
	if ((rc = gnutls_x509_privkey_init(&pk)) < 0 ||
	    (rc = gnutls_x509_privkey_import2(pk, &kd, GNUTLS_X509_FMT_PEM,
	    NULL, 0)) < 0) {
		snprintf(err, errlen, "%s: not an unencrypted PEM private "
		    "key (%s)", c->tls_key, gnutls_strerror(rc));
		goto out;
	}
	if ((rc = gnutls_certificate_allocate_credentials(&cred)) < 0 ||
	    (rc = gnutls_certificate_set_x509_key_mem(cred, &cd, &kd,
	    GNUTLS_X509_FMT_PEM)) < 0) {
		if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
			snprintf(err, errlen, "%s: the key does not match the "
			    "certificate in %s", c->tls_key, c->tls_cert);
		else
			snprintf(err, errlen, "%s: cannot be used with %s (%s)",
			    c->tls_key, c->tls_cert, gnutls_strerror(rc));
		goto out;
	}
	ret = 0;
out:
	for (unsigned i = 0; i < ncrt; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	if (pk != NULL)
		gnutls_x509_privkey_deinit(pk);
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);
	if (ret == 0 && certp != NULL) {
		*certp = cert;
		*keyp = key;
	} else {
		free(cert);
		free_secret(key);
	}
	return ret;
}

int
http_tls_check(const struct config *c, char *err, size_t errlen)
{
	http_tls_release();
	if (c->tls_cert == NULL || c->tls_key == NULL)
		return 0;	/* config_load rejects one without the other */
	return tls_load(c, &tls_cert_pem, &tls_key_pem, err, errlen);
}

void
http_tls_release(void)
{
	free(tls_cert_pem);
	free_secret(tls_key_pem);
	tls_cert_pem = tls_key_pem = NULL;
}

int
http_sockaddr(const char *what, const char *addr, struct sockaddr_storage *ss,
    char *host, size_t hostlen, int *port, char *err, size_t errlen)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	if (config_parse_addr(addr, host, hostlen, port) < 0) {
		snprintf(err, errlen, "bad %s address '%s'", what, addr);
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '\0' || inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)*port);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)*port);
	} else {
		snprintf(err, errlen, "%s address '%s': give a numeric "
		    "IPv4 or [IPv6] address", what, addr);
		return -1;
	}
	return 0;
}

static int
start_one(const char *addr, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
	char host[256];
	int port;
	const union MHD_DaemonInfo *di;
	struct MHD_Daemon *d;
	/* at least two threads: libmicrohttpd 0.9.75's single epoll thread
	 * (no pool) now and then leaves a burst of accepted connections
	 * unread until their timeout (3 in 25 runs of 256 connects at
	 * once); its thread pool has never done so here */
	unsigned pool = sl.cfg.workers > 2 ? (unsigned)sl.cfg.workers : 2;
	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, tls_cert_pem },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key_pem },
		{ MHD_OPTION_END, 0, NULL }
	};

	if (ndaemons == MAX_LISTENERS) {
		snprintf(err, errlen, "more than %d listen addresses", MAX_LISTENERS);
		return -1;
	}
	if (http_sockaddr("listen", addr, &ss, host, sizeof(host), &port,
	    err, errlen) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (tls_on)
		flags |= MHD_USE_TLS;
	d = MHD_start_daemon(flags, 0, NULL, NULL, handle_request, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, "http",
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, pool,
	    MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
	    MHD_OPTION_NOTIFY_CONNECTION, conn_notify, NULL,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_POOL,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
	    MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
	    /* the TLS options, or an empty list */
	    MHD_OPTION_ARRAY, tls_on ? tls : &tls[2],
	    MHD_OPTION_END);
	if (d == NULL) {
		snprintf(err, errlen, "cannot listen on %s (%s)", addr,
		    errno ? strerror(errno) : "libmicrohttpd refused");
		return -1;
	}
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	log_info("listening on %s%s%s:%u%s", strchr(host, ':') ? "[" : "",
	    host[0] ? host : "0.0.0.0", strchr(host, ':') ? "]" : "",
	    di ? di->port : (unsigned)port,
	    tls_on ? " (TLS)" : "");
	daemons[ndaemons++] = d;
	return 0;
}

int
http_start(char *err, size_t errlen)
{
	struct rlimit rl;
	int rc = 0;

	/* every listener may take what the open-file limit leaves after a
	 * reserve for ingest producers, epoll and eventfds: the requests
	 * beyond max_connections get their 503 on those */
	mhd_limit = 1000;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur == RLIM_INFINITY)
			mhd_limit = 1000000;
		else if (rl.rlim_cur > 1000 + HTTP_FD_RESERVE)
			mhd_limit = (unsigned)(rl.rlim_cur - HTTP_FD_RESERVE);
	}
	if (sl.cfg.tls_cert != NULL && sl.cfg.tls_key != NULL) {
		/* read by http_tls_check, unless it was not called */
		if (tls_cert_pem == NULL && tls_load(&sl.cfg, &tls_cert_pem,
		    &tls_key_pem, err, errlen) < 0)
			return -1;
		tls_on = true;
	}
	for (size_t i = 0; i < sl.cfg.listen.n && rc == 0; i++)
		rc = start_one(sl.cfg.listen.v[i], err, errlen);
	http_tls_release();
	return rc;
}

void
http_quiesce(void)
{
	for (int i = 0; i < ndaemons; i++) {
		MHD_socket s = MHD_quiesce_daemon(daemons[i]);
		if (s != MHD_INVALID_SOCKET)
			close(s);
	}
}

long
http_open_streams(void)
{
	return __atomic_load_n(&open_streams, __ATOMIC_RELAXED);
}

void
http_stop(void)
{
	for (int i = 0; i < ndaemons; i++)
		MHD_stop_daemon(daemons[i]);
	ndaemons = 0;
}
