"""Resume and replay (SPEC 4.1, 4.2, 4.4, 5 "Resume") as a seeded
randomized property test.

Each run starts a sluiced and plays a random interleaving of: ingest
(1-5 events, or bursts of 50-500; random keys among eight, sometimes
listed twice, sometimes visible_to one or two users), consumers
connecting over chunked HTTP or WebSocket, graceful disconnects (all
that was owed was read), abrupt ones (the socket is closed unread in
the middle of a burst or of a replay; the next resume passes
cursor=<last cursor read>), resumes from the position or with a cursor
(the last one read or up to 40 events earlier), takeovers (of a
consumer that read everything, with or without cursor, or of one left
in the middle of a burst or of its replay), subscribe (new, the same
call again, another endpoint on the same subscription id), unsubscribe,
stream deletes, resumes of deleted, unknown and foreign ids, the
listing of streams, and an app stream that disconnects and comes back
with ?cursor=. Users 12, 34 and 56, up to two streams each; every
consumer is read by its own thread (a WebSocket one answers pings).

A model in Python says which events, with which subscription ids, each
consumer is owed: a replay owes the events after its start that are
visible to the user and match a subscription as it is at the resume
(created before the event); live delivery, those matching the
subscriptions as they are at ingest. Checked: each consumer reads
strictly increasing cursors and exactly (or, when dropped unread, a
prefix of) what it is owed, subscription_ids included; per stream, the
concatenation of what its consumers read, each start cutting off what
earlier ones read from there on, is strictly increasing and equals the
model's; takeovers keep the id and end the old consumer (4001 / end of
the chunked stream); deleted, unknown and foreign ids give a new id;
the listing matches. An app stream that reads every event (the
"observer"; it resumes with ?cursor= if a small send_buffer_limit
drops it) gives each event's cursor and tells when the dispatcher has
taken a publish. A graceful chunked disconnect is waited for (the
server notices at its next keepalives) before an event that stream
would match is published: until then the server may still write to
the closed socket, as the contract allows.

Model choice, from SPEC 4.3: "the same (connection_id,
subscription_id) again overwrites the subscription (idempotent)" - so
the same call again (same key) leaves the subscription, and what a
replay owes it, unchanged; another key makes it a new subscription
(only later events).

Seeds: $SEED (comma separated) runs those seeds; otherwise the fixed
seed and three seeds that once found bugs, and with $PROP_RANDOM=1 a
random one more, while the time budget lasts ($BUDGET, default 40 s for
the whole test). $STEPS: steps per run (default 250).
$OPS_OFF: comma separated op names to leave out (publish, burst,
connect, subscribe, unsubscribe, disconnect, resume, takeover, delete,
foreign, list, app_disconnect, app_connect; and resubscribe, abrupt,
takeover_mid, app for those variants); it changes the sequence a seed
gives. Each run prints its seed and send_buffer_limit (64K, 256K or
1M, from the seed); on a discrepancy, the ops that led to it. The
sequence of operations of a seed does not depend on timing; counts
(how far a reader got before a drop) may.

Then one scenario with replay_max_bytes = 64K: an absence longer than
the log gives a new connection_id (with and without cursor), a short
one resumes, an app stream resuming from an evicted cursor gets a gap
message naming the oldest retained cursor, then exactly the retained
events.
"""
import json
import os
import random
import re
import socket
import threading
import time

from sluice import RawWS, Sluice, Tap, event


# a sanitizer report is longer than 30 lines
t = Tap(diag_lines=400)
T0 = time.time()
BUDGET = float(os.environ.get("BUDGET", "40"))
STEPS = int(os.environ.get("STEPS", "250"))
OPS_OFF = set(filter(None, os.environ.get("OPS_OFF", "").split(",")))
FIXED_SEED = 20261123

USERS = ["12", "34", "56"]
TOKENS = dict(Sluice.DEFAULT_TOKENS)
# user 56 authorizes app1 too, so that app1's observer sees every event
TOKENS["tok56app1"] = ("user", "56", "app1")
UTOK = {"12": "tok12", "34": "tok34", "56": "tok56"}
SLOTS = 2                       # streams per user
KEYS = ["global", "posts:12", "posts:34", "tag:a", "tag:b",
        "mentions:12", "mentions:34", "mentions:56"]


def endpoints(user):
    """(endpoint, key) a user may subscribe to."""
    return [("/posts/stream/global", "global"), ("/users/12/posts", "posts:12"),
            ("/users/34/posts", "posts:34"), ("/posts/tag/a", "tag:a"),
            ("/posts/tag/b", "tag:b"), ("/users/me/mentions", "mentions:" + user),
            ("/users/12/mentions", "mentions:12"), ("/users/56/mentions", "mentions:56")]


class StopRun(Exception):
    pass


class Rng:
    """random.Random with one draw per call, whatever the bounds: the
    bounds may depend on timing (how far a reader got), the sequence of
    operations of a seed must not."""

    def __init__(self, seed):
        self.r = random.Random(seed)

    def random(self):
        return self.r.random()

    def randrange(self, n):
        return int(self.r.random() * n)

    def randint(self, a, b):
        return a + int(self.r.random() * (b - a + 1))

    def choice(self, seq):
        seq = list(seq)
        return seq[int(self.r.random() * len(seq))]

    def sample(self, seq, k):
        pool = list(seq)
        return [pool.pop(int(self.r.random() * len(pool))) for _ in range(k)]

    def getrandbits(self, n):
        return self.r.getrandbits(n)


# ---------------------------------------------------------------- clients

