'use strict';
// User streams over WebSocket (SPEC 4.1, 6; proto/envelopes.md) with
// Node's ws as the client, a second implementation beside Python's
// websockets in ../test_ws_user.py. One observer client stays connected
// from start to end and must receive every global event it may see.

const { Tap, Sluice, Client, event, sleep, wsOrSkip, watchdog } = require('./sluice');

const t = new Tap();
const WebSocket = wsOrSkip(t, 'user streams over WebSocket with ws');

async function main() {
	const sl = await Sluice.start({ keepalive_interval: '1s', ws_max_message: '1K',
		max_streams_per_token: '20' });
	watchdog(t, 60, sl);
	const open = (p, opts) => new Client(WebSocket, sl.ws + p, opts);
	const bearer = (tok) => ({ headers: { Authorization: 'Bearer ' + tok } });

	// Every global event user 56 may see, in publish order: what the
	// observer must have received at the end.
	const forObserver = [];
	const publish = (...recs) => {
		for (const r of recs)
			if (r.keys && r.keys.includes('global') &&
			    (!r.visible_to || r.visible_to.includes('56')))
				forObserver.push(r.id);
		return sl.publish(...recs);
	};

	// -- the observer: user 56 on /v0/user, Bearer header
	const obs = open('/v0/user', bearer('tok56'));
	t.ok(await obs.opened, 'observer: ws opens /v0/user with a Bearer token');
	const o1 = await obs.next();
	const ocid = o1 && o1.meta.connection_id;
	t.eq(o1 && o1.meta.stream, { endpoint: '/v0/user' }, 'observer: stream.endpoint is the path used');
	let r = await sl.subscribe('tok56', '/posts/stream/global', ocid, { subscription_id: 'obs' });
	t.eq(r.status, 200, 'observer subscribes to global');

	// -- connect: 101, Connection-Id header, first message
	const c12 = open('/stream/user?access_token=tok12');
	t.ok(await c12.opened, 'ws opens /stream/user with ?access_token=');
	t.eq(c12.status, 101, 'the handshake answer is 101');
	const first = await c12.next();
	t.eq(first && first.meta.type, 'connection', 'first message is of type connection');
	const cid = first && first.meta.connection_id;
	t.ok(/^[0-9a-f]{32}$/.test(cid), 'it carries a 32-hex-digit connection_id', cid);
	t.eq(c12.headers['connection-id'], cid, 'the 101 has the same id as Connection-Id');
	t.eq(first && first.meta.stream, { endpoint: '/stream/user' }, 'and stream.endpoint');
	t.eq(first && Object.keys(first), ['meta'], 'the connection message has no data');

	const c34 = open('/v1/user', bearer('tok34'));
	await c34.opened;
	const f34 = await c34.next();
	t.eq(f34 && f34.meta.stream.endpoint, '/v1/user', '/v1/user with a Bearer header');
	t.ok(f34 && f34.meta.connection_id !== cid, 'another user gets another connection_id');
	const cid34 = f34 && f34.meta.connection_id;

	// -- subscribe through the JSON API
	r = await sl.subscribe('tok12', '/posts/stream/global', cid, { subscription_id: 'g' });
	t.eq([r.status, r.doc?.meta?.subscription_id], [200, 'g'], 'subscribe global: 200 with the id');
	r = await sl.subscribe('tok12', '/users/me/mentions', cid, { subscription_id: 'm' });
	t.eq(r.status, 200, 'subscribe mentions');
	r = await sl.subscribe('tok34', '/posts/stream/global', cid34);
	const gen34 = r.doc?.meta?.subscription_id;
	t.ok(r.status === 200 && /^[0-9a-f]{32}$/.test(gen34), 'a subscription without an id gets one generated');
	r = await sl.subscribe('tok34', '/posts/stream/global', cid);
	t.eq(r.status, 404, "another user's connection_id: 404");

	// -- events arrive with subscription_ids
	await publish(event(1, ['global', 'mentions:12']));
	let m = await c12.next();
	t.eq(m && m.meta.subscription_ids.slice().sort(), ['g', 'm'], 'one message for two matching subscriptions, both ids');
	t.eq(m && [m.meta.type, m.meta.connection_id, m.meta.min_id, m.meta.max_id, m.meta.more],
		['post', cid, '1', '1', false], 'meta: type, connection_id, min_id, max_id, more');
	t.eq(m && m.data, [{ id: '1', text: 'post 1' }], 'data is a list of the object');
	t.ok(m && /^[0-9]+$/.test(m.meta.cursor), 'meta.cursor is decimal digits', m && m.meta.cursor);
	let m34 = await c34.next();
	t.eq(m34 && [m34.meta.cursor, m34.meta.subscription_ids], [m && m.meta.cursor, [gen34]],
		'user 34 gets the same event (same cursor) with its own subscription id');

	// a delete, and backend meta merged in
	await publish(event(2, ['global'], { action: 'delete' }),
		event(3, ['mentions:12'], { type: 'message', meta: { channel_type: 'io.pnut.core.pm' } }));
	m = await c12.next();
	t.eq(m && [m.meta.is_deleted, m.meta.deleted_id, 'data' in m], [true, '2', false],
		'a delete without data: is_deleted, deleted_id, no data');
	m = await c12.next();
	t.eq(m && [m.meta.type, m.meta.channel_type, m.meta.subscription_ids], ['message', 'io.pnut.core.pm', ['m']],
		'backend meta is merged; only the matching subscription is named');
	m34 = await c34.next();
	t.eq(m34 && m34.meta.deleted_id, '2', 'user 34 sees the delete');

	// -- visible_to: a private event reaches only the listed user
	await publish(event(4, ['global'], { visible_to: ['34'] }), event(5, ['global']));
	m34 = await c34.next();
	t.eq(m34 && m34.data[0].id, '4', 'a private event (visible_to 34) reaches user 34');
	m = await c12.next();
	t.eq(m && m.data[0].id, '5', 'user 12 skips it: its next message is the public event after it');
	m34 = await c34.next();
	t.eq(m34 && m34.data[0].id, '5', 'user 34 gets the public one too');

	// -- a burst of 2000 events: complete and in order
	const N = 2000;
	const burst = [];
	for (let i = 0; i < N; i++)
		burst.push(event(1000 + i, ['global']));
	await publish(...burst);
	const ids = [];
	const cursors = [];
	for (let i = 0; i < N; i++) {
		m = await c12.next(10000);
		if (!m)
			break;
		ids.push(Number(m.data[0].id));
		cursors.push(BigInt(m.meta.cursor));
	}
	t.eq(ids, burst.map((e) => Number(e.id)), `a burst of ${N} events arrives complete and in order`);
	t.ok(cursors.length === N && cursors.every((c, i) => i === 0 || c > cursors[i - 1]),
		'cursors increase strictly');
	const got34 = [];
	for (let i = 0; i < N; i++) {
		m34 = await c34.next(10000);
		if (!m34)
			break;
		got34.push(Number(m34.data[0].id));
	}
	t.eq(got34, ids, 'the other user gets the whole burst too');

	// -- server pings every second; ws answers them, so the stream lives
	await sleep(2500);
	await publish(event(6, ['global']));
	m = await c12.next();
	t.ok(m && m.data[0].id === '6' && c12.isOpen(), 'ws answers pings: connected past two keepalive intervals');
	await c34.drain(200);

	// -- takeover: a second consumer of the id closes the first with 4001
	const c12b = open('/stream/user?connection_id=' + cid, bearer('tok12'));
	await c12b.opened;
	const fb = await c12b.next();
	t.eq(fb && fb.meta.connection_id, cid, 'connecting with connection_id resumes the same id');
	let ci = await c12.closeInfo();
	t.eq(ci && [ci.code, ci.reason], [4001, 'replaced'], 'the old consumer is closed with 4001 "replaced"');
	await publish(event(7, ['global', 'mentions:12']));
	m = await c12b.next();
	t.eq(m && [m.data[0].id, m.meta.subscription_ids.slice().sort()], ['7', ['g', 'm']],
		'the new consumer has the subscriptions');

	// -- revoke through the ingest pipe: 1008 within 1 s
	await sl.publish({ op: 'token', action: 'grant', token: 'tmp12', user_id: '12', client_id: 'app1' });
	t.ok(await sl.until(async () => (await sl.api('GET', '/stream/0/users/me/streams',
		{ token: 'tmp12' })).status === 200), 'a token granted on the pipe becomes valid');
	const cr = open('/stream/user?access_token=tmp12');
	t.ok(await cr.opened, 'a stream opened with it');
	await cr.next();
	const t0 = Date.now();
	await sl.publish({ op: 'token', action: 'revoke', token: 'tmp12' });
	ci = await cr.closeInfo(3000);
	const dt = ci ? ci.at - t0 : null;
	t.ok(ci && ci.code === 1008 && dt < 1000,
		`revoke closes it with 1008 within 1 s (${ci && ci.code} "${ci && ci.reason}", ${dt} ms)`);
	t.eq(ci && ci.reason, 'token revoked', 'close reason "token revoked"');
	const cr2 = open('/stream/user?access_token=tmp12');
	t.eq([await cr2.opened, cr2.status], [false, 401], 'the revoked token then gets 401 before the upgrade');
	t.ok(c12b.isOpen(), 'a stream of the same user with another token stays open');

	// -- an incoming message over ws_max_message (1K): 1009
	const cb = open('/stream/user', bearer('tok34'));
	await cb.opened;
	await cb.next();
	await cb.send('y'.repeat(1000));
	t.eq(await cb.closeCode(500), null, 'a 1000-byte text under ws_max_message is accepted (ignored)');
	await cb.send('x'.repeat(2000));
	ci = await cb.closeInfo();
	t.eq(ci && ci.code, 1009, 'a 2000-byte text over ws_max_message gets close 1009');

	// -- text that is not UTF-8: 1007 (ws sends a Buffer as text unchecked)
	const cu = open('/stream/user', bearer('tok34'));
	await cu.opened;
	await cu.next();
	await cu.send('héllo ✓ 😀', { binary: false });
	t.eq(await cu.closeCode(500), null, 'valid multi-byte UTF-8 text is accepted');
	await cu.send(Buffer.from([0x68, 0xc3, 0x28, 0xff]), { binary: false });
	t.eq(await cu.closeCode(), 1007, 'text that is not UTF-8 gets close 1007');

	// a non-UTF-8 sequence split over two fragments
	const cf = open('/stream/user', bearer('tok34'));
	await cf.opened;
	await cf.next();
	await cf.send(Buffer.from([0x61, 0xe2, 0x82]), { binary: false, fin: false });
	await cf.send(Buffer.from([0x28, 0x62]), { binary: false, fin: true });
	t.eq(await cf.closeCode(), 1007, 'invalid UTF-8 across fragments gets close 1007');

	// -- refused before the upgrade: ws reports 'unexpected-response'
	const checks = [
		['/stream/user', {}, 401, 'invalid-token', 'no token'],
		['/stream/user?access_token=nope', {}, 401, 'invalid-token', 'an unknown token'],
		['/stream/user', bearer('tokapp1'), 403, 'not-authorized', 'an app token'],
	];
	for (const [p, opts, status, slug, what] of checks) {
		const c = open(p, opts);
		const opened = await c.opened;
		const doc = c.errorDoc();
		t.eq([opened, c.status, doc?.meta?.code, doc?.meta?.error_slug], [false, status, status, slug],
			`${what}: ${status} ${slug} with a JSON body, no upgrade`);
	}
	const cv = open('/stream/user', Object.assign({ protocolVersion: 8 }, bearer('tok12')));
	await cv.opened;
	t.eq(cv.status, 426, 'Sec-WebSocket-Version 8: 426');

	// -- DELETE the stream: its consumer is closed with 1000
	r = await sl.request('DELETE', '/stream/0/users/me/streams/' + cid, { token: 'tok12' });
	t.eq(r.status, 204, 'DELETE the stream: 204');
	ci = await c12b.closeInfo();
	t.eq(ci && [ci.code, ci.reason], [1000, 'stream deleted'], 'its consumer gets 1000 "stream deleted"');

	// -- the observer was served throughout
	await publish(event(8, ['global']));
	const seen = [];
	for (;;) {
		m = await obs.next(1000);
		if (!m)
			break;
		seen.push(m.data ? m.data[0].id : m.meta.deleted_id);
		if (seen[seen.length - 1] === '8')
			break;
	}
	t.eq(seen, forObserver, `the observer got all ${forObserver.length} global events it may see, in order, none other`);
	t.ok(obs.isOpen(), 'and is still connected');
	await c34.close();

	// -- SIGTERM: clients get 1001 "going away", sluiced exits 0
	const closing = obs.closeInfo(6000);
	await sl.stop(t);
	ci = await closing;
	t.eq(ci && [ci.code, ci.reason], [1001, 'going away'], 'on SIGTERM the observer gets 1001 "going away"');
	t.done();
}

if (WebSocket)
	main().catch((e) => {
		t.ok(false, 'no exception', e.stack);
		t.done();
	});
