"""App-stream filters (SPEC 5, App.net's filter object): validation with
400 naming the bad clause, each match policy and operator on real
events, JSON Pointer with `*`, $authorized_userids, a PUT that changes
what an open connection receives without a reconnect, and filters on a
cursor resume."""
import asyncio
import json

import websockets

from sluice import Sluice, Tap, event
from sluice import ws_recv_json as recv_json

t = Tap()
sl = Sluice(conf={"max_app_streams": "5"})
WS = "ws://127.0.0.1:%d" % sl.port
J = {"Content-Type": "application/json"}


def post(body, token="tokapp1"):
    return sl.api("POST", "/stream/0/streams", token, headers=J, body=json.dumps(body).encode())


def put(key, body, token="tokapp1"):
    return sl.api("PUT", "/stream/0/streams/" + key, token, headers=J, body=json.dumps(body).encode())


def clause(field, op, value, ot="post"):
    return {"object_type": ot, "operator": op, "field": field, "value": value}


def err(doc):
    return doc and doc["meta"].get("error_message", "")


# ---- validation: 400 naming the part at fault; nothing created ----
bad = [
    ({"match_policy": "include_some", "clauses": [clause("/data/id", "equals", "1")]}, "filter.match_policy"),
    ({"clauses": [clause("/data/id", "equals", "1")]}, "match_policy"),
    ({"match_policy": "include_any"}, "clauses"),
    ({"match_policy": "include_any", "clauses": []}, "filter.clauses"),
    ({"match_policy": "include_any", "clauses": [clause("/data/id", "equals", "1"),
                                                 clause("/data/id", "near", "1")]}, "filter.clauses[1].operator"),
    ({"match_policy": "include_any", "clauses": [clause("data/id", "equals", "1")]}, "filter.clauses[0].field"),
    ({"match_policy": "include_any", "clauses": [clause("/data/~3", "equals", "1")]}, "filter.clauses[0].field"),
    ({"match_policy": "include_any", "clauses": [clause("/data/id", "equals", "1", ot="posts")]},
     "filter.clauses[0].object_type"),
    ({"match_policy": "include_any", "clauses": [clause("/data/id", "one_of", "1")]}, "filter.clauses[0].value"),
    ({"match_policy": "include_any", "clauses": [clause("/data/id", "one_of", [["1"]])]}, "filter.clauses[0].value"),
    ({"match_policy": "include_any", "clauses": [clause("/data/id", "matches", "$authorized_userids")]},
     "filter.clauses[0].value"),
    ({"match_policy": "include_any", "clauses": [dict(clause("/data/id", "equals", "1"), colour=1)]},
     "filter.clauses[0]"),
    ({"match_policy": "include_any", "clauses": [clause("/data/id", "equals", "1")], "colour": 1}, "colour"),
    ("include_any", "filter"),
]
for f, word in bad:
    st, _, doc = post({"object_types": ["post"], "type": "long_poll", "key": "bad", "filter": f})
    t.ok(st == 400 and word in err(doc), "a bad filter: 400 naming %s" % word, "%r %r" % (st, doc))
st, _, doc = sl.api("GET", "/stream/0/streams", "tokapp1")
t.eq(doc["data"], [], "no stream was made by a rejected definition")

# ---- streams with filters ----
F_USER12 = {"match_policy": "include_any", "clauses": [clause("/data/user/id", "equals", "12")]}
st, _, doc = post({"object_types": ["post", "message"], "type": "long_poll", "key": "by12", "filter": F_USER12})
t.eq(st, 201, "a stream with a filter is created")
t.eq(doc["data"].get("filter"), F_USER12, "the stream object shows the filter")
st, _, doc = sl.api("GET", "/stream/0/streams/by12", "tokapp1")
t.eq(doc["data"].get("filter"), F_USER12, "GET shows it too")

streams = {
    "all_of": {"match_policy": "include_all", "clauses": [
        clause("/data/user/id", "equals", 12), clause("/data/entities/hashtags/*/name", "equals", "news")]},
    "no_spam": {"match_policy": "exclude_any", "clauses": [
        clause("/data/content/text", "matches", "spam"), clause("/meta/channel_type", "equals", "x", ot="message")]},
    "not_both": {"match_policy": "exclude_all", "clauses": [
        clause("/data/user/id", "one_of", ["12", "34"]), clause("/data/num", "gt", 100)]},
    "authed": {"match_policy": "include_any", "clauses": [clause("/data/user/id", "equals", "$authorized_userids")]},
    "ranges": {"match_policy": "include_all", "clauses": [
        clause("/data/id", "ge", "98765432109876543210"), clause("/data/id", "lt", "98765432109876543299")]},
}
for key, f in streams.items():
    st, _, doc = post({"object_types": ["post"], "type": "long_poll", "key": key, "filter": f}, token="tokapp2"
                      if key in ("ranges",) else "tokapp1")
    t.eq(st, 201, "stream %s created" % key)


