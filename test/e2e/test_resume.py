"""Lossless resume (SPEC 4.2, 5): the replay log gives a returning
consumer every event it missed, in order, exactly once, then the live
stream; over chunked and WebSocket, with and without cursor, during a
burst, on takeover; positions that left the log get a new stream; app
streams resume by cursor, with a gap message when events were lost."""
import asyncio
import json
import threading
import time

import websockets

from sluice import RawWS, Sluice, Tap, event

t = Tap()
sl = Sluice(conf={"keepalive_interval": "5s", "max_streams_per_token": "50"})
WS = "ws://127.0.0.1:%d" % sl.port


def ids(msgs):
    return [int(m["data"][0]["id"]) for m in msgs if m["meta"].get("type") == "post"]


def read_n(s, n, timeout=10):
    out = []
    deadline = time.time() + timeout
    while len(out) < n and time.time() < deadline:
        m = s.next(deadline - time.time())
        if m is None:
            break
        if m["meta"].get("type") == "post":
            out.append(m)
    return out


# ---- chunked: resume replays what was missed, then live ----
s = sl.stream("tok12")
cid = s.cid
sl.subscribe("tok12", "/posts/stream/global", cid, subscription_id="g")
sl.subscribe("tok12", "/users/me/mentions", cid, subscription_id="m")
sl.publish(event(1, ["global"]))
t.eq(ids(read_n(s, 1)), [1], "chunked: live event before the break")
s.close()
time.sleep(0.3)
sl.publish(*[event(i, ["global"] + (["mentions:12"] if i % 5 == 0 else [])) for i in range(2, 51)])
sl.publish(event(51, ["mentions:34"]), event(52, ["global"], visible_to=["34"]))
s = sl.stream("tok12", connection_id=cid)
t.eq(s.cid, cid, "resume keeps the connection_id")
got = read_n(s, 49)
t.eq(ids(got), list(range(2, 51)), "every missed event, in order, exactly once")
t.eq(sorted(got[3]["meta"]["subscription_ids"]), ["g", "m"],
     "a replayed event names every subscription it matched")
t.eq(got[0]["meta"]["subscription_ids"], ["g"], "and only those")
sl.publish(event(53, ["global"]))
live = read_n(s, 1)
t.eq(ids(live), [53], "then live, nothing between (other users' and private events skipped)")
t.ok(int(live[0]["meta"]["cursor"]) > int(got[-1]["meta"]["cursor"]), "cursors increase across the switch")
last_cursor = got[10]["meta"]["cursor"]
s.close()
time.sleep(0.3)

# ---- with cursor: also what was written but not received ----
s = sl.stream("tok12", connection_id=cid, cursor=last_cursor)
t.eq(ids(read_n(s, 50 - 12 + 1 + 1)), list(range(13, 51)) + [53],
     "cursor=C replays everything after C, even what was written before")
s.close()
time.sleep(0.3)
st, _, doc = sl.api("GET", "/stream/user?connection_id=%s&cursor=12x" % cid, "tok12")
t.eq(st, 400, "a malformed cursor: 400")
st, _, doc = sl.api("GET", "/v1/app?key=x&cursor=-1", "tokapp1")
t.eq(st, 400, "on app streams too")

# ---- unsubscribed while away: not replayed ----
st, _, _ = sl.api("DELETE", "/stream/0/users/me/streams/%s/m" % cid, "tok12")
sl.publish(event(60, ["mentions:12"]), event(61, ["global"]))
s = sl.stream("tok12", connection_id=cid)
got = read_n(s, 1)
t.eq([(int(m["data"][0]["id"]), m["meta"]["subscription_ids"]) for m in got], [(61, ["g"])],
     "a subscription deleted while away gives nothing on resume")
t.eq(s.drain(0.3), [], "and nothing more")

# the same subscribe call again (App.net's idempotent overwrite) keeps
# what the subscription is owed
s.close()
time.sleep(0.3)
sl.publish(event(64, ["global"]))
sl.subscribe("tok12", "/posts/stream/global", cid, subscription_id="g")
s = sl.stream("tok12", connection_id=cid)
t.eq(ids(read_n(s, 1)) + ids(s.drain(0.3)), [64],
     "subscribing again with the same call does not lose what it missed")

# a subscription added while away gets only events after it
s.close()
time.sleep(0.3)
sl.publish(event(62, ["tag:x"]))
sl.subscribe("tok12", "/posts/tag/x", cid, subscription_id="t")
sl.publish(event(63, ["tag:x"]))
s = sl.stream("tok12", connection_id=cid)
got = read_n(s, 1)
t.eq(ids(got) + ids(s.drain(0.3)), [63], "a subscription made while away replays only what came after it")
s.close()
time.sleep(0.3)

# ---- takeover: the new consumer continues where the old one's writes got to ----
a = sl.stream("tok12", connection_id=cid)
sl.publish(event(70, ["global"]))
t.eq(ids(read_n(a, 1)), [70], "consumer A reads 70")
b = sl.stream("tok12", connection_id=cid)
t.ok(a.wait_end(3), "takeover ends A")
sl.publish(event(71, ["global"]))
t.eq(ids(read_n(b, 1)) + ids(b.drain(0.3)), [71], "B gets what came after A's last write, once")
b.close()
a.close()
time.sleep(0.3)


