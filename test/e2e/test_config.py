"""sluiced -t and start-up errors (SPEC 1, 8)."""
import os
import re
import subprocess
import tempfile

from sluice import SLUICED, Sluice, Tap, event

t = Tap()
d = tempfile.mkdtemp(prefix="sluice-conf-")


def check(text):
    path = os.path.join(d, "sluiced.conf")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([SLUICED, "-t", "-c", path], capture_output=True, timeout=20)
    return p.returncode, p.stdout.decode() + p.stderr.decode(), path


rc, out, path = check("# a comment\n\nlisten = 127.0.0.1:9999\nworkers = 2\nreplay_window = 10m\n"
                      "send_buffer_limit = 512K\nroute /things/{id} = things:{id}\n")
t.eq((rc, out.strip()), (0, "configuration ok"), "-t on a good file: 'configuration ok', exit 0")

for text, line, what in [
    ("workers = 2\nbogus_key = 1\n", 2, "unknown key 'bogus_key'"),
    ("max_subscriptions = many\n", 1, "not a whole number"),
    ("max_subscriptions = 0\n", 1, "out of range"),
    ("replay_window = 5 parsecs\n", 1, "not a duration"),
    ("send_buffer_limit = 1Q\n", 1, "not a size"),
    ("listen = localhost\n", 1, "not an address"),
    ("ingest = tcp:1234\n", 1, "ingest"),
    ("log_level = loud\n", 1, "log_level"),
    ("\n\nroute /x/{y} = k:{z}\n", 3, "does not capture"),
    ("listen\n", 1, "expected 'key = value'"),
]:
    rc, out, path = check(text)
    t.ok(rc == 1 and out.startswith("%s:%d: " % (path, line)) and what in out,
         "-t reports %r at file:line, exit 1" % what, out)

rc, out, path = check("tls_cert = /x.pem\n")
t.ok(rc == 1 and "tls_key" in out, "tls_cert without tls_key is an error", out)
p = subprocess.run([SLUICED, "-t", "-c", os.path.join(d, "missing.conf")], capture_output=True)
t.ok(p.returncode == 1 and b"missing.conf" in p.stderr, "a missing config file is an error")

# a bad tokens file is reported with its own file:line
tok = os.path.join(d, "tokens")
with open(tok, "w") as f:
    f.write("good user 1 app\nbad wizard 1\n")
rc, out, path = check("tokens_file = %s\n" % tok)
t.ok(rc == 1 and out.startswith(tok + ":2: "), "a bad tokens file line is reported as file:line", out)

p = subprocess.run([SLUICED, "--version"], capture_output=True)
t.ok(p.returncode == 0 and p.stdout.startswith(b"sluiced "), "--version")
p = subprocess.run([SLUICED, "--bogus"], capture_output=True)
t.eq(p.returncode, 1, "an unknown option exits 1")

# route lines work for real: a custom route is subscribable
sl = Sluice(conf={"route": ["/things/{id} = things:{id}", "/posts/stream/global = everything"]})
a = sl.stream("tok12")
st, _, doc = sl.subscribe("tok12", "/things/42", a.cid, subscription_id="t")
t.eq(st, 200, "a configured route accepts subscriptions")
st, _, doc = sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="g")
sl.publish(event(1, ["things:42"]), event(2, ["everything"]), event(3, ["global"]))
got = [(m["data"][0]["id"], m["meta"]["subscription_ids"]) for m in a.drain(0.5)]
t.eq(got, [("1", ["t"]), ("2", ["g"])], "custom and replaced routes map to their keys")

# without a workers line: one worker per CPU sluiced may run on, so one
# under taskset (here: this test's own affinity, which it inherits)
mine = os.sched_getaffinity(0)
os.sched_setaffinity(0, {min(mine)})
try:
    one = Sluice(conf={"workers": []})
finally:
    os.sched_setaffinity(0, mine)
t.ok(re.search(r" ready: .*, 1 worker$", one.log(), re.M),
     "no workers line, one CPU allowed: '1 worker' in the ready line", one.log())
a = one.stream("tok12")
st, _, _ = one.subscribe("tok12", "/posts/stream/global", a.cid)
one.publish(event(1, ["global"]))
t.eq([m["data"][0]["id"] for m in a.drain(0.5)], ["1"], "and it streams")
one.stop(t)
one = Sluice(conf={"workers": []})
n = len(mine)
t.ok(re.search(r" ready: .*, %d worker%s$" % (n, "" if n == 1 else "s"), one.log(), re.M),
     "no workers line, every CPU allowed: one worker each (%d)" % n, one.log())
one.stop(t)

# a second sluiced on the same ingest socket refuses to start
p = subprocess.run([SLUICED, "-c", sl.conf_path], capture_output=True, timeout=20)
t.ok(p.returncode == 1 and b"in use" in p.stderr, "a second sluiced on a live ingest socket refuses", p.stderr)
t.ok(sl.alive(), "the first one keeps running")
sl.stop(t)
t.done()
