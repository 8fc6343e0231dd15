"""TLS on the client listener (SPEC 8: tls_cert, tls_key): sluiced -t
on good and bad certificate files; HTTPS chunked streams and the JSON
API with curl; WSS user and app streams with Python `websockets`;
plain HTTP to the TLS port; TLS clients that vanish or fall silent are
dropped by the keepalive while the others carry on. The certificate is
made here with the openssl command line."""
import asyncio
import base64
import json
import os
import queue
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse

import websockets

from sluice import SLUICED, Sluice, Tap, event, ws_close
from sluice import ws_recv_ids, ws_recv_json as recv_json

t = Tap()
d = tempfile.mkdtemp(prefix="sluice-tls-")


def openssl_pair(name, keyopts):
    cert, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey"] + keyopts +
                   ["-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


CERT, KEY = openssl_pair("ec", ["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
RSA_CERT, RSA_KEY = openssl_pair("rsa", ["rsa:2048"])
NOT_PEM = os.path.join(d, "notes.txt")
with open(NOT_PEM, "w") as f:
    f.write("this is not a certificate\n")


# ---- sluiced -t and start-up ----

def conf_file(text):
    path = os.path.join(d, "sluiced.conf")
    with open(path, "w") as f:
        f.write("listen = 127.0.0.1:0\nadmin_listen =\ningest = unix:%s\n%s"
                % (os.path.join(d, "ingest.sock"), text))
    return path


def check(text, *args):
    p = subprocess.run([SLUICED, "-c", conf_file(text)] + list(args),
                       capture_output=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).decode()


def pair(cert, key):
    return "tls_cert = %s\ntls_key = %s\n" % (cert, key)


rc, out = check(pair(CERT, KEY), "-t")
t.eq((rc, out.strip()), (0, "configuration ok"), "-t: an EC cert and its key: configuration ok")
rc, out = check(pair(RSA_CERT, RSA_KEY), "-t")
t.eq((rc, out.strip()), (0, "configuration ok"), "-t: an RSA cert and its key: configuration ok")
rc, out = check("tls_cert = %s\n" % CERT, "-t")
t.ok(rc == 1 and "tls_key" in out, "-t: tls_cert alone: exit 1 naming tls_key", out)
rc, out = check("tls_key = %s\n" % KEY, "-t")
t.ok(rc == 1 and "tls_cert" in out, "-t: tls_key alone: exit 1 naming tls_cert", out)

missing = os.path.join(d, "missing.key")
for name, cert, key, blame, word in [
    ("a missing key file", CERT, missing, missing, "No such file"),
    ("a missing cert file", os.path.join(d, "missing.crt"), KEY,
     os.path.join(d, "missing.crt"), "No such file"),
    ("a cert file that is not PEM", NOT_PEM, KEY, NOT_PEM, "certificate"),
    ("a key file that is a certificate", CERT, CERT, CERT, "private key"),
    ("a key file that is not PEM", CERT, NOT_PEM, NOT_PEM, "private key"),
    ("a directory as the cert", d, KEY, d, "directory"),
    ("a key that does not match the cert", CERT, RSA_KEY, RSA_KEY, "does not match"),
]:
    rc, out = check(pair(cert, key), "-t")
    t.ok(rc == 1 and out.startswith(blame + ": ") and word in out,
         "-t: %s: exit 1, 'file: reason'" % name, out)

# the same checks stop a start, before anything listens
t0 = time.time()
rc, out = check(pair(CERT, RSA_KEY), "-f")
t.ok(rc == 1 and out.strip().endswith(RSA_KEY + ": the key does not match the certificate in " + CERT),
     "start-up with a mismatched key: exit 1 naming the file (%.1f s)" % (time.time() - t0), out)
t.ok("listening" not in out, "and nothing was listened on", out)


# ---- a TLS listener ----

ctx = ssl.create_default_context(cafile=CERT)
sl = Sluice(conf={"tls_cert": CERT, "tls_key": KEY, "keepalive_interval": "1s",
                  "log_level": "debug", "max_streams_per_token": "20"}, tls=ctx)
t.ok("listening on 127.0.0.1:%d (TLS)" % sl.port in sl.log(), "start-up logs 'listening on HOST:PORT (TLS)'")
HTTPS = "https://127.0.0.1:%d" % sl.port
WSS = "wss://127.0.0.1:%d" % sl.port


def curl(*args, timeout=10):
    p = subprocess.run(["curl", "-sS", "--cacert", CERT] + list(args),
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


class CurlStream:
    """curl -N reading a chunked user stream; its lines on a queue."""

    def __init__(self, url, token):
        self.p = subprocess.Popen(["curl", "-sSN", "-i", "--cacert", CERT, url,
                                   "-H", "Authorization: Bearer " + token],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.headers = {}
        self.status = None
        while True:
            line = self.line(10)
            if line is None or line == "":
                break
            if self.status is None:
                self.status = int(line.split()[1])
            else:
                k, _, v = line.partition(":")
                self.headers[k.strip().lower()] = v.strip()

    def _read(self):
        for raw in self.p.stdout:
            self.q.put(raw.decode(errors="replace").rstrip("\r\n"))
        self.q.put(None)

    def line(self, timeout=5):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            return None

    def next(self, timeout=5):
        """The next message (keepalive lines counted), or None."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.line(deadline - time.time())
            if line is None:
                return None
            if line == "":
                self.keepalives += 1
                continue
            return json.loads(line)
        return None

    keepalives = 0

    def close(self):
        self.p.kill()
        self.p.wait()


# -- HTTPS: a chunked user stream with curl, subscribed through the JSON API
cs = CurlStream(HTTPS + "/stream/user", "tok12")
t.eq(cs.status, 200, "curl --cacert: HTTPS user stream, 200")
t.eq(cs.headers.get("transfer-encoding"), "chunked", "chunked over TLS")
cid = cs.headers.get("connection-id")
t.ok(cid and len(cid) == 32, "with its Connection-Id header", cs.headers)
rc, out, err = curl(HTTPS + "/stream/0/posts/stream/global?" +
                    urllib.parse.urlencode({"connection_id": cid, "subscription_id": "g"}),
                    "-H", "Authorization: Bearer tok12")
doc = json.loads(out) if rc == 0 else None
t.ok(doc and doc["meta"]["code"] == 200 and doc["meta"]["subscription_id"] == "g",
     "subscribe through the JSON API over HTTPS (curl)", out + err)
sl.publish(event(1, ["global"]))
m = cs.next()
t.ok(m and m["data"] == [{"id": "1", "text": "post 1"}] and m["meta"]["subscription_ids"] == ["g"],
     "an event from the ingest socket arrives on the HTTPS stream", m)
time.sleep(1.5)
sl.publish(event(2, ["global"]))
m = cs.next()
t.ok(m and m["data"][0]["id"] == "2" and cs.keepalives >= 1,
     "keepalives flow over TLS (%d) and so do events" % cs.keepalives, m)
rc, out, err = curl(HTTPS + "/stream/0/users/me/streams", "-H", "Authorization: Bearer tok12")
t.ok(rc == 0 and cid in out, "the stream list over HTTPS", out + err)
rc, out, err = curl("-o", "/dev/null", "-w", "%{http_code}", HTTPS + "/stream/user")
t.eq(out, "401", "errors are answered over HTTPS too (no token: 401)")

# the harness's own client over TLS: a chunked stream read by hand
hs = sl.stream("tok34")
st, _, doc = sl.subscribe("tok34", "/posts/stream/global", hs.cid, subscription_id="g34")
t.eq((hs.status, hs.chunked, st), (200, True, 200), "a second HTTPS stream (hand-decoded chunks), subscribed")
sl.publish(*[event(100 + i, ["global"]) for i in range(300)])
got = [m["data"][0]["id"] for m in hs.drain(1.0) if m["meta"].get("type") == "post"]
t.eq(got, [str(100 + i) for i in range(300)], "300 events in a burst over HTTPS: all, in order")
got = []
while len(got) < 300:
    m = cs.next(2)
    if m is None:
        break
    got.append(m["data"][0]["id"])
t.eq(got, [str(100 + i) for i in range(300)], "and on the curl stream")

# -- plain HTTP to the TLS port fails cleanly
rc, out, err = curl("-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                    "http://127.0.0.1:%d/stream/user" % sl.port, "-H", "Authorization: Bearer tok12")
t.ok(rc != 0 and out in ("", "000"), "curl http:// to the TLS port fails (curl exit %d)" % rc, err)
s = socket.create_connection(("127.0.0.1", sl.port), timeout=5)
s.sendall(b"GET /stream/user HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer tok12\r\n\r\n")
data = b""
try:
    while True:
        c = s.recv(4096)
        if not c:
            break
        data += c
    ended = True
except socket.timeout:
    ended = False
except ConnectionResetError:
    ended = True
s.close()
t.ok(ended and not data.startswith(b"HTTP/"),
     "a plain HTTP request gets no HTTP answer and its connection is closed", data[:80])
# a client that opens a TLS connection and never finishes the handshake
s = socket.create_connection(("127.0.0.1", sl.port), timeout=5)
s.sendall(b"\x16\x03\x01\x00\x05\x01")      # a truncated ClientHello
time.sleep(0.2)
sl.publish(event(3, ["global"]))
m = cs.next()
t.ok(sl.alive() and m and m["data"][0]["id"] == "3", "the daemon carries on: the HTTPS stream gets the next event", m)
s.close()


# ---- WSS ----

class SilentTLSWS:
    """A WebSocket client over TLS that upgrades, then reads but never
    answers a ping: a peer that has stopped (or whose network has)."""

    def __init__(self, path, token):
        self.sock = sl.connect()
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n"
                           % (path, key, token)).encode())
        data = b""
        while b"\r\n\r\n" not in data:
            c = self.sock.recv(4096)
            if not c:
                break
            data += c
        self.status = int(data.split(b" ", 2)[1]) if data else 0

    def wait_closed(self, timeout):
        """(seconds until the server closed the connection, pings seen)"""
        t0, pings, buf = time.time(), 0, b""
        self.sock.settimeout(0.5)
        while time.time() - t0 < timeout:
            try:
                c = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ssl.SSLError, OSError):
                c = b""
            if not c:
                return time.time() - t0, pings
            buf += c
            while len(buf) >= 2:
                n, off = buf[1] & 0x7f, 2
                if n == 126 and len(buf) < 4:
                    break
                if n == 126:
                    n, off = int.from_bytes(buf[2:4], "big"), 4
                if len(buf) < off + n:
                    break
                pings += (buf[0] & 0x0f) == 9
                buf = buf[off + n:]
        return None, pings


def streams_of(token):
    st, _, doc = sl.api("GET", "/stream/0/users/me/streams", token)
    return [x["connection_id"] for x in doc["data"]] if st == 200 else None


async def wss_user(query="", token="tok12", **kw):
    ws = await websockets.connect(WSS + "/stream/user" + query, ssl=ctx,
                                  extra_headers={"Authorization": "Bearer " + token}, **kw)
    return ws, await recv_json(ws)


async def main():
    # -- a user stream over WSS: connect, first message, events, pings
    ws, first = await wss_user()
    t.eq(first and first["meta"]["type"], "connection", "WSS user stream: the connection message first")
    wcid = first["meta"]["connection_id"]
    t.eq(ws.response_headers.get("Connection-Id"), wcid, "the 101 over TLS carries Connection-Id")
    st, _, _ = sl.subscribe("tok12", "/posts/stream/global", wcid, subscription_id="g")
    sl.publish(event(10, ["global"]))
    m = await recv_json(ws)
    t.ok(m and m["data"] == [{"id": "10", "text": "post 10"}] and m["meta"]["subscription_ids"] == ["g"],
         "an event arrives over WSS", m)
    N = 2000
    sl.publish(*[event(1000 + i, ["global"]) for i in range(N)])
    got = await ws_recv_ids(ws, N)
    t.eq(got, list(range(1000, 1000 + N)), "%d events in a burst over WSS: all, in order" % N)
    await asyncio.sleep(2.5)
    sl.publish(event(11, ["global"]))
    m = await recv_json(ws)
    t.ok(m and m["data"][0]["id"] == "11", "a WSS client that answers pings stays past 2 intervals", m)

    # the client closes: 1000 both ways
    await ws.close()
    t.ok(ws.close_code == 1000 and ws.close_rcvd is not None and ws.close_rcvd.code == 1000,
         "the client closes with 1000 and the server answers 1000 over TLS",
         (ws.close_code, ws.close_rcvd))
    # the server closes: deleting the stream closes its consumer with 1000
    ws, first = await wss_user("?connection_id=" + wcid)
    t.eq(first and first["meta"]["connection_id"], wcid, "resume by connection_id over WSS")
    st, _, _ = sl.request("DELETE", "/stream/0/users/me/streams/" + wcid, "tok12")
    cc = await ws_close(ws)
    t.ok(st == 204 and cc and cc[0] == 1000, "DELETE over HTTPS: the WSS consumer gets close 1000", cc)

    # -- an app stream over WSS
    rc, out, err = curl(HTTPS + "/stream/0/streams", "-H", "Authorization: Bearer tokapp1",
                        "-H", "Content-Type: application/json", "--data",
                        json.dumps({"object_types": ["post"], "type": "long_poll", "key": "tk"}))
    doc = json.loads(out) if rc == 0 else {}
    t.ok(doc.get("meta", {}).get("code") == 201 and
         doc["data"]["endpoint"] == WSS + "/v1/app?key=tk",
         "POST /stream/0/streams over HTTPS (curl): 201, the endpoint is wss://", out + err)
    app = await websockets.connect(doc["data"]["endpoint"] + "&access_token=tokapp1", ssl=ctx,
                                   ping_interval=None)
    am = await recv_json(app)
    t.eq(am and (am["meta"]["type"], am["meta"]["stream"]["key"]), ("connection", "tk"),
         "the app stream connects over WSS at that endpoint")
    sl.publish(event(12, ["global"]))
    am = await recv_json(app)
    t.eq(am and (am["meta"]["type"], am["data"]), ("post", {"id": "12", "text": "post 12"}),
         "an event reaches the app stream over WSS")
    await app.send("ping")
    t.eq(await asyncio.wait_for(app.recv(), 5), "pong", "the app's text keepalive is answered over WSS")
    await app.close()
    t.eq(app.close_code, 1000, "the app stream closes with 1000")

    # -- a stayer, to show the others carry on
    stay, first = await wss_user(token="tok34")
    stay_cid = first["meta"]["connection_id"]
    sl.subscribe("tok34", "/posts/stream/global", stay_cid, subscription_id="s")

    # -- a WSS client that vanishes (transport abort): dropped by the keepalive
    gone, first = await wss_user("?auto_delete=1", token="tok56")
    gcid = first["meta"]["connection_id"]
    t.ok(gcid in streams_of("tok56"), "an auto_delete WSS stream is listed while connected")
    gone.transport.abort()
    t0 = time.time()
    while time.time() - t0 < 6 and gcid in streams_of("tok56"):
        await asyncio.sleep(0.05)
    dt = time.time() - t0
    t.ok(gcid not in streams_of("tok56") and dt < 3.5,
         "a WSS client whose socket is killed is dropped within 2 keepalive intervals "
         "(gone after %.2f s; keepalive 1 s)" % dt)

    # -- a WSS client that stops answering: dropped after 2 intervals of silence
    def silent():
        s = SilentTLSWS("/stream/user", "tok56")
        return s.status, s.wait_closed(8)
    status, (dt, pings) = await asyncio.get_running_loop().run_in_executor(None, silent)
    t.ok(status == 101 and dt is not None and 1.5 <= dt < 3.5 and pings >= 1,
         "a silent WSS peer (pinged %d times) is dropped after 2 intervals (%s s)"
         % (pings, dt and "%.2f" % dt))
    t.ok("websocket: peer silent for" in sl.log(), "the log says it was dropped for silence")

    sl.publish(event(13, ["global"]))
    m = await recv_json(stay)
    t.ok(m and m["data"][0]["id"] == "13", "the other WSS clients carry on", m)
    await stay.close()


asyncio.run(main())

# -- a chunked HTTPS client that vanishes: its stream becomes resumable
hs.close()
ab = sl.stream("tok56", auto_delete=1)
t.ok(ab.cid in streams_of("tok56"), "an auto_delete HTTPS stream is listed while connected")
ab.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
ab.sock.close()                                  # RST, no close_notify
t0 = time.time()
while time.time() - t0 < 6 and ab.cid in streams_of("tok56"):
    time.sleep(0.05)
dt = time.time() - t0
t.ok(ab.cid not in streams_of("tok56") and dt < 3.5,
     "a killed HTTPS chunked client is dropped within 2 keepalive intervals (%.2f s)" % dt)

# one that closes properly (close_notify, then FIN) is noticed before
# an event is written into its socket, so a resume gets the event
gone_before = sl.log().count("chunked stream: the client has gone")
gs = sl.stream("tok56")
sl.subscribe("tok56", "/posts/stream/global", gs.cid, subscription_id="g")
gs.sock.settimeout(2)
try:
    gs.sock.unwrap()                             # sends close_notify first
except (ssl.SSLError, OSError):
    pass
gs.sock.close()
time.sleep(0.1)
sl.publish(event(14, ["global"]))
time.sleep(0.3)
t.ok(sl.log().count("chunked stream: the client has gone") > gone_before,
     "an HTTPS client that sent close_notify and FIN is seen to have gone")
rs = sl.stream("tok56", connection_id=gs.cid)
m = rs.next()
t.ok(m and m["data"][0]["id"] == "14", "resumed, it gets the event it was not sent", m)
rs.close()

sl.publish(event(15, ["global"]))
want = ["10"] + [str(1000 + i) for i in range(2000)] + ["11", "12", "13", "14", "15"]
got = []
while len(got) < len(want):
    m = cs.next(3)
    if m is None:
        break
    got.append(m["data"][0]["id"])
t.ok(got == want, "the first curl stream carried on through all of it: %d events, in order"
     % len(want), "got %d: ...%r" % (len(got), got[-5:]))
cs.close()
sl.stop(t)
shutil.rmtree(d, ignore_errors=True)
t.done()
