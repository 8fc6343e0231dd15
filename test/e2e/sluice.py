"""sluice.py - the end-to-end test harness.

Starts a real sluiced (the build under test, from $SLUICE_BUILD) on a
free loopback port with a config written for the test, feeds its ingest
socket, and reads its streams with real clients: a hand-parsed HTTP/1.1
chunked reader over a plain socket, and curl. Prints TAP.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

BUILD = os.environ.get("SLUICE_BUILD") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "build-check"))
SRC = os.environ.get("SLUICE_SRC") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
SLUICED = os.path.join(BUILD, "server", "sluiced")
SLUICE_PUB = os.path.join(BUILD, "server", "sluice-pub")


class Tap:
    """Minimal TAP producer."""

    def __init__(self, diag_lines=30):
        self.n = 0
        self.failed = 0
        self.diag_lines = diag_lines     # lines of diagnosis per failure

    def ok(self, cond, name, diag=None):
        self.n += 1
        print(("ok %d - %s" if cond else "not ok %d - %s") % (self.n, name),
              flush=True)
        if not cond:
            self.failed += 1
            if diag is not None:
                for line in str(diag).splitlines()[:self.diag_lines]:
                    print("#   " + line)
        return cond

    def eq(self, got, want, name):
        return self.ok(got == want, name, "got:  %r\nwant: %r" % (got, want))

    def diag(self, msg):
        for line in str(msg).splitlines():
            print("# " + line, flush=True)

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why), flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


class Sluice:
    """A running sluiced with its own directory, config and tokens."""

    DEFAULT_TOKENS = {
        "tok12": ("user", "12", "app1"),
        "tok34": ("user", "34", "app1"),
        "tok56": ("user", "56", "app2"),
        "tokapp1": ("app", "app1"),
        "tokapp2": ("app", "app2"),
    }

    def __init__(self, conf=None, tokens=None, args=(), stdin=None, env=None,
                 tls=None):
        self.tls = tls           # an ssl.SSLContext: talk HTTPS to it
        self.dir = tempfile.mkdtemp(prefix="sluice-e2e-")
        self.sock = os.path.join(self.dir, "ingest.sock")
        self.tokens = dict(self.DEFAULT_TOKENS if tokens is None else tokens)
        with open(os.path.join(self.dir, "tokens"), "w") as f:
            for tok, rec in self.tokens.items():
                f.write("%s %s\n" % (tok, " ".join(rec)))
        base = {
            "listen": "127.0.0.1:0",
            "admin_listen": "",
            "ingest": "unix:" + self.sock,
            "tokens_file": os.path.join(self.dir, "tokens"),
            "workers": "2",
        }
        base.update(conf or {})
        self.conf_path = os.path.join(self.dir, "sluiced.conf")
        with open(self.conf_path, "w") as f:
            for k, v in base.items():
                for one in (v if isinstance(v, list) else [v]):
                    f.write("%s = %s\n" % (k, one))
        self.log_path = os.path.join(self.dir, "sluiced.log")
        self.logf = open(self.log_path, "w")
        penv = dict(os.environ)
        penv.update(env or {})
        # SLUICE_WRAP="valgrind --leak-check=full" runs it under a tool
        wrap = os.environ.get("SLUICE_WRAP", "").split()
        self.proc = subprocess.Popen(wrap + [SLUICED, "-c", self.conf_path] + list(args),
                                     stdout=self.logf, stderr=subprocess.STDOUT, env=penv,
                                     stdin=stdin if stdin is not None else subprocess.DEVNULL)
        self.port = None
        deadline = time.time() + (60 if os.environ.get("SLUICE_WRAP") else 15)
        while time.time() < deadline and self.port is None:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log())
            if m and "ready" in self.log():
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if self.port is None:
            raise RuntimeError("sluiced did not start:\n" + self.log())
        self.base = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)
        self._pub = None

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for l in f:
                if l.startswith("VmRSS"):
                    return int(l.split()[1])
        return 0

    def alive(self):
        return self.proc.poll() is None

    # ---- ingest ----
    def producer(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.sock)
        return s

    def send_raw(self, data):
        """Write bytes on a shared producer connection."""
        if self._pub is None:
            self._pub = self.producer()
        self._pub.sendall(data if isinstance(data, bytes) else data.encode())

    def publish(self, *records):
        self.send_raw("".join(json.dumps(r) + "\n" for r in records))

    def publish_async(self, *records):
        """publish on a thread of its own, for a burst larger than the
        ingest socket takes at once; returns the started thread."""
        lines = "".join(json.dumps(r) + "\n" for r in records)
        th = threading.Thread(target=self.send_raw, args=(lines,), daemon=True)
        th.start()
        return th

    # ---- HTTP ----
    def connect(self, timeout=10):
        """A socket to the listener, through TLS if the Sluice has tls."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return self.tls.wrap_socket(s, server_hostname="127.0.0.1") if self.tls else s

    def request(self, method, path, token=None, headers=None, body=None):
        """One HTTP/1.1 request; returns (status, headers, body bytes)."""
        s = self.connect()
        h = {"Host": "127.0.0.1", "Connection": "close"}
        if token:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        if body is not None:
            h["Content-Length"] = str(len(body))
        req = "%s %s HTTP/1.1\r\n" % (method, path)
        req += "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
        s.sendall(req.encode() + (body or b""))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if hdrs.get("transfer-encoding", "").lower() == "chunked":
            rest = dechunk(rest)
        return status, hdrs, rest

    def api(self, method, path, token=None, **kw):
        status, hdrs, body = self.request(method, path, token, **kw)
        doc = json.loads(body) if body.strip() else None
        return status, hdrs, doc

    def subscribe(self, token, endpoint, cid, **params):
        q = dict(connection_id=cid, **params)
        return self.api("GET", "/stream/0" + endpoint + "?" +
                        urllib.parse.urlencode(q), token)

    def stream(self, token=None, path="/stream/user", **params):
        return ChunkedStream(self, token, path, params)

    # ---- stop ----
    def stop(self, tap=None):
        """SIGTERM; returns the exit status. With tap, asserts a clean
        exit and no sanitizer report."""
        if self._pub is not None:
            self._pub.close()
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=60 if os.environ.get("SLUICE_WRAP") else 10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        else:
            rc = self.proc.returncode
        self.logf.close()
        log = self.log()
        if tap is not None:
            tap.eq(rc, 0, "sluiced exits 0 on SIGTERM")
            bad = [l for l in log.splitlines() if "Sanitizer" in l or
                   "runtime error" in l or "LeakSanitizer" in l or
                   # valgrind, under SLUICE_WRAP
                   ("ERROR SUMMARY:" in l and "ERROR SUMMARY: 0 errors" not in l) or
                   ("definitely lost:" in l and "definitely lost: 0 bytes" not in l)]
            tap.ok(not bad, "no sanitizer reports", "\n".join(bad[:20]) +
                   "\n" + log[-3000:])
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


