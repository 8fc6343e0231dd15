"""Error paths of the HTTP side (SPEC 3, 4.1, 4.3, 4.4): every rejected
request gets the error envelope, and the daemon and the other clients
carry on."""
import time

from sluice import Sluice, Tap, event

t = Tap()
sl = Sluice(conf={"max_subscriptions": "3", "max_streams_per_token": "2"})
a = sl.stream("tok12")
sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="g")


def err(status, doc, code, name):
    t.eq(status, code, "%s: HTTP %d" % (name, code))
    m = (doc or {}).get("meta", {})
    t.ok(m.get("code") == code and isinstance(m.get("error_message"), str)
         and m.get("error_slug") and "data" not in doc,
         "%s: error envelope with code, error_message, error_slug, no data" % name, doc)


def still_flowing(i):
    sl.publish(event(i, ["global"]))
    m = a.next()
    t.eq(m and m["data"][0]["id"], str(i), "the other client still receives events")


# 401: missing, unknown token
st, h, doc = sl.api("GET", "/stream/user")
err(st, doc, 401, "stream without a token")
st, h, doc = sl.api("GET", "/stream/user", "nope")
err(st, doc, 401, "stream with an unknown token")
st, h, doc = sl.api("GET", "/stream/user?access_token=nope")
err(st, doc, 401, "stream with an unknown ?access_token")
# 403: app token where a user token is needed
st, h, doc = sl.api("GET", "/stream/user", "tokapp1")
err(st, doc, 403, "stream with an app token")
st, h, doc = sl.subscribe("tokapp1", "/posts/stream/global", a.cid)
err(st, doc, 403, "subscribe with an app token")
still_flowing(1)

# 404: unknown paths
st, h, doc = sl.api("GET", "/nothing/here", "tok12")
err(st, doc, 404, "unknown path")
st, h, doc = sl.subscribe("tok12", "/posts/nowhere", a.cid)
err(st, doc, 404, "unknown endpoint under /stream/0")
# 404: a connection_id of another user, or unknown
st, h, doc = sl.subscribe("tok34", "/posts/stream/global", a.cid)
err(st, doc, 404, "subscribe on another user's connection_id")
st, h, doc = sl.subscribe("tok12", "/posts/stream/global", "0" * 32)
err(st, doc, 404, "subscribe on an unknown connection_id")
st, h, doc = sl.subscribe("tok12", "/posts/stream/global", "short")
err(st, doc, 404, "subscribe on a malformed connection_id")
# 400: missing connection_id, bad subscription_id, bad count
st, h, doc = sl.api("GET", "/stream/0/posts/stream/global", "tok12")
err(st, doc, 400, "subscribe without connection_id")
st, h, doc = sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="x" * 65)
err(st, doc, 400, "subscription_id longer than 64")
st, h, doc = sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="has space")
err(st, doc, 400, "subscription_id with a blank")
st, h, doc = sl.subscribe("tok12", "/posts/stream/global", a.cid, count="many")
err(st, doc, 400, "count that is not a number")
# 405
st, h, doc = sl.api("POST", "/stream/user", "tok12", body=b"")
err(st, doc, 405, "POST /stream/user")
st, h, doc = sl.api("PUT", "/stream/0/posts/stream/global?connection_id=" + a.cid, "tok12", body=b"")
err(st, doc, 405, "PUT on a subscribe endpoint")
still_flowing(2)

# App.net creation rules: count < 0 or before_id -> no subscription
st, h, doc = sl.subscribe("tok12", "/users/12/posts", a.cid, count="-5", subscription_id="neg")
t.ok(st == 200 and "subscription_id" not in doc["meta"], "count < 0: 200 but no subscription", doc)
st, h, doc = sl.subscribe("tok12", "/users/12/posts", a.cid, before_id="10", subscription_id="bef")
t.ok(st == 200 and "subscription_id" not in doc["meta"], "before_id: 200 but no subscription", doc)
sl.publish(event(3, ["posts:12"]))
t.eq(a.next(0.5), None, "neither created a subscription")
st, h, doc = sl.subscribe("tok12", "/users/12/posts", "f" * 32, count="-5")
err(st, doc, 404, "count < 0 on an unknown connection_id")
st, h, doc = sl.subscribe("tok34", "/users/12/posts", a.cid, before_id="10")
err(st, doc, 404, "before_id on another user's connection_id")

# 429: max_subscriptions (3 here; "g" is one)
for i in range(2):
    st, h, doc = sl.subscribe("tok12", "/users/%d/posts" % i, a.cid, subscription_id="s%d" % i)
    t.eq(st, 200, "subscription %d of 3" % (i + 2))
st, h, doc = sl.subscribe("tok12", "/users/9/posts", a.cid, subscription_id="s9")
err(st, doc, 429, "fourth subscription over max_subscriptions=3")
t.ok(h.get("retry-after", "").isdigit(), "429 carries Retry-After", h)
st, h, doc = sl.subscribe("tok12", "/users/8/posts", a.cid, subscription_id="s1")
t.eq(st, 200, "overwriting an existing subscription is allowed at the limit")

