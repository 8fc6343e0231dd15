"""The slow-consumer rule (SPEC 6) over WebSocket: a client that
connects and never reads is dropped at send_buffer_limit; a client that
reads keeps getting everything, as fast as before; the daemon's memory
stays bounded."""
import json
import os
import statistics
import time

from sluice import RawWS, Sluice, Tap, event

t = Tap()
# long keepalive: the stuck client must be dropped by the buffer rule,
# not by the ping timeout. ASan's quarantine off, so that RSS follows
# what the daemon really holds.
asan = os.environ.get("ASAN_OPTIONS", "")
sl = Sluice(conf={"keepalive_interval": "60s", "send_buffer_limit": "256K"},
            env={"ASAN_OPTIONS": (asan + ":" if asan else "") +
                 "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"})

live = RawWS(sl, "/stream/user", "tok34")
live_cid = json.loads(live.recv_frame()[1])["meta"]["connection_id"]
sl.subscribe("tok34", "/posts/stream/global", live_cid, subscription_id="g")

big = "y" * 8000
B = 6


def run(nbatch, base):
    """Publish nbatch batches of B large events; the live client reads
    them all. Returns (received, latencies in s)."""
    received, lat = 0, []
    for batch in range(nbatch):
        now = time.time()
        sl.publish(*[event(base + batch * B + i, ["global"],
                           data={"id": "x", "t": now, "text": big}) for i in range(B)])
        n = 0
        while n < B:
            f = live.recv_frame(5)
            if f is None:
                break
            if f[0] == 1:
                m = json.loads(f[1])
                if m["meta"].get("type") == "post":
                    lat.append(time.time() - m["data"][0]["t"])
                    n += 1
            elif f[0] == 9:
                live.send_frame(10, f[1])
        received += n
    return received, lat


# phase A: the reading client alone
got, lat_a = run(100, 10000)
t.eq(got, 100 * B, "phase A: a reading client gets all %d large events" % (100 * B))
rss_a = sl.rss_kib()

# phase B: a client that connects and never reads joins
stuck = RawWS(sl, "/stream/user", "tok56", rcvbuf=4096)
stuck_cid = json.loads(stuck.recv_frame()[1])["meta"]["connection_id"]
sl.subscribe("tok56", "/posts/stream/global", stuck_cid, subscription_id="g")
NB = 300
got, lat_b = run(NB, 20000)
t.eq(got, B * NB, "phase B: the reading client gets all %d while another is stuck" % (B * NB))
rss_b = sl.rss_kib()
pa, pb = statistics.median(lat_a), statistics.median(lat_b)
t.diag("latency p50 alone %.2f ms, with a stuck client %.2f ms; RSS %d -> %d KiB"
       % (pa * 1000, pb * 1000, rss_a, rss_b))
# a generous bound: a daemon that waited on the stuck socket would add
# seconds, not milliseconds
t.ok(pb <= 4 * pa + 0.1, "the reader keeps its latency (p50 %.1f ms vs %.1f ms alone)"
     % (pb * 1000, pa * 1000))
# ~13 MB of events went by; had the stuck queue kept them all (each
# event holds its line, its parsed data and its rendering: ~3x), RSS
# would have grown by ~40 MB
t.ok(rss_b - rss_a < 16 * 1024, "memory stays bounded: RSS grew %d KiB while %d KiB of events "
     "passed a stuck client" % (rss_b - rss_a, NB * B * 8))

# the stuck peer never answers the close: it is let go after the 2 s
# close handshake wait
deadline = time.time() + 5
while True:
    st, _, doc = sl.api("GET", "/stream/0/users/me/streams", "tok56")
    stuck_info = [s for s in doc["data"] if s["connection_id"] == stuck_cid]
    if not stuck_info or not stuck_info[0]["connected"] or time.time() > deadline:
        break
    time.sleep(0.1)
t.ok(stuck_info and stuck_info[0]["connected"] is False,
     "the stuck consumer was dropped (its stream remains, disconnected)", doc)
t.ok("slow consumer" in sl.log(), "the drop is logged")
f = stuck.recv_frame(0.5)
stuck.close()

# one message larger than the whole buffer still reaches a reader
huge = "z" * 300000
sl.publish(event(99999, ["global"], data={"id": "99999", "text": huge}))
got = None
while True:
    f = live.recv_frame(5)
    if f is None or f[0] == 8:
        break
    if f[0] == 1:
        got = json.loads(f[1])
        if got["meta"].get("type") == "post":
            break
t.ok(got and len(got["data"][0]["text"]) == 300000,
     "a single event larger than send_buffer_limit is delivered, not a slow-consumer drop")
live.close()

t.ok(sl.alive(), "sluiced still running")
sl.stop(t)
t.done()
