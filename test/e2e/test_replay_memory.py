"""The replay log's memory bound (SPEC 4.2, replay_max_bytes): with the
log filled several times over, the daemon's memory stays within the
bound plus a stated overhead, and the log really is full (an early
position has left it, a late one has not)."""
import json
import os
import time

from sluice import Sluice, Tap

t = Tap()
LIMIT_MB = 8
asan = os.environ.get("ASAN_OPTIONS", "")
# ASan's quarantine off, so that RSS follows what the daemon holds
sl = Sluice(conf={"replay_max_bytes": "%dM" % LIMIT_MB, "max_streams_per_token": "10"},
            env={"ASAN_OPTIONS": (asan + ":" if asan else "") +
                 "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"})


def ev(i):
    return {"type": "post", "action": "create", "id": str(i), "keys": ["global", "posts:%d" % (i % 50)],
            "data": {"id": str(i), "text": "hello world number %d with a #tag and @mention" % i,
                     "user": {"id": str(i % 50), "username": "user%d" % (i % 50)}}}


early = sl.stream("tok12")
sl.subscribe("tok12", "/posts/stream/global", early.cid, subscription_id="g")
early.close()
time.sleep(0.3)
r0 = sl.rss_kib()
N = 100000          # ~270 bytes a line: ~27 MB, the log fills 3 times over
p = sl.producer()
for i in range(0, N, 1000):
    if i == N - 2000:
        late = sl.stream("tok34")
        sl.subscribe("tok34", "/posts/stream/global", late.cid, subscription_id="g")
        late.close()
    p.sendall("".join(json.dumps(ev(i + k)) + "\n" for k in range(1000)).encode())
p.close()
time.sleep(1.5)
r1 = sl.rss_kib()
grown = (r1 - r0) / 1024.0
t.diag("RSS %d -> %d KiB: +%.1f MiB with replay_max_bytes %d MiB (ASan build)" % (r0, r1, grown, LIMIT_MB))
# stated overhead: a quarter of the bound and 4 MiB (allocator, ASan's
# redzones, buffers); without the bound the log would hold ~60 MiB
t.ok(grown < LIMIT_MB * 1.25 + 4, "memory stays within replay_max_bytes plus the stated overhead "
     "(+%.1f MiB)" % grown)
s = sl.stream("tok12", connection_id=early.cid)
t.ok(s.cid != early.cid, "the log is full: a position from the start has left it (new id)")
s.close()
s = sl.stream("tok34", connection_id=late.cid)
t.eq(s.cid, late.cid, "a position from near the end is still in it")
got = s.drain(1.0)
t.eq([m["meta"]["type"] for m in got if m["meta"]["type"] != "post"], [],
     "a replay is paced below half the buffer: no falling_behind warning")
got = [m for m in got if "cursor" in m["meta"]]
t.ok(len(got) >= 1000 and all(int(a["meta"]["cursor"]) < int(b["meta"]["cursor"])
                              for a, b in zip(got, got[1:])),
     "and its %d missed events are replayed in order" % len(got))
s.close()
t.ok(sl.alive(), "sluiced still running")
sl.stop(t)
t.done()
