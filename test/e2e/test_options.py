"""Display options per connection and filter options per subscription
(SPEC 4.5), over HTTP chunked and WebSocket, live and on resume."""
import asyncio
import json
import time

import websockets

from sluice import Sluice, Tap, event, ws_close
from sluice import ws_recv_json as recv_json

t = Tap()
sl = Sluice(conf={"keepalive_interval": "1s", "max_streams_per_token": "50"})
WS = "ws://127.0.0.1:%d" % sl.port

# Integers past a double's 53 bits (snowflake ids, uint64 counters) must
# arrive as the backend wrote them through every renderer; Python's json
# reads them exactly, so each comparison below checks them.
POST = {
    "id": "1",
    "snowflake": 1234567890123456789,
    "e17": 100000000000000000,
    "content": {"text": "hello", "html": "<p>hello</p>"},
    "raw": {"io.example.post": [{"k": 1, "n": 18446744073709551615}]},
    "annotations": [{"type": "net.app.core.oembed", "value": {"html": "<iframe>"}}],
    "user": {"id": "9", "username": "nine", "content": {"html": "<p>bio</p>"},
             "big": [-9223372036854775808, 9007199254740993, "9007199254740993"],
             "raw": {"io.example.user": [{"k": 2}]},
             "annotations": [{"type": "x", "value": {}}]},
}


def without(obj, *paths):
    """A deep copy of obj with the members at the given paths removed."""
    o = json.loads(json.dumps(obj))
    for p in paths:
        cur = o
        parts = p.split("/")
        for k in parts[:-1]:
            cur = cur[k]
        del cur[parts[-1]]
    return o


def stream_and_sub(token="tok12", endpoint="/posts/stream/global", sub=None, **display):
    s = sl.stream(token, **display)
    st, _, doc = sl.subscribe(token, endpoint, s.cid, **(sub or {}))
    assert st == 200, doc
    return s


# ---------------- display options ----------------
cases = [
    ({}, without(POST, "raw", "annotations", "user/raw", "user/annotations"),
     "defaults: raw and annotations removed everywhere, html kept"),
    ({"include_html": 0}, without(POST, "raw", "annotations", "user/raw", "user/annotations",
                                  "content/html", "user/content/html"),
     "include_html=0 removes html at every depth"),
    ({"include_raw": 1}, without(POST, "annotations", "user/annotations"),
     "include_raw=1 keeps every raw"),
    ({"include_annotations": 1}, without(POST, "raw", "user/raw"),
     "include_annotations=1 keeps every annotation, html inside them untouched"),
    ({"include_user_raw": 1}, without(POST, "raw", "annotations", "user/annotations"),
     "include_user_raw=1 keeps the user's raw only"),
    ({"include_post_raw": 1}, without(POST, "annotations", "user/annotations"),
     "include_post_raw=1 keeps the post's raw and its children's (pnut)"),
    ({"include_user_annotations": 1, "include_html": 0},
     without(POST, "raw", "annotations", "user/raw", "content/html", "user/content/html"),
     "include_user_annotations=1 with include_html=0"),
    ({"include_raw": "true", "include_annotations": "true"}, POST, "everything, with true for 1"),
]
streams = [(stream_and_sub(**opts), want, name) for opts, want, name in cases]
sl.publish(event(1, ["global"], data=POST))
for s, want, name in streams:
    m = s.next()
    t.eq(m and m["data"], [want], "chunked: " + name)
    if m and name.startswith("defaults"):
        t.ok(type(m["data"][0]["e17"]) is int, "an integer of 18 digits is sent as written (not 1e+17)",
             m["data"][0]["e17"])

# an event with none of these fields is the same for every connection
plain = {"id": "2", "content": {"text": "plain"}}
sl.publish(event(2, ["global"], data=plain))
got = [s.next() for s, _, _ in streams]
t.ok(all(m and m["data"] == [plain] for m in got), "an object without html/raw/annotations reaches all alike")


async def ws_display():
    ws = await websockets.connect(WS + "/stream/user?include_html=0&include_raw=1",
                                  extra_headers={"Authorization": "Bearer tok12"})
    first = await recv_json(ws)
    cid = first["meta"]["connection_id"]
    sl.subscribe("tok12", "/posts/stream/global", cid)
    sl.publish(event(3, ["global"], data=dict(POST, id="3")))
    m = await recv_json(ws)
    want = without(dict(POST, id="3"), "annotations", "user/annotations", "content/html", "user/content/html")
    t.eq(m and m["data"], [want], "WebSocket: include_html=0&include_raw=1")
    await ws_close(ws)
    return cid

