"""A WebSocket worker kept busy by a burst to many consumers still reads
what its clients send: a ping sent early in the burst is answered
during it, not after it. The worker pulls at most DRAIN_TURN woken
connections before its epoll loop gets a turn. Before, it drained its
wake queue for as long as the dispatcher kept it full: against the
release build, in a 60,000-event burst to 300 consumers, the first pong
took 10.5 s (the whole burst), against 0.1-1.0 s with the turn. Under
the sanitizers the dispatcher is slow enough that the queue runs dry
now and then, so here this checks the behaviour, and would catch a
worker that never reads during a burst, but the old loop passes it
too."""
import threading
import time

from sluice import FrameReader, RawWS, Sluice, Tap, event

NCONS = 250
N = 8000

t = Tap()
sl = Sluice(conf={"workers": "1", "send_buffer_limit": "256M",
                  "max_streams_per_token": "300"})
base, last = 100000, 100000 + N - 1


def consumer(token):
    ws = RawWS(sl, "/stream/user", token)
    cid = ws.hello()
    sl.subscribe(token, "/posts/stream/global", cid, subscription_id="g")
    return ws


def discard(ws, got):
    """Read and drop, counting bytes: the others only keep the worker
    busy."""
    ws.sock.settimeout(60)
    try:
        while True:
            c = ws.sock.recv(1 << 20)
            if not c:
                break
            got[0] += len(c)
    except OSError:
        pass


readers, others = [], []
for i in range(NCONS):
    ws = consumer("tok12")
    got = [0]
    th = threading.Thread(target=discard, args=(ws, got), daemon=True)
    th.start()
    others.append((ws, got))
probe_ws = consumer("tok34")
probe = FrameReader(probe_ws, last)
probe.start()

producer = sl.publish_async(*[event(base + i, ["global"]) for i in range(N)])
deadline = time.time() + 60
while probe.count < N // 40 and time.time() < deadline:
    time.sleep(0.001)
sent_at = probe.count
probe_ws.send_frame(0x9, b"turn")
probe.join(120)
producer.join(10)

t.eq(probe.count, N, "the probe got all %d events of the burst" % N)
# the others read in threads of their own, and under load may still be
# reading when the probe is done
deadline = time.time() + 60
while not all(got[0] > N * 100 for _, got in others) and time.time() < deadline:
    time.sleep(0.05)
t.ok(all(got[0] > N * 100 for _, got in others),
     "and the %d others theirs (at least %d bytes each)" % (NCONS, N * 100))
pongs = probe.pongs
t.eq([p for p, _ in pongs], [b"turn"], "the ping was answered")
at = pongs[0][1] if pongs else N
t.ok(sent_at < N // 2 and at < N, "during the burst: the pong came after %d of the %d "
     "events, the ping after %d" % (at, N, sent_at))
t.ok(sl.alive(), "sluiced still running")
for ws, _ in others:
    ws.close()
sl.stop(t)
t.done()
