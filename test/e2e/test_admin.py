"""The admin listener (SPEC 7): /healthz and /metrics on admin_listen.
The metrics page is read with a strict parser of the Prometheus text
format (0.0.4), and its values are watched while consumers come and go,
events and bad lines are ingested, a consumer stops reading and is cut
off, and the daemon stops."""
import http.client
import json
import math
import re
import socket
import time

from sluice import RawWS, Sluice, Tap, event

t = Tap()


def admin_port(sl):
    m = re.search(r"admin listening on 127\.0\.0\.1:(\d+)", sl.log())
    return int(m.group(1)) if m else None


class Admin:
    def __init__(self, port):
        self.port = port

    def get(self, path, method="GET", body=None):
        """(status, headers, body text) of one request."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request(method, path, body=body)
        r = c.getresponse()
        out = r.status, {k.lower(): v for k, v in r.getheaders()}, \
            r.read().decode("utf-8")
        c.close()
        return out

    def metrics(self):
        st, h, body = self.get("/metrics")
        assert st == 200, (st, body)
        return parse(body)

    def wait(self, cond, timeout=10):
        """The metrics once cond(metrics) holds, or the last ones."""
        deadline = time.time() + timeout
        while True:
            m = self.metrics()
            if cond(m) or time.time() > deadline:
                return m
            time.sleep(0.05)


# ---- a strict parser of the text exposition format 0.0.4 ----

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LNAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
LVAL = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s=%s)(?:,%s=%s)*)?\})? (\S+)$" %
                    (NAME, LNAME, LVAL, LNAME, LVAL))
LABEL = re.compile(r"(%s)=(%s)" % (LNAME, LVAL))
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class Metrics(dict):
    """(name, frozenset of labels) -> value, with the families."""

    def v(self, name, **labels):
        return self[(name, frozenset(labels.items()))]


def parse(text):
    """Parse a metrics page, raising ValueError on anything that does
    not follow the format: a sample without HELP and TYPE before it, a
    family declared twice, a sample twice, a counter not named _total,
    a histogram whose buckets are not cumulative or whose +Inf bucket
    is not its _count."""
    if not text.endswith("\n"):
        raise ValueError("the page does not end with a newline")
    help_, type_, out, seen_fam = {}, {}, Metrics(), []
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) < 3 or parts[1] not in ("HELP", "TYPE"):
                continue            # a plain comment
            kind, name = parts[1], parts[2]
            if not re.fullmatch(NAME, name):
                raise ValueError("line %d: bad name %r" % (n, name))
            d = help_ if kind == "HELP" else type_
            if name in d:
                raise ValueError("line %d: second %s for %s" % (n, kind, name))
            if name in seen_fam:
                raise ValueError("line %d: %s for %s after its samples" % (n, kind, name))
            val = parts[3] if len(parts) > 3 else ""
            if kind == "TYPE" and val not in TYPES:
                raise ValueError("line %d: bad type %r" % (n, val))
            if kind == "HELP" and not val.strip():
                raise ValueError("line %d: empty HELP for %s" % (n, name))
            d[name] = val
            continue
        if line == "":
            raise ValueError("line %d: empty line" % n)
        m = SAMPLE.match(line)
        if not m:
            raise ValueError("line %d: not a sample: %r" % (n, line))
        name, lab, val = m.group(1), m.group(2), m.group(3)
        labels = dict(LABEL.findall(lab or ""))
        if len(labels) != len(LABEL.findall(lab or "")):
            raise ValueError("line %d: a label twice" % n)
        labels = {k: json.loads(v) for k, v in labels.items()}
        try:
            value = float(val)
        except ValueError:
            raise ValueError("line %d: bad value %r" % (n, val))
        fam = name
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf) and type_.get(name[:-len(suf)]) == "histogram":
                fam = name[:-len(suf)]
        if fam not in help_ or fam not in type_:
            raise ValueError("line %d: %s has no HELP or TYPE before it" % (n, name))
        if type_[fam] == "histogram" and fam == name:
            raise ValueError("line %d: a histogram sample without a suffix" % n)
        if type_[fam] == "counter" and not fam.endswith("_total"):
            raise ValueError("line %d: counter %s is not named _total" % (n, fam))
        if type_[fam] in ("counter", "histogram") and value < 0:
            raise ValueError("line %d: negative %s" % (n, name))
        if fam not in seen_fam:
            seen_fam.append(fam)
        elif seen_fam[-1] != fam:
            raise ValueError("line %d: samples of %s not together" % (n, fam))
        key = (name, frozenset(labels.items()))
        if key in out:
            raise ValueError("line %d: sample %s twice" % (n, line))
        out[key] = value
    for fam, ty in type_.items():
        if fam not in help_:
            raise ValueError("%s has a TYPE and no HELP" % fam)
        if ty != "histogram":
            continue
        b = sorted(((float(dict(k[1])["le"]), v) for k, v in out.items()
                    if k[0] == fam + "_bucket"))
        if not b or b[-1][0] != math.inf:
            raise ValueError("%s: no +Inf bucket" % fam)
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            raise ValueError("%s: buckets not cumulative: %r" % (fam, b))
        if out.get((fam + "_count", frozenset())) != b[-1][1] or \
                (fam + "_sum", frozenset()) not in out:
            raise ValueError("%s: _count is not the +Inf bucket, or no _sum" % fam)
    out.types = type_
    return out


def parses(text):
    try:
        parse(text)
        return True
    except ValueError:
        return False


# the parser itself refuses what it should
t.ok(not parses("x 1\n"), "parser: a sample without HELP/TYPE is refused")
t.ok(not parses("# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"1\"} 1\nx_total{a=\"1\"} 2\n"),
     "parser: a sample twice is refused")
t.ok(not parses("# HELP x h\n# TYPE x counter\nx 1\n"), "parser: a counter not named _total is refused")
t.ok(not parses("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"),
     "parser: buckets that are not cumulative are refused")
t.ok(parses("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
            "h_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n# HELP g h\n# TYPE g gauge\ng{a=\"x\\\"y\"} -1\n"),
     "parser: a good page parses")

# ---- a daemon with the admin listener ----
# a 256K send buffer, so a stuck consumer is cut off soon
sl = Sluice(conf={"admin_listen": "127.0.0.1:0", "send_buffer_limit": "256K"})
port = admin_port(sl)
t.ok(port is not None and port != 0 and port != sl.port,
     "'admin listening on 127.0.0.1:PORT' is logged with the port bound", sl.log())
A = Admin(port)

st, h, body = A.get("/healthz")
t.eq((st, body), (200, "ok\n"), "GET /healthz: 200 ok")
t.ok(h.get("content-type", "").startswith("text/plain"), "healthz is text/plain", h)

st, h, body = A.get("/metrics")
t.eq(st, 200, "GET /metrics: 200")
t.ok(h.get("content-type", "").startswith("text/plain; version=0.0.4"),
     "metrics content type is text/plain; version=0.0.4", h)
try:
    m, why = parse(body), None
except ValueError as e:
    m, why = None, "%s\n%s" % (e, body)
t.ok(m is not None, "the metrics page parses as Prometheus text, strictly", why)

want = {
    "sluice_connections": "gauge", "sluice_streams": "gauge",
    "sluice_subscriptions": "gauge", "sluice_tokens": "gauge",
    "sluice_events_ingested_total": "counter",
    "sluice_ingest_rejected_total": "counter",
    "sluice_deliveries_total": "counter",
    "sluice_slow_consumer_drops_total": "counter",
    "sluice_queued_bytes": "gauge", "sluice_replay_bytes": "gauge",
    "sluice_replay_events": "gauge", "sluice_replay_span_seconds": "gauge",
    "sluice_delivery_latency_seconds": "histogram",
    "sluice_uptime_seconds": "gauge",
}
types = m.types if m else {}
t.eq({k: types.get(k) for k in want}, want, "every metric of SPEC 7 is there, with its type")
reasons = sorted(dict(k[1])["reason"] for k in (m or {}) if k[0] == "sluice_ingest_rejected_total")
t.eq(reasons, sorted(["json", "utf8", "not_object", "missing_field", "bad_field",
                      "bad_op", "bad_token", "too_long", "truncated"]),
     "sluice_ingest_rejected_total has every reason, zeros included")
conns = {tuple(sorted(dict(k[1]).items())): v for k, v in (m or {}).items()
         if k[0] == "sluice_connections"}
t.eq(len(conns), 4, "sluice_connections: transport x kind, 4 series")
t.ok(m and all(v == 0 for v in conns.values()) and m.v("sluice_tokens") == 5 and
     m.v("sluice_streams") == 0 and m.v("sluice_events_ingested_total") == 0 and
     m.v("sluice_replay_events") == 0 and m.v("sluice_uptime_seconds") >= 0,
     "at start: no connections, no streams, 5 tokens, nothing ingested", body)

# ---- other paths, other methods ----
for path in ("/", "/metrics/x", "/health", "/stream/user", "/stream/0/users/me/streams"):
    st, _, _ = A.get(path)
    t.eq(st, 404, "GET %s on the admin port: 404" % path)
st, _, _ = A.get("/stream/user?access_token=tok12")
t.eq(st, 404, "the admin port does not serve the user API, even with a token")
for meth in ("POST", "PUT", "DELETE"):
    st, h, _ = A.get("/metrics", method=meth, body=b"x" if meth != "DELETE" else None)
    t.eq(st, 405, "%s /metrics: 405" % meth)
st, h, _ = A.get("/healthz", method="POST", body=b"")
t.ok(st == 405 and "GET" in h.get("allow", ""), "POST /healthz: 405 with Allow", (st, h))
st, h, body = A.get("/healthz", method="HEAD")
t.eq((st, body), (200, ""), "HEAD /healthz: 200, no body")


def conn(m, transport, kind="user"):
    return m.v("sluice_connections", transport=transport, kind=kind)


# ---- consumers come ----
ch = sl.stream("tok12")
t.eq(ch.status, 200, "a chunked user stream connects")
ws = RawWS(sl, "/stream/user", "tok34")
ws_cid = json.loads(ws.recv_frame()[1])["meta"]["connection_id"]
st, _, doc = sl.api("POST", "/stream/0/streams", "tokapp1",
                    headers={"Content-Type": "application/json"},
                    body=json.dumps({"object_types": ["post"], "type": "long_poll",
                                     "key": "adm"}).encode())
t.eq(st, 201, "an app stream is created")
app = RawWS(sl, "/v1/app?key=adm&access_token=tokapp1")
t.eq(json.loads(app.recv_frame()[1])["meta"]["type"], "connection", "an app stream connects")
for tok, cid in (("tok12", ch.cid), ("tok34", ws_cid)):
    st, _, _ = sl.subscribe(tok, "/posts/stream/global", cid, subscription_id="g")
    t.eq(st, 200, "subscribed %s to the global stream" % tok)
sl.subscribe("tok34", "/users/34/mentions", ws_cid, subscription_id="m")

m = A.wait(lambda m: conn(m, "websocket", "app") == 1 and conn(m, "websocket") == 1)
t.eq((conn(m, "chunked"), conn(m, "websocket"), conn(m, "websocket", "app"),
      conn(m, "chunked", "app")), (1, 1, 1, 0),
     "sluice_connections: chunked/user 1, websocket/user 1, websocket/app 1")
t.eq((m.v("sluice_streams"), m.v("sluice_subscriptions")), (2, 3),
     "sluice_streams 2, sluice_subscriptions 3")

# ---- events ----
N = 20
before = m
sl.publish(*[event(100 + i, ["global"]) for i in range(N)])
got_ch = [x for x in (ch.next(5) for _ in range(N)) if x]


def posts(raw, n):
    """How many of the next n post messages a RawWS gets (pings and
    other messages skipped), up to the first 5 s without a frame."""
    got = 0
    while got < n:
        f = raw.recv_frame(5)
        if f is None:
            break
        if f[0] == 1 and json.loads(f[1])["meta"].get("type") == "post":
            got += 1
    return got


got_ws = posts(ws, N)
got_app = posts(app, N)
t.eq((len(got_ch), got_ws, got_app), (N, N, N), "the three consumers get the %d events" % N)

LAT = "sluice_delivery_latency_seconds"
m = A.wait(lambda m: m.v(LAT + "_count") >= 3 * N)
t.eq(m.v("sluice_events_ingested_total"), N, "sluice_events_ingested_total is %d" % N)
t.eq(m.v("sluice_deliveries_total", transport="chunked") -
     before.v("sluice_deliveries_total", transport="chunked"), N,
     "sluice_deliveries_total{transport=chunked} went up by %d" % N)
t.eq(m.v("sluice_deliveries_total", transport="websocket") -
     before.v("sluice_deliveries_total", transport="websocket"), 2 * N,
     "sluice_deliveries_total{transport=websocket} went up by %d (user and app)" % (2 * N))
t.eq(m.v(LAT + "_count"), 3 * N, "the latency histogram counted the %d live deliveries" % (3 * N))
buckets = sorted((float(dict(k[1])["le"]), v) for k, v in m.items() if k[0] == LAT + "_bucket")
t.ok(len(buckets) >= 10 and buckets[0][0] <= 0.0005 and buckets[-2][0] >= 10,
     "latency buckets from <= 0.5 ms to >= 10 s", buckets)
t.ok(all(buckets[i][1] <= buckets[i + 1][1] for i in range(len(buckets) - 1)),
     "latency buckets are cumulative")
t.ok(buckets[-2][1] == 3 * N and 0 < m.v(LAT + "_sum") < 3 * N * 10,
     "every delivery on loopback took under 10 s, and the sum is plausible",
     (buckets, m.v(LAT + "_sum")))
t.ok(m.v("sluice_websocket_written_bytes_total") > 0, "WebSocket bytes written counted")
t.eq(m.v("sluice_replay_events"), N, "sluice_replay_events is %d" % N)
t.ok(m.v("sluice_replay_bytes") > N * 100, "sluice_replay_bytes holds them (%d)" %
     m.v("sluice_replay_bytes"))
t.ok(0 <= m.v("sluice_replay_span_seconds") < 60, "sluice_replay_span_seconds is the age "
     "of the oldest (%.3f s)" % m.v("sluice_replay_span_seconds"))
time.sleep(1.2)
m2 = A.metrics()
t.ok(m2.v("sluice_replay_span_seconds") >= m.v("sluice_replay_span_seconds") + 1,
     "and it grows with time", (m.v("sluice_replay_span_seconds"),
                                m2.v("sluice_replay_span_seconds")))
t.ok(m2.v("sluice_uptime_seconds") > m.v("sluice_uptime_seconds"), "uptime grows")

# ---- a bad line ----
sl.send_raw(b"{this is not json\n")
m = A.wait(lambda m: m.v("sluice_ingest_rejected_total", reason="json") >= 1)
t.eq(m.v("sluice_ingest_rejected_total", reason="json"), 1,
     "a line that is not JSON: rejected{reason=json} is 1")
t.eq(sum(v for k, v in m.items() if k[0] == "sluice_ingest_rejected_total"), 1,
     "and no other reason moved")
sl.send_raw(b'{"type":"post","action":"create","keys":["global"],"data":{}}\n')
m = A.wait(lambda m: m.v("sluice_ingest_rejected_total", reason="missing_field") >= 1)
t.eq(m.v("sluice_ingest_rejected_total", reason="missing_field"), 1,
     "an event without id: rejected{reason=missing_field} is 1")
t.eq(m.v("sluice_events_ingested_total"), N, "rejected lines are not ingested events")

# ---- consumers go ----
ws.send_frame(8, (1000).to_bytes(2, "big"))
t.eq(ws.recv_close(5), 1000, "the WebSocket consumer closes")
ws.close()
app.send_frame(8, (1000).to_bytes(2, "big"))
app.recv_close(5)
app.close()
ch.close()
# a suspended chunked stream notices its client left at its next write
sl.publish(event(200, ["global"]))
m = A.wait(lambda m: all(v == 0 for k, v in m.items() if k[0] == "sluice_connections"))
t.eq([v for k, v in sorted(m.items(), key=str) if k[0] == "sluice_connections"], [0] * 4,
     "sluice_connections back to 0 once they closed")
t.eq((m.v("sluice_streams"), m.v("sluice_subscriptions")), (2, 3),
     "the streams and their subscriptions remain (no auto_delete)")
st, _, _ = sl.api("DELETE", "/stream/0/users/me/streams/" + ws_cid, "tok34")
m = A.wait(lambda m: m.v("sluice_streams") == 1)
t.eq((st, m.v("sluice_streams"), m.v("sluice_subscriptions")), (204, 1, 1),
     "deleting a stream takes it and its two subscriptions off")
t.eq(m.v("sluice_queued_bytes"), 0, "nothing queued with no consumer")

# ---- a consumer that does not read ----
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", sl.port))
s.sendall(b"GET /stream/user HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok56\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
cid = re.search(rb"Connection-Id: (\w+)", head, re.I).group(1).decode()
sl.subscribe("tok56", "/posts/stream/global", cid, subscription_id="g")
# the kernel's send buffer on loopback grows to megabytes before
# anything stays queued in sluiced: push until something does, two
# events at a time so as not to jump past the 256K limit unseen
big = "q" * 32000
seen_queued, seq = 0, 300
for _ in range(200):
    sl.publish(*[event(seq + i, ["global"], data={"id": str(seq + i), "text": big})
                 for i in range(2)])
    seq += 2
    m = A.wait(lambda m: m.v("sluice_events_ingested_total") == N + 1 + seq - 300)
    time.sleep(0.05)
    m = A.metrics()
    if m.v("sluice_slow_consumer_drops_total") > 0:
        break
    if m.v("sluice_queued_bytes") > 0:
        seen_queued = m.v("sluice_queued_bytes")
        break
t.ok(seen_queued > 0, "sluice_queued_bytes > 0 while a consumer does not read (%d)" %
     seen_queued)
t.eq(m.v("sluice_slow_consumer_drops_total"), 0, "not yet a slow-consumer drop")
for _ in range(20):
    sl.publish(*[event(seq + i, ["global"], data={"id": str(seq + i), "text": big})
                 for i in range(4)])
    seq += 4
    m = A.wait(lambda m: m.v("sluice_events_ingested_total") == N + 1 + seq - 300)
    if m.v("sluice_slow_consumer_drops_total") > 0:
        break
m = A.wait(lambda m: m.v("sluice_slow_consumer_drops_total") >= 1)
t.eq(m.v("sluice_slow_consumer_drops_total"), 1,
     "sluice_slow_consumer_drops_total is 1 once it is cut off")
m = A.wait(lambda m: m.v("sluice_queued_bytes") == 0)
t.eq(m.v("sluice_queued_bytes"), 0, "and its queue no longer counts in sluice_queued_bytes")
s.close()
m = A.wait(lambda m: conn(m, "chunked") == 0)
t.eq(conn(m, "chunked"), 0, "its connection is gone from the gauge once it closed")
t.eq(m.v("sluice_replay_events"), N + 1 + seq - 300, "sluice_replay_events counts every event")

# ---- the admin port survives bad requests ----
for junk in (b"NOT HTTP AT ALL\r\n\r\n", b"GET /metrics HTTP/1.1\r\nHost: x\r\n" +
             b"X-Long: " + b"a" * 100000 + b"\r\n\r\n", b"GET /met", b"\x00\xff" * 100):
    try:
        j = socket.create_connection(("127.0.0.1", port), timeout=5)
        j.sendall(junk)
        j.shutdown(socket.SHUT_WR)
        while j.recv(65536):
            pass
    except OSError:
        pass
    j.close()
st, _, body = A.get("/healthz")
t.eq((st, body), (200, "ok\n"), "after malformed requests the admin port still answers")
t.ok(sl.alive(), "sluiced still running")

# ---- shutdown: 503 while it stops ----
# a WebSocket consumer that never answers the close keeps the daemon in
# its shutdown for about 2 s
stuck = RawWS(sl, "/stream/user", "tok12")
stuck.recv_frame()
sl.proc.send_signal(15)
codes = []
deadline = time.time() + 5
while time.time() < deadline:
    try:
        st, _, body = A.get("/healthz")
    except OSError:
        break
    codes.append(st)
    if st == 503:
        t.eq(body, "stopping\n", "healthz says why")
        break
    time.sleep(0.02)
t.ok(503 in codes, "GET /healthz: 503 while the daemon is stopping", codes)
stuck.close()
sl.stop(t)

# ---- admin_listen "" ----
sl = Sluice()
time.sleep(0.2)
t.ok("admin listening" not in sl.log(), "admin_listen \"\": no admin listener", sl.log())
t.ok(sl.alive(), "and the daemon runs")
sl.stop(t)
t.done()