asyncio.run(ws_display())
for s, _, _ in streams:
    s.next(timeout=2)        # event 3 on the chunked ones

# bad display options: 400 naming the option, before any stream exists
for q, opt in [("include_html=2", "include_html"), ("include_raw=yes", "include_raw"),
               ("include_file_annotations=", "include_file_annotations")]:
    st, _, doc = sl.api("GET", "/stream/user?" + q, "tok12")
    t.eq(st, 400, "bad display option %s: 400" % q)
    t.ok(doc and opt in doc["meta"].get("error_message", ""), "the message names %s" % opt, doc)


async def ws_bad():
    try:
        await websockets.connect(WS + "/stream/user?include_html=7",
                                 extra_headers={"Authorization": "Bearer tok12"})
        return None
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code
t.eq(asyncio.run(ws_bad()), 400, "a bad display option on a WebSocket upgrade: 400 before the upgrade")
sl.publish(event(4, ["global"]))
t.ok(all(s.next() is not None for s, _, _ in streams), "after the rejected calls every stream still gets events")

# app streams get every object whole: raw, annotations and html
st, _, doc = sl.api("POST", "/stream/0/streams", "tokapp1",
                    body=json.dumps({"object_types": ["post"], "type": "long_poll", "key": "whole"}).encode(),
                    headers={"Content-Type": "application/json"})
t.eq(st, 201, "an app stream is created")


async def app_whole():
    ws = await websockets.connect(WS + "/v0/apps?key=whole&access_token=tokapp1")
    await recv_json(ws)
    sl.publish(event(5, ["global"], data=dict(POST, id="5")))
    m = await recv_json(ws)
    await ws_close(ws)
    return m
m = asyncio.run(app_whole())
t.eq(m and m["data"], dict(POST, id="5"), "an app stream receives the object whole")
for s, _, _ in streams:
    s.next(timeout=2)
    s.close()

# ---------------- filter options ----------------
a = sl.stream("tok12")


def sub(endpoint, sid, **opts):
    st, _, doc = sl.subscribe("tok12", endpoint, a.cid, subscription_id=sid, **opts)
    t.eq(st, 200, "subscribe %s %s" % (sid, opts))
    return doc


sub("/posts/stream/global", "all")
sub("/posts/stream/global", "nodel", include_deleted=0)
sub("/posts/stream/global", "machine", include_machine=1)
sub("/posts/stream", "home")                                  # include_directed_posts defaults to 0 here
sub("/posts/stream", "home_dir", include_directed_posts=1)
sub("/users/me/files", "files")
sub("/users/me/files", "files_strict", include_incomplete=0, include_private=0)
sub("/users/me/files", "images", file_types="io.example.image,io.example.photo")
sub("/users/me/channels", "chans")
sub("/users/me/channels", "pms", channel_types="io.pnut.core.pm")


def expect(rec, want, name):
    sl.publish(rec)
    m = a.next()
    got = sorted(m["meta"]["subscription_ids"]) if m else None
    t.eq(got, sorted(want) if want else None, name)
    if m is None:
        return
    # nothing else was queued for this event
    t.eq(m["data"][0]["id"] if m.get("data") else m["meta"].get("deleted_id"), rec["id"], name + " (the right event)")


expect(event(10, ["global"]), ["all", "nodel", "machine"], "a plain post reaches every global subscription")
expect(event(11, ["global"], data={"id": "11", "is_machine": True}), ["machine"],
       "a machine post: only include_machine=1")
expect(event(12, ["global"], action="delete", data={"id": "12", "is_deleted": True}), ["all", "machine"],
       "a delete: not to include_deleted=0")
expect(event(13, ["global"], action="delete"), ["all", "machine"], "a delete without data: not to include_deleted=0")
expect(event(14, ["stream:12", "global"], data={"id": "14", "content": {"text": "@bob hi"}}),
       ["all", "nodel", "machine", "home_dir"], "a directed post: not on /posts/stream by default, yes elsewhere")
expect(event(15, ["stream:12"], data={"id": "15", "content": {"text": "hi @bob"}}), ["home", "home_dir"],
       "a mention later in the text is not directed")
expect(event(16, ["stream:12"], data={"id": "16", "text": "@bob hello"}), ["home_dir"],
       "App.net's `text` starting with a mention is directed too")
