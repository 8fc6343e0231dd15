"""sluice-bench (SPEC 1), small: it starts the sluiced under test itself,
opens WebSocket and chunked consumers, publishes, and its JSON report
adds up; then the same against a sluiced it attaches to."""
import json
import os
import subprocess
import time

from sluice import BUILD, SLUICED, Sluice, Tap

BENCH = os.path.join(BUILD, "test", "bench", "sluice-bench")

t = Tap()


def bench(args, timeout=60):
    """(exit status, report dict or None, stderr)"""
    p = subprocess.run([BENCH, "--json", "-q"] + args, capture_output=True,
                       timeout=timeout)
    try:
        rep = json.loads(p.stdout)
    except ValueError:
        rep = None
    return p.returncode, rep, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def adds_up(rep, consumers, events, what, out):
    """The report of a clean run of consumers x events."""
    if not t.ok(rep is not None, what + ": a JSON report", out):
        return
    t.eq((rep["connected"], rep["subscribed"]), (consumers, consumers),
         what + ": every consumer connected and subscribed")
    t.eq(rep["events_sent"], events, what + ": every event sent")
    t.eq((rep["deliveries"], rep["deliveries_expected"]),
         (consumers * events if rep["keys"] == "one" else events,) * 2,
         what + ": deliveries = consumers x events")
    t.eq((rep["lost"], rep["duplicates"], rep["out_of_order"]), (0, 0, 0),
         what + ": nothing lost, duplicated or out of order")
    lat = rep["latency_ms"]
    t.ok(lat["count"] > 0 and 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"],
         what + ": latency percentiles present, positive and ordered", lat)
    t.ok(rep["connect_rate"] > 0 and rep["deliveries_per_sec"] > 0,
         what + ": connect rate and deliveries/s", rep)
    rss = rep["server_rss_kib"]
    t.ok(0 < rss["before"] <= rss["connected"] and rss["end"] > 0,
         what + ": server RSS sampled", rss)
    t.ok(rep["server_cpu_pct"] >= 0 and rep["bench_cpu_pct"] >= 0,
         what + ": CPU figures", rep)
    # -1 is unknown: the /proc files were not read
    k = rep["per_1k_deliveries"]
    t.ok(rep["server_runqueue_wait_pct"] >= 0 and rep["bench_runqueue_wait_pct"] >= 0 and
         min(k.values()) >= 0 and sum(k.values()) > 0,
         what + ": scheduling figures (run-queue waits, context switches)", rep)


# -- the bench starts sluiced: 50 WebSocket + 50 chunked consumers on one
# key, every other one with include_raw=1
rc, rep, out = bench(["--sluiced", SLUICED, "-n", "100", "--transport", "mix",
                      "--display-sets", "3", "--events", "200", "--rate", "200",
                      "--warmup", "0", "--duration", "10", "--drain", "5"])
t.eq(rc, 0, "started: exit status 0")
adds_up(rep, 100, 200, "started", out)
if rep is not None:
    t.eq(rep["ws_without_hello"], 0, "every WebSocket got its connection message first")
    t.eq(rep["server_exit_status"], 0, "the sluiced it started exits 0, sanitizers quiet")

# -- attached to a running sluiced: chunked, a key per consumer
sl = Sluice()
rc, rep, out = bench(["--connect", "127.0.0.1:%d" % sl.port, "--ingest", sl.sock,
                      "--pid", str(sl.proc.pid), "-n", "20", "--transport",
                      "chunked", "--keys", "each", "--events", "100",
                      "--rate", "0", "--warmup", "0", "--duration", "10"])
t.eq(rc, 0, "attached: exit status 0")
adds_up(rep, 20, 100, "attached", out)
t.ok(sl.alive(), "the attached sluiced is still running")

# -- attached without --pid: the server's figures are unknown (-1), the
# bench's own are still read
rc, rep, out = bench(["--connect", "127.0.0.1:%d" % sl.port, "--ingest", sl.sock,
                      "-n", "5", "--events", "50", "--rate", "0", "--warmup", "0",
                      "--duration", "10"])
t.eq(rc, 0, "attached without --pid: exit status 0")
if t.ok(rep is not None, "attached without --pid: a JSON report", out):
    k = rep["per_1k_deliveries"]
    t.eq((rep["server_cpu_pct"], rep["server_runqueue_wait_pct"], k["server_slept"],
          k["server_preempted"]), (-1, -1, -1, -1),
         "without --pid the server's CPU and scheduling figures are -1 (unknown)")
    t.ok(rep["bench_runqueue_wait_pct"] >= 0 and k["bench_slept"] >= 0 and
         k["bench_preempted"] >= 0, "the bench's own scheduling figures are read", rep)

# -- the bare-loop floor (Nchan is for `make bench` only, never here): one
# run per variant (a frame per write, and up to 8 per writev), side by
# side in one invocation; 60 consumers, half on one key and half on a key
# each, so that both the fan-out and the per-key path are crossed
rc, rep, out = bench(["--target", "floor,floor:8", "-n", "60", "--keys", "mix",
                      "--events", "300", "--rate", "600", "--warmup", "0",
                      "--duration", "10", "--drain", "5"])
