"""User streams over WebSocket (SPEC 4.1, 6) with Python `websockets`
as the client, plus a hand-written client for the misbehaviours."""
import asyncio
import json
import time

import websockets

from sluice import RawWS, Sluice, Tap, event, ws_close
from sluice import ws_recv_ids, ws_recv_json as recv_json

t = Tap()
sl = Sluice(conf={"keepalive_interval": "1s", "ws_max_message": "1K",
                  "max_streams_per_token": "20"})
WS = "ws://127.0.0.1:%d" % sl.port


async def close_code(ws, timeout=3):
    cc = await ws_close(ws, timeout)
    return cc and cc[0]


async def main():
    # -- connect: 101 with Connection-Id, first message names the id
    ws = await websockets.connect(WS + "/stream/user", extra_headers={"Authorization": "Bearer tok12"})
    first = await recv_json(ws)
    t.eq(first["meta"]["type"], "connection", "first message is the connection message")
    cid = first["meta"]["connection_id"]
    t.ok(len(cid) == 32, "it carries the connection_id")
    t.eq(first["meta"]["stream"], {"endpoint": "/stream/user"}, "and the stream endpoint")
    t.eq(ws.response_headers.get("Connection-Id"), cid, "101 response has the Connection-Id header")

    ws34 = await websockets.connect(WS + "/v1/user?access_token=tok34")
    f34 = await recv_json(ws34)
    t.eq(f34["meta"]["stream"]["endpoint"], "/v1/user", "/v1/user with ?access_token= upgrades too")

    st, _, doc = sl.subscribe("tok12", "/posts/stream/global", cid, subscription_id="g")
    sl.subscribe("tok12", "/users/me/mentions", cid, subscription_id="m")
    sl.subscribe("tok34", "/posts/stream/global", f34["meta"]["connection_id"], subscription_id="g34")
    t.eq(st, 200, "subscribe on a WebSocket stream's id")

    sl.publish(event(1, ["global", "mentions:12"]))
    m = await recv_json(ws)
    t.eq(sorted(m["meta"]["subscription_ids"]), ["g", "m"], "one text frame per event, all matching ids")
    t.eq(m["data"], [{"id": "1", "text": "post 1"}], "data as on chunked")
    m34 = await recv_json(ws34)
    t.eq(m34 and m34["meta"]["cursor"], m["meta"]["cursor"], "the other user gets the same event")

    sl.publish(event(2, ["global"], visible_to=["34"]))
    t.eq((await recv_json(ws34))["data"][0]["id"], "2", "private event reaches user 34")
    t.eq(await recv_json(ws, 0.5), None, "but not user 12")

    # a burst arrives whole and in order
    N = 2000
    sl.publish(*[event(100 + i, ["global"]) for i in range(N)])
    got = await ws_recv_ids(ws, N)
    t.eq(got, list(range(100, 100 + N)), "%d events in a burst: all, in order" % N)
    while await recv_json(ws34, 0.2) is not None:
        pass

    # server pings: the client library answers, the stream stays open
    await asyncio.sleep(2.5)
    sl.publish(event(3, ["global"]))
    m = await recv_json(ws)
    t.ok(m and m["data"][0]["id"] == "3", "a client that answers pings stays connected past 2 intervals")

    # takeover: a new consumer of the same id closes the old one with 4001
    ws2 = await websockets.connect(WS + "/stream/user?connection_id=" + cid,
                                   extra_headers={"Authorization": "Bearer tok12"})
    f2 = await recv_json(ws2)
    t.eq(f2["meta"]["connection_id"], cid, "resume by connection_id keeps the id")
    code = await close_code(ws)
    t.eq(code, 4001, "the replaced consumer gets close 4001")
    sl.publish(event(4, ["global"]))
    m = await recv_json(ws2)
    t.eq(m and sorted(m["meta"]["subscription_ids"]), ["g"], "subscriptions survive the takeover")

    # delete the stream: its consumer is closed
    st, h, body = sl.request("DELETE", "/stream/0/users/me/streams/" + cid, "tok12")
    t.eq(st, 204, "DELETE the stream: 204")
    code = await close_code(ws2)
    t.eq(code, 1000, "its WebSocket consumer is closed (1000)")

    # revoke: close 1008 within 1 s
    sl.publish({"op": "token", "action": "grant", "token": "tmp34", "user_id": "34", "client_id": "app1"})
    await asyncio.sleep(0.1)
    wsr = await websockets.connect(WS + "/stream/user?access_token=tmp34")
    await recv_json(wsr)
    sl.publish({"op": "token", "action": "revoke", "token": "tmp34"})
    t0 = time.time()
    code = await close_code(wsr)
    t.ok(code == 1008 and time.time() - t0 < 1.0,
         "revoke closes the WebSocket with 1008 within 1 s (%s, %.3f s)" % (code, time.time() - t0))

    # oversized incoming message -> 1009, the others carry on
    wsb = await websockets.connect(WS + "/stream/user?access_token=tok56")
    await recv_json(wsb)
    await wsb.send("x" * 2000)
    code = await close_code(wsb)
    t.eq(code, 1009, "a message over ws_max_message gets close 1009")
    while await recv_json(ws34, 0.2) is not None:
        pass
    sl.publish(event(5, ["global"]))
    m = await recv_json(ws34)
    t.eq(m and m["data"][0]["id"], "5", "the other clients carry on")
    await ws34.close()

    # auto_delete=1: the stream goes as soon as its consumer does
    wsa = await websockets.connect(WS + "/stream/user?auto_delete=1&access_token=tok56")
    acid = (await recv_json(wsa))["meta"]["connection_id"]
    sl.subscribe("tok56", "/posts/stream/global", acid, subscription_id="g")
    st, _, doc = sl.api("GET", "/stream/0/users/me/streams", "tok56")
    t.ok(acid in [x["connection_id"] for x in doc["data"]], "auto_delete stream listed while open")
    await wsa.close()
    await asyncio.sleep(0.3)
    st, _, doc = sl.api("GET", "/stream/0/users/me/streams", "tok56")
    t.ok(acid not in [x["connection_id"] for x in doc["data"]], "and deleted when its consumer leaves")
    st, _, doc = sl.subscribe("tok56", "/posts/stream/global", acid)
    t.eq(st, 404, "its id is gone")

    # auto_delete and revoke: the stream goes too
    sl.publish({"op": "token", "action": "grant", "token": "tmp56", "user_id": "56", "client_id": "app2"})
    await asyncio.sleep(0.1)
    wsa = await websockets.connect(WS + "/stream/user?auto_delete=1&access_token=tmp56")
    acid = (await recv_json(wsa))["meta"]["connection_id"]
    sl.publish({"op": "token", "action": "revoke", "token": "tmp56"})
    await asyncio.sleep(0.3)
    st, _, doc = sl.api("GET", "/stream/0/users/me/streams", "tok56")
    t.ok(acid not in [x["connection_id"] for x in doc["data"]], "revoking an auto_delete stream's token deletes it")


