"""Operations (SPEC 1, 8): SIGHUP reloads the config and the tokens file
without dropping connections; what needs a restart is said in the log;
max_connections answers 503 with Retry-After; the open-file limit is
raised or its shortfall logged; no token ever reaches the log; SIGTERM
ends every stream and exits 0 within 5 s."""
import asyncio
import json
import os
import signal
import time

import websockets

from sluice import Sluice, Tap, event, ws_close
from sluice import ws_recv_json as recv_json

t = Tap()


def wait_log(sl, text, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in sl.log():
            return True
        time.sleep(0.05)
    return False


def write_conf(sl, conf):
    with open(sl.conf_path, "w") as f:
        for k, v in conf.items():
            for one in (v if isinstance(v, list) else [v]):
                f.write("%s = %s\n" % (k, one))


def write_tokens(sl, tokens):
    with open(os.path.join(sl.dir, "tokens"), "w") as f:
        for tok, rec in tokens.items():
            f.write("%s %s\n" % (tok, " ".join(rec)))


# ---------------- SIGHUP reload ----------------
base = {"keepalive_interval": "30s", "max_subscriptions": "50", "log_level": "debug"}
sl = Sluice(conf=base)
WS = "ws://127.0.0.1:%d" % sl.port
conf = {"listen": "127.0.0.1:0", "admin_listen": "", "ingest": "unix:" + sl.sock,
        "tokens_file": os.path.join(sl.dir, "tokens"), "workers": "2"}
conf.update(base)

a = sl.stream("tok12")
st, _, _ = sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="g")
t.eq(st, 200, "a chunked stream of user 12 is open and subscribed")


c34 = sl.stream("tok34")
t.eq(c34.status, 200, "a chunked stream of user 34 is open")


async def reload_ws():
    ws34 = await websockets.connect(WS + "/stream/user", extra_headers={"Authorization": "Bearer tok34"},
                                    ping_interval=None)
    first = await recv_json(ws34)
    sl.subscribe("tok34", "/posts/stream/global", first["meta"]["connection_id"])
    ws56 = await websockets.connect(WS + "/stream/user", extra_headers={"Authorization": "Bearer tok56"},
                                    ping_interval=None)
    f56 = await recv_json(ws56)
    sl.subscribe("tok56", "/posts/stream/global", f56["meta"]["connection_id"])

    # the new files: tok34 gone, tok78 new; a route more; tighter limits;
    # a shorter keepalive; a new listen address (needs a restart)
    tokens = dict(Sluice.DEFAULT_TOKENS)
    del tokens["tok34"]
    tokens["tok78"] = ("user", "78", "app1")
    write_tokens(sl, tokens)
    new = dict(conf, keepalive_interval="1s", max_subscriptions="2",
               route="/posts/foo/{x} = foo:{x}", listen=["127.0.0.1:0", "127.0.0.1:0"])
    write_conf(sl, new)
    sl.proc.send_signal(signal.SIGHUP)
    t.ok(wait_log(sl, "reloaded"), "SIGHUP: the log says the configuration was reloaded", sl.log()[-2000:])
    cc = await ws_close(ws34, timeout=3)
    t.eq(cc and cc[0], 1008, "a token the reloaded file no longer has ends its WebSocket stream (1008)")
    t.ok(c34.wait_end(3), "and its chunked stream")
    t.ok(wait_log(sl, "listen changed"), "a changed listen address is reported as needing a restart")
    sl.publish(event(1, ["global"]))
    m = await recv_json(ws56)
    t.eq(m and m["data"][0]["id"], "1", "another WebSocket stream carries on across the reload")
    await ws56.close()