# 429: max_streams_per_token (2 here; a is one)
b = sl.stream("tok12")
t.eq(b.status, 200, "second stream for the token")
st, h, doc = sl.api("GET", "/stream/user", "tok12")
err(st, doc, 429, "third stream over max_streams_per_token=2")
t.ok(h.get("retry-after", "").isdigit(), "429 carries Retry-After")
still_flowing(4)

# stream management
st, h, doc = sl.api("GET", "/stream/0/users/me/streams", "tok12")
t.eq(st, 200, "list my streams")
mine = {s["connection_id"]: s for s in doc["data"]}
t.eq(set(mine), {a.cid, b.cid}, "the list holds my two streams")
t.eq(sorted(x["subscription_id"] for x in mine[a.cid]["subscriptions"]), ["g", "s0", "s1"],
     "with their subscriptions")
t.eq(mine[a.cid]["connected"], True, "and whether they are connected")
st, h, doc = sl.api("GET", "/stream/0/users/me/streams", "tok34")
t.eq((st, doc["data"]), (200, []), "another user sees none of them")
st, h, doc = sl.api("DELETE", "/stream/0/users/me/streams/" + b.cid, "tok34")
err(st, doc, 404, "deleting another user's stream")
st, h, doc = sl.api("DELETE", "/stream/0/users/me/streams/%s/nope" % a.cid, "tok12")
err(st, doc, 404, "deleting an unknown subscription")
st, h, body = sl.request("DELETE", "/stream/0/users/me/streams/%s/s0" % a.cid, "tok12")
t.eq((st, body), (204, b""), "deleting a subscription: 204, no body")
st, h, body = sl.request("DELETE", "/stream/0/users/me/streams/" + b.cid, "tok12")
t.eq((st, body), (204, b""), "deleting a stream: 204")
t.ok(b.wait_end(2), "the deleted stream's consumer is disconnected")
st, h, doc = sl.api("DELETE", "/stream/0/users/me/streams/" + b.cid, "tok12")
err(st, doc, 404, "deleting it again")

# resume and takeover (chunked): same id, subscriptions kept, old consumer ended
a2 = sl.stream("tok12", connection_id=a.cid)
t.eq(a2.cid, a.cid, "resuming my own connection_id keeps it")
t.ok(a.wait_end(2), "the earlier consumer of that id is ended (takeover)")
sl.publish(event(5, ["global"]))
m = a2.next()
t.eq(m and m["meta"]["subscription_ids"], ["g"], "subscriptions survive the takeover")
c = sl.stream("tok34", connection_id=a.cid)
t.ok(c.status == 200 and c.cid != a.cid, "another user asking for my id gets a new one")
c.close()

# revoking a token nobody has: logged, nothing else changes
sl.publish({"op": "token", "action": "revoke", "token": "no-such-token"})
deadline = time.time() + 3
while "token revoke: no such token" not in sl.log() and time.time() < deadline:
    time.sleep(0.05)
t.ok("token revoke: no such token" in sl.log(), "revoking an unknown token is logged as such")
sl.publish(event(90, ["global"]))
m = a2.next()
t.eq(m and m["data"][0]["id"], "90", "and the streams carry on")

# a revoke ends the streams whose consumer presented that token, and no other
sl.publish({"op": "token", "action": "grant", "token": "tok12b", "user_id": "12",
            "client_id": "app1"})
deadline = time.time() + 3
while sl.api("GET", "/stream/0/users/me/streams", "tok12b")[0] != 200 and time.time() < deadline:
    time.sleep(0.05)
b1 = sl.stream("tok12")
b1b = sl.stream("tok12b", connection_id=b1.cid)
t.eq(b1b.cid, b1.cid, "a second token of the same user resumes a stream made with the first")
b2 = sl.stream("tok12b")
sl.publish({"op": "token", "action": "revoke", "token": "tok12b"})
t.ok(b1b.wait_end(2) and b2.wait_end(2),
     "revoking it ends both streams read with it, whichever token made them")
sl.publish(event(91, ["global"]))
m = a2.next()
t.eq(m and m["data"][0]["id"], "91", "the same user's stream read with the other token carries on")

# revoke through the pipe ends the token's streams within 1 s
sl.publish({"op": "token", "action": "revoke", "token": "tok12"})
t0 = time.time()
ended = a2.wait_end(2)
t.ok(ended and time.time() - t0 < 1.0, "revoke ends the stream within 1 s (%.3f s)" % (time.time() - t0))
st, h, doc = sl.api("GET", "/stream/user", "tok12")
err(st, doc, 401, "the revoked token is refused")

t.ok(sl.alive(), "sluiced still running")
sl.stop(t)
t.done()