# ---- WebSocket: resume during a burst of 10,000 events at full rate ----
async def ws_burst():
    ws = await websockets.connect(WS + "/stream/user?access_token=tok34")
    wcid = json.loads(await ws.recv())["meta"]["connection_id"]
    sl.subscribe("tok34", "/posts/stream/global", wcid, subscription_id="g")
    N = 10000
    done = threading.Event()

    def produce():
        p = sl.producer()
        for i in range(0, N, 100):
            p.sendall("".join(json.dumps(event(100000 + i + k, ["global"])) + "\n"
                              for k in range(100)).encode())
        p.close()
        done.set()

    th = threading.Thread(target=produce)
    th.start()
    first = []
    while len(first) < 2500:
        m = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if m["meta"].get("type") == "post":
            first.append(m)
    # break off abruptly, mid-burst: frames in flight are lost
    ws.transport.abort()
    C = first[-1]["meta"]["cursor"]
    ws = await websockets.connect(WS + "/stream/user?access_token=tok34&connection_id=%s&cursor=%s"
                                  % (wcid, C))
    m0 = json.loads(await ws.recv())
    t.eq(m0["meta"]["connection_id"], wcid, "WebSocket resume mid-burst keeps the id")
    rest = []
    while len(first) + len(rest) < N:
        try:
            m = json.loads(await asyncio.wait_for(ws.recv(), 10))
        except asyncio.TimeoutError:
            break
        if m["meta"].get("type") == "post":
            rest.append(m)
    th.join()
    got = [int(m["data"][0]["id"]) - 100000 for m in first + rest]
    t.eq(len(got), N, "all %d events arrive across the break" % N)
    t.ok(got == list(range(N)), "in order, no gap and no duplicate at the switch-over",
         [x for i, x in enumerate(got) if x != i][:5])
    cur = [int(m["meta"]["cursor"]) for m in first + rest]
    t.ok(all(x < y for x, y in zip(cur, cur[1:])), "cursors strictly increase")
    await ws.close()

asyncio.run(ws_burst())

# ---- a resume of a huge backlog is paced, not dropped as a slow consumer ----
s = sl.stream("tok56")
sl.subscribe("tok56", "/posts/stream/global", s.cid, subscription_id="g")
cid56 = s.cid
s.close()
time.sleep(0.3)
big = "b" * 4000
sl.publish(*[event(200000 + i, ["global"], data={"id": str(200000 + i), "t": big}) for i in range(1000)])
s = sl.stream("tok56", connection_id=cid56)
got = read_n(s, 1000, 20)
t.eq(ids(got), list(range(200000, 201000)),
     "a 4 MB backlog (4x send_buffer_limit) is replayed whole, paced by the reader")
s.close()

# ---- auto_delete and DELETE: nothing to resume ----
s = sl.stream("tok56", auto_delete="1")
acid = s.cid
sl.subscribe("tok56", "/posts/stream/global", acid, subscription_id="g")
s.close()
sl.publish(event(210000, ["global"]))      # the next write finds it gone
time.sleep(0.5)
st, _, doc = sl.api("GET", "/stream/0/users/me/streams", "tok56")
t.ok(acid not in [x["connection_id"] for x in doc["data"]],
     "chunked auto_delete=1: the stream goes with its consumer", doc)
s = sl.stream("tok56", connection_id=acid)
t.ok(s.cid != acid, "and a resume of it gets a new id")
dcid = s.cid
st, _, _ = sl.api("DELETE", "/stream/0/users/me/streams/" + dcid, "tok56")
t.eq(st, 204, "DELETE of a connected stream: 204")
t.ok(s.wait_end(3), "its chunked consumer is ended")
s.close()
s = sl.stream("tok56", connection_id=dcid)
t.ok(s.cid != dcid, "a deleted stream cannot be resumed: new id")
s.close()
s = sl.stream("tok34", connection_id=cid)
t.ok(s.cid != cid, "another user's connection_id: a new id, nothing of it replayed")
t.eq(len(s.drain(0.3)), 0, "and no events")
s.close()

t.ok(sl.alive(), "sluiced still running")
sl.stop(t)

# ---- a position that left the log: a new stream ----
sl = Sluice(conf={"replay_max_bytes": "64K", "replay_window": "2s"})
s = sl.stream("tok12")
old = s.cid
sl.subscribe("tok12", "/posts/stream/global", old, subscription_id="g")
s.close()
time.sleep(0.3)
sl.publish(*[event(i, ["global"], data={"id": str(i), "t": "x" * 1000}) for i in range(200)])
s = sl.stream("tok12", connection_id=old)
t.ok(s.cid and s.cid != old, "a position evicted from the log (replay_max_bytes): a new connection_id")
st, _, doc = sl.api("GET", "/stream/0/users/me/streams", "tok12")
t.eq([x["connection_id"] for x in doc["data"]], [s.cid], "the old stream is gone")
sl.subscribe("tok12", "/posts/stream/global", s.cid, subscription_id="g")
s.close()
time.sleep(2.6)
s = sl.stream("tok12", connection_id=s.cid)
t.ok(s.cid not in (None, old), "a stream without consumer for replay_window is deleted: new id")
s.close()

