"""App streams (SPEC 5, proto/appstreams.md): the management API with
app tokens, WebSocket connect by key, object types, authorization
through visible_to and the user tokens of the app, the in-use limit,
the client keepalive, revocation, deletion and live PUT. Python
`websockets` is the client; RawWS looks at what it hides."""
import asyncio
import json
import time

import websockets

from sluice import RawWS, Sluice, Tap, event, ws_close as close_code
from sluice import ws_recv_ids, ws_recv_json as recv_json

t = Tap()
sl = Sluice(conf={"max_app_streams": "2"})
WS = "ws://127.0.0.1:%d" % sl.port
J = {"Content-Type": "application/json"}


def post(body, token="tokapp1", path="/stream/0/streams"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return sl.api("POST", path, token, headers=J, body=raw)


def put(key, body, token="tokapp1"):
    return sl.api("PUT", "/stream/0/streams/" + key, token, headers=J,
                  body=json.dumps(body).encode())


def err(doc):
    return doc and doc["meta"].get("error_message", "")


# ---- the management API ----
st, _, doc = post({"object_types": ["post"], "type": "long_poll", "key": "k1"}, token="tok12")
t.eq(st, 403, "a user token cannot create app streams")
st, _, doc = post({"object_types": ["post"], "type": "long_poll", "key": "k1"}, token=None)
t.eq(st, 401, "no token: 401")
st, _, doc = post({"object_types": ["post"], "type": "long_poll", "key": "k1"}, token="nope")
t.eq(st, 401, "unknown token: 401")

st, _, doc = post({"object_types": ["post", "message"], "type": "long_poll", "key": "k1"})
t.eq(st, 201, "POST creates a stream: 201")
t.eq(doc["meta"]["code"], 201, "envelope meta.code 201")
obj = doc["data"]
t.eq((obj["key"], obj["type"], obj["object_types"]), ("k1", "long_poll", ["post", "message"]),
     "the stream object has key, type and object_types")
t.ok(obj["id"].isdigit(), "and an id", obj)
t.eq(obj["endpoint"], "ws://127.0.0.1/v1/app?key=k1", "and the endpoint to connect to")

st, _, doc = post({"object_types": ["message"], "type": "long_poll"}, path="/v1/streams")
t.eq(st, 201, "/v1/streams creates too, without a key")
genkey = doc["data"]["key"]
t.ok(len(genkey) == 32 and all(c in "0123456789abcdef" for c in genkey), "a key is generated", genkey)

bad = [
    ({"object_types": ["post"], "type": "long_poll", "key": "k1"}, 400, "key", "a key already used by the app"),
    ({"object_types": ["post"], "type": "stream", "key": "k9"}, 400, "long_poll", "a type other than long_poll"),
    ({"object_types": ["post"], "key": "k9"}, 400, "type", "no type"),
    ({"object_types": ["posts"], "type": "long_poll"}, 400, "posts", "an unknown object type, named"),
    ({"object_types": [], "type": "long_poll"}, 400, "object_types", "an empty object_types"),
    ({"type": "long_poll"}, 400, "object_types", "no object_types"),
    ({"object_types": "post", "type": "long_poll"}, 400, "object_types", "object_types not a list"),
    ({"object_types": ["post", "post"], "type": "long_poll"}, 400, "twice", "a type listed twice"),
    ({"object_types": ["post"], "type": "long_poll", "key": "a-b"}, 400, "key", "a key with a dash"),
    ({"object_types": ["post"], "type": "long_poll", "key": "x" * 33}, 400, "key", "a 33-character key"),
    ({"object_types": ["post"], "type": "long_poll", "colour": 1}, 400, "colour", "an unknown member, named"),
    ({"object_types": ["post"], "type": "long_poll", "filter": {"match_policy": "include_any", "clauses": []}},
     400, "filter.clauses", "a filter without clauses"),
    (b"{not json", 400, "JSON", "a body that is not JSON"),
    (b"[1,2]", 400, "object", "a body that is not an object"),
    (b"", 400, "JSON", "an empty body"),
    (b'{"object_types":["post"],"type":"long_poll","pad":"' + b"x" * 70000 + b'"}', 400, "larger",
     "a body over 64 KiB"),
]
for body, code, word, name in bad:
    st, _, doc = post(body)
    t.ok(st == code and word in err(doc), "POST with %s: %d naming it" % (name, code),
         "status %r, %r" % (st, doc))
st, _, doc = sl.api("GET", "/stream/0/streams", "tokapp1")
t.eq([s["key"] for s in doc["data"]], ["k1", genkey], "GET lists the app's streams, oldest first")

for i in range(3):
    st, _, doc = post({"object_types": ["follow"], "type": "long_poll", "key": "extra%d" % i})
    t.eq(st, 201, "stream %d of 5" % (i + 3))
st, h, doc = post({"object_types": ["follow"], "type": "long_poll", "key": "sixth"})
t.eq(st, 429, "a sixth stream: 429")
t.ok("retry-after" in h, "with Retry-After", h)
for i in range(3):
    sl.api("DELETE", "/stream/0/streams/extra%d" % i, "tokapp1")

st, _, doc = sl.api("GET", "/stream/0/streams/k1", "tokapp1")
t.eq((st, doc["data"]["key"]), (200, "k1"), "GET one stream")
st, _, doc = sl.api("GET", "/stream/0/streams/k1", "tokapp2")
t.eq(st, 404, "another app's key is unknown to it")
st, _, doc = sl.api("GET", "/stream/0/streams", "tokapp2")
t.eq(doc["data"], [], "another app lists none of them")
st, _, doc = sl.api("GET", "/stream/0/streams/nosuch", "tokapp1")
t.eq(st, 404, "unknown key: 404")
st, _, doc = sl.api("PUT", "/stream/0/streams", "tokapp1", headers=J, body=b"{}")
t.eq(st, 405, "PUT on the collection: 405")
st, _, doc = post({"object_types": ["post"], "type": "long_poll"}, path="/stream/0/streams/k1")
t.eq(st, 405, "POST on a stream: 405")
st, _, doc = put("k1", {"object_types": ["post"], "key": "other"})
t.eq(st, 400, "PUT cannot change the key")
st, _, doc = put("nosuch", {"object_types": ["post"]})
t.eq(st, 404, "PUT on an unknown key: 404")
st, _, doc = put("k1", {"object_types": ["post", "message", "file"], "type": "long_poll"})
t.eq((st, doc["data"]["object_types"]), (200, ["post", "message", "file"]), "PUT replaces object_types")
put("k1", {"object_types": ["post", "message"]})
st, _, doc = sl.api("DELETE", "/stream/0/streams/" + genkey, "tokapp1")
t.eq((st, doc["data"]["key"]), (200, genkey), "DELETE answers the deleted stream")
st, _, doc = sl.api("GET", "/stream/0/streams/" + genkey, "tokapp1")
t.eq(st, 404, "then it is gone")

# ---- connecting ----
st, h, doc = sl.api("GET", "/v0/apps?key=k1", "tok12")
t.eq(st, 403, "a user token cannot open an app stream")
st, h, doc = sl.api("GET", "/v0/apps?key=nosuch", "tokapp1")
t.eq(st, 404, "unknown key: 404")
st, h, doc = sl.api("GET", "/v0/apps", "tokapp1")
t.eq(st, 400, "no key: 400")
st, h, doc = sl.api("GET", "/v0/apps?key=k1", "tokapp1")
t.ok(st == 426 and "WebSocket" in err(doc), "a plain GET: 426, app streams are WebSocket only", doc)
raw = RawWS(sl, "/v1/app?key=nosuch&access_token=tokapp1")
t.eq(raw.status, 404, "unknown key over WebSocket: 404 before the upgrade")
raw.close()


async def connect(key, token="tokapp1", path="/v0/apps"):
    ws = await websockets.connect(WS + "%s?access_token=%s&key=%s" % (path, token, key),
                                  ping_interval=None)
    return ws, await recv_json(ws)


async def main():
    ws, first = await connect("k1")
    m = first["meta"]
    t.eq((m["type"], m["stream"]), ("connection", {"key": "k1", "object_types": ["post", "message"]}),
         "first message: connection, with the stream's key and object_types")
    t.ok(len(m["connection_id"]) == 32, "and a connection_id")
    t.eq(ws.response_headers.get("Connection-Id"), m["connection_id"], "101 carries Connection-Id")

    # a user stream alongside, to show that both kinds are served
    us = await websockets.connect(WS + "/stream/user?access_token=tok34")
    ucid = (await recv_json(us))["meta"]["connection_id"]
    sl.subscribe("tok34", "/posts/stream/global", ucid, subscription_id="g")

    sl.publish(event(1, ["global"], meta={"x_extra": [1, 2]}))
    msg = await recv_json(ws)
    mm = msg["meta"]
    t.eq((mm["type"], mm["id"]), ("post", "1"), "a public post arrives: meta.type and meta.id")
    t.ok(isinstance(mm["timestamp"], int) and abs(mm["timestamp"] / 1000 - time.time()) < 60,
         "meta.timestamp is the ingest time in ms", mm)
    t.ok(mm["cursor"].isdigit(), "meta.cursor")
    t.eq(mm["x_extra"], [1, 2], "backend meta is merged in")
    t.eq(msg["data"], {"id": "1", "text": "post 1"}, "data is the object itself")
    t.ok("connection_id" not in mm and "subscription_ids" not in mm, "no user-stream fields", mm)
    um = await recv_json(us)
    t.eq(um and um["meta"]["cursor"], mm["cursor"], "the user stream gets the same event, same cursor")

    sl.publish(event(2, [], type="follow"), event(3, [], type="message",
               data={"id": "3", "channel_id": "7", "text": "hi"},
               meta={"channel_type": "io.pnut.core.chat"}))
    msg = await recv_json(ws)
    t.eq((msg["meta"]["type"], msg["meta"]["id"], msg["meta"].get("channel_type")),
         ("message", "3", "io.pnut.core.chat"), "a type not asked for (follow) is skipped; message arrives")

    sl.publish(event(4, [], type="post", action="delete"))
    msg = await recv_json(ws)
    t.eq((msg["meta"].get("is_deleted"), msg["meta"].get("deleted_id"), "data" in msg),
         (True, "4", False), "a delete without data: is_deleted, deleted_id, no data")

    # authorization: 12 and 34 have app1 tokens, 56 has only an app2 token
    sl.publish(event(5, [], visible_to=["56"]), event(6, [], visible_to=["99", "12"]),
               event(7, [], visible_to=[]))
    msg = await recv_json(ws)
    t.eq(msg["meta"]["id"], "6", "private events reach the app only when a listed user authorized it")
    t.eq(await recv_json(ws, 0.3), None, "and nothing else")

    # a grant through the pipe authorizes at once; its revoke stops it
    sl.publish({"op": "token", "action": "grant", "token": "tok77", "user_id": "77", "client_id": "app1"})
    sl.publish(event(8, [], visible_to=["77"]))
    msg = await recv_json(ws)
    t.eq(msg and msg["meta"]["id"], "8", "a user who grants a token to the app authorizes it at once")
    sl.publish({"op": "token", "action": "revoke", "token": "tok77"})
    sl.publish(event(9, [], visible_to=["77"]), event(10, []))
    msg = await recv_json(ws)
    t.eq(msg and msg["meta"]["id"], "10", "after the revoke, that user's private events stop at once")

    # a burst, in cursor order
    N = 2000
    sl.publish(*[event(1000 + i, []) for i in range(N)])
    got = await ws_recv_ids(ws, N, key="meta")
    t.eq(got, list(range(1000, 1000 + N)), "a burst of %d arrives whole and in order" % N)
    while await recv_json(us, 0.3) is not None:
        pass

    # client text is answered with "pong"
    await ws.send("hello?")
    r = await asyncio.wait_for(ws.recv(), 5)
    t.eq(r, "pong", "client text is answered with pong")

    # the in-use limit: 2 connections for app1, whatever the key
    ws2, f2 = await connect("k1", path="/stream/app")
    t.eq(f2["meta"]["type"], "connection", "a second connection (/stream/app)")
    raw = RawWS(sl, "/v1/app?key=k1&access_token=tokapp1")
    t.eq(raw.status, 429, "a third: 429 before the upgrade")
    t.ok("retry-after" in raw.headers, "with Retry-After", raw.headers)
    raw.close()
    post({"object_types": ["post"], "type": "long_poll", "key": "k2"}, token="tokapp2")
    ws3, f3 = await connect("k2", token="tokapp2")
    t.eq(f3["meta"]["stream"]["key"], "k2", "another app is not limited by app1's connections")
    await ws2.close()
    await asyncio.sleep(0.3)
    ws2, f2 = await connect("k1", path="/v1/app")
    t.eq(f2["meta"]["type"], "connection", "once one closes, the slot is free again")

    # PUT applies to open connections at once
    st, _, doc = put("k1", {"object_types": ["follow"]})
    t.eq(st, 200, "PUT while connected")
    sl.publish(event(20, [], type="post"), event(21, [], type="follow"))
    msg = await recv_json(ws)
    t.eq(msg and (msg["meta"]["type"], msg["meta"]["id"]), ("follow", "21"),
         "the open connection follows the new object_types without a reconnect")
    m3 = await recv_json(ws3)
    t.eq(m3 and m3["meta"]["id"], "20", "app2's stream still gets posts")

    # revoking the app token closes its connections within 1 s
    sl.publish({"op": "token", "action": "grant", "token": "tokapp1b", "client_id": "app1", "app": True})
    await asyncio.sleep(0.2)
    await ws2.close()
    ws2, _ = await connect("k1", token="tokapp1b")
    t0 = time.time()
    sl.publish({"op": "token", "action": "revoke", "token": "tokapp1b"})
    cc = await close_code(ws2, 3)
    t.eq(cc and cc[0], 1008, "revoking the app token closes its stream with 1008")
    t.ok(cc and time.time() - t0 < 1.0, "within 1 s (%.3f s)" % (time.time() - t0))
    t.eq(await recv_json(ws, 0.2), None, "the connection of the other app token stays open")

    # deleting the stream closes its consumers with 1000
    st, _, doc = sl.api("DELETE", "/stream/0/streams/k1", "tokapp1")
    cc = await close_code(ws, 3)
    t.eq(cc, (1000, "stream deleted"), "DELETE of the stream closes its connection: 1000")
    sl.publish(event(30, ["global"]))
    m3 = await recv_json(ws3)
    t.eq(m3 and m3["meta"]["id"], "30", "the other app's stream carries on")
    um = await recv_json(us)
    t.eq(um and um["data"][0]["id"], "30", "and so does the user stream")
    await ws3.close()
    await us.close()


asyncio.run(main())
t.ok(sl.alive(), "sluiced still running")
sl.stop(t)

# ---- the client keepalive, on a gateway of its own ----
sl = Sluice(conf={"app_keepalive": "2s", "keepalive_interval": "1s"})
WS = "ws://127.0.0.1:%d" % sl.port
post({"object_types": ["post"], "type": "long_poll", "key": "ka"})


async def keepalive():
    quiet, _ = await connect("ka")         # its library answers pings only
    talker, _ = await connect("ka")
    t0 = time.time()
    code = None
    while time.time() - t0 < 6:
        await talker.send("ka")
        try:
            await asyncio.wait_for(quiet.recv(), 0.5)
        except asyncio.TimeoutError:
            pass
        except websockets.ConnectionClosed as e:
            code = (e.code, e.reason)
            break
    t.eq(code, (1008, "keepalive"), "a client that sends nothing (pongs aside) is closed: 1008 keepalive")
    t.ok(1.9 < time.time() - t0 < 4.5, "after about app_keepalive (%.1f s)" % (time.time() - t0))
    end = time.time() + 3
    pongs = 0
    while time.time() < end:
        await talker.send("ka")
        if await asyncio.wait_for(talker.recv(), 2) == "pong":
            pongs += 1
        await asyncio.sleep(0.5)
    t.ok(pongs >= 5 and talker.open, "a client that sends text keeps its stream (%d pongs)" % pongs)
    await talker.close()

asyncio.run(keepalive())
# a stop says "going away" to app streams too
raw = RawWS(sl, "/v1/app?key=ka&access_token=tokapp1")
t.eq(json.loads(raw.recv_frame()[1])["meta"]["type"], "connection", "raw app client connected")
sl.stop(t)
t.eq(raw.recv_close(), 1001, "SIGTERM closes app streams with 1001")
raw.close()
t.done()
