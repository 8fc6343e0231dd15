"""Backfill on subscribe (SPEC 4.3): the retained events of the key that
the user may see, newest first, with min_id/max_id/more, App.net's
pagination (count, since_id, before_id, negative count) and creation
rules; a subscribe racing with live events loses and repeats nothing."""
import json
import threading
import time

from sluice import Sluice, Tap, event

t = Tap()
sl = Sluice(conf={"keepalive_interval": "1s", "max_streams_per_token": "50"})


def ids(doc):
    return [d["id"] for d in doc["data"]]


def listed_subs(token, cid):
    st, _, doc = sl.api("GET", "/stream/0/users/me/streams", token)
    for s in doc["data"]:
        if s["connection_id"] == cid:
            return [x["subscription_id"] for x in s["subscriptions"]]
    return None


# 30 public posts on global, ids 1..30; private ones for 34 only; other keys;
# a bare delete (no data); and html to show display options apply
for i in range(1, 31):
    sl.publish(event(i, ["global"], data={"id": str(i), "content": {"text": "p%d" % i, "html": "<b>p%d</b>" % i}}))
sl.publish(event(31, ["global"], visible_to=["34"]))
sl.publish(event(32, ["tag:x"]))
sl.publish(event(33, ["global"], action="delete"))
time.sleep(0.3)

a = sl.stream("tok12")

st, _, doc = sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="g")
t.eq(st, 200, "subscribe with a retained history: 200")
t.eq(ids(doc), [str(i) for i in range(30, 10, -1)], "default count 20: the 20 newest, newest first")
t.eq((doc["meta"].get("min_id"), doc["meta"].get("max_id"), doc["meta"].get("more")), ("11", "30", True),
     "min_id/max_id are the oldest/newest returned, more is true")
t.eq(doc["meta"].get("subscription_ids"), ["g"], "the subscription is made (no since_id)")
t.eq(doc["data"][0], {"id": "30", "content": {"text": "p30", "html": "<b>p30</b>"}},
     "each item is the object as the backend gave it (html kept by default)")
t.ok("31" not in ids(doc), "a private event of another user is not in the backfill")
t.ok("33" not in ids(doc), "a delete without data is no object: not in the backfill")

st, _, doc = sl.subscribe("tok34", "/posts/stream/global", sl.stream("tok34").cid, count=3)
t.eq(ids(doc), ["31", "30", "29"], "user 34 sees the event visible to it")

st, _, doc = sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="c5", count=5)
t.eq(ids(doc), ["30", "29", "28", "27", "26"], "count=5")
t.eq(doc["meta"]["more"], True, "more with count=5")

st, _, doc = sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="s25", since_id=25)
t.eq(ids(doc), ["30", "29", "28", "27", "26"], "since_id=25: everything newer")
t.eq(doc["meta"]["more"], False, "complete: more is false")
t.eq(doc["meta"].get("subscription_id"), "s25", "since_id with a complete backfill subscribes")

st, _, doc = sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="s5", since_id=5, count=5)
t.eq(st, 200, "since_id with an incomplete backfill: still 200")
t.eq(ids(doc), ["30", "29", "28", "27", "26"], "the newest 5 after since_id")
t.eq(doc["meta"]["more"], True, "more is true")
t.ok("subscription_id" not in doc["meta"] and "subscription_ids" not in doc["meta"],
     "no subscription is made (App.net: since_id needs a complete backfill)", doc["meta"])

st, _, doc = sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="neg", since_id=10, count=-3)
t.eq(ids(doc), ["13", "12", "11"], "count=-3 after since_id=10: the oldest three, newest first")
t.ok("subscription_id" not in doc["meta"], "a negative count does not subscribe")

st, _, doc = sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="b", before_id=9, since_id=2, count=2)
t.eq(ids(doc), ["8", "7"], "App.net's example: before_id=9&since_id=2&count=2 gives 8, 7")
t.ok("subscription_id" not in doc["meta"], "before_id does not subscribe")
st, _, doc = sl.subscribe("tok12", "/posts/stream/global", a.cid, before_id=9, since_id=2, count=-2)
t.eq(ids(doc), ["4", "3"], "and count=-2 gives 4, 3")

