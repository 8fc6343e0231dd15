"""The ingest pipe (SPEC 2): bad lines are counted, logged and skipped
without touching the lines around them; producers come and go."""
import json
import os
import socket
import threading
import time

from sluice import Sluice, Tap, event

t = Tap()
sl = Sluice(conf={"ingest_max_line": "1K"})
a = sl.stream("tok12")
sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="g")


def ids(msgs):
    return [m["data"][0]["id"] for m in msgs if "data" in m]


good = lambda i: json.dumps(event(i, ["global"])) + "\n"

# every kind of bad line, each between two good ones
bad_lines = [
    ("not JSON", "this is not json\n"),
    ("truncated JSON", '{"type": "post", "action": "create", "id": \n'),
    ("trailing garbage", json.dumps(event(0, ["global"])) + " xyz\n"),
    ("a JSON array", "[1, 2, 3]\n"),
    ("a JSON string", '"post"\n'),
    ("missing type", json.dumps({"action": "create", "id": "1", "data": {}, "keys": ["global"]}) + "\n"),
    ("missing action", json.dumps({"type": "post", "id": "1", "data": {}, "keys": ["global"]}) + "\n"),
    ("missing id", json.dumps({"type": "post", "action": "create", "data": {}, "keys": ["global"]}) + "\n"),
    ("missing data on create", json.dumps({"type": "post", "action": "create", "id": "1", "keys": ["global"]}) + "\n"),
    ("bad action", json.dumps({"type": "post", "action": "destroy", "id": "1", "data": {}, "keys": ["global"]}) + "\n"),
    ("keys not a list", json.dumps({"type": "post", "action": "create", "id": "1", "data": {}, "keys": "global"}) + "\n"),
    ("visible_to not a list", json.dumps({"type": "post", "action": "create", "id": "1", "data": {}, "keys": ["global"], "visible_to": "12"}) + "\n"),
    ("data not an object", json.dumps({"type": "post", "action": "create", "id": "1", "data": [1], "keys": ["global"]}) + "\n"),
    ("oversized line", json.dumps(event(0, ["global"], data={"id": "0", "text": "x" * 2000})) + "\n"),
    ("bad token op", json.dumps({"op": "nope", "action": "grant", "token": "t"}) + "\n"),
    ("token grant without user", json.dumps({"op": "token", "action": "grant", "token": "t", "client_id": "c"}) + "\n"),
    ("invalid UTF-8 / binary", "\xff\xfe\x00\x01garbage\n"),
]
n = 100
for name, line in bad_lines:
    payload = good(n) + line + good(n + 1)
    sl.send_raw(payload.encode("latin-1") if "\xff" in line else payload.encode())
    got = ids([a.next(), a.next()])
    t.eq(got, [str(n), str(n + 1)], "%s: the good lines around it are delivered" % name)
    n += 2
t.eq(a.next(0.5), None, "no bad line was delivered")
t.ok(sl.alive(), "sluiced survives every bad line")
log = sl.log()
t.ok("rejected a line" in log, "rejections are logged with a reason")
t.ok("too_long" in log or "json" in log, "the log names the reason")
# rate limit: at most about one rejection line per second
rej_lines = [l for l in log.splitlines() if "rejected a line" in l]
t.ok(len(rej_lines) < len(bad_lines), "rejection log is rate-limited (%d lines for %d bad lines)"
     % (len(rej_lines), len(bad_lines)))

# a line split over many writes still works
line = good(500)
p = sl.producer()
for ch in line:
    p.sendall(ch.encode())
t.eq(ids([a.next()]), ["500"], "a line written one byte at a time arrives")

# producer disconnecting mid-line loses only that line
p.sendall((good(501) + good(502)[:30]).encode())
p.close()
t.eq(ids([a.next()]), ["501"], "complete line before the disconnect arrives")
q = sl.producer()
q.sendall(good(503).encode())
m = a.next()
t.eq(ids([m]), ["503"], "next producer's line is not glued to the partial one")
t.eq(a.next(0.3), None, "the partial line is dropped")

# a partial line followed by a newline-only close from another producer
# does not affect that producer
r1 = sl.producer()
r2 = sl.producer()
r1.sendall(good(600)[:20].encode())
r2.sendall(good(601).encode())
t.eq(ids([a.next()]), ["601"], "producers' partial lines do not mix")
r1.sendall(good(600)[20:].encode())
t.eq(ids([a.next()]), ["600"], "the first producer completes its line later")
r1.close()
r2.close()

# many producers at once: every line arrives, each producer's order kept
P, N = 8, 200
def produce(k):
    s = sl.producer()
    s.sendall("".join(good(10000 * (k + 1) + i) for i in range(N)).encode())
    s.close()
threads = [threading.Thread(target=produce, args=(k,)) for k in range(P)]
for th in threads:
    th.start()
for th in threads:
    th.join()
got = []
while len(got) < P * N:
    m = a.next(5)
    if m is None:
        break
    got.append(int(m["data"][0]["id"]))
t.eq(len(got), P * N, "%d producers x %d lines: all delivered" % (P, N))
ordered = all([x for x in got if x // 10000 == k + 1] == [10000 * (k + 1) + i for i in range(N)]
              for k in range(P))
t.ok(ordered, "each producer's lines keep their order")

# a producer that connects and sends nothing does not block others
idle = sl.producer()
sl.publish(event(700, ["global"]))
t.eq(ids([a.next()]), ["700"], "an idle producer does not block the pipe")
idle.close()

# token records through the pipe take effect at once
sl.publish({"op": "token", "action": "grant", "token": "fresh", "user_id": "77", "client_id": "app1"})
time.sleep(0.2)
s77 = sl.stream("fresh")
t.eq(s77.status, 200, "a token granted through the pipe is valid at once")
s77.close()

a.close()
t.ok(sl.alive(), "sluiced still running")
sl.stop(t)
t.done()
