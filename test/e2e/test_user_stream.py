"""User streams over HTTP chunked (SPEC 4.1, 4.3): subscribe, several
users, visible_to, deletes, one message for several subscriptions."""
import json
import os
import subprocess
import time

from sluice import Sluice, Tap, event

t = Tap()
sl = Sluice(conf={"keepalive_interval": "1s"})

# -- connect: header and first bytes
a = sl.stream("tok12")
t.eq(a.status, 200, "GET /stream/user answers 200")
t.ok(a.chunked, "the stream uses chunked transfer")
t.eq(a.headers.get("content-type"), "application/json", "Content-Type is application/json")
t.ok(a.cid is not None and len(a.cid) == 32, "Connection-Id header holds a 128-bit id", a.headers)

b = sl.stream("tok34", path="/v0/user", query_token=True)
t.eq(b.status, 200, "/v0/user with ?access_token= works too")
t.ok(b.cid and b.cid != a.cid, "each stream gets its own connection_id")
c = sl.stream("tok56", path="/v1/user")
t.eq(c.status, 200, "/v1/user alias works")

# -- subscribe
st, _, doc = sl.subscribe("tok12", "/posts/stream/global", a.cid)
t.eq(st, 200, "subscribe to global: 200")
sid_global = doc["meta"].get("subscription_id")
t.ok(sid_global and doc["meta"].get("subscription_ids") == [sid_global],
     "response has subscription_id and subscription_ids", doc)
t.eq(doc["meta"]["connection_id"], a.cid, "response names the connection_id")
t.eq(doc["data"], [], "no backfill data (nothing retained yet)")
t.eq(doc["meta"]["code"], 200, "meta.code is 200")

st, _, doc = sl.subscribe("tok12", "/users/me/mentions", a.cid, subscription_id="my-mentions")
t.eq(doc["meta"].get("subscription_id"), "my-mentions", "client-chosen subscription_id is kept")
st, _, doc = sl.subscribe("tok34", "/posts/stream/global", b.cid, subscription_id="g34")
t.eq(st, 200, "user 34 subscribes to global")
st, _, doc = sl.subscribe("tok56", "/posts/stream/unified", c.cid, subscription_id="u56")
t.eq(st, 200, "user 56 subscribes to unified")
st, _, doc = sl.api("GET", "/v1/posts/stream/global?connection_id=%s&subscription_id=g56" % c.cid, "tok56")
t.eq(st, 200, "/v1 prefix for a subscribe call")

# -- a public event on global reaches everyone subscribed to global
sl.publish(event(1, ["global", "unified:56"]))
m = a.next()
t.ok(m is not None, "user 12 gets the global post")
t.eq(m["meta"]["type"], "post", "meta.type")
t.eq(m["meta"]["connection_id"], a.cid, "meta.connection_id")
t.eq(m["meta"]["subscription_ids"], [sid_global], "meta.subscription_ids")
t.ok(m["meta"]["cursor"].isdigit(), "meta.cursor is decimal digits")
t.eq(m["data"], [{"id": "1", "text": "post 1"}], "data is the list of the object")
t.eq((m["meta"]["min_id"], m["meta"]["max_id"], m["meta"]["more"]), ("1", "1", False), "min_id/max_id/more")
mb = b.next()
t.eq(mb and mb["meta"]["subscription_ids"], ["g34"], "user 34 gets it with its own subscription id")
t.eq(mb and mb["meta"]["cursor"], m["meta"]["cursor"], "same cursor for the same event")
mc = c.next()
t.eq(mc and sorted(mc["meta"]["subscription_ids"]), ["g56", "u56"],
     "two matching subscriptions of one stream: one message with both ids")
t.eq(c.next(0.5), None, "and only one message")

# -- mentions:12 reaches only user 12's mentions subscription
sl.publish(event(2, ["mentions:12"]))
m = a.next()
t.eq(m and m["meta"]["subscription_ids"], ["my-mentions"], "mention goes to the mentions subscription")
t.eq(b.next(0.5), None, "user 34 does not get 12's mention")

# -- visible_to: private events never reach others
sl.publish(event(3, ["global"], type="message", visible_to=["34"]))
mb = b.next()
t.eq(mb and mb["data"][0]["id"], "3", "user 34 (in visible_to) gets the private event")
t.eq(a.next(0.5), None, "user 12 (not in visible_to) does not")
t.eq(c.next(0.3), None, "user 56 (not in visible_to) does not")
sl.publish(event(4, ["global"], visible_to=[]))
t.eq(a.next(0.5), None, "visible_to: [] reaches nobody")