asyncio.run(main())

# -- what real clients will not do, by hand
bad = RawWS(sl, "/stream/user", "tok56")
t.eq(bad.status, 101, "raw client upgrades")
bad.recv_frame()
bad.send_frame(1, b"\xff\xfe\xfd")
t.eq(bad.recv_close(), 1007, "text that is not UTF-8 gets close 1007")
bad.close()

bad = RawWS(sl, "/stream/user", "tok56")
bad.recv_frame()
bad.send_frame(1, b"hello", mask=False)
t.eq(bad.recv_close(), 1002, "an unmasked client frame gets close 1002")
bad.close()

bad = RawWS(sl, "/stream/user", "tok56")
bad.recv_frame()
bad.send_frame(0x3, b"??")
t.eq(bad.recv_close(), 1002, "a reserved opcode gets close 1002")
bad.close()

bad = RawWS(sl, "/stream/user", "tok56")
bad.recv_frame()
bad.send_frame(1, b"x", rsv=4)
t.eq(bad.recv_close(), 1002, "RSV bits without an extension get close 1002")
bad.close()

# handshake errors come before any upgrade
r = RawWS(sl, "/stream/user", "nope")
t.eq(r.status, 401, "unknown token: 401, no upgrade")
r = RawWS(sl, "/stream/user", "tokapp1")
t.eq(r.status, 403, "app token on a user stream: 403")
r = RawWS(sl, "/stream/user", "tok12", headers={"Sec-WebSocket-Version": "8"})
t.eq(r.status, 426, "unsupported WebSocket version: 426")
r = RawWS(sl, "/stream/user", "tok12", headers={"Sec-WebSocket-Key": "short"})
t.eq(r.status, 400, "malformed Sec-WebSocket-Key: 400")

# a peer that never answers pings is dropped after two intervals
dead = RawWS(sl, "/stream/user", "tok56")
dead.recv_frame()
t0 = time.time()
gone = dead.closed_by_peer(6)
t.ok(gone and 1.5 < time.time() - t0 < 5, "a silent peer is dropped after ~2 keepalive intervals (%.1f s)"
     % (time.time() - t0))
dead.close()

t.ok(sl.alive(), "sluiced still running")
sl.stop(t)
t.done()