asyncio.run(reload_ws())
m = a.next()
t.eq(m and m["data"][0]["id"], "1", "the chunked stream opened before the reload carries on")
st, _, _ = sl.api("GET", "/stream/0/users/me/streams", "tok34")
t.eq(st, 401, "the removed token is refused (401)")
b = sl.stream("tok78")
t.eq(b.status, 200, "the token added to the file works at once")
st, _, doc = sl.subscribe("tok78", "/posts/foo/bar", b.cid, subscription_id="foo")
t.eq(st, 200, "a route added by the reload is served")
sl.publish(event(2, ["foo:bar"]))
m = b.next()
t.eq(m and m["meta"]["subscription_ids"], ["foo"], "and its key routes events")
sl.subscribe("tok78", "/posts/stream/global", b.cid, subscription_id="g")
st, _, doc = sl.subscribe("tok78", "/posts/stream/unified", b.cid, subscription_id="u")
t.eq(st, 429, "max_subscriptions lowered by the reload applies (third subscription: 429)")
k0 = b.keepalives
time.sleep(2.6)
b.drain(0.2)
t.ok(b.keepalives > k0, "keepalive_interval shortened by the reload: keepalives come every second now",
     "%d -> %d" % (k0, b.keepalives))

# a broken file: the running configuration stays whole
with open(sl.conf_path, "a") as f:
    f.write("colour = blue\n")
sl.proc.send_signal(signal.SIGHUP)
t.ok(wait_log(sl, "keeping the running configuration"), "a bad file on reload: logged, nothing applied")
t.ok("colour" in sl.log(), "the error names the bad key")
st, _, _ = sl.subscribe("tok78", "/posts/foo/baz", b.cid, subscription_id="foo")
t.eq(st, 200, "the running routes and tokens still work after the rejected reload")
sl.publish(event(3, ["global"]))
t.eq((a.next() or {}).get("data", [{}])[0].get("id"), "3", "and streams still flow")


def rejected_reload(conf_lines, tokens_lines, name):
    """SIGHUP with these files: the reload is refused, and all that ran
    before still does."""
    n = sl.log().count("keeping the running configuration")
    write_conf(sl, conf_lines)
    with open(os.path.join(sl.dir, "tokens"), "w") as f:
        f.write(tokens_lines)
    sl.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 5
    while time.time() < deadline and sl.log().count("keeping the running configuration") == n:
        time.sleep(0.05)
    t.ok(sl.log().count("keeping the running configuration") > n, name + ": logged, nothing applied",
         sl.log()[-1500:])
    st, _, _ = sl.subscribe("tok78", "/posts/foo/qux", b.cid, subscription_id="foo")
    t.eq(st, 200, name + ": the running routes and tokens still work")


good_tokens = "".join("%s %s\n" % (k, " ".join(v)) for k, v in dict(
    [x for x in Sluice.DEFAULT_TOKENS.items() if x[0] != "tok34"] + [("tok78", ("user", "78", "app1"))]).items())
good = dict(conf, keepalive_interval="1s", max_subscriptions="2", route="/posts/foo/{x} = foo:{x}")
rejected_reload(dict(good, route="/posts/bar/{x}"), good_tokens, "a route line without a key")
rejected_reload(good, good_tokens + "tok90 user\n", "a tokens file with a bad line")
where = "%s:%d:" % (os.path.join(sl.dir, "tokens"), good_tokens.count("\n") + 1)
t.ok(where in sl.log(), "the tokens error names the file and line (%s)" % where, sl.log()[-1000:])

# no token value is ever written to the log, even at debug level
log = sl.log()
leaked = [tok for tok in list(Sluice.DEFAULT_TOKENS) + ["tok78"] if tok in log]
t.eq(leaked, [], "no token appears in the debug log")
a.close()
b.close()
sl.stop(t)

