"""Takeover without cursor (SPEC 4.2, 5) of a WebSocket consumer in the
middle of a burst that it reads as fast as it can: the takeover lands
while a worker is writing to the older consumer, and the newer one must
go on right after the last event the older one gets - nothing lost,
nothing twice. (A worker holds the connection's lock across a write
that begins frames; before that, a takeover landing as the last batch
went out gave the newer consumer that batch again, in about half the
runs of this test.)"""
import json
import socket
import threading
import time

from sluice import RawWS, Sluice, Tap, event

ROUNDS = 6
N = 20000           # events per burst

t = Tap()
sl = Sluice(conf={"send_buffer_limit": "64M", "max_streams_per_token": "50"})


class Reader(threading.Thread):
    """Reads a RawWS's frames as fast as it can (its own parser over one
    buffer: RawWS.recv_frame copies the rest of its buffer per frame),
    keeping the post ids, until a close frame, the end of the socket,
    or the id last. pace: a pause before each read of at most 16 KiB, so
    that a burst lasts while the test takes its consumer over."""

    def __init__(self, ws, last, pace=0.0):
        super().__init__(daemon=True)
        self.ws, self.last, self.pace = ws, last, pace
        self.ids, self.close, self.hello = [], None, None
        self.count = 0

    def run(self):
        sock = self.ws.sock
        sock.settimeout(10)
        buf, off = bytearray(self.ws.buf), 0
        while True:
            while True:
                if len(buf) - off < 2:
                    break
                n, h = buf[off + 1] & 0x7f, 2
                if n == 126:
                    if len(buf) - off < 4:
                        break
                    n, h = int.from_bytes(buf[off + 2:off + 4], "big"), 4
                elif n == 127:
                    if len(buf) - off < 10:
                        break
                    n, h = int.from_bytes(buf[off + 2:off + 10], "big"), 10
                if len(buf) - off < h + n:
                    break
                op, p = buf[off] & 0x0f, bytes(buf[off + h:off + h + n])
                off += h + n
                if op == 8:
                    self.close = int.from_bytes(p[:2], "big") if len(p) >= 2 else 0
                    return
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
            del buf[:off]
            off = 0
            if self.pace:
                time.sleep(self.pace)
            try:
                c = sock.recv(16384 if self.pace else 1 << 20)
            except (socket.timeout, OSError):
                return
            if not c:
                return
            buf += c


def hello(ws):
    """The connection message's id, read with RawWS (before a Reader)."""
    f = ws.recv_frame(5)
    return json.loads(f[1])["meta"]["connection_id"] if f and f[0] == 1 else None


dups = lost = mid = bad_ids = 0
bad_close = []
for r in range(ROUNDS):
    base = 100000 * (r + 1)
    last = base + N - 1
    a = RawWS(sl, "/stream/user", "tok12")
    cid = hello(a)
    sl.subscribe("tok12", "/posts/stream/global", cid, subscription_id="g")
    ra = Reader(a, last, pace=0.0005)
    ra.start()
    lines = "".join(json.dumps(event(base + i, ["global"])) + "\n" for i in range(N))
    producer = threading.Thread(target=sl.send_raw, args=(lines,), daemon=True)
    producer.start()
    deadline = time.time() + 10
    while ra.count < N // 10 and time.time() < deadline:
        time.sleep(0.0005)
    b = RawWS(sl, "/stream/user?connection_id=" + cid, "tok12")
    rb = Reader(b, last)
    rb.start()
    ra.join(10)
    rb.join(15)
    producer.join(10)
    if rb.hello != cid:
        bad_ids += 1
    if ra.count < N:
        mid += 1
        if ra.close != 4001:
            bad_close.append(ra.close)
    both = ra.ids + rb.ids
    dups += len(set(ra.ids) & set(rb.ids))
    if both != list(range(base, base + N)):
        lost += 1
        t.diag("round %d: old consumer got %d (close %r), new %d (hello %r); first "
               "of the new: %r, last of the old: %r" % (
                   r, len(ra.ids), ra.close, len(rb.ids), rb.hello,
                   rb.ids[:3], ra.ids[-3:]))
    a.close()
    b.close()

t.eq(bad_ids, 0, "the newer consumer keeps the id in every round")
t.eq(bad_close, [], "an older consumer taken over mid-burst is closed 4001")
t.ok(mid >= 1, "some takeovers came in the middle of a burst (%d of %d; the others "
     "as it ended)" % (mid, ROUNDS))
t.eq(dups, 0, "no event went to both the older and the newer consumer")
t.eq(lost, 0, "in every round the two together got every event once, in order")
t.ok(sl.alive(), "sluiced still running")
sl.stop(t)
t.done()
