/* app.js - watch a sluice app stream (SPEC 5, proto/appstreams.md) live.
 *
 * Query parameters (the form edits the first three):
 *   server     ws://HOST:PORT (http:// is turned into ws://); defaults to
 *              this page's host when served over HTTP, else 127.0.0.1:8080
 *   token      the app token
 *   key        the app stream's key
 *   path       the endpoint, default /v0/apps (aliases /v1/app, /stream/app)
 *   keepalive  seconds between the text keepalives, default 25
 *   max        rows kept on the page, default 200
 *
 * The token travels in the URL (?access_token=): browsers cannot set an
 * Authorization header on a WebSocket. Event data is shown with
 * textContent only, never parsed as HTML.
 */
"use strict";

(function () {
	var params = new URLSearchParams(location.search);
	var defaultServer = /^https?:$/.test(location.protocol)
		? (location.protocol === "https:" ? "wss://" : "ws://") + location.host
		: "ws://127.0.0.1:8080";
	var path = params.get("path") || "/v0/apps";
	var keepaliveSecs = positive(params.get("keepalive"), 25);
	var maxRows = positive(params.get("max"), 200);

	var $ = function (id) { return document.getElementById(id); };
	var form = $("params"), status = $("status"), events = $("events");

	var ws = null;           // the current socket, or null
	var wanted = false;      // the user wants to be connected
	var attempt = 0;         // failed attempts since the last good connect
	var retryTimer = null, keepaliveTimer = null;
	var count = 0, pings = 0, pongs = 0;

	function positive(s, dflt) {
		var n = Number(s);
		return s !== null && isFinite(n) && n > 0 ? n : dflt;
	}

	function setStatus(state, text) {
		status.dataset.state = state;
		status.textContent = text;
		document.title = "sluice app stream: " + text;
	}

	// The status moves on to "connecting" at the next retry; the last
	// close stays on show, with how many there were.
	function showClose(ev) {
		var lc = $("last-close");
		lc.dataset.count = Number(lc.dataset.count) + 1;
		lc.dataset.code = ev.code;
		lc.dataset.reason = ev.reason;
		lc.textContent = ev.code + (ev.reason ? " " + ev.reason : "") +
			(ev.code === 1006 ? " (no close frame: refused or dropped)" : "") +
			" at " + new Date().toLocaleTimeString();
	}

	function notice(text) {
		var n = $("notice");
		n.textContent = text;
		n.hidden = !text;
	}

	function showKeepalive() {
		var k = $("keepalive");
		k.dataset.pings = pings;
		k.dataset.pongs = pongs;
		k.textContent = "every " + keepaliveSecs + " s \u00b7 " + pings + " sent \u00b7 " + pongs + " answered";
	}

	function endpoint() {
		var server = $("server").value.trim() || defaultServer;
		server = server.replace(/^http(s?):/, "ws$1:").replace(/\/+$/, "");
		return server + path + "?access_token=" + encodeURIComponent($("token").value.trim()) +
			"&key=" + encodeURIComponent($("key").value.trim());
	}

	function stopTimers() {
		clearTimeout(retryTimer);
		clearInterval(keepaliveTimer);
		retryTimer = keepaliveTimer = null;
	}

	function connect() {
		stopTimers();
		if (ws) {
			var old = ws;
			ws = null;
			old.close(1000, "reconnect");
		}
		if (!$("token").value.trim() || !$("key").value.trim()) {
			setStatus("idle", "enter an app token and a stream key");
			return;
		}
		var sock;
		try {
			sock = new WebSocket(endpoint());
		} catch (e) {
			wanted = false;
			setStatus("error", "bad server address: " + e.message);
			return;
		}
		ws = sock;
		setStatus("connecting", "connecting to " + endpoint().replace(/access_token=[^&]*/, "access_token=…"));

		sock.onopen = function () {
			if (ws !== sock)
				return;
			setStatus("open", "connected");
			// The server closes an app stream whose client sends nothing
			// for app_keepalive (50 s by default); its pings do not count.
			keepaliveTimer = setInterval(function () {
				if (sock.readyState === WebSocket.OPEN) {
					sock.send("ping");
					pings++;
					showKeepalive();
				}
			}, keepaliveSecs * 1000);
		};
		sock.onmessage = function (ev) {
			if (ws === sock)
				receive(ev.data);
		};
		sock.onclose = function (ev) {
			if (ws !== sock)
				return;
			ws = null;
			stopTimers();
			showClose(ev);
			var what = "closed " + ev.code + (ev.reason ? " " + ev.reason : "");
			if (!wanted) {
				setStatus("closed", what);
				return;
			}
			// 1 2 4 ... 30 s, with jitter so that many pages do not
			// come back at the same moment.
			var delay = Math.min(30, Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
			attempt++;
			setStatus("closed", what + "; retry in " + delay.toFixed(1) + " s");
			retryTimer = setTimeout(connect, delay * 1000);
		};
	}

	function receive(text) {
		if (text === "pong") {
			pongs++;
			showKeepalive();
			return;
		}
		var msg;
		try {
			msg = JSON.parse(text);
		} catch (e) {
			console.warn("not JSON:", text);
			return;
		}
		var meta = (msg && msg.meta) || {};
		if (meta.type === "connection") {
			attempt = 0;
			$("connection-id").textContent = meta.connection_id || "";
			var st = meta.stream || {};
			$("stream").textContent = st.key !== undefined
				? st.key + " (" + (st.object_types || []).join(", ") + ")"
				: JSON.stringify(st);
			return;
		}
		if (meta.type === "warning" || meta.type === "gap") {
			notice(meta.type + ": " + JSON.stringify(meta));
			return;
		}
		addRow(meta, msg.data);
	}

	function shortText(meta, data) {
		if (meta.is_deleted)
			return "deleted " + (meta.deleted_id || "");
		var obj = Array.isArray(data) ? data[0] : data;  // user streams send lists
		if (obj && typeof obj.text === "string")
			return obj.text;
		var s = data === undefined ? "" : JSON.stringify(data);
		return s.length > 200 ? s.slice(0, 200) + "…" : s;
	}

	function cell(cls, text) {
		var span = document.createElement("span");
		span.className = cls;
		span.textContent = text;
		return span;
	}

	function addRow(meta, data) {
		var obj = Array.isArray(data) ? data[0] : data;
		var id = meta.id !== undefined ? String(meta.id)
			: meta.deleted_id || (obj && obj.id !== undefined ? String(obj.id) : "");
		var when = meta.timestamp ? new Date(meta.timestamp) : new Date();
		var li = document.createElement("li");
		li.className = "row" + (meta.is_deleted ? " deleted" : "");
		li.dataset.id = id;
		li.dataset.type = meta.type || "";
		li.dataset.cursor = meta.cursor || "";
		li.appendChild(cell("time", when.toLocaleTimeString()));
		li.appendChild(cell("type", meta.type || "?"));
		li.appendChild(cell("id", id));
		li.appendChild(cell("cursor", meta.cursor || ""));
		li.appendChild(cell("text", shortText(meta, data)));
		li.title = JSON.stringify({ meta: meta, data: data }, null, 1);
		events.insertBefore(li, events.firstChild);
		while (events.children.length > maxRows)
			events.removeChild(events.lastChild);
		count++;
		$("count").dataset.count = count;
		$("count").textContent = count + (count > maxRows ? " (newest " + maxRows + " shown)" : "");
		$("empty").hidden = true;
	}

	form.addEventListener("submit", function (ev) {
		ev.preventDefault();
		// Keep the parameters in the address bar, so a reload reconnects.
		var q = new URLSearchParams(location.search);
		["server", "token", "key"].forEach(function (n) {
			var v = $(n).value.trim();
			if (v) q.set(n, v); else q.delete(n);
		});
		history.replaceState(null, "", location.pathname + "?" + q.toString());
		wanted = true;
		attempt = 0;
		notice("");
		connect();
	});
	$("disconnect").addEventListener("click", function () {
		wanted = false;
		stopTimers();
		if (ws)
			ws.close(1000, "bye");
		else
			setStatus("idle", "disconnected");
	});
	$("clear").addEventListener("click", function () {
		events.textContent = "";
		count = 0;
		$("count").dataset.count = 0;
		$("count").textContent = "0";
		$("empty").hidden = false;
	});

	$("server").value = params.get("server") || defaultServer;
	$("token").value = params.get("token") || "";
	$("key").value = params.get("key") || "";
	showKeepalive();
	if ($("token").value && $("key").value) {
		wanted = true;
		connect();
	} else {
		setStatus("idle", "enter an app token and a stream key");
	}
})();
