"""sluice-pub (SPEC 1): NDJSON from stdin or files into the ingest
socket, with accepted/rejected counts."""
import json
import os
import subprocess

from sluice import SLUICE_PUB, Sluice, Tap, event

t = Tap()
sl = Sluice()
a = sl.stream("tok12")
sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="g")


def pub(args, stdin=b""):
    p = subprocess.run([SLUICE_PUB] + args, input=stdin, capture_output=True, timeout=20)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


good = "".join(json.dumps(event(i, ["global"])) + "\n" for i in range(1, 4))
rc, out, err = pub(["-s", sl.sock], good.encode())
t.eq((rc, out.strip()), (0, "3 accepted, 0 rejected"), "stdin: 3 good lines accepted, exit 0")
t.eq([m["data"][0]["id"] for m in [a.next(), a.next(), a.next()]], ["1", "2", "3"],
     "and delivered in order")

mixed = json.dumps(event(4, ["global"])) + "\nnot json\n\n" + json.dumps({"type": "post"}) + \
    "\n" + json.dumps(event(5, ["global"]))   # last line without newline
path = os.path.join(sl.dir, "events.ndjson")
with open(path, "w") as f:
    f.write(mixed)
rc, out, err = pub(["-s", sl.sock, path])
t.eq((rc, out.strip()), (1, "2 accepted, 2 rejected"), "file with bad lines: counts, exit 1")
t.ok("events.ndjson:2: rejected (json" in err, "bad line reported with file:line and reason", err)
t.ok("events.ndjson:4: rejected (missing_field" in err, "missing field reported", err)
t.eq([m["data"][0]["id"] for m in [a.next(), a.next()]], ["4", "5"],
     "good lines around bad ones delivered, the last line without newline too")
t.eq(a.next(0.3), None, "bad lines are not sent")

rc, out, err = pub(["-s", sl.sock, "-q", path])
t.ok(rc == 1 and err == "", "-q keeps rejected lines quiet", err)
a.drain(0.3)

rc, out, err = pub(["-n", path])
t.eq((rc, out.strip()), (1, "2 accepted, 2 rejected"), "-n checks without a daemon")
t.eq(a.next(0.3), None, "-n sends nothing")

rc, out, err = pub(["-s", os.path.join(sl.dir, "nope.sock")], good.encode())
t.ok(rc == 2 and "cannot reach" in err, "unreachable socket: exit 2 with a message", err)

env = dict(os.environ, SLUICE_INGEST=sl.sock)
p = subprocess.run([SLUICE_PUB], input=good.encode(), capture_output=True, env=env, timeout=20)
t.eq(p.returncode, 0, "$SLUICE_INGEST names the socket")
a.drain(0.3)

rc, out, err = pub(["-c", sl.conf_path], good.encode())
t.eq(rc, 0, "-c takes the socket from sluiced.conf")
t.eq(len(a.drain(0.5)), 3, "and the events arrive")

t.ok(sl.alive(), "sluiced still running")
sl.stop(t)
t.done()
