"""An idle sluiced with 1,000 open chunked streams uses ~0% CPU: a
suspended MHD connection costs nothing until the dispatcher pushes.
This is a busy-loop detector, not a benchmark: the bound is loose."""
import os
import socket
import time

from sluice import Sluice, Tap, event

t = Tap()
N = 1000
streams = []
toks = {"idle%d" % i: ("user", str(1000 + i), "app1") for i in range(N)}
# keepalives every 6 s: the measured window (4 s from the last connect)
# holds none, so it shows the cost of pure idleness
sl = Sluice(conf={"keepalive_interval": "6s"}, tokens=dict(Sluice.DEFAULT_TOKENS, **toks))
for i in range(N):
    s = socket.create_connection(("127.0.0.1", sl.port))
    s.sendall(("GET /stream/user HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer idle%d\r\n\r\n" % i).encode())
    streams.append(s)
ok = 0
for i, s in enumerate(streams):
    s.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        c = s.recv(4096)
        if not c:
            break
        data += c
    if data.startswith(b"HTTP/1.1 200"):
        ok += 1
    else:
        t.diag("stream %d answered: %r" % (i, data[:300]))
t.eq(ok, N, "%d chunked streams open" % N)


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        f = f.read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])   # utime + stime


hz = os.sysconf("SC_CLK_TCK")
time.sleep(0.5)
t0, c0 = time.time(), cpu_ticks(sl.proc.pid)
time.sleep(4)
t1, c1 = time.time(), cpu_ticks(sl.proc.pid)
pct = 100.0 * (c1 - c0) / hz / (t1 - t0)
t.diag("idle CPU with %d chunked streams: %.2f%% of one core over %.1f s (ASan build, "
       "no keepalive due)" % (N, pct, t1 - t0))
t.ok(pct < 10.0, "idle sluiced does not spin (%.2f%% CPU)" % pct)

# and the streams are alive: keepalives arrive on them
time.sleep(3)
got = 0
for s in streams:
    s.settimeout(0.01)
    try:
        got += b"\r\n" in s.recv(65536)
    except socket.timeout:
        pass
t.ok(got > N * 0.9, "keepalives reached the idle streams (%d of %d)" % (got, N))

for s in streams:
    s.close()
t.ok(sl.alive(), "sluiced still running")
sl.stop(t)
t.done()