st, _, doc = sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="zero", count=0)
t.eq((ids(doc), doc["meta"].get("subscription_id")), ([], "zero"), "count=0: no backfill, subscribed")
t.ok("min_id" not in doc["meta"], "no min_id/max_id when nothing is returned")

st, _, doc = sl.subscribe("tok12", "/posts/tag/x", a.cid, subscription_id="tagx")
t.eq(ids(doc), ["32"], "another key: only its events")

st, _, doc = sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="nohtml", count=1, include_html=0)
t.eq(doc["data"], [{"id": "30", "content": {"text": "p30"}}], "display options of the call apply to the backfill")
st, _, doc = sl.subscribe("tok12", "/posts/tag/nothing", a.cid, subscription_id="empty")
t.eq((ids(doc), doc["meta"]["more"]), ([], False), "a key with no history: empty, more false")

t.eq(sorted(listed_subs("tok12", a.cid)), sorted(["g", "c5", "s25", "zero", "tagx", "nohtml", "empty"]),
     "exactly the subscriptions the rules allowed were made")

# -- bad parameters: 400 with a message, nothing made, the daemon carries on
for q, why in [({"count": "abc"}, "count that is not a number"), ({"count": "201"}, "count above 200"),
               ({"count": "-201"}, "count below -200"), ({"since_id": "x" * 200}, "since_id too long"),
               ({"before_id": ""}, "empty before_id")]:
    st, _, doc = sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="bad", **q)
    t.eq(st, 400, "%s: 400" % why)
    t.ok(doc and doc["meta"].get("error_message"), "%s: an error message" % why, doc)
t.ok("bad" not in listed_subs("tok12", a.cid), "no subscription was made by a rejected call")

# -- live events go on after all this, once per stream, with every subscription
sl.publish(event(40, ["global"]))
m = a.next()
t.eq(m and m["data"][0]["id"], "40", "the stream carries on with live events")
t.eq(m and sorted(m["meta"]["subscription_ids"]), sorted(["g", "c5", "s25", "zero", "nohtml"]),
     "one message naming every global subscription")

# -- a subscribe racing with live events: backfill + stream = every event
# once. A producer writes a numbered burst while streams subscribe in the
# middle of it; for each, the backfill's newest and the stream's first
# live event are neighbours, and the stream goes on without a gap.
N = 3000
stop = threading.Event()


def produce():
    p = sl.producer()
    for i in range(1000, 1000 + N):
        p.sendall((json.dumps(event(i, ["tag:race"])) + "\n").encode())
        if i % 50 == 0:
            time.sleep(0.005)
    p.close()


streams = [sl.stream("tok12") for _ in range(6)]
th = threading.Thread(target=produce)
th.start()
results = []
for k, s in enumerate(streams):
    time.sleep(0.05)
    st, _, doc = sl.subscribe("tok12", "/posts/tag/race", s.cid, count=200)
    results.append((s, doc))
th.join()
mid = 0
for k, (s, doc) in enumerate(results):
    back = [int(x) for x in ids(doc)]
    live = []
    last = 1000 + N - 1
    while True:
        # once the burst's last event is in, anything more is a duplicate
        seen_last = (back and back[0] == last) or (live and live[-1] == last)
        m = s.next(timeout=0.3 if seen_last else 2)
        if m is None:
            break
        live.append(int(m["data"][0]["id"]))
    if back and live:
        mid += 1
    first_expected = back[0] + 1 if back else 1000
    t.ok(live == list(range(first_expected, 1000 + N)),
         "racing subscribe %d: the stream starts right after the backfill's newest and has no gap" % k,
         "backfill %s..%s, live %s..%s (%d)" % (back[-1] if back else None, back[0] if back else None,
                                               live[0] if live else None, live[-1] if live else None, len(live)))
    t.ok(back == sorted(back, reverse=True) and (not back or back == list(range(back[0], back[0] - len(back), -1))),
         "racing subscribe %d: the backfill is consecutive, newest first" % k)
t.ok(mid >= 2, "at least two subscribes landed in the middle of the burst (%d)" % mid)

for s in streams + [a]:
    s.close()
t.ok(sl.alive(), "the daemon is alive")
sl.stop(t)
t.done()
