'use strict';
// sluice.js - the end-to-end harness for Node, a mirror of ../sluice.py.
//
// Starts a real sluiced (the build under test, from $SLUICE_BUILD) on a
// free loopback port with a config and tokens file written for the
// test, feeds its ingest socket over `net`, makes HTTP requests with
// `http`, and reads WebSocket streams with the `ws` package, a client
// written independently of Python's `websockets`. Prints TAP.
//
// ws comes from build-check/node/node_modules (NODE_PATH, set by
// test/run). When it is missing (npm could not install it), wsOrSkip()
// reports the whole file as skipped instead of failing.

const child_process = require('child_process');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const util = require('util');

const BUILD = process.env.SLUICE_BUILD ||
	path.resolve(__dirname, '..', '..', '..', 'build-check');
const SLUICED = path.join(BUILD, 'server', 'sluiced');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- TAP ----

class Tap {
	constructor() {
		this.n = 0;
		this.failed = 0;
	}

	ok(cond, name, diag) {
		this.n++;
		console.log(`${cond ? 'ok' : 'not ok'} ${this.n} - ${name}`);
		if (!cond) {
			this.failed++;
			if (diag !== undefined)
				String(diag).split('\n').slice(0, 30)
					.forEach((l) => console.log('#   ' + l));
		}
		return !!cond;
	}

	eq(got, want, name) {
		return this.ok(util.isDeepStrictEqual(got, want), name,
			`got:  ${util.inspect(got, { depth: 6, breakLength: 200 })}\n` +
			`want: ${util.inspect(want, { depth: 6, breakLength: 200 })}`);
	}

	diag(msg) {
		String(msg).split('\n').forEach((l) => console.log('# ' + l));
	}

	skip(name, why) {
		this.n++;
		console.log(`ok ${this.n} - ${name} # SKIP ${why}`);
	}

	done() {
		console.log(`1..${this.n}`);
		process.exit(this.failed ? 1 : 0);
	}
}