# ---- app streams: cursor resume and the gap message ----
sl.api("POST", "/stream/0/streams", "tokapp1", headers={"Content-Type": "application/json"},
       body=json.dumps({"object_types": ["post"], "type": "long_poll", "key": "r"}).encode())


def app_frames(ws, n, timeout=5):
    out = []
    while len(out) < n:
        f = ws.recv_frame(timeout)
        if f is None:
            break
        if f[0] == 1:
            out.append(json.loads(f[1]))
    return out


sl.publish(*[event(300 + i, [], data={"id": str(300 + i)}) for i in range(5)])
a = RawWS(sl, "/v1/app?key=r&access_token=tokapp1")
app_frames(a, 1)
sl.publish(event(310, []), event(311, [], type="follow"), event(312, []))
got = app_frames(a, 2)
t.eq([m["meta"]["id"] for m in got], ["310", "312"], "app stream live")
c310 = got[0]["meta"]["cursor"]
a.close()
time.sleep(0.2)
sl.publish(event(313, []))
a = RawWS(sl, "/v1/app?key=r&access_token=tokapp1&cursor=" + c310)
got = app_frames(a, 3)
t.eq(got[0]["meta"]["type"], "connection", "cursor resume: the connection message first")
t.eq([m["meta"]["id"] for m in got[1:]], ["312", "313"],
     "then the retained events of its types after the cursor")
sl.publish(event(314, []))
t.eq([m["meta"]["id"] for m in app_frames(a, 1)], ["314"], "then live")
a.close()
time.sleep(0.2)
sl.publish(*[event(400 + i, [], data={"id": str(400 + i), "t": "x" * 1000}) for i in range(200)])
a = RawWS(sl, "/v1/app?key=r&access_token=tokapp1&cursor=" + c310)
got = app_frames(a, 3)
gap = got[1]["meta"]
t.eq((gap.get("type"), gap.get("from")), ("gap", c310), "a cursor older than the log: a gap message")
t.ok(int(gap["to"]) == int(got[2]["meta"]["cursor"]) and got[2]["meta"]["id"] != "312",
     "its 'to' is the oldest retained event, which comes next", (gap, got[2]["meta"]))
a.close()
# ---- replay overrun: the log evicts a paused consumer's replay position ----
# (the backlog is far larger than loopback's socket buffers, so the
# replay is still under way when the log moves on)
sl.stop(t)
sl = Sluice(conf={"send_buffer_limit": "64K", "replay_max_bytes": "24M"})
bigtext = "o" * 16000
sl.api("POST", "/stream/0/streams", "tokapp1", headers={"Content-Type": "application/json"},
       body=json.dumps({"object_types": ["post"], "type": "long_poll", "key": "o"}).encode())
s = sl.stream("tok12")
ocid = s.cid
sl.subscribe("tok12", "/posts/stream/global", ocid, subscription_id="g")
s.close()
time.sleep(0.3)
a = RawWS(sl, "/v1/app?key=o&access_token=tokapp1")
sl.publish(event(499, ["global"]))
app_cursor = None
while app_cursor is None:
    f = a.recv_frame(5)
    m = json.loads(f[1])
    app_cursor = m["meta"].get("cursor") if m["meta"]["type"] == "post" else None
a.close()
sl.publish(*[event(500 + i, ["global"], data={"id": str(500 + i), "t": bigtext}) for i in range(600)])
time.sleep(0.3)
w = RawWS(sl, "/stream/user?connection_id=" + ocid, "tok12", rcvbuf=4096)
a = RawWS(sl, "/v1/app?key=o&access_token=tokapp1&cursor=" + app_cursor, rcvbuf=4096)
time.sleep(0.5)        # both replays pause: socket buffers and queues full
sl.publish(*[event(2000 + i, ["global"], data={"id": str(2000 + i), "t": bigtext})
             for i in range(1200)])
time.sleep(0.5)


def read_to_close(ws):
    n = 0
    while True:
        f = ws.recv_frame(5)
        if f is None:
            return n, None
        if f[0] == 8:
            return n, (int.from_bytes(f[1][:2], "big"), f[1][2:].decode())
        n += 1


n, cc = read_to_close(w)
t.eq(cc, (1008, "replay overrun"),
     "a user-stream consumer the log overtook while it caught up: close 1008 replay overrun")
t.ok(0 < n < 600, "after the part of its replay it had been sent (%d messages)" % n)
n, cc = read_to_close(a)
t.eq(cc, (1008, "replay overrun"), "an app-stream consumer likewise")
t.ok("replay overrun" in sl.log(), "the overrun is logged")
w.close()
a.close()
s = sl.stream("tok12", connection_id=ocid)
t.ok(s.cid != ocid, "its next resume gets a new stream: its position has left the log")
s.close()
t.ok(sl.alive(), "sluiced still running")

sl.stop(t)
t.done()