# -- deletes
sl.publish(event(5, ["global"], action="delete"))
m = a.next()
t.ok(m and m["meta"].get("is_deleted") is True, "delete: meta.is_deleted")
t.eq(m and m["meta"].get("deleted_id"), "5", "delete: meta.deleted_id")
t.ok(m and "data" not in m, "delete without data: no data field", m)
sl.publish(event(6, ["global"], action="delete", data={"id": "6", "text": "gone"}))
m = a.next()
t.eq(m and m["data"], [{"id": "6", "text": "gone"}], "delete with data: data is kept")

# -- backend meta merged, reserved keys not overridden
sl.publish(event(7, ["global"], meta={"channel_type": "io.pnut.core.pm", "cursor": "evil",
                                      "suppress_notifications": True}))
m = a.next()
t.eq(m and m["meta"].get("channel_type"), "io.pnut.core.pm", "backend meta is merged")
t.ok(m and m["meta"]["cursor"] != "evil" and m["meta"]["cursor"].isdigit(),
     "backend meta cannot override the cursor")
t.eq(m and m["meta"].get("suppress_notifications"), True, "non-string meta values kept")

# -- order: a burst arrives complete and in cursor order
N = 500
sl.publish(*[event(1000 + i, ["global"]) for i in range(N)])
got = []
while len(got) < N:
    m = a.next(5)
    if m is None:
        break
    got.append(m)
t.eq([g["data"][0]["id"] for g in got], [str(1000 + i) for i in range(N)],
     "a burst of %d events arrives complete and in order" % N)
cursors = [int(g["meta"]["cursor"]) for g in got]
t.ok(cursors == sorted(cursors) and len(set(cursors)) == len(cursors),
     "cursors strictly increase")
b.drain(0.3)
c.drain(0.3)

# -- overwrite: the same subscription_id again replaces the subscription
st, _, doc = sl.subscribe("tok12", "/users/34/posts", a.cid, subscription_id="my-mentions")
t.eq(st, 200, "re-subscribing with an existing id succeeds")
sl.publish(event(8, ["mentions:12"]), event(9, ["posts:34"]))
m = a.next()
t.eq(m and (m["data"][0]["id"], m["meta"]["subscription_ids"]), ("9", ["my-mentions"]),
     "the overwritten subscription follows its new endpoint only")

# -- key listed twice in an event: still one message
sl.publish(event(10, ["global", "global"]))
m = a.next()
t.eq(m and m["meta"]["subscription_ids"], [sid_global], "duplicate keys: one message, one id")
t.eq(a.next(0.4), None, "no duplicate message")

# -- keepalives: a bare \r\n every keepalive_interval on an idle stream
a.drain(0.1)
k0 = a.keepalives
time.sleep(2.6)
a.next(0.2)
t.ok(a.keepalives - k0 >= 1, "idle stream gets keepalive \\r\\n (%d in 2.6 s at 1 s)" % (a.keepalives - k0))

# -- curl -N reads the stream as a developer would
curl = subprocess.Popen(["curl", "-sN", "-H", "Authorization: Bearer tok12",
                         "-D", os.path.join(sl.dir, "curl-headers"),
                         sl.base + "/stream/user"], stdout=subprocess.PIPE)
deadline = time.time() + 5
cid = None
while time.time() < deadline and not cid:
    try:
        for l in open(os.path.join(sl.dir, "curl-headers")):
            if l.lower().startswith("connection-id:"):
                cid = l.split(":", 1)[1].strip()
    except FileNotFoundError:
        pass
    time.sleep(0.05)
t.ok(cid, "curl sees the Connection-Id header")
sl.subscribe("tok12", "/posts/tag/sluice", cid, subscription_id="tag")
sl.publish(event(11, ["tag:sluice"], data={"id": "11", "text": "#sluice works"}))
line = b""
while not line.strip():
    line = curl.stdout.readline()
msg = json.loads(line)
t.eq((msg["meta"]["subscription_ids"], msg["data"][0]["text"]), (["tag"], "#sluice works"),
     "curl -N receives the event as one line")
curl.terminate()
curl.wait()

for s in (a, b, c):
    s.close()
t.ok(sl.alive(), "sluiced still running")
sl.stop(t)
t.done()