// The ws module, or null after a SKIP line and the plan: the caller
// then returns. The reason names what failed and where npm's log is.
function wsOrSkip(tap, what) {
	try {
		return require('ws');
	} catch (e) {
		const log = path.join(BUILD, 'node', 'npm.log');
		let why = 'the ws package is not installed (' + e.code + ')';
		if (fs.existsSync(log)) {
			const errs = fs.readFileSync(log, 'utf8').split('\n')
				.filter((l) => /^npm (ERR!|error) /.test(l));
			const one = errs.find((l) => /FetchError|code /.test(l)) || errs[0];
			why += '; npm ci failed, see ' + log + (one ? ': ' + one.trim() : '');
		} else {
			why += '; run make check to install it into ' +
				path.join(BUILD, 'node');
		}
		tap.skip(what, why.replace(/[\r\n#]/g, ' '));
		tap.done();
		return null;
	}
}

// Fails the file, rather than hanging it, if something never answers.
function watchdog(tap, seconds, sl) {
	setTimeout(() => {
		tap.ok(false, `the test finished within ${seconds} s`);
		if (sl && sl.proc.exitCode === null)
			sl.proc.kill('SIGKILL');
		tap.done();
	}, seconds * 1000).unref();
}

// ---- sluiced ----

const DEFAULT_TOKENS = {
	tok12: ['user', '12', 'app1'],
	tok34: ['user', '34', 'app1'],
	tok56: ['user', '56', 'app2'],
	tokapp1: ['app', 'app1'],
	tokapp2: ['app', 'app2'],
};

// Every sluiced this process started: none outlives a test that dies.
const running = new Set();
process.on('exit', () => {
	for (const sl of running) {
		if (sl.alive())
			sl.proc.kill('SIGKILL');
		fs.rmSync(sl.dir, { recursive: true, force: true });
	}
});

class Sluice {
	// A running sluiced with its own directory, config and tokens file.
	static async start(conf = {}, tokens = DEFAULT_TOKENS) {
		const sl = new Sluice();
		sl.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-e2e-node-'));
		sl.sock = path.join(sl.dir, 'ingest.sock');
		sl.tokens = tokens;
		fs.writeFileSync(path.join(sl.dir, 'tokens'), Object.entries(tokens)
			.map(([tok, rec]) => `${tok} ${rec.join(' ')}\n`).join(''));
		const all = Object.assign({
			listen: '127.0.0.1:0',
			admin_listen: '',
			ingest: 'unix:' + sl.sock,
			tokens_file: path.join(sl.dir, 'tokens'),
			workers: '2',
		}, conf);
		sl.confPath = path.join(sl.dir, 'sluiced.conf');
		fs.writeFileSync(sl.confPath, Object.entries(all).map(([k, v]) =>
			(Array.isArray(v) ? v : [v]).map((one) => `${k} = ${one}\n`).join('')).join(''));
		sl.logPath = path.join(sl.dir, 'sluiced.log');
		const fd = fs.openSync(sl.logPath, 'w');
		sl.proc = child_process.spawn(SLUICED, ['-c', sl.confPath],
			{ stdio: ['ignore', fd, fd] });
		fs.closeSync(fd);
		running.add(sl);
		sl.exited = new Promise((resolve) =>
			sl.proc.on('exit', (code, signal) => resolve({ code, signal })));
		const deadline = Date.now() + 15000;
		while (Date.now() < deadline && sl.proc.exitCode === null &&
		       sl.proc.signalCode === null) {
			const log = sl.log();
			const m = /listening on 127\.0\.0\.1:(\d+)/.exec(log);
			if (m && log.includes('ready')) {
				sl.port = Number(m[1]);
				break;
			}
			await sleep(20);
		}
		if (!sl.port)
			throw new Error('sluiced did not start:\n' + sl.log());
		sl.ws = `ws://127.0.0.1:${sl.port}`;
		sl.pub = null;
		return sl;
	}

	log() {
		try {
			return fs.readFileSync(this.logPath, 'utf8');
		} catch (e) {
			return '';
		}
	}

	alive() {
		return this.proc.exitCode === null && this.proc.signalCode === null;
	}

	// ---- ingest: NDJSON on one shared producer connection ----

	sendRaw(data) {
		if (!this.pub) {
			this.pub = net.createConnection(this.sock);
			this.pub.on('error', (e) => console.log('# producer: ' + e.message));
		}
		return new Promise((resolve) => this.pub.write(data, resolve));
	}

	publish(...records) {
		return this.sendRaw(records.map((r) => JSON.stringify(r) + '\n').join(''));
	}

	// ---- HTTP ----

	// One request; resolves {status, headers, body (string)}.
	request(method, p, { token, headers = {}, body } = {}) {
		return new Promise((resolve, reject) => {
			const h = Object.assign({}, headers);
			if (token)
				h.Authorization = 'Bearer ' + token;
			if (body !== undefined) {
				body = Buffer.isBuffer(body) ? body :
					Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
				h['Content-Length'] = body.length;
			}
			const req = http.request({ host: '127.0.0.1', port: this.port, method,
				path: p, headers: h, agent: false }, (res) => {
				const chunks = [];
				res.on('data', (c) => chunks.push(c));
				res.on('end', () => resolve({ status: res.statusCode,
					headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
			});
			req.setTimeout(10000, () => req.destroy(new Error('HTTP timeout')));
			req.on('error', reject);
			req.end(body);
		});
	}

	// A JSON API call: {status, headers, doc} (doc null for no body).
	async api(method, p, opts) {
		const r = await this.request(method, p, opts);
		let doc = null;
		if (r.body.trim()) {
			try {
				doc = JSON.parse(r.body);
			} catch (e) {
				doc = { unparsed: r.body };
			}
		}
		return { status: r.status, headers: r.headers, doc };
	}

	subscribe(token, endpoint, cid, params = {}) {
		const q = new URLSearchParams(Object.assign({ connection_id: cid }, params));
		return this.api('GET', '/stream/0' + endpoint + '?' + q, { token });
	}

	// Polls until fn() is true (a token grant or revoke has taken effect).
	async until(fn, ms = 3000) {
		const deadline = Date.now() + ms;
		for (;;) {
			if (await fn())
				return true;
			if (Date.now() > deadline)
				return false;
			await sleep(20);
		}
	}

	// ---- stop ----

	// SIGTERM; resolves the exit status. With tap, asserts exit 0 and
	// no sanitizer report in the log.
	async stop(tap) {
		if (this.pub)
			this.pub.destroy();
		if (this.alive())
			this.proc.kill('SIGTERM');
		const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
		const { code, signal } = await this.exited;
		clearTimeout(timer);
		const log = this.log();
		if (tap) {
			tap.eq(signal === null ? code : signal, 0, 'sluiced exits 0 on SIGTERM');
			const bad = log.split('\n').filter((l) => /Sanitizer|runtime error/.test(l));
			tap.ok(bad.length === 0, 'no sanitizer reports',
				bad.slice(0, 20).join('\n') + '\n' + log.slice(-3000));
		}
		fs.rmSync(this.dir, { recursive: true, force: true });
		running.delete(this);
		return signal === null ? code : signal;
	}
}

// An ingest event record.
function event(id, keys, extra = {}) {
	const rec = { type: 'post', action: 'create', id: String(id), keys };
	Object.assign(rec, extra);
	if (rec.data === undefined && rec.action !== 'delete')
		rec.data = { id: String(id), text: `post ${id}` };
	return rec;
}

// ---- WebSocket client: ws with every event queued ----

class Client {
	// new Client(WebSocket, url, options); await c.opened: true for a
	// 101, false for a refused handshake (c.status, c.headers, c.body).
	// opts.pingEvery (ms) sends a ping frame that often while open.
	constructor(WebSocket, url, opts = {}) {
		const { pingEvery, ...wsOpts } = opts;
		this.msgs = [];
		this.waiters = [];
		this.closed = null;
		this.status = null;
		this.headers = null;
		this.body = null;
		this.error = null;
		this.ws = new WebSocket(url, wsOpts);
		this.opened = new Promise((resolve) => {
			this.ws.on('upgrade', (res) => {
				this.status = res.statusCode;
				this.headers = res.headers;
			});
			this.ws.on('open', () => {
				if (pingEvery)
					this.pinger = setInterval(() => this.ws.ping(), pingEvery);
				resolve(true);
			});
			this.ws.on('unexpected-response', (req, res) => {
				this.status = res.statusCode;
				this.headers = res.headers;
				const chunks = [];
				res.on('data', (c) => chunks.push(c));
				res.on('end', () => {
					this.body = Buffer.concat(chunks).toString('utf8');
					req.destroy();
					resolve(false);
				});
			});
			this.ws.on('error', (e) => {
				this.error = e;
				this._wake();
				resolve(false);
			});
		});
		this.ws.on('message', (data, isBinary) => {
			this.msgs.push({ text: data.toString('utf8'), binary: isBinary, at: Date.now() });
			this._wake();
		});
		this.ws.on('close', (code, reason) => {
			clearInterval(this.pinger);
			this.closed = { code, reason: reason.toString('utf8'), at: Date.now() };
			this._wake();
		});
	}

	_wake() {
		const w = this.waiters;
		this.waiters = [];
		w.forEach((f) => f());
	}

	_wait(ms) {
		return new Promise((resolve) => {
			const t = setTimeout(resolve, ms);
			this.waiters.push(() => {
				clearTimeout(t);
				resolve();
			});
		});
	}

	// The body of a refused handshake as JSON (or null).
	errorDoc() {
		try {
			return JSON.parse(this.body);
		} catch (e) {
			return null;
		}
	}

	// The next message's text, or null on timeout or close.
	async nextText(ms = 5000) {
		const deadline = Date.now() + ms;
		for (;;) {
			if (this.msgs.length)
				return this.msgs.shift().text;
			const left = deadline - Date.now();
			if (left <= 0 || this.closed || this.error)
				return null;
			await this._wait(left);
		}
	}

	// The next message parsed as JSON, or null. Text that is not JSON
	// comes back as {meta: {}, unparsed: text}, to fail an assertion.
	async next(ms = 5000) {
		const t = await this.nextText(ms);
		if (t === null)
			return null;
		try {
			return JSON.parse(t);
		} catch (e) {
			return { meta: {}, unparsed: t };
		}
	}

	// Every message arriving within ms of the previous one.
	async drain(ms = 300) {
		const out = [];
		for (;;) {
			const m = await this.next(ms);
			if (m === null)
				return out;
			out.push(m);
		}
	}

	// {code, reason, at} once the connection closes, or null if it is
	// still open after ms. Queued messages are left in place.
	async closeInfo(ms = 3000) {
		const deadline = Date.now() + ms;
		while (!this.closed) {
			const left = deadline - Date.now();
			if (left <= 0)
				return null;
			await this._wait(left);
		}
		return this.closed;
	}

	async closeCode(ms = 3000) {
		const c = await this.closeInfo(ms);
		return c ? c.code : null;
	}

	isOpen() {
		return this.ws.readyState === 1 && !this.closed;
	}

	// Resolves with undefined once written, or an Error (never throws:
	// a test goes on to fail its assertions instead).
	send(data, opts) {
		if (this.ws.readyState !== 1)
			return Promise.resolve(new Error('not open'));
		return new Promise((resolve) => this.ws.send(data, opts || {}, resolve));
	}

	// A normal close from our side; resolves once the server has answered.
	async close() {
		if (this.closed || this.ws.readyState > 1)
			return this.closed;
		if (this.ws.readyState === 0) {
			this.ws.terminate();
			return null;
		}
		this.ws.close(1000);
		return this.closeInfo(3000);
	}
}

module.exports = { Tap, Sluice, Client, event, sleep, wsOrSkip, watchdog, BUILD, DEFAULT_TOKENS };
