'use strict';
// App streams (SPEC 5; proto/appstreams.md) with Node's ws as the
// client: the management API, connect, which events an app sees, the
// per-app connection limit, keepalive, revoke, DELETE and a live PUT.

const { Tap, Sluice, Client, event, sleep, wsOrSkip, watchdog, DEFAULT_TOKENS } = require('./sluice');

const t = new Tap();
const WebSocket = wsOrSkip(t, 'app streams over WebSocket with ws');

// the harness's tokens and a third app
const TOKENS = { ...DEFAULT_TOKENS, tokapp3: ['app', 'app3'] };

// Ids of the messages that arrive until (and with) the one with id
// `last`; delete messages count by deleted_id.
async function idsUntil(c, last, ms = 3000) {
	const ids = [];
	for (;;) {
		const m = await c.next(ms);
		if (!m)
			return ids.concat(['(nothing more)']);
		const id = m.meta.type === 'connection' ? 'connection' : m.meta.id;
		ids.push(id);
		if (id === last)
			return ids;
	}
}

async function main() {
	const sl = await Sluice.start({ keepalive_interval: '1s', app_keepalive: '2s',
		max_app_streams: '2', ws_max_message: '1K' }, TOKENS);
	watchdog(t, 60, sl);
	// App clients ping twice a second: a frame from the client is what
	// keeps an app stream alive (app_keepalive = 2s here).
	const open = (p, opts = {}) => new Client(WebSocket, sl.ws + p,
		Object.assign({ pingEvery: 500 }, opts));
	const def = (types, more = {}) => Object.assign({ object_types: types, type: 'long_poll' }, more);
	const post = (p, body, token) => sl.api('POST', p, { token, body, headers: { 'Content-Type': 'application/json' } });

	// ---- the management API ----
	let r = await post('/stream/0/streams', def(['post']));
	t.eq(r.status, 401, 'POST /stream/0/streams without a token: 401');
	r = await post('/stream/0/streams', def(['post']), 'tok12');
	t.eq([r.status, r.doc?.meta?.error_slug], [403, 'not-authorized'], 'with a user token: 403');
	r = await post('/stream/0/streams', def(['post'], { key: 'posts' }), 'tokapp1');
	t.eq([r.status, r.doc?.meta?.code], [201, 201], 'create a stream with an app token: 201');
	const so = r.doc?.data;
	t.eq(so && [so.key, so.type, so.object_types, so.endpoint],
		['posts', 'long_poll', ['post'], `ws://127.0.0.1:${sl.port}/v1/app?key=posts`],
		'the stream object: key, type, object_types, endpoint');
	t.ok(so && /^[0-9]+$/.test(so.id), 'and a decimal id', so && so.id);
	r = await post('/stream/0/streams', def(['post'], { key: 'posts' }), 'tokapp1');
	t.eq(r.status, 400, 'the same key again for the same app: 400');

	const bad = [
		[def(['post', 'nope']), 400, 'an unknown object type'],
		[def(['post', 'post']), 400, 'a duplicate object type'],
		[def([]), 400, 'empty object_types'],
		[{ type: 'long_poll' }, 400, 'no object_types'],
		[def(['post'], { type: 'streaming' }), 400, 'type other than long_poll'],
		[{ object_types: ['post'] }, 400, 'no type'],
		[def(['post'], { key: 'no-dash' }), 400, 'a key outside [A-Za-z0-9_]'],
		[def(['post'], { key: 'k'.repeat(33) }), 400, 'a 33-character key'],
		[def(['post'], { colour: 'red' }), 400, 'an unknown member'],
		['[1,2]', 400, 'a body that is not a JSON object'],
		[def(['post'], { filter: { match_policy: 'include_any', clauses: [] } }), 400, 'a filter without clauses'],
		[def(['post'], { filter: { match_policy: 'include_any', clauses: [
			{ object_type: 'post', operator: 'like', field: '/data/id', value: '1' }] } }), 400,
		'a filter clause with an unknown operator'],
	];
	for (const [body, status, what] of bad) {
		r = await post('/stream/0/streams', body, 'tokapp1');
		t.eq(r.status, status, `POST with ${what}: ${status}`);
	}

	r = await sl.api('GET', '/v1/streams', { token: 'tokapp1' });
	t.eq([r.status, r.doc?.data?.map?.((s) => s.key)], [200, ['posts']],
		'GET /v1/streams lists the app\'s one stream (bad POSTs created nothing)');
	r = await sl.api('GET', '/stream/0/streams/posts', { token: 'tokapp1' });
	t.eq([r.status, r.doc?.data?.key], [200, 'posts'], 'GET one stream by key');
	r = await post('/v0/streams', def(['post'], { key: 'p2' }), 'tokapp2');
	t.eq(r.status, 201, 'app2 creates its stream p2 (through /v0)');
	r = await sl.api('GET', '/stream/0/streams/posts', { token: 'tokapp2' });
	t.eq(r.status, 404, "another app's key is unknown: 404");

	// five streams per app, then 429; DELETE of all
	const keys3 = [];
	for (let i = 0; i < 5; i++) {
		r = await post('/stream/0/streams', def(['user']), 'tokapp3');
		keys3.push(r.doc?.data?.key);
	}
	t.ok(keys3.every((k) => /^[0-9a-f]{32}$/.test(k)), 'five streams without a key get 32-hex-digit keys', keys3);
	r = await post('/stream/0/streams', def(['user']), 'tokapp3');
	t.ok(r.status === 429 && r.headers['retry-after'] !== undefined,
		'a sixth stream: 429 with Retry-After', `${r.status} ${JSON.stringify(r.headers)}`);
	r = await sl.api('DELETE', '/stream/0/streams', { token: 'tokapp3' });
	t.eq([r.status, r.doc?.data?.map?.((s) => s.key).sort()], [200, keys3.slice().sort()],
		'DELETE /stream/0/streams deletes them all and lists them');
	r = await sl.api('GET', '/stream/0/streams', { token: 'tokapp3' });
	t.eq(r.doc?.data, [], 'and the list is empty');

	// ---- refused before the upgrade ----
	const refused = [
		['/v1/app?key=posts', 401, 'no token'],
		['/v1/app?key=posts&access_token=nope', 401, 'an unknown token'],
		['/v1/app?key=posts&access_token=tok12', 403, 'a user token'],
		['/v1/app?access_token=tokapp1', 400, 'no key'],
		['/v1/app?key=nokey&access_token=tokapp1', 404, 'an unknown key'],
		['/v1/app?key=p2&access_token=tokapp1', 404, "another app's key"],
	];
	for (const [p, status, what] of refused) {
		const c = open(p);
		const opened = await c.opened;
		const doc = c.errorDoc();
		t.eq([opened, c.status, doc?.meta?.code], [false, status, status], `connect with ${what}: ${status}, no upgrade`);
	}

	// ---- connect ----
	const ca = open('/v1/app?access_token=tokapp1&key=posts');
	if (!t.ok(await ca.opened, 'app1 connects to /v1/app?access_token=..&key=posts',
		`${ca.status} ${ca.body}`)) {
		t.diag('no app stream to test: stopping here');
		await sl.stop(t);
		t.done();
	}
	t.eq(ca.status, 101, 'with 101');
	let m = await ca.next();
	const acid = m && m.meta.connection_id;
	t.eq(m, { meta: { type: 'connection', connection_id: acid, stream: { key: 'posts', object_types: ['post'] } } },
		'first message: connection, with the stream key and object_types');
	t.ok(/^[0-9a-f]{32}$/.test(acid) && ca.headers['connection-id'] === acid,
		'its connection_id is in the Connection-Id header', `${acid} ${ca.headers['connection-id']}`);
	const cb = open('/stream/app?key=p2', { headers: { Authorization: 'Bearer tokapp2' } });
	t.ok(await cb.opened, 'app2 connects to /stream/app with a Bearer header');
	m = await cb.next();
	t.eq(m && m.meta.stream, { key: 'p2', object_types: ['post'] }, 'its first message names p2');

	// ---- which events an app sees ----
	const g = ['global'];
	await sl.publish(
		event('p1', g, { meta: { foo: 'bar' } }),
		event('m1', g, { type: 'message' }),
		event('f1', g, { type: 'follow' }),
		event('p2', g, { visible_to: ['12'] }),        // 12 authorized app1
		event('p3', g, { visible_to: ['56'] }),        // 56 authorized app2
		event('p4', g, { visible_to: ['99', '34'] }),  // 34 authorized app1
		event('p5', g, { visible_to: ['99'] }),        // nobody's
		event('p6', g, { action: 'delete' }),
		event('p7', g));
	const a1 = await ca.nextText();
	const b1 = await cb.nextText();
	m = a1 && JSON.parse(a1);
	t.eq(m && Object.keys(m.meta), ['type', 'id', 'timestamp', 'cursor', 'foo'],
		'meta: type, id, timestamp, cursor, then the backend\'s meta');
	t.eq(m && [m.meta.type, m.meta.id, m.meta.foo], ['post', 'p1', 'bar'], 'type post, id p1, foo merged');
	t.ok(m && Number.isInteger(m.meta.timestamp) && Math.abs(m.meta.timestamp - Date.now()) < 60000,
		'timestamp: the ingest time in ms', m && m.meta.timestamp);
	t.ok(m && /^[0-9]+$/.test(m.meta.cursor), 'cursor: decimal digits');
	t.eq(m && m.data, { id: 'p1', text: 'post p1' }, 'data is the object itself, not a list');
	t.ok(a1 !== null && b1 === a1, 'both apps receive the very same bytes for a public event', `${a1}\n${b1}`);
	t.eq(await idsUntil(ca, 'p7'), ['p2', 'p4', 'p6', 'p7'],
		'app1 then gets: visible_to 12 and visible_to 99,34 (authorized), the delete; no message, follow, or others\' private events');
	t.eq(await idsUntil(cb, 'p7'), ['p3', 'p6', 'p7'], 'app2 gets only what 56 may see and the public ones');

	await sl.publish(event('p8', g, { action: 'delete', data: { id: 'p8', is_deleted: true } }));
	m = await ca.next();
	t.eq(m && [Object.keys(m.meta), m.meta.is_deleted, m.meta.deleted_id, m.data],
		[['type', 'id', 'timestamp', 'cursor', 'is_deleted', 'deleted_id'], true, 'p8', { id: 'p8', is_deleted: true }],
		'a delete: is_deleted, deleted_id after cursor; data when the backend gave it');
	await cb.drain(200);

	// a user authorizes app1, then revokes: that user's private events follow
	await sl.publish({ op: 'token', action: 'grant', token: 'tmp78', user_id: '78', client_id: 'app1' });
	await sl.until(async () => (await sl.api('GET', '/stream/0/users/me/streams', { token: 'tmp78' })).status === 200);
	await sl.publish(event('q1', g, { visible_to: ['78'] }), event('q2', g));
	t.eq(await idsUntil(ca, 'q2'), ['q1', 'q2'], 'after user 78 grants a token for app1, 78\'s private events reach app1');
	t.eq(await idsUntil(cb, 'q2'), ['q2'], 'but not app2');
	// a second token of 78 for app1: revoking one of the two changes nothing
	await sl.publish({ op: 'token', action: 'grant', token: 'tmp78b', user_id: '78', client_id: 'app1' });
	await sl.until(async () => (await sl.api('GET', '/stream/0/users/me/streams', { token: 'tmp78b' })).status === 200);
	await sl.publish({ op: 'token', action: 'revoke', token: 'tmp78' });
	await sl.until(async () => (await sl.api('GET', '/stream/0/users/me/streams', { token: 'tmp78' })).status === 401);
	await sl.publish(event('q3', g, { visible_to: ['78'] }), event('q4', g));
	t.eq(await idsUntil(ca, 'q4'), ['q3', 'q4'], 'revoking one of two tokens of 78 for app1: 78\'s events still reach app1');
	await sl.publish({ op: 'token', action: 'revoke', token: 'tmp78b' });
	await sl.until(async () => (await sl.api('GET', '/stream/0/users/me/streams', { token: 'tmp78b' })).status === 401);
	await sl.publish(event('q5', g, { visible_to: ['78'] }), event('q6', g));
	t.eq(await idsUntil(ca, 'q6'), ['q6'], 'after the revoke of the last one, they stop, on the open connection');
	await cb.drain(200);

	// ---- text is answered with "pong" ----
	await ca.send('hi');
	t.eq(await ca.nextText(), 'pong', 'text "hi" is answered with the text "pong"');

	// ---- max_app_streams = 2 connections per client_id ----
	const c2 = open('/v0/apps?access_token=tokapp1&key=posts');
	t.ok(await c2.opened, 'a second app1 connection (/v0/apps, same key) is accepted');
	await c2.next();
	const c3 = open('/v1/app?access_token=tokapp1&key=posts');
	const o3 = await c3.opened;
	const d3 = c3.errorDoc();
	t.eq([o3, c3.status, d3?.meta?.error_slug], [false, 429, 'rate-limited'], 'the third: 429 before the upgrade');
	t.ok(c3.headers && c3.headers['retry-after'] !== undefined, 'with Retry-After');
	const cb2 = open('/stream/app?key=p2&access_token=tokapp2');
	t.ok(await cb2.opened, 'another app (app2) still gets its second connection');
	await cb2.close();
	await c2.close();
	let c4 = null;
	const reopened = await sl.until(async () => {
		c4 = open('/v1/app?access_token=tokapp1&key=posts');
		return c4.opened;
	});
	t.ok(reopened, 'once one closes, app1 may connect again');
	await c4.close();

	// ---- PUT applies to the open connection ----
	r = await sl.api('PUT', '/stream/0/streams/posts', { token: 'tokapp1', body: { object_types: ['post', 'message'] } });
	t.eq([r.status, r.doc?.data?.object_types, r.doc?.data?.key], [200, ['post', 'message'], 'posts'],
		'PUT object_types [post, message] (type left out): 200');
	await sl.publish(event('m2', g, { type: 'message' }), event('p9', g), event('f2', g, { type: 'follow' }), event('p10', g));
	m = await ca.next();
	t.eq(m && [m.meta.type, m.meta.id], ['message', 'm2'], 'the open connection receives messages now, without reconnecting');
	t.eq(await idsUntil(ca, 'p10'), ['p9', 'p10'], 'and posts still, and no follow');
	r = await sl.api('PUT', '/stream/0/streams/posts', { token: 'tokapp1', body: def(['message'], { key: 'posts' }) });
	t.eq(r.status, 200, 'PUT object_types [message] with type and the same key: 200');
	await sl.publish(event('p11', g), event('m3', g, { type: 'message' }));
	t.eq(await idsUntil(ca, 'm3'), ['m3'], 'posts stop at once');
	t.ok(ca.isOpen(), 'the connection stayed open through both PUTs');
	r = await sl.api('PUT', '/stream/0/streams/posts', { token: 'tokapp1', body: def(['post'], { key: 'other' }) });
	t.eq(r.status, 400, 'PUT with another key in the body: 400');
	r = await sl.api('PUT', '/stream/0/streams/nokey', { token: 'tokapp1', body: def(['post']) });
	t.eq(r.status, 404, 'PUT to an unknown key: 404');
	r = await sl.api('GET', '/stream/0/streams/posts', { token: 'tokapp1' });
	t.eq(r.doc?.data?.object_types, ['message'], 'GET shows the last PUT');

	// ---- app_keepalive = 2s ----
	// cs sends nothing (ws still answers the server's pings every second:
	// pongs must not count); ct sends only text.
	const cs = new Client(WebSocket, sl.ws + '/v1/app?access_token=tokapp2&key=p2');
	const ct = new Client(WebSocket, sl.ws + '/v1/app?access_token=tokapp1&key=posts');
	await Promise.all([cs.opened, ct.opened]);
	const opened = Date.now();
	const texter = setInterval(() => ct.send('hi'), 600);
	const ks = await cs.closeInfo(6000);
	const waited = ks ? ks.at - opened : null;
	t.eq(ks && [ks.code, ks.reason], [1008, 'keepalive'], 'a silent app client is closed with 1008 "keepalive"');
	t.ok(waited !== null && waited > 1500 && waited < 4500, `after about app_keepalive (${waited} ms)`);
	await sleep(Math.max(0, 3500 - (Date.now() - opened)));
	clearInterval(texter);
	t.ok(ct.isOpen(), 'a client sending text every 0.6 s is still open after 3.5 s');
	const pongs = ct.msgs.filter((x) => x.text === 'pong').length;
	t.ok(pongs >= 4, `and got a pong for its texts (${pongs})`);
	t.ok(ca.isOpen() && cb.isOpen(), 'clients sending pings stay open');
	await ct.close();
	const cs2 = open('/v1/app?access_token=tokapp2&key=p2');
	t.ok(await cs2.opened, 'the slot of the client closed for keepalive is free again', cs2.status);
	await cs2.close();

	// ---- revoke of the app token: 1008 within 1 s ----
	await sl.publish({ op: 'token', action: 'grant', token: 'tmpapp', client_id: 'app1', app: true });
	t.ok(await sl.until(async () => (await sl.api('GET', '/stream/0/streams', { token: 'tmpapp' })).status === 200),
		'an app token granted on the pipe becomes valid');
	const cr = open('/v1/app?access_token=tmpapp&key=posts');
	t.ok(await cr.opened, 'and connects to the app\'s stream');
	await cr.next();
	const t0 = Date.now();
	await sl.publish({ op: 'token', action: 'revoke', token: 'tmpapp' });
	let ci = await cr.closeInfo(3000);
	const dt = ci ? ci.at - t0 : null;
	t.ok(ci && ci.code === 1008 && dt < 1000, `revoke closes it with 1008 within 1 s (${ci && ci.code}, ${dt} ms)`);
	t.eq(ci && ci.reason, 'token revoked', 'reason "token revoked"');
	await sl.publish(event('m4', g, { type: 'message' }));
	m = await ca.next();
	t.eq(m && m.meta.id, 'm4', 'the connection with the other token of the same app goes on');
	const cr2 = open('/v1/app?access_token=tmpapp&key=posts');
	t.eq([await cr2.opened, cr2.status], [false, 401], 'the revoked app token gets 401');

	// ---- bad frames on an app stream; slots come back after server closes ----
	const cx = open('/v1/app?access_token=tokapp1&key=posts');
	t.ok(await cx.opened, 'the slot of the revoked connection is free again', cx.status);
	await cx.next();
	await cx.send('x'.repeat(2000));
	t.eq(await cx.closeCode(), 1009, 'an app client message over ws_max_message (1K): 1009');
	const cy = open('/v1/app?access_token=tokapp1&key=posts');
	t.ok(await cy.opened, 'after a 1009 the slot is free again', cy.status);
	await cy.next();
	await cy.send(Buffer.from([0x61, 0xc3, 0x28]), { binary: false });
	t.eq(await cy.closeCode(), 1007, 'text that is not UTF-8 on an app stream: 1007');
	r = await sl.request('GET', '/v1/app?access_token=tokapp1&key=posts');
	t.eq(r.status, 426, 'a plain GET (no Upgrade) of an app stream: 426');
	m = await ca.next(300);
	t.eq(m, null, 'nothing was sent to the other connection meanwhile');

	// ---- DELETE closes the consumers with 1000 ----
	r = await sl.api('DELETE', '/stream/0/streams/posts', { token: 'tokapp1' });
	t.eq([r.status, r.doc?.data?.key], [200, 'posts'], 'DELETE the stream: 200 with the stream object');
	ci = await ca.closeInfo();
	t.eq(ci && [ci.code, ci.reason], [1000, 'stream deleted'], 'its consumer is closed with 1000 "stream deleted"');
	const cd = open('/v1/app?access_token=tokapp1&key=posts');
	t.eq([await cd.opened, cd.status], [false, 404], 'its key is then unknown: 404');
	await sl.publish(event('p12', g));
	t.eq(await idsUntil(cb, 'p12'), ['p9', 'p10', 'p11', 'p12'],
		'app2\'s stream carried on throughout: every post since, no message or follow, app1\'s PUTs not applied to it');

	// ---- SIGTERM ----
	const closing = cb.closeInfo(6000);
	await sl.stop(t);
	ci = await closing;
	t.eq(ci && [ci.code, ci.reason], [1001, 'going away'], 'on SIGTERM the app client gets 1001 "going away"');
	t.done();
}

if (WebSocket)
	main().catch((e) => {
		t.ok(false, 'no exception', e.stack);
		t.done();
	});