expect(event(17, ["files:12"], type="file", data={"id": "17", "type": "io.example.image",
                                                    "is_complete": True, "is_public": True}),
       ["files", "files_strict", "images"], "a complete public image file reaches all file subscriptions")
expect(event(18, ["files:12"], type="file", data={"id": "18", "type": "io.example.doc",
                                                    "is_complete": False, "is_public": True}),
       ["files"], "an incomplete file of another type: only the unfiltered one")
expect(event(19, ["files:12"], type="file", data={"id": "19", "type": "io.example.photo",
                                                    "is_complete": True, "is_public": False}),
       ["files", "images"], "a private photo: not to include_private=0")
expect(event(20, ["channels:12"], type="message", data={"id": "20", "channel_id": "5"},
             meta={"channel_type": "io.pnut.core.pm"}), ["chans", "pms"],
       "a PM message (meta.channel_type) passes channel_types")
expect(event(21, ["channels:12"], type="message", data={"id": "21", "channel_id": "6"},
             meta={"channel_type": "io.pnut.core.chat"}), ["chans"],
       "a chat message does not")
expect(event(22, ["channels:12"], type="channel", data={"id": "22", "type": "io.pnut.core.pm"}), ["chans", "pms"],
       "a channel's own type counts")
expect(event(23, ["channels:12"], type="channel", data={"id": "23"}), ["chans"],
       "a channel of unknown type does not pass a channel_types filter")
sl.publish(event(24, ["stream:12"], data={"id": "24", "is_machine": True}))
sl.publish(event(25, ["global"]))
m = a.next()
t.eq(m and m["data"][0]["id"], "25", "an event every subscription filters out is not sent at all")

# listing shows each subscription's options
st, _, doc = sl.api("GET", "/stream/0/users/me/streams", "tok12")
subs = {s["subscription_id"]: s for x in doc["data"] if x["connection_id"] == a.cid for s in x["subscriptions"]}
t.eq(subs["home"]["options"]["include_directed_posts"], False, "listing: /posts/stream's default shown")
t.eq(subs["images"]["options"]["file_types"], ["io.example.image", "io.example.photo"], "listing: file_types")
t.eq(subs["all"]["options"], {"include_deleted": True, "include_directed_posts": True, "include_machine": False,
                              "include_incomplete": True, "include_private": True, "channel_types": None,
                              "file_types": None}, "listing: the defaults elsewhere")

# re-subscribing with the same id replaces the options
sub("/posts/stream/global", "nodel", include_deleted=1)
expect(event(26, ["global"], action="delete"), ["all", "nodel", "machine"], "re-subscribing replaces the filter options")

# bad filter options: 400 naming the option, nothing made, the stream carries on
for q, opt in [({"include_deleted": "maybe"}, "include_deleted"), ({"include_machine": "2"}, "include_machine"),
               ({"channel_types": ""}, "channel_types"), ({"channel_types": "a,,b"}, "channel_types"),
               ({"file_types": "a b"}, "file_types"), ({"file_types": ",".join("t%d" % i for i in range(40))}, "file_types")]:
    st, _, doc = sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="bad", **q)
    t.eq(st, 400, "bad filter option %s: 400" % q)
    t.ok(doc and opt in doc["meta"].get("error_message", ""), "the message names %s" % opt, doc)
st, _, doc = sl.api("GET", "/stream/0/users/me/streams", "tok12")
t.ok(not any(s["subscription_id"] == "bad" for x in doc["data"] for s in x["subscriptions"]),
     "no subscription made by a rejected call")
expect(event(27, ["global"]), ["all", "nodel", "machine"], "the stream carries on")

# filters hold on resume too: events while away are replayed through them
a.close()
time.sleep(0.3)
sl.publish(event(28, ["global"], data={"id": "28", "is_machine": True}),
           event(29, ["global"], action="delete"),
           event(30, ["global"]))
time.sleep(0.2)
b = sl.stream("tok12", connection_id=a.cid)
t.eq(b.cid, a.cid, "the stream is resumed")
got = []
for _ in range(3):
    m = b.next(timeout=1.5)
    if m is None:
        break
    got.append((m["data"][0]["id"] if m.get("data") else m["meta"]["deleted_id"], sorted(m["meta"]["subscription_ids"])))
t.eq(got, [("28", ["machine"]), ("29", ["all", "machine", "nodel"]), ("30", ["all", "machine", "nodel"])],
     "the replay after a resume goes through each subscription's filter")
b.close()
t.ok(sl.alive(), "the daemon is alive")
sl.stop(t)
t.done()