# ---------------- max_connections ----------------
# a chunked client that leaves is noticed at the next write: keepalives
# every second make that soon
sl = Sluice(conf={"max_connections": "3", "keepalive_interval": "1s"})
WS = "ws://127.0.0.1:%d" % sl.port
held = [sl.stream("tok12", auto_delete=1) for _ in range(3)]
t.ok(all(s.status == 200 for s in held), "three streams at max_connections = 3")
st, hdrs, doc = sl.api("GET", "/stream/0/users/me/streams", "tok12")
t.eq(st, 503, "a fourth connection is answered 503")
t.ok(hdrs.get("retry-after", "").isdigit(), "with Retry-After", hdrs)
t.ok(doc and doc["meta"]["code"] == 503 and "max_connections" in doc["meta"]["error_message"],
     "and a JSON error naming max_connections", doc)


async def ws_503():
    try:
        await websockets.connect(WS + "/stream/user", extra_headers={"Authorization": "Bearer tok12"})
        return None
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code
t.eq(asyncio.run(ws_503()), 503, "a WebSocket upgrade beyond the limit: 503 before the upgrade")
t.ok(wait_log(sl, "max_connections (3) reached"), "the log says why")
sl.publish(event(1, ["global"]))
held[0].close()
time.sleep(2.5)
s = sl.stream("tok34", auto_delete=1)
t.eq(s.status, 200, "once a connection closes, the next one is served")
s.close()
for x in held[1:]:
    x.close()
time.sleep(2.5)
with open(sl.conf_path, "a") as f:
    f.write("max_connections = 5\n")
held = [sl.stream("tok12", auto_delete=1) for _ in range(5)]
t.eq(held[-1].status, 503, "before the reload the fourth and fifth are refused")
for x in held:
    x.close()
sl.proc.send_signal(signal.SIGHUP)
wait_log(sl, "reloaded")
time.sleep(2.5)
held = [sl.stream("tok12", auto_delete=1) for _ in range(5)]
t.eq([x.status for x in held], [200] * 5, "max_connections raised by a reload: five streams")
for x in held:
    x.close()
t.ok(sl.alive(), "the daemon carried on")
sl.stop(t)

# ---------------- the open-file limit ----------------
os.environ["SLUICE_WRAP"] = "prlimit --nofile=1024:4096 --"
sl = Sluice(conf={"max_connections": "3000"})
t.ok("open-file limit raised to 3128" in sl.log(), "the soft open-file limit is raised as far as max_connections needs",
     sl.log()[-1500:])
sl.stop(t)
sl = Sluice(conf={"max_connections": "100000"})
t.ok("open-file limit is 4096 (hard limit 4096)" in sl.log() and "max_connections = 100000" in sl.log(),
     "a hard limit below what max_connections needs is said in the log", sl.log()[-1500:])
sl.stop(t)
del os.environ["SLUICE_WRAP"]

# ---------------- SIGTERM ----------------
sl = Sluice(conf={"keepalive_interval": "30s"})
WS = "ws://127.0.0.1:%d" % sl.port
c = sl.stream("tok12")


async def term():
    ws = await websockets.connect(WS + "/stream/user", extra_headers={"Authorization": "Bearer tok34"})
    await recv_json(ws)
    t0 = time.time()
    sl.proc.send_signal(signal.SIGTERM)
    cc = await ws_close(ws, timeout=5)
    t.eq(cc and cc[0], 1001, "SIGTERM: a WebSocket client sees close 1001")
    rc = sl.proc.wait(timeout=10)
    return rc, time.time() - t0
rc, took = asyncio.run(term())
t.eq(rc, 0, "sluiced exits 0")
t.ok(took < 5, "within 5 s of the signal (%.2f s)" % took)
t.ok(c.wait_end(2) or c.closed, "the chunked stream was ended")
sl.stop(t)

# SIGINT (^C in a terminal) does the same
sl = Sluice()
c = sl.stream("tok12")
sl.proc.send_signal(signal.SIGINT)
t.eq(sl.proc.wait(timeout=10), 0, "SIGINT: exit 0")
t.ok(c.wait_end(2) or c.closed, "SIGINT: the chunked stream was ended")
t.ok("stopping (signal 2)" in sl.log(), "SIGINT: the log says so")
sl.stop(t)
t.done()
