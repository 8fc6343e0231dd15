"""Limits of the HTTP side that come from the connection memory sluiced
keeps (sluiced(8) LIMITS): request headers up to about 15 KiB are
served, larger ones get 431 and nothing else is disturbed; a stream
opened with large headers still gets events of any size whole, chunked
and WebSocket. And WebSocket sessions, which leave libmicrohttpd at the
upgrade, still count toward max_connections."""
import json
import time

from sluice import RawWS, Sluice, Tap, event

t = Tap()
sl = Sluice(conf={"max_connections": "6", "keepalive_interval": "1s"})
BIG = "x" * 12000
HUGE = "x" * 20000

# a reference consumer that must see everything through the test
ref = sl.stream("tok12", auto_delete=1)
sl.subscribe("tok12", "/posts/stream/global", ref.cid, subscription_id="g")

# API call with 12 KB of headers
st, h, doc = sl.api("GET", "/stream/0/users/me/streams", "tok12", headers={"X-Pad": BIG})
t.eq(st, 200, "an API call with a 12,000-byte header is served")

# chunked stream with 14 KB of headers, then a 300 KB event
c = sl.stream("tok34", auto_delete=1, headers={"X-Pad": "y" * 14000})
t.eq(c.status, 200, "a chunked stream opened with a 14,000-byte header")
st, h, doc = sl.subscribe("tok34", "/posts/stream/global", c.cid, subscription_id="g")
t.eq(st, 200, "and subscribed")
text = "".join(chr(ord("a") + i % 26) for i in range(300000))
sl.publish(event(1, ["global"], data={"id": "1", "text": text}))
m = c.next(timeout=10)
t.ok(m is not None and m["data"][0]["text"] == text,
     "a 300,000-byte event reaches it whole, byte for byte")
m = ref.next()
t.ok(m is not None, "the reference consumer got it too")

# WebSocket with 14 KB of headers
w = RawWS(sl, "/stream/user?auto_delete=1", "tok56", headers={"X-Pad": "z" * 14000})
t.eq(w.status, 101, "a WebSocket upgrade with a 14,000-byte header")
f = w.recv_frame()
t.ok(f is not None and f[0] == 1 and b'"connection"' in f[1], "and its first message", f)
cid = json.loads(f[1])["meta"]["connection_id"] if f else ""
sl.subscribe("tok56", "/posts/stream/global", cid, subscription_id="g")
sl.publish(event(2, ["global"], data={"id": "2", "text": text}))
got = None
for _ in range(5):
    f = w.recv_frame(5)
    if f is None or f[0] == 1:
        got = f
        break
doc = json.loads(got[1]) if got else {}
t.ok(doc.get("data", [{}])[0].get("text") == text, "a 300,000-byte event over it, whole")
m = c.next(timeout=10)
t.ok(m is not None, "the chunked stream got the second event")
t.ok(ref.next() is not None, "and the reference consumer")

# 20 KB of headers: 431
st, h, body = sl.request("GET", "/stream/0/users/me/streams", "tok12", headers={"X-Pad": HUGE})
t.eq(st, 431, "a 20,000-byte header: 431")
sl.publish(event(3, ["global"]))
m = ref.next()
t.ok(m is not None, "the daemon and the other consumers carried on")

# max_connections = 6 counts the WebSocket session (out of MHD) too:
# ref, c, w and three more WebSockets make six
more = [RawWS(sl, "/stream/user?auto_delete=1", "tok12") for _ in range(3)]
t.eq([x.status for x in more], [101] * 3, "three more WebSockets: six connections")
st, h, doc = sl.api("GET", "/stream/0/users/me/streams", "tok12")
t.eq(st, 503, "a seventh connection: 503, the WebSocket sessions are counted")
more[0].close()
time.sleep(1.0)
st, h, doc = sl.api("GET", "/stream/0/users/me/streams", "tok12")
t.eq(st, 200, "a WebSocket closes: the next request is served")
for x in more[1:]:
    x.close()
w.close()
c.close()
t.ok(sl.alive(), "sluiced still running")
sl.stop(t)
t.done()