class WSClient:
    """RawWS's handshake, then frames read so that a timeout and the end
    of the connection are told apart; sends under a lock (the reader
    thread answers pings)."""

    def __init__(self, sl, path, token):
        self.raw = RawWS(sl, path, token=token)
        self.status = self.raw.status
        self.headers = self.raw.headers
        self.sock = self.raw.sock
        self.buf = self.raw.buf
        self.lock = threading.Lock()
        self.closed = False
        self.close_code = None
        self.close_sent = False

    def send(self, opcode, payload=b""):
        with self.lock:
            if self.closed:
                return
            try:
                self.raw.send_frame(opcode, payload)
            except OSError:
                pass

    def recv(self, timeout):
        """(opcode, payload), "timeout" or "eof"."""
        self.sock.settimeout(timeout)

        def need(n):
            while len(self.buf) < n:
                try:
                    c = self.sock.recv(65536)
                except socket.timeout:
                    return "timeout"
                except OSError:
                    return "eof"
                if not c:
                    return "eof"
                self.buf += c
            return None
        r = need(2)
        if r:
            return r
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7f, 2
        if n == 126:
            r = need(4)
            if r:
                return r
            n, off = int.from_bytes(self.buf[2:4], "big"), 4
        elif n == 127:
            r = need(10)
            if r:
                return r
            n, off = int.from_bytes(self.buf[2:10], "big"), 10
        r = need(off + n)
        if r:
            return r
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0f, payload

    def first_json(self, timeout=5):
        f = self.recv(timeout)
        if isinstance(f, tuple) and f[0] == 1:
            return json.loads(f[1])
        return None

    def close_socket(self):
        with self.lock:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def shutdown(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Reader(threading.Thread):
    """Reads one consumer connection continuously into .events (event
    messages) and .others (connection, gap, warning...). pause_at = n
    stops reading once n events were read (the rest stays unread)."""

    def __init__(self, kind, client, label):
        super().__init__(daemon=True)
        self.kind = kind            # "chunked" or "ws"
        self.c = client
        self.label = label
        self.events = []
        self.others = []
        self.pause_at = None
        self.paused = threading.Event()
        self.unpause = threading.Event()
        self.stop_flag = False
        self.done = threading.Event()
        self.end = None             # "ended" / "closed" / ("ws", code) / "stopped"
        self.error = None
        self.cv = threading.Condition()

    def _got(self, m):
        with self.cv:
            if "cursor" in m.get("meta", {}):
                self.events.append(m)
            else:
                self.others.append(m)
            self.cv.notify_all()

    def _maybe_pause(self):
        while (self.pause_at is not None and len(self.events) >= self.pause_at
               and not self.stop_flag):
            self.paused.set()
            self.unpause.wait(0.05)
            if self.unpause.is_set():
                self.unpause.clear()
                self.pause_at = None
                self.paused.clear()

    def run(self):
        try:
            if self.kind == "chunked":
                self.c._decode()    # body bytes that came with the headers
            while not self.stop_flag:
                self._maybe_pause()
                if self.stop_flag:
                    break
                if self.kind == "chunked":
                    m = self.c.next(0.2)
                    if m is None:
                        if self.c.ended:
                            self.end = "ended"
                            break
                        if self.c.closed:
                            self.end = "closed"
                            break
                        continue
                    self._got(m)
                else:
                    f = self.c.recv(0.2)
                    if f == "timeout":
                        continue
                    if f == "eof":
                        if self.end is None:
                            self.end = "closed"
                        break
                    op, payload = f
                    if op == 1:
                        self._got(json.loads(payload))
                    elif op == 9:
                        self.c.send(10, payload)
                    elif op == 8:
                        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 0
                        self.end = ("ws", code, payload[2:].decode(errors="replace"))
                        if not self.c.close_sent:
                            self.c.close_sent = True
                            self.c.send(8, payload[:2])
                        # the server closes the TCP connection next
                        while self.c.recv(0.5) not in ("eof", "timeout"):
                            pass
                        break
        except Exception as e:          # a reader must never die silently
            self.error = repr(e)
        if self.end is None:
            self.end = "stopped"
        self.done.set()
        with self.cv:
            self.cv.notify_all()

    def wait_events(self, n, timeout):
        deadline = time.time() + timeout
        with self.cv:
            while len(self.events) < n and not self.done.is_set():
                left = deadline - time.time()
                if left <= 0:
                    break
                self.cv.wait(left)
            return len(self.events) >= n


# ---------------------------------------------------------------- model

class Ev:
    __slots__ = ("idx", "id", "keys", "vis", "cursor")

    def __init__(self, idx, keys, vis):
        self.idx, self.id, self.keys, self.vis, self.cursor = idx, str(100000 + idx), keys, vis, None


class Stream:
    n = 0

    def __init__(self, user, slot, cid, created):
        Stream.n += 1
        self.name = "S%d(u%s)" % (Stream.n, user)
        self.user, self.slot, self.cid = user, slot, cid
        self.subs = {}              # sid -> [key, endpoint, since_idx]
        self.deleted = False
        self.consumers = []
        self.pos = created - 1      # index of the last event written (or -1)
        self.pos_known = True
        self.detaching = False      # consumer closed, server may not know yet

    def live(self):
        c = self.consumers[-1] if self.consumers else None
        return c if c is not None and c.state in ("live", "paused") else None

    def sids(self, ev):
        if ev.vis is not None and self.user not in ev.vis:
            return ()
        return tuple(sorted(sid for sid, (key, _, since) in self.subs.items()
                            if key in ev.keys and ev.idx >= since))


class Consumer:
    n = 0

    def __init__(self, owner, transport, start, how):
        Consumer.n += 1
        self.name = "C%d" % Consumer.n
        self.owner = owner          # Stream, or None for the app stream
        self.transport = transport
        self.start = start          # events with idx >= start are owed
        self.how = how
        self.expected = []          # [(idx, sids)]
        self.state = "live"         # live, paused, closed
        self.end_kind = None        # graceful, abrupt, takeover, deleted, ...
        self.reader = None
        self.client = None
        self.replayed = 0           # events owed at attach: the replay

    def got(self):
        return self.reader.events if self.reader else []


class Run:
    def __init__(self, seed):
        self.seed = seed
        self.rng = Rng(seed)
        self.sbl = self.rng.choice(["64K", "256K", "1M"])
        self.events = []
        self.id2idx = {}
        self.streams = []           # every Stream ever, in order
        self.slots = {u: [None] * SLOTS for u in USERS}
        self.log = []
        self.failures = {}
        self.stats = dict(resumes=0, cursor_resumes=0, takeovers=0, abrupt=0,
                          graceful=0, new_ids=0, deletes=0, subs=0, unsubs=0,
                          app_resumes=0, slow_drops=0, obs_resumes=0,
                          **{"takeovers_mid-burst": 0, "takeovers_mid-replay": 0})
        self.app = None             # Consumer of the resuming app stream
        self.app_consumers = []
        self.step_no = 0

    # -------------------------------------------------- plumbing
    def note(self, msg):
        self.log.append("%d: %s" % (self.step_no, msg))

    def fail(self, cat, msg):
        self.failures.setdefault(cat, []).append(
            "seed %d step %d: %s" % (self.seed, self.step_no, msg))
        t.diag("FAIL [%s] seed %d step %d: %s" % (cat, self.seed, self.step_no, msg))
        # the last ops, and every earlier one of the streams it names
        names = set(re.findall(r"S\d+\(u\d+\)", msg))
        tail = self.log[-30:]
        older = [l for l in self.log[:-30] if any(n + ":" in l or n + " " in l for n in names)]
        if older:
            t.diag("earlier ops of %s:" % ", ".join(sorted(names)))
            for l in older[-40:]:
                t.diag("  " + l)
        t.diag("the last ops:")
        for l in tail:
            t.diag("  " + l)
        raise StopRun()

    def start(self):
        conf = {"keepalive_interval": "200ms", "send_buffer_limit": self.sbl,
                "max_app_streams": "4", "app_keepalive": "600s",
                "log_level": "info"}
        self.sl = Sluice(conf=conf, tokens=TOKENS)
        for key in ("obs", "k2"):
            st, _, doc = self.sl.api("POST", "/stream/0/streams", "tokapp1",
                                     headers={"Content-Type": "application/json"},
                                     body=json.dumps({"object_types": ["post"],
                                                      "type": "long_poll", "key": key}).encode())
            assert st == 201, (st, doc)
        self.obs = self.open_app("obs", None)
        # a first event: every stream is created after a known cursor
        self.publish([Ev(0, ["nobody"], None)])

    def reopen_obs(self):
        """The observer fell behind (a small send_buffer_limit): it comes
        back with ?cursor= and goes on, without a gap or a duplicate."""
        old = self.obs.reader
        self.obs.client.close_socket()
        got = old.events
        path = "/v1/app?key=obs&access_token=tokapp1&cursor=" + got[-1]["meta"]["cursor"]
        c = WSClient(self.sl, path, None)
        first = c.first_json()
        if c.status != 101 or not first or first["meta"].get("type") != "connection":
            self.fail("observer", "observer resume: %r %r" % (c.status, first))
        r = Reader("ws", c, "obs")
        r.events = got          # one list across its connections
        r.others = old.others
        self.obs.client, self.obs.reader = c, r
        r.start()
        self.stats["obs_resumes"] += 1
        self.note("observer dropped as a slow consumer after %d events, resumes with cursor"
                  % len(got))

    def slow_drops_in_log(self):
        return self.sl.log().count("slow consumer")

    # -------------------------------------------------- consumers
    def open_user(self, user, transport, cid=None, cursor=None, token=None):
        q = {}
        if cid is not None:
            q["connection_id"] = cid
        if cursor is not None:
            q["cursor"] = cursor
        tok = token or UTOK[user]
        if transport == "chunked":
            c = self.sl.stream(tok, **q)
            if c.status != 200:
                self.fail("connect", "chunked connect answered %r" % c.status)
            return c, c.cid
        path = "/stream/user" + ("?" + "&".join("%s=%s" % kv for kv in q.items()) if q else "")
        c = WSClient(self.sl, path, tok)
        if c.status != 101:
            self.fail("connect", "WebSocket connect answered %r" % c.status)
        first = c.first_json()
        if not first or first["meta"].get("type") != "connection":
            self.fail("connect", "first WebSocket message is not the connection message: %r" % first)
        got = first["meta"]["connection_id"]
        if c.headers.get("connection-id") != got:
            self.fail("connect", "Connection-Id header %r differs from the first message %r"
                      % (c.headers.get("connection-id"), got))
        return c, got

    def start_reader(self, cons, client, transport, pause_at=None):
        cons.client = client
        cons.reader = Reader("chunked" if transport == "chunked" else "ws", client, cons.name)
        if pause_at is not None:
            cons.reader.pause_at = pause_at
            cons.state = "paused"
        cons.reader.start()

    def open_app(self, key, cursor):
        path = "/v1/app?key=%s&access_token=tokapp1" % key
        if cursor is not None:
            path += "&cursor=%s" % cursor
        c = WSClient(self.sl, path, None)
        if c.status != 101:
            self.fail("app", "app connect answered %r" % c.status)
        first = c.first_json()
        if not first or first["meta"].get("type") != "connection":
            self.fail("app", "first app message: %r" % first)
        cons = Consumer(None, "ws", len(self.events), "app")
        self.start_reader(cons, c, "ws")
        return cons

    # -------------------------------------------------- model helpers
    def cursor_of(self, idx):
        return self.events[idx].cursor

    def free_slot(self, user):
        for i, s in enumerate(self.slots[user]):
            if s is None or s.deleted:
                return i
        return None

    def alive_streams(self):
        return [s for u in USERS for s in self.slots[u] if s is not None and not s.deleted]

    def live_consumers(self):
        out = [s.live() for s in self.alive_streams()]
        return [c for c in out if c is not None]

    def replay_list(self, st, start):
        out = []
        for ev in self.events[max(start, 0):]:
            sids = st.sids(ev)
            if sids:
                out.append((ev.idx, sids))
        return out

    # -------------------------------------------------- sync and compare
    def compare(self, cons, exact):
        """The events cons read against what it is owed; exact: all of
        it (else a prefix)."""
        got = cons.got()
        exp = cons.expected
        who = cons.owner.name if cons.owner else "app k2"
        last = None
        for i, m in enumerate(got):
            meta = m["meta"]
            cur = int(meta["cursor"])
            if last is not None and cur <= last:
                self.fail("order", "%s %s: cursor %d after %d (message %d)"
                          % (who, cons.name, cur, last, i))
            last = cur
            d = m.get("data")
            eid = (d[0] if isinstance(d, list) else d)["id"]
            idx = self.id2idx.get(eid)
            if idx is None or self.events[idx].cursor != meta["cursor"]:
                self.fail("order", "%s %s: message %d, event %s with cursor %s unknown to the observer"
                          % (who, cons.name, i, eid, meta["cursor"]))
            if i >= len(exp):
                self.fail("model", "%s %s (%s, from idx %d, %s): message %d is event idx %d "
                          "(cursor %s), more than the %d owed; owed ends %r"
                          % (who, cons.name, cons.transport, cons.start, cons.how, i, idx,
                             meta["cursor"], len(exp), exp[-3:]))
            if exp[i][0] != idx:
                near = [e for e in exp if abs(e[0] - idx) < 3]
                self.fail("model", "%s %s (%s, from idx %d, %s): message %d is event idx %d, "
                          "owed idx %d (%d owed, %d read); owed near it %r; read before %r"
                          % (who, cons.name, cons.transport, cons.start, cons.how, i, idx,
                             exp[i][0], len(exp), len(got), near,
                             [self.id2idx.get(x["data"][0]["id"]) for x in got[max(0, i - 3):i]]
                             if cons.owner else None))
            if cons.owner is not None:
                if meta.get("connection_id") != cons.owner.cid:
                    self.fail("model", "%s %s: connection_id %r, the stream is %r"
                              % (who, cons.name, meta.get("connection_id"), cons.owner.cid))
                sids = tuple(sorted(meta.get("subscription_ids", [])))
                if sids != exp[i][1]:
                    self.fail("subscription_ids", "%s %s: event idx %d has subscription_ids %r, "
                              "the model says %r (subs now %r)"
                              % (who, cons.name, idx, list(sids), list(exp[i][1]), cons.owner.subs))
        if exact and len(got) != len(exp):
            self.fail("model", "%s %s (%s, from idx %d, %s): read %d events, owed %d; first missing %r"
                      % (who, cons.name, cons.transport, cons.start, cons.how, len(got),
                         len(exp), exp[len(got):len(got) + 3]))

    def sync_obs(self):
        n = len(self.events)
        while not self.obs.reader.wait_events(n, 10):
            r = self.obs.reader
            if r.done.is_set() and isinstance(r.end, tuple) and r.end[1:] == (1008, "buffer full"):
                self.reopen_obs()
                continue
            self.fail("observer", "the observer read %d of %d events (end %r)"
                      % (len(self.obs.got()), n, r.end))
        for ev, m in zip(self.events[len(self.obs.expected):], self.obs.got()[len(self.obs.expected):]):
            if m["data"]["id"] != ev.id:
                self.fail("observer", "observer: event %s where %s (idx %d) was published"
                          % (m["data"]["id"], ev.id, ev.idx))
            ev.cursor = m["meta"]["cursor"]
            self.obs.expected.append((ev.idx, ()))

    def sync(self, cons, timeout=8):
        """Wait until cons read all it is owed, then compare."""
        r = cons.reader
        if not r.wait_events(len(cons.expected), timeout):
            if r.done.is_set() and self.server_dropped(cons):
                return False
            self.compare(cons, False)
            self.fail("model", "%s %s (%s, from idx %d, %s): read %d of %d owed events in %ds "
                      "(reader: end %r, error %r); first missing %r"
                      % (cons.owner.name if cons.owner else "app", cons.name, cons.transport,
                         cons.start, cons.how, len(r.events), len(cons.expected), timeout,
                         r.end, r.error, cons.expected[len(r.events):len(r.events) + 3]))
        self.compare(cons, False)
        return True

    def server_dropped(self, cons):
        """A consumer the server ended on its own: only the slow-consumer
        rule may do that here. It then counts as an abrupt disconnect."""
        r = cons.reader
        slow = (r.end and r.end[0] == "ws" and r.end[2] == "buffer full") or \
            (cons.transport == "chunked" and self.slow_drops_in_log() >
             self.stats["slow_drops"] + self.stats["obs_resumes"])
        if not slow:
            return False
        self.stats["slow_drops"] += 1
        self.note("%s: the server dropped it as a slow consumer (%r) after %d of %d"
                  % (cons.name, r.end, len(r.events), len(cons.expected)))
        self.compare(cons, False)
        self.end_consumer(cons, "abrupt")
        return True

    def sync_all(self):
        self.sync_obs()
        for c in self.live_consumers():
            if c.state == "live":
                if not self.sync(c):
                    continue
        if self.app is not None and self.app.state == "live":
            self.sync(self.app)

    # -------------------------------------------------- ending consumers
    def end_consumer(self, cons, kind):
        cons.state = "closed"
        cons.end_kind = kind
        st = cons.owner
        if st is None:
            return
        if kind == "abrupt":
            st.pos_known = False
            self.stats["abrupt"] += 1
        else:
            got = cons.got()
            if got:
                idx = self.id2idx[got[-1]["data"][0]["id"]]
                st.pos = max(st.pos, idx) if st.pos_known else idx
            elif not st.pos_known:
                st.pos = cons.start - 1
            st.pos_known = True

    def close_graceful(self, cons):
        """Everything owed was read: close as a polite client does."""
        r = cons.reader
        if cons.transport == "ws":
            cons.client.close_sent = True
            cons.client.send(8, (1000).to_bytes(2, "big"))
            if not r.done.wait(3):
                self.fail("close", "%s: no answer to a close frame" % cons.name)
            if not (isinstance(r.end, tuple) and r.end[1] == 1000):
                self.fail("close", "%s: close answered with %r" % (cons.name, r.end))
            cons.client.close_socket()
        else:
            r.stop_flag = True
            try:
                cons.client.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            r.done.wait(1)
            cons.client.sock.close()
        self.compare(cons, True)
        self.end_consumer(cons, "graceful")
        if cons.owner is not None:
            cons.owner.detaching = True
        self.stats["graceful"] += 1

    def close_abrupt(self, cons):
        """cons.reader is paused (or done): drop the socket unread."""
        r = cons.reader
        r.stop_flag = True
        if cons.transport == "ws":
            cons.client.close_socket()
        else:
            cons.client.sock.close()
        r.done.wait(1)
        self.compare(cons, False)
        self.end_consumer(cons, "abrupt")

    def wait_detached(self, st):
        """Until the server has seen st's consumer go (a chunked stream
        notices at its next keepalives)."""
        deadline = time.time() + 5
        while time.time() < deadline:
            code, _, doc = self.sl.api("GET", "/stream/0/users/me/streams", UTOK[st.user])
            row = [r for r in doc["data"] if r["connection_id"] == st.cid]
            if not row or not row[0]["connected"]:
                st.detaching = False
                return
            time.sleep(0.02)
        self.fail("close", "%s: still connected 5 s after its consumer closed" % st.name)

    # -------------------------------------------------- ops
    def rand_event(self, idx):
        r = self.rng.random()
        keys = self.rng.sample(KEYS, self.rng.choice([1, 1, 2, 3]))
        if self.rng.random() < 0.4 and "global" not in keys:
            keys.append("global")
        if self.rng.random() < 0.1:
            keys.append(keys[0])            # a key listed twice
        vis = None
        if r < 0.25:
            vis = [self.rng.choice(USERS)]
        elif r < 0.3:
            vis = self.rng.sample(USERS, 2)
        return Ev(idx, keys, vis)

    def publish(self, evs, pause=None):
        """Ingest evs; every live consumer is owed what matches; pause:
        {consumer: n} readers to stop after n events."""
        for st in self.alive_streams():
            if st.detaching and any(st.sids(e) for e in evs):
                self.wait_detached(st)
        for e in evs:
            self.events.append(e)
            self.id2idx[e.id] = e.idx
            for st in self.alive_streams():
                c = st.live()
                if c is not None:
                    sids = st.sids(e)
                    if sids:
                        c.expected.append((e.idx, sids))
            if self.app is not None and self.app.state != "closed":
                self.app.expected.append((e.idx, ()))
        for c, n in (pause or {}).items():
            c.reader.pause_at = n
            c.state = "paused"
        recs = []
        for e in evs:
            rec = event(e.id, e.keys, data={"id": e.id, "text": "x" * self.rng.randint(5, 300)})
            if e.vis is not None:
                rec["visible_to"] = e.vis
            recs.append(rec)
        self.sl.publish(*recs)
        self.sync_all()

    def op_publish(self):
        n = self.rng.randint(1, 5)
        base = len(self.events)
        evs = [self.rand_event(base + i) for i in range(n)]
        self.note("publish %d events idx %d-%d" % (n, base, base + n - 1))
        self.publish(evs)

    def op_burst(self):
        n = self.rng.randint(50, 500)
        base = len(self.events)
        evs = [self.rand_event(base + i) for i in range(n)]
        # who will be owed what, to pick a victim that stops mid-burst
        owed = {}
        for c in self.live_consumers():
            if c.state == "live":
                k = sum(1 for e in evs if c.owner.sids(e))
                if k >= 2:
                    owed[c] = k
        pause, how = {}, []
        victims = sorted(owed, key=lambda c: c.name)
        mode = self.rng.random()
        takeover = None
        if victims and mode < 0.45 and "abrupt" not in OPS_OFF:
            v = self.rng.choice(victims)
            pause[v] = len(v.expected) + self.rng.randrange(owed[v])
            how.append("%s stops after %d and is dropped" % (v.name, pause[v]))
        elif victims and mode < 0.65 and "takeover_mid" not in OPS_OFF and \
                any(v.owner.pos_known for v in victims):
            # (where the stream's position was before is known: not
            # right after an abrupt disconnect)
            takeover = self.rng.choice([v for v in victims if v.owner.pos_known])
            pause[takeover] = len(takeover.expected) + self.rng.randrange(owed[takeover])
            how.append("%s stops after %d, then a takeover" % (takeover.name, pause[takeover]))
        x = self.rng.random()
        if self.app is not None and self.app.state == "live" and x < 0.2 \
                and "app" not in OPS_OFF:
            pause[self.app] = len(self.app.expected) + self.rng.randrange(n)
            how.append("app k2 stops after %d and is dropped" % pause[self.app])
        self.note("burst %d events idx %d-%d%s" % (n, base, base + n - 1,
                                                   "; " + ", ".join(how) if how else ""))
        self.publish(evs, pause)
        for c in pause:
            if not (c.reader.paused.wait(8) or c.reader.done.is_set()):
                self.fail("model", "%s never read %d events (read %d)"
                          % (c.name, c.reader.pause_at, len(c.got())))
        for c in pause:
            if c is takeover:
                self.takeover_paused(c, "mid-burst")
            elif c is self.app:
                self.close_abrupt(c)
            elif c.state != "closed":
                self.close_abrupt(c)

    def takeover_paused(self, old, where):
        """The old consumer stopped reading in the middle of a burst or
        of its replay; a new one takes over without a cursor and must go
        on from where the old one's writes got to: together they read
        what the old one was owed, with no gap and nothing twice."""
        st = old.owner
        transport = self.rng.choice(["chunked", "ws"])
        # every other time while the server may still be writing to
        # the paused consumer (its socket not yet full): a WebSocket
        # worker holds the connection's lock across a write that begins
        # frames, so a takeover in the middle of a write still resumes
        # exactly after what the old consumer gets. (Not drawn from the
        # rng: a seed's sequence of operations stays.)
        if self.stats["takeovers"] % 2:
            time.sleep(0.15)
        client, cid = self.open_user(st.user, transport, cid=st.cid)
        if cid != st.cid:
            self.fail("takeover", "%s: takeover got a new id" % st.name)
        old.reader.unpause.set()
        if not old.reader.done.wait(5):
            self.fail("takeover", "%s %s: the replaced consumer was not ended" % (st.name, old.name))
        end = old.reader.end
        # 4001, or 1008 if the slow-consumer rule came first, or a plain
        # close if the server dropped it for not answering pings
        ok_end = end in ("ended", "closed") if old.transport == "chunked" else (
            end == "closed" or isinstance(end, tuple) and end[1] in (4001, 1008))
        if not ok_end:
            self.fail("takeover", "%s %s: replaced consumer ended with %r" % (st.name, old.name, end))
        self.compare(old, False)
        got_old = [self.id2idx[m["data"][0]["id"]] for m in old.got()]
        # the stream's position is now the last event written to it:
        # by the old consumer (which read all it was written) or before
        assert st.pos_known
        pos = max([st.pos] + got_old)
        nxt = Consumer(st, transport, pos + 1, "takeover " + where)
        old.state = "closed"
        old.end_kind = "takeover-mid"
        st.pos = pos
        st.consumers.append(nxt)
        self.stats["takeovers"] += 1
        self.stats["takeovers_" + where] += 1
        # the new consumer goes on with what the old one was owed after
        # that: no gap, nothing twice
        nxt.expected = [e for e in old.expected if e[0] > pos]
        nxt.replayed = len(nxt.expected)
        self.start_reader(nxt, client, transport)
        self.note("takeover of %s %s by %s (%s): old read %d of %d, ended %r"
                  % (st.name, where, nxt.name, transport, len(got_old), len(old.expected), end))
        self.sync(nxt)

    def op_connect(self):
        users = [u for u in USERS if self.free_slot(u) is not None]
        user = self.rng.choice(users)
        transport = self.rng.choice(["chunked", "ws"])
        client, cid = self.open_user(user, transport)
        self.new_stream(user, cid, client, transport, "new")

    def new_stream(self, user, cid, client, transport, how):
        for s in self.streams:
            if s.cid == cid:
                self.fail("new_id", "a new stream got the id of %s" % s.name)
        slot = self.free_slot(user)
        st = Stream(user, slot, cid, len(self.events))
        self.slots[user][slot] = st
        self.streams.append(st)
        cons = Consumer(st, transport, len(self.events), how)
        st.consumers.append(cons)
        self.start_reader(cons, client, transport)
        self.note("%s: %s (%s), new stream %s by %s" % (st.name, how, transport, cid[:8], cons.name))
        self.op_subscribe(st)
        return st

    def op_subscribe(self, st=None):
        st = st or self.rng.choice(self.alive_streams())
        sid = self.rng.choice(["a", "b", "c", "d"])
        ep, key = self.rng.choice(endpoints(st.user))
        old = st.subs.get(sid)
        if old is not None and "resubscribe" in OPS_OFF:
            # no subscription again with the same key (not even by chance)
            ep, key = self.rng.choice([e for e in endpoints(st.user) if e[1] != old[0]])
        elif old is not None and self.rng.random() < 0.5:
            ep, key = old[1], old[0]        # the same call again
        code, _, doc = self.sl.subscribe(UTOK[st.user], ep, st.cid, subscription_id=sid)
        if code != 200 or doc["meta"].get("subscription_id") != sid:
            self.fail("subscribe", "%s: subscribe %s %s answered %r %r" % (st.name, sid, ep, code, doc and doc["meta"]))
        if old is not None and old[0] == key:
            old[1] = ep                     # idempotent: owed events stay owed
            what = "again (same key)"
        else:
            st.subs[sid] = [key, ep, len(self.events)]
            what = "overwrites %s" % old[0] if old else "new"
        self.stats["subs"] += 1
        self.note("%s: subscribe %s -> %s (%s) %s" % (st.name, sid, ep, key, what))

    def op_unsubscribe(self):
        st = self.rng.choice([s for s in self.alive_streams() if s.subs])
        sid = self.rng.choice(sorted(st.subs))
        code, _, _ = self.sl.api("DELETE", "/stream/0/users/me/streams/%s/%s" % (st.cid, sid),
                                 UTOK[st.user])
        if code != 204:
            self.fail("unsubscribe", "%s: DELETE of subscription %s answered %r" % (st.name, sid, code))
        code, _, _ = self.sl.api("DELETE", "/stream/0/users/me/streams/%s/%s" % (st.cid, sid),
                                 UTOK[st.user])
        if code != 404:
            self.fail("unsubscribe", "%s: a second DELETE of %s answered %r" % (st.name, sid, code))
        del st.subs[sid]
        self.stats["unsubs"] += 1
        self.note("%s: unsubscribe %s" % (st.name, sid))

    def op_disconnect(self):
        cons = self.rng.choice([c for c in self.live_consumers() if c.state == "live"])
        if not self.sync(cons):
            return
        self.close_graceful(cons)
        self.note("%s: %s closes gracefully after %d events" % (cons.owner.name, cons.name, len(cons.got())))

    def op_resume(self):
        cands = [s for u in USERS for s in self.slots[u]
                 if s is not None and (s.deleted or s.live() is None)]
        st = self.rng.choice(cands)
        transport = self.rng.choice(["chunked", "ws"])
        prev = st.consumers[-1] if st.consumers else None
        x = self.rng.random()
        use_cursor = not st.pos_known or x < 0.3
        if st.deleted:
            client, cid = self.open_user(st.user, transport, cid=st.cid)
            if cid == st.cid:
                self.fail("new_id", "%s: resuming a deleted stream kept its id" % st.name)
            self.stats["new_ids"] += 1
            self.new_stream(st.user, cid, client, transport, "resume of deleted %s" % st.name)
            return
        cursor = None
        if use_cursor:
            # the last event read, or (sometimes) an earlier one
            got = prev.got() if prev else []
            s = self.id2idx[got[-1]["data"][0]["id"]] + 1 if got else prev.start
            if self.rng.random() < 0.25:
                s = max(1, s - self.rng.randint(1, 40))
            cursor = self.cursor_of(s - 1)
        else:
            s = st.pos + 1
        client, cid = self.open_user(st.user, transport, cid=st.cid, cursor=cursor)
        if cid != st.cid:
            self.fail("resume", "%s: resume (%s) got a new id %s" % (st.name, "cursor" if cursor else "position", cid[:8]))
        st.detaching = False
        cons = Consumer(st, transport, s, "resume with cursor of idx %d" % (s - 1) if cursor else "resume from position")
        cons.expected = self.replay_list(st, s)
        cons.replayed = len(cons.expected)
        st.consumers.append(cons)
        self.stats["resumes"] += 1
        if cursor:
            self.stats["cursor_resumes"] += 1
        # sometimes it stops in the middle of the replay: dropped, or
        # taken over by a newer consumer
        x, k = self.rng.random(), self.rng.random()
        mode = None
        if len(cons.expected) >= 2 and x < 0.12 and "abrupt" not in OPS_OFF:
            mode = "dropped"
        elif len(cons.expected) >= 2 and x < 0.22 and "takeover_mid" not in OPS_OFF \
                and st.pos_known:
            mode = "taken over"
        pause_at = int(k * len(cons.expected)) if mode else None
        self.start_reader(cons, client, transport, pause_at)
        self.note("%s: %s (%s) %s, owed %d%s" % (st.name, cons.name, transport, cons.how,
                                                 len(cons.expected),
                                                 ", stops after %d, %s" % (pause_at, mode) if mode else ""))
        if mode:
            if not cons.reader.paused.wait(8):
                self.fail("model", "%s never read %d replayed events (read %d)"
                          % (cons.name, cons.reader.pause_at, len(cons.got())))
            if mode == "dropped":
                self.close_abrupt(cons)
            else:
                self.takeover_paused(cons, "mid-replay")
        else:
            self.sync(cons)

    def op_takeover(self):
        old = self.rng.choice([c for c in self.live_consumers() if c.state == "live"])
        st = old.owner
        if not self.sync(old):
            return
        transport = self.rng.choice(["chunked", "ws"])
        cursor = None
        s = None
        got = old.got()
        if self.rng.random() < 0.4:
            s = max(1, (self.id2idx[got[-1]["data"][0]["id"]] + 1 if got else old.start)
                    - self.rng.randint(0, 30))
            cursor = self.cursor_of(s - 1)
        client, cid = self.open_user(st.user, transport, cid=st.cid, cursor=cursor)
        if cid != st.cid:
            self.fail("takeover", "%s: takeover got a new id" % st.name)
        if not old.reader.done.wait(5):
            self.fail("takeover", "%s %s: the replaced consumer was not ended" % (st.name, old.name))
        end = old.reader.end
        if (old.transport == "chunked" and end != "ended") or \
                (old.transport == "ws" and not (isinstance(end, tuple) and end[1] == 4001)):
            self.fail("takeover", "%s %s: replaced consumer ended with %r, not 4001 / end of stream"
                      % (st.name, old.name, end))
        self.compare(old, True)
        self.end_consumer(old, "takeover")
        if s is None:
            s = st.pos + 1
        cons = Consumer(st, transport, s, "takeover" + (" with cursor of idx %d" % (s - 1) if cursor else ""))
        cons.expected = self.replay_list(st, s)
        cons.replayed = len(cons.expected)
        st.consumers.append(cons)
        self.stats["takeovers"] += 1
        self.start_reader(cons, client, transport)
        self.note("%s: %s (%s) takes over from %s (%s), owed %d"
                  % (st.name, cons.name, transport, old.name, cons.how, len(cons.expected)))
        old.client.close_socket() if old.transport == "ws" else old.client.sock.close()
        self.sync(cons)

    def op_delete(self):
        st = self.rng.choice(self.alive_streams())
        cons = st.live()
        if cons is not None and cons.state == "live" and not self.sync(cons):
            cons = None
        code, _, _ = self.sl.api("DELETE", "/stream/0/users/me/streams/" + st.cid, UTOK[st.user])
        if code != 204:
            self.fail("delete", "%s: DELETE answered %r" % (st.name, code))
        if cons is not None:
            if not cons.reader.done.wait(5):
                self.fail("delete", "%s: its consumer %s was not ended" % (st.name, cons.name))
            self.compare(cons, True)
            self.end_consumer(cons, "deleted")
            cons.client.close_socket() if cons.transport == "ws" else cons.client.sock.close()
        code, _, _ = self.sl.api("DELETE", "/stream/0/users/me/streams/" + st.cid, UTOK[st.user])
        if code != 404:
            self.fail("delete", "%s: a second DELETE answered %r" % (st.name, code))
        st.deleted = True
        st.detaching = False
        self.stats["deletes"] += 1
        self.note("%s: deleted%s" % (st.name, " (consumer %s ended)" % cons.name if cons else ""))

    def op_foreign(self):
        users = [u for u in USERS if self.free_slot(u) is not None]
        user = self.rng.choice(users)
        others = [s for s in self.streams if s.user != user]
        if others and self.rng.random() < 0.7:
            victim = self.rng.choice(others)
            cid, what = victim.cid, "foreign id of %s" % victim.name
        else:
            cid, what = "%032x" % self.rng.getrandbits(128), "unknown id"
        transport = self.rng.choice(["chunked", "ws"])
        client, got = self.open_user(user, transport, cid=cid,
                                     cursor=self.cursor_of(len(self.events) - 1)
                                     if self.rng.random() < 0.3 else None)
        if got == cid:
            self.fail("new_id", "resume of a %s gave that id" % what)
        self.stats["new_ids"] += 1
        self.new_stream(user, got, client, transport, "resume of " + what)

    def op_list(self):
        user = self.rng.choice(USERS)
        code, _, doc = self.sl.api("GET", "/stream/0/users/me/streams", UTOK[user])
        got = {r["connection_id"]: sorted((s["subscription_id"], s["key"]) for s in r["subscriptions"])
               for r in doc["data"]}
        want = {s.cid: sorted((sid, v[0]) for sid, v in s.subs.items())
                for s in self.slots[user] if s is not None and not s.deleted}
        if got != want:
            self.fail("listing", "user %s: listing %r, model %r" % (user, got, want))
        self.note("listing of user %s matches" % user)

    def op_app_disconnect(self):
        a = self.app
        self.sync(a)
        if self.rng.random() < 0.5:
            a.client.close_sent = True
            a.client.send(8, (1000).to_bytes(2, "big"))
            a.reader.done.wait(3)
            a.client.close_socket()
            self.compare(a, True)
            a.state = "closed"
            a.end_kind = "graceful"
        else:
            a.reader.stop_flag = True
            a.client.close_socket()
            a.reader.done.wait(1)
            self.compare(a, False)
            a.state = "closed"
            a.end_kind = "abrupt"
        self.note("app k2: %s disconnects (%s) after %d" % (a.name, a.end_kind, len(a.got())))

    def op_app_connect(self):
        prev = self.app
        cursor, s = None, len(self.events)
        if prev is not None:
            got = prev.got()
            s = self.id2idx[got[-1]["data"]["id"]] + 1 if got else prev.start
            if self.rng.random() < 0.25:
                s = max(1, s - self.rng.randint(1, 40))
            cursor = self.cursor_of(s - 1)
        a = self.open_app("k2", cursor)
        a.start = s
        a.how = "resume with cursor of idx %d" % (s - 1) if cursor else "connect"
        a.expected = [(e.idx, ()) for e in self.events[s:]]
        self.app = a
        self.app_consumers.append(a)
        if cursor:
            self.stats["app_resumes"] += 1
        self.note("app k2: %s %s, owed %d" % (a.name, a.how, len(a.expected)))
        self.sync(a)
        if any(m["meta"].get("type") == "gap" for m in a.reader.others):
            self.fail("app", "a gap message although nothing was evicted: %r" % a.reader.others)

    # -------------------------------------------------- the run
    def step(self):
        self.step_no += 1
        ops = []

        def add(name, w, cond=True):
            if cond and name not in OPS_OFF:
                ops.append((name, w))
        alive = self.alive_streams()
        livec = [c for c in self.live_consumers() if c.state == "live"]
        add("publish", 18)
        add("burst", 5)
        add("connect", 5, any(self.free_slot(u) is not None for u in USERS))
        add("subscribe", 10, bool(alive))
        add("unsubscribe", 4, any(s.subs for s in alive))
        add("disconnect", 8, bool(livec))
        add("resume", 12, any(s is not None and (s.deleted or s.live() is None)
                              for u in USERS for s in self.slots[u]))
        add("takeover", 4, bool(livec))
        add("delete", 1.5, bool(alive))
        add("foreign", 1, any(self.free_slot(u) is not None for u in USERS) and
            len(self.streams) < 40)
        add("list", 2)
        add("app_disconnect", 1.5, self.app is not None and self.app.state == "live")
        add("app_connect", 3, self.app is None or self.app.state == "closed")
        total = sum(w for _, w in ops)
        r = self.rng.random() * total
        for name, w in ops:
            r -= w
            if r < 0:
                break
        getattr(self, "op_" + name)()

    def finish(self):
        """Read every live consumer up, close them, then check each
        stream's whole history."""
        self.sync_all()
        time.sleep(0.3)     # anything extra would have arrived by now
        for c in self.live_consumers():
            self.compare(c, True)
        if self.app is not None and self.app.state == "live":
            self.compare(self.app, True)
        self.compare(self.obs, True)
        if any(m["meta"].get("type") == "gap" for m in self.obs.reader.others):
            self.fail("observer", "a gap message although nothing was evicted")
        for st in self.streams:
            self.check_stream(st)

    def check_stream(self, st):
        """The concatenation of what st's consumers read, each one's
        start cutting off what the earlier ones read from there on,
        against the same cut of what they were owed."""
        got, want = [], []
        for c in st.consumers:
            got = [x for x in got if x[0] < c.start]
            want = [x for x in want if x[0] < c.start]
            g = [(self.id2idx[m["data"][0]["id"]], tuple(sorted(m["meta"]["subscription_ids"])))
                 for m in c.got()]
            got += g
            # a consumer dropped unread was owed only what it read
            want += c.expected[:len(g)] if c.end_kind in ("abrupt", "takeover-mid") else c.expected
        idxs = [x[0] for x in got]
        if any(b <= a for a, b in zip(idxs, idxs[1:])):
            self.fail("order", "%s: the concatenation of its consumers is not strictly increasing: %r"
                      % (st.name, [(c.name, c.start, len(c.got())) for c in st.consumers]))
        if got != want:
            first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            self.fail("model", "%s: concatenation of %d consumers: %d events, model %d; "
                      "first difference at %d: %r / %r"
                      % (st.name, len(st.consumers), len(got), len(want), first,
                         got[first:first + 2], want[first:first + 2]))

    def close_all(self):
        for st in self.streams:
            for c in st.consumers:
                self._close_quiet(c)
        for c in self.app_consumers + [self.obs]:
            self._close_quiet(c)

    def _close_quiet(self, c):
        if c.reader is None:
            return
        c.reader.stop_flag = True
        try:
            if isinstance(c.client, WSClient):
                c.client.close_socket()
            else:
                c.client.sock.close()
        except OSError:
            pass


def run_seed(seed, steps, deadline):
    Stream.n = Consumer.n = 0
    r = Run(seed)
    t.diag("seed %d: up to %d steps, send_buffer_limit %s (reproduce: SEED=%d STEPS=%d)"
           % (seed, steps, r.sbl, seed, steps))
    started = time.time()
    try:
        r.start()
        while r.step_no < steps and time.time() < deadline:
            r.step()
        r.finish()
    except StopRun:
        pass
    except Exception as e:
        import traceback
        r.failures.setdefault("harness", []).append(traceback.format_exc())
        t.diag("harness error at seed %d step %d: %r" % (seed, r.step_no, e))
        for l in r.log[-15:]:
            t.diag("  " + l)
    r.close_all()
    if r.step_no < steps and not r.failures:
        t.diag("seed %d: the time budget stopped it at step %d (STEPS=%d to replay as far)"
               % (seed, r.step_no, r.step_no))
    st = r.stats
    t.diag("seed %d: %d steps, %d events, %d streams, %d consumers, %d resumes (%d with cursor), "
           "%d takeovers (%d mid-burst, %d mid-replay), %d abrupt, %d graceful, %d new ids, %d deletes, %d subscribes, "
           "%d unsubscribes, %d app resumes, %d slow-consumer drops (and %d of the observer), %.1f s"
           % (seed, r.step_no, len(r.events), len(r.streams),
              sum(len(s.consumers) for s in r.streams), st["resumes"], st["cursor_resumes"],
              st["takeovers"], st["takeovers_mid-burst"], st["takeovers_mid-replay"], st["abrupt"], st["graceful"], st["new_ids"], st["deletes"],
              st["subs"], st["unsubs"], st["app_resumes"], st["slow_drops"], st["obs_resumes"],
              time.time() - started))
    warned = [c for s in r.streams for c in s.consumers if c.reader and
              any(m["meta"].get("type") == "warning" for m in c.reader.others)]
    if warned:
        t.diag("seed %d: falling_behind warnings reached %d consumers: %s"
               % (seed, len(warned), ", ".join("%s (%s, replay of %d)" % (c.name, c.how, c.replayed)
                                              for c in warned)))
    bad = [f for v in r.failures.values() for f in v]
    t.ok(not bad, "seed %d: %d steps, %d events: every property holds" % (seed, r.step_no, len(r.events)),
         "\n".join(bad))
    r.sl.stop(t)
    return r


# ------------------------------------------------------------ runs

SMALL_RESERVE = 5      # seconds kept for the small-log scenario
if os.environ.get("SEED"):
    for seed in os.environ["SEED"].split(","):
        run_seed(int(seed), STEPS, T0 + max(BUDGET, 600))
else:
    run_seed(FIXED_SEED, STEPS, T0 + BUDGET - SMALL_RESERVE)
    # seeds that once found bugs (a use-after-free in the WebSocket
    # workers, a chunked takeover mid-replay), then, with PROP_RANDOM=1,
    # fresh random seeds: `make check` stays repeatable
    extra = [1840257292, 1782780070, 277050739]
    n = 0
    while n < 4 and time.time() - T0 < BUDGET - SMALL_RESERVE - 10:
        seed = extra[n] if n < len(extra) else None
        if seed is None and not os.environ.get("PROP_RANDOM"):
            break
        run_seed(seed or random.SystemRandom().randrange(1, 2 ** 31), STEPS,
                 T0 + BUDGET - SMALL_RESERVE)
        n += 1


# ------------------------------------------------------------ small log

def small_log_scenario():
    """replay_max_bytes small: an absence longer than the log gives a
    new connection_id, with or without cursor; a short one still
    resumes; an app stream resuming from an evicted cursor gets a gap
    message naming the oldest retained cursor, then exactly the
    retained events."""
    Stream.n = Consumer.n = 0
    r = Run(FIXED_SEED)
    conf = {"keepalive_interval": "200ms", "replay_max_bytes": "64K",
            "max_app_streams": "4", "app_keepalive": "600s"}
    r.sl = sl = Sluice(conf=conf, tokens=TOKENS)
    for key in ("obs", "k2"):
        sl.api("POST", "/stream/0/streams", "tokapp1", headers={"Content-Type": "application/json"},
               body=json.dumps({"object_types": ["post"], "type": "long_poll", "key": key}).encode())

    def evs(n, keys):
        base = len(r.events)
        return [Ev(base + i, keys, None) for i in range(n)]

    def stream(user, transport, sub_ep, sub_key):
        client, cid = r.open_user(user, transport)
        st = Stream(user, r.free_slot(user), cid, len(r.events))
        r.slots[user][st.slot] = st
        r.streams.append(st)
        sl.subscribe(UTOK[user], sub_ep, cid, subscription_id="s")
        st.subs["s"] = [sub_key, sub_ep, len(r.events)]
        cons = Consumer(st, transport, len(r.events), "new")
        st.consumers.append(cons)
        r.start_reader(cons, client, transport)
        return st

    try:
        r.obs = r.open_app("obs", None)
        r.publish(evs(1, ["nobody"]))
        # A is away long (ws, graceful close), B too (chunked, dropped,
        # comes back with a cursor), C stays, D is away briefly
        A = stream("12", "ws", "/posts/stream/global", "global")
        B = stream("34", "chunked", "/posts/stream/global", "global")
        C = stream("56", "ws", "/posts/stream/global", "global")
        D = stream("12", "chunked", "/posts/tag/a", "tag:a")
        r.publish(evs(5, ["global"]))
        r.close_graceful(A.consumers[-1])
        r.wait_detached(A)
        b = B.consumers[-1]
        b_last = b.got()[2]["meta"]["cursor"]
        b.reader.stop_flag = True
        b.client.sock.close()
        b.state = "closed"
        r.publish(evs(700, ["global"]))     # far more than 64K
        r.publish(evs(1, ["tag:a"]))
        r.close_graceful(D.consumers[-1])
        r.wait_detached(D)
        r.publish(evs(3, ["tag:a"]))
        t.eq(len(C.consumers[-1].got()), 705, "small log: a consumer that stays reads all 705 events")
        client, cid = r.open_user("12", "ws", cid=D.cid)
        t.eq(cid, D.cid, "small log: a short absence resumes the same stream")
        c2 = Consumer(D, "ws", D.pos + 1, "resume")
        c2.expected = r.replay_list(D, D.pos + 1)
        D.consumers.append(c2)
        r.start_reader(c2, client, "ws")
        r.sync(c2)
        time.sleep(0.2)
        r.compare(c2, True)
        t.eq(len(c2.got()), 3, "and reads exactly the 3 events it missed")
        client, cid = r.open_user("12", "chunked", cid=A.cid)
        t.ok(cid != A.cid, "small log: a resume whose position left the log gets a new connection_id")
        rows = sl.api("GET", "/stream/0/users/me/streams", "tok12")[2]["data"]
        t.eq(sorted((x["connection_id"], len(x["subscriptions"])) for x in rows),
             sorted([(cid, 0), (D.cid, 1)]),
             "the old stream is gone, the new one has no subscriptions")
        ra = Reader("chunked", client, "A2")
        ra.start()
        client_b, cid_b = r.open_user("34", "ws", cid=B.cid, cursor=b_last)
        t.ok(cid_b != B.cid, "small log: a resume with a cursor that left the log gets a new connection_id")
        rb = Reader("ws", client_b, "B2")
        rb.start()
        r.publish(evs(1, ["global"]))
        time.sleep(0.4)
        t.eq((len(ra.events), len(rb.events)), (0, 0), "the new streams read nothing (no subscriptions)")
        # the app stream resumes from the very first event: evicted
        first = r.events[0].cursor
        app = r.open_app("k2", first)
        deadline = time.time() + 8
        while time.time() < deadline and not app.reader.others:
            time.sleep(0.02)
        gaps = [m for m in app.reader.others if m["meta"].get("type") == "gap"]
        t.eq(len(gaps), 1, "app stream with an evicted cursor: one gap message")
        g = gaps[0]["meta"] if gaps else {}
        t.eq(g.get("from"), first, "gap.from is the cursor asked for")
        retained = [e for e in r.events if g.get("to") and int(e.cursor) >= int(g["to"])]
        t.ok(retained and retained[0].cursor == g.get("to") and retained[0].idx > 5,
             "gap.to is the cursor of the oldest retained event, after the evicted ones",
             "to %r, first cursors %r" % (g.get("to"), [e.cursor for e in r.events[:3]]))
        app.reader.wait_events(len(retained), 8)
        time.sleep(0.2)
        t.eq([m["data"]["id"] for m in app.got()], [e.id for e in retained],
             "then exactly the retained events, in order (%d of %d)" % (len(retained), len(r.events)))
        for rd in (ra, rb, app.reader):
            rd.stop_flag = True
        client_b.close_socket()
        client.close()
        app.client.close_socket()
    except StopRun:
        t.ok(False, "small log scenario", "\n".join(f for v in r.failures.values() for f in v))
    r.close_all()
    sl.stop(t)


small_log_scenario()
t.diag("total %.1f s" % (time.time() - T0))
t.done()
