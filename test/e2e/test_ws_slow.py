"""The slow-consumer rule (SPEC 6) over WebSocket: a client that
connects and never reads is dropped at send_buffer_limit; a client that
reads keeps getting everything; the daemon's memory stays bounded."""
import json

from sluice import RawWS, Sluice, Tap, event

t = Tap()
# long keepalive: the stuck client must be dropped by the buffer rule,
# not by the ping timeout
sl = Sluice(conf={"keepalive_interval": "60s", "send_buffer_limit": "256K"})
# a client that connects and never reads: dropped at send_buffer_limit,
# the others keep their stream, the daemon stays bounded
stuck = RawWS(sl, "/stream/user", "tok56", rcvbuf=4096)
first = json.loads(stuck.recv_frame()[1])
stuck_cid = first["meta"]["connection_id"]
sl.subscribe("tok56", "/posts/stream/global", stuck_cid, subscription_id="g")
live = RawWS(sl, "/stream/user", "tok34")
live_cid = json.loads(live.recv_frame()[1])["meta"]["connection_id"]
sl.subscribe("tok34", "/posts/stream/global", live_cid, subscription_id="g")
# batches under the limit, so that a client that reads is never behind;
# the stuck one's socket buffers fill and then its queue passes the limit
big = "y" * 8000
received = 0
B, NB = 6, 300
for batch in range(NB):
    sl.publish(*[event(10000 + batch * B + i, ["global"], data={"id": "x", "text": big}) for i in range(B)])
    n = 0
    while n < B:
        f = live.recv_frame(5)
        if f is None:
            break
        if f[0] == 1 and json.loads(f[1])["meta"].get("type") == "post":
            n += 1
        elif f[0] == 9:
            live.send_frame(10, f[1])
    received += n
t.eq(received, B * NB, "a reading client gets all %d large events while another is stuck" % (B * NB))
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
st, _, doc = sl.api("GET", "/stream/0/users/me/streams", "tok56")
stuck_info = [s for s in doc["data"] if s["connection_id"] == stuck_cid]
t.ok(stuck_info and stuck_info[0]["connected"] is False,
     "the stuck consumer was dropped (its stream remains, disconnected)", doc)
t.ok("slow consumer" in sl.log(), "the drop is logged")
rss = int([l for l in open("/proc/%d/status" % sl.proc.pid) if l.startswith("VmRSS")][0].split()[1])
t.diag("server RSS after the stuck-client run: %d KiB (ASan build)" % rss)
stuck.close()
live.close()

t.ok(sl.alive(), "sluiced still running")
sl.stop(t)
t.done()
