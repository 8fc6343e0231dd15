"""The other ingest transports (SPEC 2): a named pipe and stdin, with
sluice-pub and plain writers."""
import json
import os
import subprocess
import tempfile
import time

from sluice import SLUICE_PUB, Sluice, Tap, event

t = Tap()


def line(i):
    return json.dumps(event(i, ["global"])) + "\n"


# -- fifo:PATH: writers come and go, the reader never sees end-of-file
d = tempfile.mkdtemp(prefix="sluice-fifo-")
fifo = os.path.join(d, "ingest.fifo")
sl = Sluice(conf={"ingest": "fifo:" + fifo})
t.ok(os.path.exists(fifo), "sluiced creates the named pipe")
a = sl.stream("tok12")
sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="g")
with open(fifo, "w") as f:
    f.write(line(1) + "garbage\n" + line(2))
t.eq([m["data"][0]["id"] for m in a.drain(0.5)], ["1", "2"], "lines written to the pipe are delivered")
with open(fifo, "w") as f:
    f.write(line(3))
t.eq([m["data"][0]["id"] for m in a.drain(0.5)], ["3"], "a second writer after the first closed")
p = subprocess.run([SLUICE_PUB, "-s", fifo], input=line(4).encode(), capture_output=True, timeout=10)
t.eq((p.returncode, p.stdout.strip()), (0, b"1 accepted, 0 rejected"), "sluice-pub writes to a named pipe")
t.eq([m["data"][0]["id"] for m in a.drain(0.5)], ["4"], "and its line arrives")
a.close()
sl.stop(t)
p = subprocess.run([SLUICE_PUB, "-s", fifo], input=line(5).encode(), capture_output=True, timeout=10)
t.ok(p.returncode == 2 and b"nobody reads" in p.stderr,
     "sluice-pub to a pipe nobody reads fails at once instead of hanging", p.stderr)
reg = os.path.join(d, "plain-file")
open(reg, "w").write("keep me\n")
p = subprocess.run([SLUICE_PUB, "-s", reg], input=line(6).encode(), capture_output=True, timeout=10)
t.ok(p.returncode == 2 and open(reg).read() == "keep me\n",
     "sluice-pub refuses a regular file and leaves it alone", p.stderr)

# -- stdin: the daemon reads records from its standard input
sl = Sluice(conf={"ingest": "stdin"}, stdin=subprocess.PIPE)
a = sl.stream("tok12")
sl.subscribe("tok12", "/posts/stream/global", a.cid, subscription_id="g")
sl.proc.stdin.write((line(10) + "{bad\n" + line(11)).encode())
sl.proc.stdin.flush()
t.eq([m["data"][0]["id"] for m in a.drain(0.5)], ["10", "11"], "ingest = stdin delivers what is piped in")
sl.proc.stdin.close()
time.sleep(0.3)
t.ok(sl.alive() and "end of stdin" in sl.log(), "end of stdin is logged and the daemon keeps serving")
st, _, doc = sl.subscribe("tok12", "/users/me/mentions", a.cid, subscription_id="m")
t.eq(st, 200, "the API still answers after stdin ended")
a.close()
sl.stop(t)
t.done()