if not t.eq(rc, 0, "floor: exit status 0"):
    t.diag(out)
runs = rep.get("runs", []) if rep else []
t.eq([r.get("target") for r in runs], ["floor", "floor k=8"],
     "floor: both variants ran, side by side")
for r in runs:
    what = r.get("target", "?")
    # 30 consumers get every event; each event also goes to one of 30
    want = 30 * 300 + 300
    t.eq((r.get("connected"), r.get("subscribed")), (60, 60),
         what + ": every consumer connected")
    t.eq((r.get("deliveries"), r.get("deliveries_expected")), (want, want),
         what + ": every delivery arrived")
    t.eq((r.get("lost"), r.get("duplicates"), r.get("out_of_order")), (0, 0, 0),
         what + ": nothing lost, duplicated or out of order")
    t.eq(r.get("floor_frames"), want, what + ": the floor wrote each frame once")
    t.ok(r.get("floor_writes", 0) > 0 and r["latency_ms"]["p99"] > 0 and
         r["server_rss_kib"]["connected"] > 0,
         what + ": writes, latency and the floor's RSS reported", r)
    t.eq(r.get("server_exit_status"), 0, what + ": the floor exits 0, sanitizers quiet")
t.ok(rep is not None and "sluice_nchan_deliveries" in rep.get("ratios", {}),
     "floor: the side-by-side report carries the ratios", rep)

# -- --pin: the bench on its first CPU, every server it starts on the
# others, seen in /proc while it runs, and said in the report; refused
# with fewer than 2 CPUs, and with --connect (a server it did not start)
def allowed(pid):
    """{task's Cpus_allowed_list} of pid's tasks"""
    got = set()
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("Cpus_allowed_list:"):
                        got.add(line.split()[1])
    except OSError:
        pass
    return got


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


if len(os.sched_getaffinity(0)) >= 2:
    cpus = sorted(os.sched_getaffinity(0))
    want_b, want_s = str(cpus[0]), ",".join(str(c) for c in cpus[1:])
    p = subprocess.Popen([BENCH, "--json", "-q", "--target", "floor", "-n", "20",
                          "--events", "300", "--rate", "100", "--warmup", "0",
                          "--duration", "10", "--pin"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    bench_cpus, server_cpus = set(), set()
    deadline = time.time() + 30
    while p.poll() is None and time.time() < deadline:
        # from its first server on: it pins itself before it starts one
        kids = children(p.pid)
        for c in kids:
            server_cpus |= allowed(c)
        if kids:
            bench_cpus |= allowed(p.pid)
        time.sleep(0.05)
    out, err = p.communicate(timeout=30)
    try:
        rep = json.loads(out)
    except ValueError:
        rep = None
    if not t.eq(p.returncode, 0, "--pin: exit status 0"):
        t.diag(err)
    t.ok(rep is not None and rep.get("pinned") == {"bench": want_b, "server": want_s} and
         rep.get("deliveries") == 20 * 300,
         "--pin: the report names both CPU sets, every delivery arrived", out)
    t.eq((bench_cpus, server_cpus), ({want_b}, {want_s}),
         "--pin: every thread of the bench, and of the server it started, on its CPUs")
else:
    t.skip("--pin on 2 CPUs", "this test may run on one CPU only")
rc, rep, out = bench(["--target", "floor", "-n", "5", "--events", "10", "--warmup", "0"])
t.ok(rep is not None and "pinned" in rep and rep["pinned"] is None,
     "without --pin the report says null", out)
p = subprocess.run(["taskset", "-c", str(min(os.sched_getaffinity(0))), BENCH, "-n", "5",
                    "--pin", "--sluiced", "/nonexistent"], capture_output=True, timeout=20)
t.ok(p.returncode == 2 and b"--pin needs 2 CPUs" in p.stderr,
     "--pin on one CPU: exit 2, says why", p.stderr)
p = subprocess.run([BENCH, "-n", "5", "--pin", "--connect", "127.0.0.1:%d" % sl.port,
                    "--ingest", sl.sock], capture_output=True, timeout=20)
t.ok(p.returncode == 2 and b"--pin places the servers it starts" in p.stderr,
     "--pin with --connect: exit 2, says why", p.stderr)

# -- -n beyond the open-file limit is refused up front, with the reason
p = subprocess.run(["/bin/sh", "-c", "ulimit -n 256; exec \"$0\" -n 1000 --sluiced /nonexistent",
                    BENCH], capture_output=True, timeout=20)
t.ok(p.returncode == 2 and b"cannot be reached" in p.stderr and b"RLIMIT_NOFILE" in p.stderr,
     "-n over the open-file limit: exit 2, says why", p.stderr)
sl.stop(t)
t.done()