def post_ev(i, user, text="hi", tags=(), num=0, **extra):
    return event(i, ["global"], data={"id": str(i), "user": {"id": user}, "content": {"text": text},
                                      "entities": {"hashtags": [{"name": h} for h in tags]}, "num": num}, **extra)


async def connect(key, token="tokapp1", cursor=None):
    q = "?access_token=%s&key=%s" % (token, key) + ("&cursor=%s" % cursor if cursor else "")
    ws = await websockets.connect(WS + "/v0/apps" + q, ping_interval=None)
    await recv_json(ws)
    return ws


async def drain(ws, timeout=0.6):
    got = []
    while True:
        m = await recv_json(ws, timeout)
        if m is None:
            return got
        got.append(m)


async def main():
    # app1 may have 5 streams: by12, all_of, no_spam, not_both, authed
    keys = ["by12", "all_of", "no_spam", "not_both", "authed"]
    conns = {k: await connect(k) for k in keys}
    ranges = await connect("ranges", token="tokapp2")
    evs = [
        post_ev(1, "12", tags=["news"], num=5),
        post_ev(2, "34", text="buy spam now", num=500),
        post_ev(3, "12", tags=["sport", "news"], num=500),
        post_ev(4, 12),                                      # a number id: equals "12"
        post_ev(5, "56", text="all fine", num=101),
        event(6, ["global"], type="message", data={"id": "6", "user": {"id": "99"}},
              meta={"channel_type": "x"}),                   # no post clause judges messages in by12
        event("98765432109876543211", ["global"], data={"id": "98765432109876543211", "user": {"id": "1"}}),
        post_ev(8, "99"),
    ]
    sl.publish(*evs)
    got = {k: [m["meta"]["id"] for m in await drain(ws)] for k, ws in conns.items()}
    got["ranges"] = [m["meta"]["id"] for m in await drain(ranges)]
    t.eq(got["by12"], ["1", "3", "4", "6"], "include_any on /data/user/id == 12 (string and number ids); "
         "a message, which no clause judges, passes")
    t.eq(got["all_of"], ["1", "3"], "include_all: user 12 and a hashtag named news (through *)")
    t.eq(got["no_spam"], ["1", "3", "4", "5", "98765432109876543211", "8"],
         "exclude_any: text with spam dropped")
    t.eq(got["not_both"], ["1", "4", "5", "98765432109876543211", "8"],
         "exclude_all: dropped only when user is 12 or 34 and num > 100")
    # app1's authorized users are 12 and 34 (tok12, tok34 are app1's user tokens)
    t.eq(got["authed"], ["1", "2", "3", "4"], "$authorized_userids: users who hold a token of the app")
    t.eq(got["ranges"], ["98765432109876543211"], "ge/lt on ids beyond 2^64, compared as numbers")

    # ---- a PUT changes what an open connection receives, without a reconnect ----
    ws = conns["by12"]
    F_USER34 = {"match_policy": "include_any", "clauses": [clause("/data/user/id", "equals", "34")]}
    st, _, doc = put("by12", {"object_types": ["post"], "filter": F_USER34})
    t.eq((st, doc["data"].get("filter")), (200, F_USER34), "PUT replaces the filter")
    sl.publish(post_ev(20, "12"), post_ev(21, "34"))
    t.eq([m["meta"]["id"] for m in await drain(ws)], ["21"],
         "the open connection follows the new filter from the next event")
    st, _, doc = put("by12", {"object_types": ["post"]})
    t.ok(st == 200 and "filter" not in doc["data"], "PUT without a filter removes it", doc)
    sl.publish(post_ev(22, "12"), post_ev(23, "56"))
    t.eq([m["meta"]["id"] for m in await drain(ws)], ["22", "23"], "and everything flows again")
    st, _, doc = put("by12", {"object_types": ["post"], "filter": {"match_policy": "bogus", "clauses": []}})
    t.eq(st, 400, "a bad filter in a PUT: 400")
    sl.publish(post_ev(24, "99"))
    t.eq([m["meta"]["id"] for m in await drain(ws)], ["24"], "the stream is unchanged by the rejected PUT")

    # ---- a filter on a cursor resume: the replay goes through it too ----
    await drain(conns["authed"])
    sl.publish(post_ev(25, "12"))
    m = await recv_json(conns["authed"])
    cur = m["meta"]["cursor"]
    await conns["authed"].close()
    sl.publish(post_ev(26, "56"), post_ev(27, "34"), post_ev(28, "99"), post_ev(29, "12"))
    await asyncio.sleep(0.2)
    again = await connect("authed", cursor=cur)
    t.eq([m["meta"]["id"] for m in await drain(again)], ["27", "29"], "a cursor resume replays through the filter")
    await again.close()
    for k, w in conns.items():
        if k != "authed":
            await w.close()
    await ranges.close()

asyncio.run(main())
t.ok(sl.alive(), "the daemon is alive")
sl.stop(t)
t.done()
