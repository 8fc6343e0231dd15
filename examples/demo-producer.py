#!/usr/bin/python3
"""demo-producer.py - a small, believable social network feeding sluice.

Simulates users who post (with mentions and hashtags), reply, follow,
star, and send private messages in channels, and writes each change as an
ingest record (sluice-ingest(7)) to a running sluiced's ingest socket,
with the routing keys a real backend would compute (fan-out on write).

  demo-producer.py [-s SOCKET] [-r EVENTS_PER_SECOND] [-n COUNT] [--tokens FILE]

--tokens FILE writes a tokens file (sluiced.conf(5) tokens_file) for the
demo users first: token "demo-<name>" for each user, "demo-app" for the app.
"""
import argparse
import json
import random
import socket
import sys
import time

USERS = [("1", "alice"), ("2", "bob"), ("3", "carol"), ("4", "dave"),
         ("5", "erin"), ("6", "frank"), ("7", "grace"), ("8", "heidi")]
TAGS = ["sluice", "streaming", "appdotnet", "pnut", "coffee", "music", "cats", "c"]
WORDS = ("the of streams are fast today tomorrow a new post about why this is "
         "lovely what do you think coffee and long-lived connections").split()


class Network:
    def __init__(self, seed):
        self.rnd = random.Random(seed)
        self.next_id = 1000
        self.followers = {u: set() for u, _ in USERS}
        self.posts = []
        self.channels = {}

    def new_id(self):
        self.next_id += 1
        return str(self.next_id)

    def user(self, uid):
        name = dict(USERS)[uid]
        return {"id": uid, "username": name, "name": name.title()}

    def post(self):
        uid, name = self.rnd.choice(USERS)
        mention = self.rnd.random() < 0.4 and self.rnd.choice([u for u in USERS if u[0] != uid])
        tag = self.rnd.random() < 0.5 and self.rnd.choice(TAGS)
        words = self.rnd.sample(WORDS, 6)
        text = ("@%s " % mention[1] if mention else "") + " ".join(words) + \
            (" #%s" % tag if tag else "")
        pid = self.new_id()
        reply_to = self.posts and self.rnd.random() < 0.3 and self.rnd.choice(self.posts)
        data = {"id": pid, "text": text, "user": self.user(uid),
                "html": "<span>%s</span>" % text,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "entities": {"mentions": [{"id": mention[0], "name": mention[1]}] if mention else [],
                             "hashtags": [{"name": tag}] if tag else []},
                "thread_id": reply_to or pid, "reply_to": reply_to or None}
        keys = ["global", "posts:" + uid, "stream:" + uid, "unified:" + uid,
                "thread:" + (reply_to or pid)]
        for f in self.followers[uid]:
            keys += ["stream:" + f, "unified:" + f]
        if mention:
            keys += ["mentions:" + mention[0], "unified:" + mention[0]]
        if tag:
            keys.append("tag:" + tag)
        self.posts = (self.posts + [pid])[-50:]
        return {"type": "post", "action": "create", "id": pid, "data": data,
                "keys": sorted(set(keys))}

    def follow(self):
        a, b = self.rnd.sample([u for u, _ in USERS], 2)
        action = "delete" if a in self.followers[b] and self.rnd.random() < 0.3 else "create"
        (self.followers[b].discard if action == "delete" else self.followers[b].add)(a)
        return {"type": "follow", "action": action, "id": "%s-%s" % (a, b),
                "data": {"follows_you": False, "user": self.user(b), "follower": self.user(a)},
                "keys": ["followers:" + b, "following:" + a, "interactions:" + b]}

    def message(self):
        a, b = self.rnd.sample([u for u, _ in USERS], 2)
        pair = tuple(sorted((a, b)))
        cid = self.channels.setdefault(pair, self.new_id())
        mid = self.new_id()
        return {"type": "message", "action": "create", "id": mid,
                "data": {"id": mid, "channel_id": cid, "user": self.user(a),
                         "text": " ".join(self.rnd.sample(WORDS, 5))},
                "meta": {"channel_type": "io.pnut.core.pm", "subscribed_user_ids": list(pair)},
                "keys": ["messages:" + cid, "channels:" + a, "channels:" + b],
                "visible_to": list(pair)}

    def delete(self):
        if not self.posts:
            return self.post()
        pid = self.posts.pop(self.rnd.randrange(len(self.posts)))
        return {"type": "post", "action": "delete", "id": pid, "keys": ["global"]}

    def next(self):
        r = self.rnd.random()
        if r < 0.6:
            return self.post()
        if r < 0.75:
            return self.follow()
        if r < 0.95:
            return self.message()
        return self.delete()


def write_tokens(path):
    with open(path, "w") as f:
        f.write("# demo tokens written by demo-producer.py\n")
        for uid, name in USERS:
            f.write("demo-%s user %s demo\n" % (name, uid))
        f.write("demo-app app demo\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-s", "--socket", default="./sluice-ingest.sock")
    ap.add_argument("-r", "--rate", type=float, default=2.0, help="events per second")
    ap.add_argument("-n", "--count", type=int, default=0, help="stop after COUNT (0: never)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--tokens", help="write a demo tokens file and exit")
    args = ap.parse_args()
    if args.tokens:
        write_tokens(args.tokens)
        return
    net = Network(args.seed)
    sock = None
    sent = 0
    while args.count == 0 or sent < args.count:
        if sock is None:
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(args.socket)
            except OSError as e:
                print("demo-producer: %s: %s; retrying" % (args.socket, e), file=sys.stderr)
                sock = None
                time.sleep(1)
                continue
        try:
            sock.sendall((json.dumps(net.next()) + "\n").encode())
        except OSError:
            sock = None
            continue
        sent += 1
        time.sleep(1.0 / args.rate)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
