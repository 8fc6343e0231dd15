"""examples/ and `make install` (issue 6): the commented config passes
`sluiced -t` and holds every key at its default; the demo producer's
records are accepted and routed as documented, and reach a user stream
(several types, a mention on mentions:U); the client snippets
(user_stream.py, app_stream.py, curl.sh) and what `make run`'s
run-demo prints work against a real sluiced; `make install` puts the
programs, man pages, config example and systemd unit in place and every
installed man page passes mandoc's lint."""
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

from sluice import BUILD, SLUICE_PUB, SLUICED, SRC, Sluice, Tap

PY = "/usr/bin/python3"
EX = os.path.join(SRC, "examples")
PRODUCER = os.path.join(EX, "demo-producer.py")
USER_STREAM = os.path.join(EX, "clients", "user_stream.py")
APP_STREAM = os.path.join(EX, "clients", "app_stream.py")
CURL_SH = os.path.join(EX, "clients", "curl.sh")
CONF = os.path.join(EX, "sluiced.conf")

t = Tap()
tmp = tempfile.mkdtemp(prefix="sluice-examples-")


def run(cmd, timeout=60, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    return p.returncode, p.stdout, p.stderr


# ---- examples/sluiced.conf ----

table = re.findall(r'\{ "(\w+)", K_\w+, OFF\(\w+\), (NULL|"[^"]*")',
                   open(os.path.join(SRC, "lib", "config.c")).read())
defaults = {k: (None if d == "NULL" else d.strip('"')) for k, d in table}
t.ok(len(defaults) >= 19, "lib/config.c's key table read (%d keys)" % len(defaults))
set_keys, commented = {}, {}
for line in open(CONF):
    m = re.match(r"^(#?)(\w+)\s*(?:=\s*|\s+(?=/))(.*?)\s*$", line)
    if m and m.group(2) in defaults:
        (commented if m.group(1) else set_keys).setdefault(m.group(2), []).append(m.group(3))
missing = [k for k in defaults if k not in set_keys and k not in commented]
t.eq(missing, [], "examples/sluiced.conf has a line for every key of lib/config.c")
wrong = ["%s = %s (default %s)" % (k, v[0], defaults[k]) for k, v in set_keys.items()
         if k != "route" and (defaults[k] is None or v != [defaults[k]])]
t.eq(wrong, [], "each key that is set holds its default; those without one are commented out")
t.eq(len(set_keys.get("route", [])), 2, "two example route lines")
rc, out, err = run([SLUICED, "-t", "-c", CONF], cwd=tmp)
t.eq((rc, out.strip(), err), (0, "configuration ok", ""),
     "sluiced -t -c examples/sluiced.conf, from another directory")
# the commented-out examples are valid values too
alt = os.path.join(tmp, "all.conf")
open(os.path.join(tmp, "tokens"), "w").close()
# -t checks that the TLS files exist and match: give it a real pair
cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"],
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
with open(alt, "w") as f:
    for line in open(CONF):
        m = re.match(r"^#(\w+) = ", line)
        if m and m.group(1) in defaults:
            line = line[1:]
            if m.group(1) == "tokens_file":
                line = "tokens_file = %s/tokens\n" % tmp
            elif m.group(1) in ("tls_cert", "tls_key"):
                line = "%s = %s\n" % (m.group(1), cert if m.group(1) == "tls_cert" else key)
        f.write(line)
rc, out, err = run([SLUICED, "-t", "-c", alt], cwd=tmp)
t.eq((rc, out.strip()), (0, "configuration ok"), "with its commented-out examples enabled too")

# ---- the demo producer, offline: records and routing keys ----

rc, out, err = run([PY, PRODUCER, "-o", "-", "-n", "6000", "-r", "0", "--seed", "7"])
recs = [json.loads(l) for l in out.splitlines()]
t.ok(rc == 0 and len(recs) >= 6000, "demo-producer -o - -n 6000 writes records (%d)" % len(recs),
     err[-2000:])
rc, pout, perr = run([SLUICE_PUB, "-n"], input=out)
t.eq((rc, pout.strip()), (0, "%d accepted, 0 rejected" % len(recs)),
     "sluice-pub -n accepts every record")
types = {r["type"] for r in recs if "type" in r}
want = {"post", "message", "follow", "bookmark", "channel", "channel_subscription",
        "file", "user", "token"}
t.eq(sorted(want - types), [], "every kind of object is produced")
t.ok({r["action"] for r in recs if r.get("type") == "post"} == {"create", "delete"} and
     any(r.get("action") == "delete" for r in recs if r.get("type") == "message") and
     any(r.get("action") == "delete" for r in recs if r.get("type") == "follow"),
     "deletes of posts, messages and follows")
ops = [r for r in recs if r.get("op") == "token"]
t.ok(any(r.get("app") and r["token"] == "demo-app" for r in ops) and
     any(r["token"] == "demo-alice" and r["user_id"] == "1" for r in ops) and
     any(r["action"] == "revoke" for r in ops),
     "token records: the app token, demo-alice, later grants and revokes")

followers, post_keys, problems = {}, {}, []
stats = {"mention": 0, "leading": 0, "reply": 0, "repost": 0, "tag": 0}
for r in recs:
    ty, keys = r.get("type"), set(r.get("keys") or [])
    if ty == "follow":
        a, b = r["data"]["user"]["id"], r["data"]["follows_user"]["id"]
        (followers.setdefault(b, set()).add if r["action"] == "create"
         else followers.setdefault(b, set()).discard)(a)
        if keys != {"followers:" + b, "following:" + a, "interactions:" + b}:
            problems.append(("follow keys", r["id"], sorted(keys)))
    elif ty == "post" and r["action"] == "create":
        d, u = r["data"], r["data"]["user"]["id"]
        need = {"posts:" + u, "stream:" + u, "unified:" + u, "thread:" + d["thread_id"]}
        need |= {"stream:" + f for f in followers.get(u, ())}
        if "repost_of" in d:
            stats["repost"] += 1
            need |= {"thread:" + d["repost_of"]["thread_id"]}
            need.discard("thread:" + d["thread_id"])
            if "global" in keys:
                problems.append(("repost on global", r["id"]))
        else:
            need.add("global")
            c = d["content"]
            for m in c["entities"]["mentions"]:
                stats["mention"] += 1
                need |= {"mentions:" + m["id"], "unified:" + m["id"]}
                if c["text"][m["pos"]:m["pos"] + m["len"]] != "@" + m["text"]:
                    problems.append(("mention pos/len", r["id"]))
                if m["is_leading"] != (m["pos"] == 0):
                    problems.append(("is_leading", r["id"]))
                stats["leading"] += m["is_leading"]
            for tg in c["entities"]["tags"]:
                stats["tag"] += 1
                need.add("tag:" + tg["text"])
                if c["text"][tg["pos"]:tg["pos"] + tg["len"]] != "#" + tg["text"]:
                    problems.append(("tag pos/len", r["id"]))
            if "html" not in c or "<" not in c["html"]:
                problems.append(("html", r["id"]))
            if "reply_to" in d:
                stats["reply"] += 1
        if need - keys:
            problems.append(("post keys", r["id"], sorted(need - keys)))
        post_keys[r["id"]] = keys
    elif ty == "post" and r["action"] == "delete":
        if keys != post_keys.get(r["id"]):
            problems.append(("delete keys differ from the post's", r["id"]))
    elif ty == "message" and r["action"] == "create":
        members = r["meta"]["subscribed_user_ids"]
        if sorted(r["visible_to"]) != sorted(members) or \
                keys != {"messages:" + r["data"]["channel_id"]} | {"channels:" + m for m in members} or \
                r["meta"]["channel_type"] not in ("io.pnut.core.pm", "io.pnut.core.chat"):
            problems.append(("message", r["id"]))
    elif ty == "file":
        d = r["data"]
        if keys != {"files:" + d["user"]["id"]} or \
                (r.get("visible_to") != (None if d["is_public"] else [d["user"]["id"]])):
            problems.append(("file", r["id"]))
    elif ty == "token":
        if r.get("visible_to") != [r["data"]["user"]["id"]] or \
                any(o["token"] in json.dumps(r["data"]) for o in ops):
            problems.append(("token event", r["id"]))
t.eq(problems[:10], [], "routing keys, visible_to and entities as documented in demo-producer.py")
t.ok(all(stats.values()) and stats["leading"] < stats["mention"],
     "mentions (leading and not), hashtags, replies and reposts all occur", stats)

# ---- the producer against a live sluiced, its tokens through the pipe ----

sl = Sluice(tokens={})
prod = subprocess.Popen([PY, PRODUCER, "-s", sl.sock, "-r", "150", "-d", "90", "--seed", "11"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
deadline = time.time() + 15
while time.time() < deadline:
    st, _, _ = sl.api("GET", "/stream/0/users/me/streams", "demo-alice")
    if st == 200:
        break
    time.sleep(0.1)
t.eq(st, 200, "demo-alice works once the producer has connected (granted through the pipe)")
alice = sl.stream("demo-alice", auto_delete="1")
subs = {"unified": "/posts/stream/unified", "mentions": "/users/me/mentions",
        "channels": "/users/me/channels", "interactions": "/users/me/interactions",
        "files": "/users/me/files", "followers": "/users/1/followers",
        "bookmarks": "/users/me/bookmarks"}
codes = {sid: sl.subscribe("demo-alice", ep, alice.cid, subscription_id=sid, count=0)[0]
         for sid, ep in subs.items()}
t.eq(set(codes.values()), {200}, "alice subscribes to 7 endpoints", )
seen, by_sub, msgs = set(), {}, []
deadline = time.time() + 30
while time.time() < deadline and not ({"post", "message", "follow", "file"} <= seen and
                                      "mentions" in by_sub and len(msgs) >= 40):
    m = alice.next(1.0)
    if m is None:
        continue
    msgs.append(m)
    seen.add(m["meta"]["type"])
    for sid in m["meta"].get("subscription_ids", []):
        by_sub.setdefault(sid, []).append(m)
t.ok({"post", "message", "follow", "file"} <= seen,
     "events of several types reach alice's stream: %s" % ", ".join(sorted(seen)))
ment = [m for m in by_sub.get("mentions", []) if m["meta"]["type"] == "post"]
t.ok(ment and all(any(x["id"] == "1" for x in m["data"][0]["content"]["entities"]["mentions"])
                  for m in ment),
     "a post mentioning alice arrives on mentions:1 (%d)" % len(ment))
t.ok(all("1" in m["meta"].get("subscribed_user_ids", ["1"]) for m in msgs
         if m["meta"]["type"] in ("message", "channel", "channel_subscription")),
     "every channel event alice gets is of a channel she is in (visible_to)")
cursors = [int(m["meta"]["cursor"]) for m in msgs]
t.ok(cursors == sorted(set(cursors)), "in cursor order, no duplicates")
alice.close()

# ---- examples/clients against it ----

rc, out, err = run([PY, USER_STREAM, "--server", sl.base, "--token", "demo-bob",
                    "--max-events", "8", "--drop-after", "4", "--timeout", "40"], timeout=60)
lines = out.splitlines()
ev = [l for l in lines if l.startswith("#")]
t.eq(rc, 0, "user_stream.py --max-events 8 --drop-after 4 exits 0")
m = re.search(r"^\* new stream (\w+)$", out, re.M)
t.ok(m and len(re.findall(r"^\* subscribed \S+ as \w+: 200$", out, re.M)) == 4,
     "it opens a stream and subscribes it through the JSON API", out + err)
t.ok(m and re.search(r"^\* resumed stream %s after cursor \d+$" % m.group(1), out, re.M),
     "after the dropped connection it resumes the same stream with its cursor", out)
evc = [int(re.match(r"#(\d+) ", l).group(1)) for l in ev]
t.ok(len(ev) == 8 and evc == sorted(set(evc)) and
     all(re.match(r"#\d+ \w+( deleted)? \[[\w,]+\] .+", l) for l in ev),
     "8 events printed, cursors increasing across the resume", out)
t.ok(re.search(r"^\* deleted stream \w+: 204$", out, re.M), "and deletes its stream at the end", out)

rc, out, err = run([PY, APP_STREAM, "--server", sl.base, "--token", "demo-app", "--key", "ex_test",
                    "--types", "post", "--tag", "coffee", "--max-events", "3",
                    "--timeout", "40"], timeout=60)
ev = [l for l in out.splitlines() if l.startswith("#")]
t.eq(rc, 0, "app_stream.py --tag coffee --max-events 3 exits 0")
t.ok("* created stream ex_test" in out and "/data/content/entities/tags/*/text" in out,
     "it creates the app stream with a filter", out + err)
t.ok(len(ev) == 3 and all(re.match(r"#\d+ post @\w+: .*#coffee", l) for l in ev),
     "and prints only posts tagged #coffee", out)
rc, out, err = run([PY, APP_STREAM, "--server", sl.base, "--token", "demo-app", "--key", "ex_test",
                    "--types", "user,token,follow", "--keepalive", "0.3", "--timeout", "3",
                    "--delete"], timeout=30)
ev = [l for l in out.splitlines() if l.startswith("#")]
t.eq(rc, 0, "app_stream.py --timeout 3 (no --max-events) exits 0")
t.ok("* updated stream ex_test" in out and ev and
     all(re.match(r"#\d+ (user|token|follow)( deleted)? ", l) for l in ev),
     "run again it updates the stream (PUT) and gets the new types", out + err)
t.ok(re.search(r"^\* pong$", out, re.M), "its text keepalives are answered with pong", out)
t.ok("* deleted stream ex_test: 200" in out, "--delete deletes the stream", out)

if shutil.which("curl"):
    rc, out, err = run(["sh", CURL_SH, "demo-carol"], timeout=30,
                       env=dict(os.environ, SLUICE_URL=sl.base, SLUICE_WATCH="4"))
    msgs = [json.loads(l) for l in out.splitlines() if l.strip()]
    t.eq(rc, 0, "curl.sh with SLUICE_WATCH=4 exits 0")
    t.eq(len(re.findall(r"subscribed \S+: 200", err)), 3, "curl.sh subscribes 3 endpoints")
    t.ok(any(m["meta"].get("type") == "post" for m in msgs), "and prints the events (%d)" % len(msgs),
         out[-1500:] + err)
else:
    t.skip("curl.sh", "curl is not installed")

prod.send_signal(signal.SIGTERM)
try:
    pout, perr = prod.communicate(timeout=10)
except subprocess.TimeoutExpired:
    prod.kill()
    pout, perr = prod.communicate()
t.ok(prod.returncode == 0 and re.search(r"demo-producer: \d+ records in", perr),
     "the producer stops on SIGTERM and says what it wrote", perr[-1000:])
t.ok(not re.search(r"rejected", sl.log()), "sluiced rejected none of its records",
     sl.log()[-2000:])
sl.stop(t)

# ---- run-demo (`make run`): what it prints works ----

demo_dir = os.path.join(tmp, "demo")
demo = subprocess.Popen([os.path.join(EX, "run-demo"), BUILD], stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True, start_new_session=True,
                        env=dict(os.environ, SLUICE_DEMO_LISTEN="127.0.0.1:0",
                                 SLUICE_DEMO_ADMIN="", SLUICE_DEMO_DIR=demo_dir,
                                 SLUICE_DEMO_RATE="100"))
text = ""
deadline = time.time() + 30
while time.time() < deadline and "Press Ctrl-C" not in text:
    line = demo.stdout.readline()
    if not line:
        break
    text += line
t.ok("Press Ctrl-C to stop." in text, "run-demo starts and prints its instructions", text[-3000:])
cmds = re.sub(r"\\\n\s*", "", text)       # join continued lines
url = re.search(r"running on (http://127\.0\.0\.1:\d+)", cmds)
base = url.group(1) if url else "http://127.0.0.1:1"
open_cmd = re.search(r"^\s*(curl -sN -D - .*/stream/user)$", cmds, re.M)
sub_cmds = re.findall(r"^\s*(curl -s -H .*connection_id=CONNECTION_ID')$", cmds, re.M)
t.ok(open_cmd and len(sub_cmds) == 3, "it shows a stream command and 3 subscribe commands", cmds)
if open_cmd and sub_cmds:
    hdr = os.path.join(tmp, "stream.out")
    with open(hdr, "w") as f:
        stream = subprocess.Popen(["bash", "-c", open_cmd.group(1) + " --max-time 5"], stdout=f)
    cid = None
    for _ in range(100):
        m = re.search(r"^connection-id: *(\w+)", open(hdr).read(), re.M | re.I)
        if m:
            cid = m.group(1)
            break
        time.sleep(0.05)
    answers = [run(["bash", "-c", c.replace("CONNECTION_ID", cid or "none")])[1] for c in sub_cmds]
    ok = [json.loads(a)["meta"]["code"] for a in answers if a.strip().startswith("{")]
    t.eq(ok, [200, 200, 200], "the printed subscribe commands work with its Connection-Id")
    stream.wait(timeout=15)
    body = open(hdr).read()
    t.ok(re.search(r'^\{"meta":\{"connection_id":"%s".*"type":"post"' % cid, body, re.M),
         "and events flow into the printed curl stream", body[-1500:])
else:
    t.ok(False, "the printed subscribe commands work")
    t.ok(False, "and events flow into the printed curl stream")
for name, extra, want in [("user_stream.py", ["--max-events", "3", "--timeout", "30"], r"^#\d+ "),
                          ("app_stream.py", ["--max-events", "3", "--timeout", "30", "--delete"],
                           r"^#\d+ (?!post )|^#\d+ post .*#coffee")]:
    m = re.search(r"^\s*(/usr/bin/python3 \S+/%s .*)$" % name, cmds, re.M)
    if m:
        # app_stream.py --tag: posts only with the tag, other types all
        rc, out, err = run(shlex.split(m.group(1)) + extra, timeout=45)
        t.ok(rc == 0 and len(re.findall(r"^#", out, re.M)) == 3 and
             len(re.findall(want, out, re.M)) == 3,
             "the printed %s command works" % name, out + err)
    else:
        t.ok(False, "run-demo prints a %s command" % name, cmds)
m = re.search(r"^\s*(SLUICE_URL=\S+ \S+/curl\.sh demo-alice)$", cmds, re.M)
if m and shutil.which("curl"):
    rc, out, err = run(["bash", "-c", "SLUICE_WATCH=3 " + m.group(1)], timeout=30)
    t.ok(rc == 0 and '"type":"post"' in out, "the printed curl.sh command works", err)
else:
    t.ok(bool(m), "run-demo prints a curl.sh command", cmds)
st = None
m = re.search(r"^\s*file://(\S+)\?server=ws://[\d.:]+&token=(\S+)&key=(\w+)$", cmds, re.M)
if m:
    import urllib.request
    req = urllib.request.Request(base + "/stream/0/streams/" + m.group(3),
                                 headers={"Authorization": "Bearer " + m.group(2)})
    try:
        st = urllib.request.urlopen(req, timeout=5).status
    except Exception as e:
        st = str(e)
t.ok(m and os.path.exists(m.group(1)) and st == 200,
     "the browser page it names exists, with its app stream", (st, cmds))
m = re.search(r"^\s*(echo '.*' \| \S+/sluice-pub -s \S+)$", cmds, re.M)
rc, out, err = run(["bash", "-c", m.group(1)] if m else ["false"])
t.eq(out.strip(), "1 accepted, 0 rejected", "the printed sluice-pub command works")
os.killpg(demo.pid, signal.SIGINT)
try:
    demo.wait(timeout=15)
except subprocess.TimeoutExpired:
    os.killpg(demo.pid, signal.SIGKILL)
    demo.wait()
t.eq(demo.returncode, 0, "run-demo stops on Ctrl-C (SIGINT) and exits 0")
t.ok(not os.path.exists(os.path.join(demo_dir, "sluice-ingest.sock")),
     "its sluiced is gone (ingest socket removed)")

# ---- make install ----

dest = os.path.join(tmp, "inst")
env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE") and k != "MFLAGS"}
rc, out, err = run(["make", "-s", "-C", BUILD, "install", "DESTDIR=" + dest], timeout=300, env=env)
t.ok(rc == 0, "make install DESTDIR=... in the build directory", (out + err)[-3000:])
files = sorted(os.path.relpath(os.path.join(d, f), dest)
               for d, _, fs in os.walk(dest) for f in fs)
t.diag("installed:\n  " + "\n  ".join(files))


def one(pattern):
    hits = [f for f in files if re.search(pattern, f)]
    return hits[0] if len(hits) == 1 else None


binp = {p: one(r"(^|/)bin/%s$" % p) for p in ("sluiced", "sluice-pub", "sluice-bench")}
t.ok(all(binp.values()) and all(os.access(os.path.join(dest, f), os.X_OK) for f in binp.values()),
     "sluiced, sluice-pub and sluice-bench in bin", binp)
mans = {p: one(r"/man/man%s/%s$" % (p[-1], re.escape(p)))
        for p in ("sluiced.8", "sluiced.conf.5", "sluice-ingest.7", "sluice-pub.1", "sluice-bench.1")}
t.ok(all(mans.values()), "the five man pages", mans)
lint = {}
for p, f in mans.items():
    if f:
        rc, out, err = run(["mandoc", "-T", "lint", "-W", "warning", os.path.join(dest, f)])
        if out or err:
            lint[p] = out + err
t.eq(lint, {}, "every installed man page passes mandoc -T lint -W warning silently")
conf_ex = one(r"/sluice/sluiced\.conf\.example$")
conf = one(r"/sluice/sluiced\.conf$")
t.ok(conf_ex and conf and open(os.path.join(dest, conf_ex)).read() == open(CONF).read(),
     "sysconfdir/sluice/sluiced.conf.example, and sluiced.conf made from it", files)
unit = one(r"/systemd/system/sluiced\.service$")
t.ok(unit, "the systemd unit", files)
if unit and conf and binp["sluiced"]:
    u = open(os.path.join(dest, unit)).read()
    want_exec = "ExecStart=/%s -c /%s" % (binp["sluiced"], conf)
    t.ok(want_exec + "\n" in u, "its ExecStart names the installed sluiced and config", u)
    t.ok("@" not in re.sub(r"(?m)^#.*$", "", u) and
         all(d in u for d in ("Type=simple", "ExecReload=/bin/kill -HUP $MAINPID",
                              "DynamicUser=yes", "LimitNOFILE=1048576",
                              "RuntimeDirectory=sluice", "NoNewPrivileges=yes",
                              "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes")),
         "no placeholder left; the directives asked for are there")
    rc, out, err = run([os.path.join(dest, binp["sluiced"]), "-t", "-c", os.path.join(dest, conf)])
    t.eq((rc, out.strip()), (0, "configuration ok"), "the installed sluiced accepts the installed config")
docs = [f for f in files if "/doc/" in f]
t.ok(any(f.endswith("examples/demo-producer.py") for f in docs) and
     any(f.endswith("examples/clients/user_stream.py") for f in docs) and
     any(f.endswith("examples/web/index.html") for f in docs) and
     any(f.endswith("/README.md") for f in docs),
     "README, examples and clients in docdir", docs)
# an edited config survives a reinstall and an uninstall
if conf:
    with open(os.path.join(dest, conf), "a") as f:
        f.write("log_level = debug\n")
rc, out, err = run(["make", "-s", "-C", BUILD, "install", "DESTDIR=" + dest], timeout=300, env=env)
edited = conf and open(os.path.join(dest, conf)).read().endswith("log_level = debug\n")
t.ok(rc == 0 and edited, "make install again leaves an edited sluiced.conf alone")
rc, out, err = run(["make", "-s", "-C", BUILD, "uninstall", "DESTDIR=" + dest], timeout=300, env=env)
left = sorted(os.path.relpath(os.path.join(d, f), dest) for d, _, fs in os.walk(dest) for f in fs)
t.ok(rc == 0 and left == [conf], "make uninstall removes everything but the edited config", left)

shutil.rmtree(tmp, ignore_errors=True)
t.done()