def dechunk(data):
    out = b""
    while data:
        line, _, data = data.partition(b"\r\n")
        n = int(line.split(b";")[0], 16)
        if n == 0:
            break
        out += data[:n]
        data = data[n + 2:]
    return out


class ChunkedStream:
    """A user stream read over a raw socket, decoding HTTP/1.1 chunked
    transfer by hand and splitting messages on \\r\\n."""

    def __init__(self, sl, token, path, params):
        params = dict(params)
        extra = params.pop("headers", None) or {}
        if params.pop("query_token", False) and token:
            params["access_token"] = token
            token = None
        q = urllib.parse.urlencode(params)
        self.sock = sl.connect()
        h = "GET %s%s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % (path, "?" + q if q else "")
        if token:
            h += "Authorization: Bearer %s\r\n" % token
        h += "".join("%s: %s\r\n" % kv for kv in extra.items())
        self.sock.sendall((h + "\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and lines[0] else 0
        self.headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.cid = self.headers.get("connection-id")
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self.body = b""          # de-chunked bytes not yet split
        self.ended = False       # the terminating 0-size chunk was seen
        self.closed = False      # the socket was closed
        self.keepalives = 0
        self.chunks = 0
        if self.chunked:
            self._decode()       # body bytes that came with the headers

    def _decode(self):
        while True:
            if b"\r\n" not in self.buf:
                return
            line, _, rest = self.buf.partition(b"\r\n")
            n = int(line.split(b";")[0], 16)
            if n == 0:
                self.ended = True
                self.buf = b""
                return
            if len(rest) < n + 2:
                return
            assert rest[n:n + 2] == b"\r\n", "chunk not followed by CRLF"
            self.body += rest[:n]
            self.chunks += 1
            self.buf = rest[n + 2:]

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except OSError:
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        self._decode()
        return True

    def next(self, timeout=5.0):
        """The next message as a dict (keepalives are counted and
        skipped), or None on timeout or end of stream."""
        deadline = time.time() + timeout
        while True:
            while b"\r\n" in self.body:
                line, _, self.body = self.body.partition(b"\r\n")
                if line == b"":
                    self.keepalives += 1
                    continue
                return json.loads(line)
            left = deadline - time.time()
            if left <= 0 or self.ended or self.closed:
                return None
            self._fill(left)

    def drain(self, timeout=0.5):
        """Every message that arrives within timeout of the last one."""
        out = []
        while True:
            m = self.next(timeout)
            if m is None:
                return out
            out.append(m)

    def wait_end(self, timeout=5.0):
        """True when the server ends the stream (last chunk or close)."""
        deadline = time.time() + timeout
        while not (self.ended or self.closed) and time.time() < deadline:
            self._fill(deadline - time.time())
        return self.ended or self.closed

    def close(self):
        self.sock.close()


def event(id, keys, type="post", action="create", data=None, **extra):
    """An ingest event record."""
    rec = {"type": type, "action": action, "id": str(id), "keys": keys}
    if data is not None or action != "delete":
        rec["data"] = data if data is not None else {"id": str(id), "text": "post %s" % id}
    rec.update(extra)
    return rec


async def ws_recv_ids(ws, n, key="data", timeout=5):
    """The ids of the next n messages of a `websockets` client, as ints,
    up to the first that does not come within timeout: an event's
    data[0]["id"] (user streams), or its meta["id"] with key="meta"."""
    got = []
    for _ in range(n):
        m = await ws_recv_json(ws, timeout)
        if m is None:
            break
        got.append(int(m["data"][0]["id"] if key == "data" else m["meta"]["id"]))
    return got


async def ws_recv_json(ws, timeout=5):
    """The next message of a `websockets` client as JSON; None on timeout."""
    import asyncio
    try:
        return json.loads(await asyncio.wait_for(ws.recv(), timeout))
    except asyncio.TimeoutError:
        return None


async def ws_close(ws, timeout=3):
    """(code, reason) of the close that ends a `websockets` client,
    skipping messages; None if it is still open after timeout."""
    import asyncio
    import websockets
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.ConnectionClosed as e:
        return e.code, e.reason
    except asyncio.TimeoutError:
        return None


class RawWS:
    """A WebSocket client written by hand, for what real clients refuse
    to do: malformed frames, never answering pings, never reading."""

    def __init__(self, sl, path, token=None, headers=None, rcvbuf=None):
        import base64
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", sl.port))
        self.sock.settimeout(10)
        key = base64.b64encode(os.urandom(16)).decode()
        h = {"Host": "127.0.0.1", "Upgrade": "websocket", "Connection": "Upgrade",
             "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
        if token:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        req = "GET %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
        self.sock.sendall(req.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            c = self.sock.recv(4096)
            if not c:
                break
            data += c
        head, _, rest = data.partition(b"\r\n\r\n")
        self.buf, self.pos = bytearray(rest), 0     # frames read from pos on
        self.rchunk, self.pace = 65536, 0.0         # see FrameReader
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines[0] else 0
        self.headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip()
                        for l in lines[1:] if ":" in l}

    def send_frame(self, opcode, payload, fin=True, mask=True, rsv=0):
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        n = len(payload)
        hdr = bytes([b0])
        mbit = 0x80 if mask else 0
        if n < 126:
            hdr += bytes([mbit | n])
        elif n < 65536:
            hdr += bytes([mbit | 126]) + n.to_bytes(2, "big")
        else:
            hdr += bytes([mbit | 127]) + n.to_bytes(8, "big")
        if mask:
            m = os.urandom(4)
            hdr += m
            payload = bytes(b ^ m[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(hdr + payload)

    def hello(self, timeout=5.0):
        """The connection_id of the first message (a user stream's), or
        None."""
        f = self.recv_frame(timeout)
        return json.loads(f[1])["meta"]["connection_id"] if f and f[0] == 1 else None

    def recv_frame(self, timeout=5.0):
        """(opcode, payload) or None on timeout/close of the socket."""
        if self.sock.gettimeout() != timeout:
            self.sock.settimeout(timeout)

        def need(n):
            while len(self.buf) - self.pos < n:
                if self.pace:
                    time.sleep(self.pace)
                try:
                    c = self.sock.recv(self.rchunk)
                except (socket.timeout, OSError):
                    return False
                if not c:
                    return False
                self.buf += c
            return True
        if self.pos > 65536 and self.pos * 2 > len(self.buf):
            del self.buf[:self.pos]     # what was read, now and then
            self.pos = 0
        if not need(2):
            return None
        at = self.pos
        b0, b1 = self.buf[at], self.buf[at + 1]
        n, off = b1 & 0x7f, 2
        if n == 126:
            if not need(4):
                return None
            n, off = int.from_bytes(self.buf[at + 2:at + 4], "big"), 4
        elif n == 127:
            if not need(10):
                return None
            n, off = int.from_bytes(self.buf[at + 2:at + 10], "big"), 10
        if not need(off + n):
            return None
        payload = bytes(self.buf[at + off:at + off + n])
        self.pos = at + off + n
        return b0 & 0x0f, payload

    def recv_close(self, timeout=5.0):
        """The close code the server sent (skipping other frames), or None."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            f = self.recv_frame(deadline - time.time())
            if f is None:
                return None
            if f[0] == 8:
                return int.from_bytes(f[1][:2], "big") if len(f[1]) >= 2 else 0
        return None

    def closed_by_peer(self, timeout=5.0):
        """True once the server has closed the TCP connection."""
        self.sock.settimeout(timeout)
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                if not self.sock.recv(65536):
                    return True
        except (socket.timeout, OSError) as e:
            return isinstance(e, ConnectionResetError)
        return False

    def close(self):
        self.sock.close()


class FrameReader(threading.Thread):
    """Reads a RawWS's frames in a thread, keeping the post ids and where
    each pong came, until a close frame, the end of the socket, or the
    post id last. pace: a pause before each read of at most 16 KiB, so
    that a burst lasts while the test does something in its middle."""

    def __init__(self, ws, last, pace=0.0):
        super().__init__(daemon=True)
        self.ws, self.last = ws, last
        if pace:
            ws.pace, ws.rchunk = pace, 16384
        else:
            ws.rchunk = 1 << 20
        self.ids, self.close, self.hello = [], None, None
        self.count = 0
        self.pongs = []         # (payload, posts read before it)

    def run(self):
        while True:
            f = self.ws.recv_frame(10)
            if f is None:
                return
            op, p = f
            if op == 8:
                self.close = int.from_bytes(p[:2], "big") if len(p) >= 2 else 0
                return
            if op == 0xA:
                self.pongs.append((p, len(self.ids)))
            if op != 1:
                continue
            m = json.loads(p)
            if m["meta"].get("type") == "connection":
                self.hello = m["meta"]["connection_id"]
            elif m["meta"].get("type") == "post":
                self.ids.append(int(m["data"][0]["id"]))
                self.count = len(self.ids)
                if self.ids[-1] == self.last:
                    return
