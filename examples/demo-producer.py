#!/usr/bin/python3
"""demo-producer.py - a small, believable social network feeding sluice.

It plays the backend: people sign up and authorize an app, post (with
mentions, hashtags and links), reply, repost, bookmark, follow and
unfollow, edit their profiles, upload files, talk in private (PM) and
group (chat) channels, and delete things. Each change is written as an
ingest record (sluice-ingest(7)) to a running sluiced's ingest socket,
with the routing keys a real backend computes (fan-out on write) and,
for private objects, the users who may see them (visible_to).

  demo-producer.py [-s SOCKET | -o FILE] [-r RATE] [-n COUNT] [-d SECONDS]
                   [--seed N] [--tokens FILE] [-q]

Tokens (granted through the pipe on every (re)connect, so that a
restarted sluiced knows them again):
  demo-alice, demo-bob, demo-carol, demo-dave, demo-erin, demo-frank,
  demo-grace, demo-heidi   user tokens of users 1..8, client "demo"
  demo-app                 the app token of client "demo"
People who sign up later (ids 9 and up) get random tokens, not shown.

Objects follow pnut.io's layout (content.text, content.html,
content.entities.mentions/tags/links with pos and len, is_leading on a
mention that starts the text, raw items), so sluice's display options
(include_html, include_raw) and filters (include_directed_posts,
channel_types, include_incomplete, include_private) all have something
to act on. Routing keys, for an action of user U:

  post      global, posts:U, stream:U and stream:F for each follower F,
            unified:U/F, mentions:M and unified:M for each mention M,
            tag:T for each hashtag, thread:ROOT, interactions:A for the
            author A of the post replied to
  repost    posts:U, stream:U/F, unified:U/F, thread:ROOT,
            interactions:A (a repost is not on the global feed)
  bookmark  bookmarks:U, interactions:A
  follow    following:U, followers:V, interactions:V (U follows V)
  channel, channel_subscription, message
            channels:M for each member M (and messages:C for messages,
            subscribers:C for joins); visible_to the members;
            meta.channel_type and meta.subscribed_user_ids
  file      files:U; visible_to U unless the file is public
  user, token
            no keys (app streams see them by type); a token event is
            visible_to its user
A delete goes to the keys (and visible_to) of the object it deletes.

--rate counts records written (events and token records), per second;
0 writes as fast as the socket takes them. With -o FILE the records go
to FILE ("-": standard output) instead of a socket, e.g. for
sluice-pub(1).
"""
import argparse
import hashlib
import html
import json
import random
import signal
import socket
import sys
import time

DEMO_USERS = [  # id, username, name, timezone, bio
    ("1", "alice", "Alice Liddell", "Europe/London", "Writes C for a living, coffee for fun."),
    ("2", "bob", "Bob Kowalski", "Europe/Warsaw", "Ops. Pager on, coffee in hand."),
    ("3", "carol", "Carol Nakamura", "Asia/Tokyo", "Cats, synths and streaming protocols."),
    ("4", "dave", "Dave Okafor", "Africa/Lagos", "Runner. Reader. Reluctant Rust convert."),
    ("5", "erin", "Erin Walsh", "Europe/Dublin", "Making small things that last."),
    ("6", "frank", "Frank Meyer", "Europe/Berlin", "I review your pull requests."),
    ("7", "grace", "Grace Hopper-Lee", "America/New_York", "Compilers, sailing, bad puns."),
    ("8", "heidi", "Heidi Larsen", "Europe/Oslo", "Photos of fjords and sourdough."),
]
LATER_USERS = ["ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert",
               "sybil", "trent", "victor", "walter", "wendy"]
APP = {"id": "demo", "name": "Demo Client", "link": "https://example.com/demo-client"}
APP_TOKEN = "demo-app"
SCOPES = ["basic", "stream", "write_post", "follow", "messages", "files"]

TOPICS = {
    "coffee": ["Second cup of the morning and the build is finally green",
               "Found a tiny place that roasts its own beans, going back tomorrow",
               "Pour-over or espresso? Asking for a very tired friend",
               "The office machine makes coffee that tastes like regret"],
    "music": ["This album has been on repeat all week",
              "Practising scales on the old synth again",
              "Live music on a Tuesday night is underrated",
              "Made a playlist for long compile times"],
    "cats": ["The cat has claimed the warm laptop, work is over",
             "Three in the morning and the cat wants a conversation",
             "Rescued a kitten from the shed, meet Pixel"],
    "sluice": ["Resumed my stream after the laptop slept and nothing was missing",
               "Watching the global feed scroll by in a terminal is oddly calming",
               "A hundred thousand idle connections and the server is bored",
               "Subscribed to a hashtag stream, it just works"],
    "pnut": ["Still the nicest small social network around",
             "Wrote a tiny client over the weekend",
             "App streams are such a good idea for bots"],
    "c": ["valgrind says zero bytes lost, time to celebrate",
          "Spent an hour on an off-by-one, the one was mine",
          "writev is my favourite system call and I will not apologise",
          "The sanitizers found it before the users did"],
    "running": ["Ten kilometres before breakfast, legs are complaining",
                "Rain run today, the best kind",
                "New shoes, same slow pace"],
    "books": ["Finished a novel in one sitting, no regrets",
              "Rereading an old favourite, it has aged well",
              "The library had the whole series, weekend sorted"],
}
REPLIES = ["agreed!", "ha, same here", "how did you fix it?", "link please?",
           "this made my day", "congratulations!", "I tried that, it works",
           "not sure I follow, say more?", "thanks for sharing", "so true"]
MESSAGES = ["are you around later?", "lunch at the usual place?",
            "sent you the logs", "the deploy went fine", "can you review my PR?",
            "running late, sorry", "did you see the new release?",
            "call in five?", "good night!", "the cat says hi"]
CHATS = [("sluice-dev", "Gateway hackers"), ("coffee-club", "Beans and brews"),
         ("book-circle", "One chapter a week")]
LINKS = ["https://example.com/blog/streaming", "https://example.org/photos/fjord",
         "https://example.net/talks/fan-out"]
FILE_KINDS = [("image", "image/jpeg", "IMG_%04d.jpg"), ("image", "image/png", "screenshot-%d.png"),
              ("other", "application/pdf", "notes-%d.pdf"), ("other", "text/plain", "log-%d.txt")]


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Content:
    """Text with pnut entities (pos/len in characters) and its html."""

    def __init__(self):
        self.parts = []  # (text, kind, value)

    def add(self, text, kind=None, value=None):
        self.parts.append((text, kind, value))
        return self

    def render(self):
        text, out_html = "", []
        ent = {"links": [], "mentions": [], "tags": []}
        for t, kind, value in self.parts:
            pos = len(text)
            esc = html.escape(t, quote=False)
            if kind == "mention":
                uid, name = value
                ent["mentions"].append({"id": uid, "text": name, "pos": pos, "len": len(t),
                                        "is_leading": pos == 0})
                out_html.append('<span data-mention-id="%s" data-mention-name="%s" '
                                'itemprop="mention">%s</span>' % (uid, name, esc))
            elif kind == "tag":
                ent["tags"].append({"text": value, "pos": pos, "len": len(t)})
                out_html.append('<span data-tag-name="%s" itemprop="tag">%s</span>' % (value, esc))
            elif kind == "link":
                ent["links"].append({"link": value, "text": t, "pos": pos, "len": len(t)})
                out_html.append('<a href="%s">%s</a>' % (html.escape(value), esc))
            else:
                out_html.append(esc)
            text += t
        return {"text": text,
                "html": '<span itemscope="https://pnut.io/schemas/Post">%s</span>' % "".join(out_html),
                "entities": ent}


class Network:
    """The simulated network: who follows whom, recent posts, channels,
    files and tokens, and the records each change produces."""

    def __init__(self, seed):
        self.rnd = random.Random(seed)
        self.next_id = 1000
        self.users = {}          # id -> dict(username, name, tz, bio, created_at, counts)
        self.order = []          # user ids in sign-up order
        self.tokens = {}         # token -> user id (user tokens granted)
        self.followers = {}      # id -> set of follower ids
        self.follows = {}        # (follower, followee) -> follow id
        self.posts = []          # recent posts: dicts with obj, keys
        self.bookmarks = []      # (bookmark id, user, post entry)
        self.channels = {}       # channel id -> dict(type, members, name, owner)
        self.pm = {}             # (a, b) -> channel id
        self.messages = []       # recent (message id, channel id)
        self.files = []          # incomplete files waiting for their upload: (obj, keys, vis)
        self.later = list(LATER_USERS)
        self.pending = []        # records queued to be written
        for uid, name, full, tz, bio in DEMO_USERS:
            self._add_user(uid, name, full, tz, bio)
            self.tokens["demo-" + name] = uid

    # ---- helpers ----
    def new_id(self):
        self.next_id += 1
        return str(self.next_id)

    def _add_user(self, uid, name, full, tz, bio):
        self.users[uid] = {"username": name, "name": full, "tz": tz, "bio": bio,
                           "created_at": now_iso(),
                           "counts": {"bookmarks": 0, "clients": 0, "followers": 0,
                                      "following": 0, "posts": 0, "users": 0}}
        self.order.append(uid)
        self.followers[uid] = set()

    def user(self, uid):
        u = self.users[uid]
        bio = Content().add(u["bio"]).render()
        return {"id": uid, "username": u["username"], "name": u["name"], "type": "human",
                "created_at": u["created_at"], "locale": "en_US", "timezone": u["tz"],
                "content": {"text": bio["text"], "html": bio["html"], "entities": bio["entities"],
                            "avatar_image": {"link": "https://example.com/avatars/%s.png" % u["username"],
                                             "is_default": False, "width": 200, "height": 200}},
                "counts": dict(u["counts"])}

    def active_user(self):
        # the demo users post most; later sign-ups a little
        w = [4 if int(uid) <= len(DEMO_USERS) else 1 for uid in self.order]
        return self.rnd.choices(self.order, weights=w)[0]

    def other_user(self, not_uid):
        # alice is popular: she is mentioned and followed most
        cand = [u for u in self.order if u != not_uid]
        w = [5 if u == "1" else 3 if int(u) <= len(DEMO_USERS) else 1 for u in cand]
        return self.rnd.choices(cand, weights=w)[0]

    def emit(self, rec):
        self.pending.append(rec)

    def source(self):
        return {"name": APP["name"], "link": APP["link"], "id": APP["id"]}

    def grants(self):
        """Token records for every live token (sent on each connect)."""
        out = [{"op": "token", "action": "grant", "token": APP_TOKEN,
                "client_id": APP["id"], "app": True}]
        for tok, uid in self.tokens.items():
            out.append({"op": "token", "action": "grant", "token": tok, "user_id": uid,
                        "client_id": APP["id"], "scopes": SCOPES})
        return out

    # ---- posts ----
    def _post_keys(self, uid, obj, mentions, tags, parent):
        keys = {"global", "posts:" + uid, "stream:" + uid, "unified:" + uid,
                "thread:" + obj["thread_id"]}
        for f in self.followers[uid]:
            keys |= {"stream:" + f, "unified:" + f}
        for m in mentions:
            keys |= {"mentions:" + m, "unified:" + m}
        for t in tags:
            keys.add("tag:" + t)
        if parent is not None and parent["user"] != uid:
            keys.add("interactions:" + parent["user"])
        return keys

    def _remember_post(self, obj, keys, uid):
        self.posts.append({"obj": obj, "keys": sorted(keys), "user": uid})
        self.posts = self.posts[-200:]

    def post(self, reply=False):
        uid = self.active_user()
        originals = [p for p in self.posts if "repost_of" not in p["obj"]]
        parent = self.rnd.choice(originals) if reply and originals else None
        c = Content()
        mentions, tags = [], []
        if parent is not None:
            pu = parent["user"]
            if pu != uid:
                c.add("@" + self.users[pu]["username"], "mention", (pu, self.users[pu]["username"]))
                c.add(" ")
                mentions.append(pu)
            c.add(self.rnd.choice(REPLIES))
            if self.rnd.random() < 0.3:
                tag = self.rnd.choice(list(TOPICS))
                c.add(" ")
                c.add("#" + tag, "tag", tag)
                tags.append(tag)
        else:
            topic = self.rnd.choice(list(TOPICS))
            c.add(self.rnd.choice(TOPICS[topic]))
            if self.rnd.random() < 0.35:
                m = self.other_user(uid)
                c.add(self.rnd.choice([" with ", ", cc ", ", thanks "]))
                c.add("@" + self.users[m]["username"], "mention", (m, self.users[m]["username"]))
                mentions.append(m)
            if self.rnd.random() < 0.15:
                link = self.rnd.choice(LINKS)
                c.add(" ")
                c.add(link.split("//")[1], "link", link)
            if self.rnd.random() < 0.7:
                c.add(" ")
                c.add("#" + topic, "tag", topic)
                tags.append(topic)
        pid = self.new_id()
        content = c.render()
        thread = parent["obj"]["thread_id"] if parent else pid
        obj = {"id": pid, "created_at": now_iso(), "user": self.user(uid),
               "thread_id": thread, "is_deleted": False, "is_nsfw": False, "is_revised": False,
               "source": self.source(),
               "counts": {"bookmarks": 0, "replies": 0, "reposts": 0, "threads": 0},
               "content": content}
        if parent is not None:
            obj["reply_to"] = parent["obj"]["id"]
        if self.rnd.random() < 0.5:
            obj["raw"] = [{"type": "io.pnut.core.language",
                           "value": {"language": "en"}}]
        keys = self._post_keys(uid, obj, mentions, tags, parent)
        self.users[uid]["counts"]["posts"] += 1
        self._remember_post(obj, keys, uid)
        self.emit({"type": "post", "action": "create", "id": pid, "data": obj,
                   "keys": sorted(keys)})

    def repost(self):
        cands = [p for p in self.posts if "repost_of" not in p["obj"]]
        if not cands:
            return self.post()
        orig = self.rnd.choice(cands)
        uid = self.other_user(orig["user"])
        pid = self.new_id()
        obj = {"id": pid, "created_at": now_iso(), "user": self.user(uid),
               "thread_id": pid, "is_deleted": False, "source": self.source(),
               "counts": {"bookmarks": 0, "replies": 0, "reposts": 0, "threads": 0},
               "repost_of": orig["obj"]}
        keys = {"posts:" + uid, "stream:" + uid, "unified:" + uid,
                "thread:" + orig["obj"]["thread_id"], "interactions:" + orig["user"]}
        for f in self.followers[uid]:
            keys |= {"stream:" + f, "unified:" + f}
        self._remember_post(obj, keys, uid)
        self.emit({"type": "post", "action": "create", "id": pid, "data": obj,
                   "keys": sorted(keys)})

    def delete_post(self):
        if len(self.posts) < 5:
            return self.post()
        p = self.posts.pop(self.rnd.randrange(len(self.posts)))
        o = p["obj"]
        data = {"id": o["id"], "created_at": o["created_at"], "user": o["user"],
                "thread_id": o["thread_id"], "is_deleted": True}
        self.emit({"type": "post", "action": "delete", "id": o["id"], "data": data,
                   "keys": p["keys"]})

    def bookmark(self):
        if not self.posts:
            return self.post()
        if self.bookmarks and self.rnd.random() < 0.15:
            bid, uid, p = self.bookmarks.pop(self.rnd.randrange(len(self.bookmarks)))
            keys = {"bookmarks:" + uid}
            if p["user"] != uid:
                keys.add("interactions:" + p["user"])
            self.emit({"type": "bookmark", "action": "delete", "id": bid, "keys": sorted(keys)})
            return
        p = self.rnd.choice([p for p in self.posts if "repost_of" not in p["obj"]] or self.posts)
        uid = self.other_user(p["user"])
        bid = self.new_id()
        self.users[uid]["counts"]["bookmarks"] += 1
        self.bookmarks = (self.bookmarks + [(bid, uid, p)])[-100:]
        self.emit({"type": "bookmark", "action": "create", "id": bid,
                   "data": {"id": bid, "created_at": now_iso(), "user": self.user(uid),
                            "post": p["obj"]},
                   "keys": sorted({"bookmarks:" + uid, "interactions:" + p["user"]})})

    # ---- the graph ----
    def follow(self, a=None, b=None):
        if a is None:
            a = self.active_user()
            b = self.other_user(a)
        keys = ["followers:" + b, "following:" + a, "interactions:" + b]
        if (a, b) in self.follows:
            if self.rnd.random() < 0.7:   # mostly: already following, nothing happens
                return
            fid = self.follows.pop((a, b))
            self.followers[b].discard(a)
            self.users[a]["counts"]["following"] -= 1
            self.users[b]["counts"]["followers"] -= 1
            self.emit({"type": "follow", "action": "delete", "id": fid,
                       "data": {"id": fid, "user": self.user(a), "follows_user": self.user(b)},
                       "keys": keys})
            return
        fid = self.new_id()
        self.follows[(a, b)] = fid
        self.followers[b].add(a)
        self.users[a]["counts"]["following"] += 1
        self.users[b]["counts"]["followers"] += 1
        self.emit({"type": "follow", "action": "create", "id": fid,
                   "data": {"id": fid, "created_at": now_iso(), "user": self.user(a),
                            "follows_user": self.user(b)},
                   "keys": keys})

    # ---- people and their tokens ----
    def signup(self):
        if not self.later:
            return self.profile()
        name = self.later.pop(0)
        uid = str(len(self.order) + 1)
        self._add_user(uid, name, name.title(), self.rnd.choice(
            ["Europe/Paris", "America/Chicago", "Asia/Singapore", "Australia/Sydney"]),
            "New here, say hi!")
        tok = "%s-%s" % (name, "".join(self.rnd.choice("0123456789abcdef") for _ in range(24)))
        self.tokens[tok] = uid
        self.emit({"type": "user", "action": "create", "id": uid, "data": self.user(uid)})
        # authorizing the app: the grant first, so that the app may see the
        # token event (visible to this user only)
        self.emit({"op": "token", "action": "grant", "token": tok, "user_id": uid,
                   "client_id": APP["id"], "scopes": SCOPES})
        self.emit(self._token_event("create", uid, tok))
        # newcomers follow a couple of demo users, and alice follows back
        for b in self.rnd.sample([u for u, *_ in DEMO_USERS], 2):
            self.follow(uid, b)
        if self.rnd.random() < 0.5:
            self.follow("1", uid)

    def _token_event(self, action, uid, tok):
        tid = hashlib.sha256(tok.encode()).hexdigest()[:16]
        rec = {"type": "token", "action": action, "id": tid, "visible_to": [uid]}
        rec["data"] = {"app": dict(APP), "client_id": APP["id"], "scopes": SCOPES,
                       "user": self.user(uid)}
        return rec

    def reauthorize(self):
        """A later user logs out everywhere and back in: a new token."""
        later = [(t, u) for t, u in self.tokens.items() if int(u) > len(DEMO_USERS)]
        if not later:
            return self.signup()
        tok, uid = self.rnd.choice(later)
        # the event before the revoke, while the app may still see it
        self.emit(self._token_event("delete", uid, tok))
        self.emit({"op": "token", "action": "revoke", "token": tok})
        del self.tokens[tok]
        new = "%s-%s" % (self.users[uid]["username"],
                         "".join(self.rnd.choice("0123456789abcdef") for _ in range(24)))
        self.tokens[new] = uid
        self.emit({"op": "token", "action": "grant", "token": new, "user_id": uid,
                   "client_id": APP["id"], "scopes": SCOPES})
        self.emit(self._token_event("create", uid, new))

    def profile(self):
        uid = self.active_user()
        u = self.users[uid]
        u["bio"] = self.rnd.choice([
            "Currently: %s." % self.rnd.choice(["learning the cello", "on holiday", "hiring",
                                                "writing a book", "between coffees"]),
            u["bio"].split(" Also")[0] + " Also on #%s." % self.rnd.choice(list(TOPICS))])
        self.emit({"type": "user", "action": "update", "id": uid, "data": self.user(uid)})

    # ---- channels and messages ----
    def _channel_obj(self, cid):
        ch = self.channels[cid]
        obj = {"id": cid, "type": ch["type"], "owner": self.user(ch["owner"]),
               "is_active": True,
               "acl": {"full": {"immutable": ch["type"].endswith(".pm"),
                                "user_ids": sorted(ch["members"], key=int)},
                       "write": {"any_user": False, "immutable": False,
                                 "user_ids": sorted(ch["members"], key=int)},
                       "read": {"any_user": False, "public": False, "immutable": False,
                                "user_ids": []}},
               "counts": {"messages": ch["messages"], "subscribers": len(ch["members"])}}
        if ch["name"]:
            obj["raw"] = [{"type": "io.pnut.core.chat-settings",
                           "value": {"name": ch["name"], "description": ch["desc"]}}]
        return obj

    def _channel_meta(self, cid):
        ch = self.channels[cid]
        return {"channel_type": ch["type"],
                "subscribed_user_ids": sorted(ch["members"], key=int)}

    def new_channel(self, kind=None, owner=None, members=None):
        kind = kind or self.rnd.choice(["pm", "pm", "chat"])
        owner = owner or self.active_user()
        if kind == "pm":
            other = members[0] if members else self.other_user(owner)
            pair = tuple(sorted((owner, other)))
            if pair in self.pm:
                return self.message(self.pm[pair])
            cid = self.new_id()
            self.pm[pair] = cid
            self.channels[cid] = {"type": "io.pnut.core.pm", "owner": owner, "name": None,
                                  "desc": None, "members": set(pair), "messages": 0}
        else:
            taken = {c["name"] for c in self.channels.values()}
            free = [c for c in CHATS if c[0] not in taken]
            if not free:     # every chat exists: talk in one instead
                return self.message()
            name, desc = free[0]
            cid = self.new_id()
            mem = set(members or [owner] + self.rnd.sample(
                [u for u in self.order if u != owner], 2))
            mem.add(owner)
            self.channels[cid] = {"type": "io.pnut.core.chat", "owner": owner, "name": name,
                                  "desc": desc, "members": mem, "messages": 0}
        ch = self.channels[cid]
        self.emit({"type": "channel", "action": "create", "id": cid,
                   "data": self._channel_obj(cid), "meta": self._channel_meta(cid),
                   "keys": sorted("channels:" + m for m in ch["members"]),
                   "visible_to": sorted(ch["members"], key=int)})
        return cid

    def join(self):
        chats = [c for c, ch in self.channels.items()
                 if ch["type"] == "io.pnut.core.chat" and len(ch["members"]) < min(8, len(self.order))]
        if not chats:        # every chat is full: a new PM then
            return self.new_channel("pm")
        cid = self.rnd.choice(chats)
        ch = self.channels[cid]
        uid = self.rnd.choice([u for u in self.order if u not in ch["members"]])
        ch["members"].add(uid)
        self.emit({"type": "channel_subscription", "action": "create",
                   "id": "%s-%s" % (cid, uid),
                   "data": {"channel": self._channel_obj(cid), "user": self.user(uid)},
                   "meta": self._channel_meta(cid),
                   "keys": sorted(["channels:" + m for m in ch["members"]] +
                                  ["subscribers:" + cid]),
                   "visible_to": sorted(ch["members"], key=int)})

    def message(self, cid=None):
        if cid is None:
            if not self.channels:
                return self.new_channel("pm")
            cid = self.rnd.choice(list(self.channels))
        ch = self.channels[cid]
        uid = self.rnd.choice(sorted(ch["members"]))
        mid = self.new_id()
        ch["messages"] += 1
        content = Content().add(self.rnd.choice(MESSAGES)).render()
        obj = {"id": mid, "channel_id": cid, "created_at": now_iso(), "user": self.user(uid),
               "thread_id": mid, "is_deleted": False, "source": self.source(),
               "counts": {"replies": 0}, "content": content}
        keys = ["messages:" + cid] + ["channels:" + m for m in sorted(ch["members"])]
        vis = sorted(ch["members"], key=int)
        self.messages = (self.messages + [(mid, cid, keys, vis)])[-100:]
        self.emit({"type": "message", "action": "create", "id": mid, "data": obj,
                   "meta": self._channel_meta(cid), "keys": keys, "visible_to": vis})

    def delete_message(self):
        if not self.messages:
            return self.message()
        mid, cid, keys, vis = self.messages.pop(self.rnd.randrange(len(self.messages)))
        self.emit({"type": "message", "action": "delete", "id": mid,
                   "data": {"id": mid, "channel_id": cid, "is_deleted": True},
                   "meta": {"channel_type": self.channels[cid]["type"]},
                   "keys": keys, "visible_to": vis})

    # ---- files ----
    def file(self):
        if self.files and self.rnd.random() < 0.5:
            obj, keys, vis = self.files.pop(0)   # its upload finished
            obj["is_complete"] = True
            rec = {"type": "file", "action": "update", "id": obj["id"], "data": obj, "keys": keys}
            if vis:
                rec["visible_to"] = vis
            return self.emit(rec)
        uid = self.active_user()
        fid = self.new_id()
        kind, mime, pattern = self.rnd.choice(FILE_KINDS)
        name = pattern % self.rnd.randrange(1, 9999)
        public = self.rnd.random() < 0.4
        complete = self.rnd.random() < 0.7
        obj = {"id": fid, "created_at": now_iso(), "user": self.user(uid),
               "type": "io.pnut.demo." + ("photo" if kind == "image" else "document"),
               "kind": kind, "mime_type": mime, "name": name,
               "size": self.rnd.randrange(2000, 4000000),
               "sha256": hashlib.sha256(name.encode() + fid.encode()).hexdigest(),
               "is_complete": complete, "is_public": public, "source": self.source()}
        if public:
            obj["url"] = "https://files.example.com/%s/%s" % (fid, name)
        if kind == "image":
            obj["image_info"] = {"width": 1600, "height": 1200}
        keys = ["files:" + uid]
        vis = None if public else [uid]
        if not complete:
            self.files.append((obj, keys, vis))
        rec = {"type": "file", "action": "create", "id": fid, "data": obj, "keys": keys}
        if vis:
            rec["visible_to"] = vis
        self.emit(rec)

    # ---- the day ----
    def start(self):
        """What has happened before the demo starts: a follow graph among
        the demo users, a PM and a chat channel."""
        ids = [u for u, *_ in DEMO_USERS]
        for a in ids:
            for b in self.rnd.sample([x for x in ids if x != a], 3):
                self.follow(a, b)
        for a in ids:
            if a != "1" and (a, "1") not in self.follows:
                self.follow(a, "1")
        self.new_channel("pm", "1", ["2"])
        self.new_channel("chat", "1", ["2", "3", "4"])

    ACTIONS = [("post", 30), ("reply", 14), ("repost", 4), ("bookmark", 7),
               ("follow", 6), ("message", 16), ("channel", 2), ("join", 2),
               ("file", 5), ("delete_post", 3), ("delete_message", 1),
               ("signup", 1), ("profile", 2), ("reauthorize", 1)]

    def step(self):
        names, weights = zip(*self.ACTIONS)
        what = self.rnd.choices(names, weights=weights)[0]
        if what == "reply":
            self.post(reply=True)
        elif what == "channel":
            self.new_channel()
        else:
            getattr(self, what)()

    def next(self):
        while not self.pending:
            self.step()
        return self.pending.pop(0)


def write_tokens(path):
    with open(path, "w") as f:
        f.write("# demo tokens written by demo-producer.py (sluiced.conf(5) tokens_file)\n")
        for uid, name, *_ in DEMO_USERS:
            f.write("demo-%s user %s %s\n" % (name, uid, APP["id"]))
        f.write("%s app %s\n" % (APP_TOKEN, APP["id"]))


class Sink:
    """The ingest socket (reconnecting, with the grants first each time),
    or a file."""

    def __init__(self, net, path, out, quiet):
        self.net, self.path, self.quiet = net, path, quiet
        self.sock = None
        self.f = None
        if out is not None:
            self.f = sys.stdout if out == "-" else open(out, "w")

    def write(self, lines, deadline=None):
        """Write the records, reconnecting as often as needed; False
        only when the deadline (a time.monotonic()) passes first."""
        data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in lines)
        if self.f is not None:
            self.f.write(data)
            return True
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if self.sock is None and not self._connect():
                continue
            try:
                self.sock.sendall(data.encode())
                return True
            except OSError as e:
                self._say("%s: %s; reconnecting" % (self.path, e))
                self.sock.close()
                self.sock = None

    def _connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.path)
            grants = "".join(json.dumps(r) + "\n" for r in self.net.grants())
            s.sendall(grants.encode())
        except OSError as e:
            s.close()
            self._say("%s: %s; retrying in 1 s" % (self.path, e))
            time.sleep(1)
            return False
        self.sock = s
        return True

    def _say(self, msg):
        if not self.quiet:
            print("demo-producer: " + msg, file=sys.stderr, flush=True)

    def close(self):
        if self.sock is not None:
            self.sock.close()
        if self.f is not None:
            self.f.flush()


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Tokens: demo-alice .. demo-heidi (users 1-8), demo-app (the app).")
    ap.add_argument("-s", "--socket", default="./sluice-ingest.sock",
                    help="the ingest socket (default ./sluice-ingest.sock)")
    ap.add_argument("-o", "--out", metavar="FILE",
                    help="write the records to FILE ('-': stdout) instead of a socket")
    ap.add_argument("-r", "--rate", type=float, default=2.0,
                    help="records per second; 0: as fast as possible (default 2)")
    ap.add_argument("-n", "--count", type=int, default=0,
                    help="stop after COUNT records (0: no limit)")
    ap.add_argument("-d", "--duration", type=float, default=0,
                    help="stop after SECONDS (0: no limit)")
    ap.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable run")
    ap.add_argument("--tokens", metavar="FILE",
                    help="write a tokens file (tokens_file) for the demo users and exit")
    ap.add_argument("-q", "--quiet", action="store_true", help="no messages on stderr")
    args = ap.parse_args()
    if args.tokens:
        write_tokens(args.tokens)
        return 0
    if args.rate < 0:
        ap.error("--rate must be >= 0")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    net = Network(args.seed)
    sink = Sink(net, args.socket, args.out, args.quiet)
    counts = {}
    sent = 0
    start = time.monotonic()
    try:
        if args.out is not None:     # a file has no connect: grants go first
            sink.write(net.grants())
        net.start()
        while args.count == 0 or sent < args.count:
            now = time.monotonic()
            if args.duration and now - start >= args.duration:
                break
            if args.rate > 0:
                due = start + sent / args.rate
                if due > now:
                    time.sleep(min(due - now, 0.5))
                    continue
                n = min(int((now - start) * args.rate) - sent + 1, 256)
            else:
                n = 256
            if args.count:
                n = min(n, args.count - sent)
            batch = [net.next() for _ in range(max(n, 1))]
            if not sink.write(batch, start + args.duration if args.duration else None):
                break
            for r in batch:
                k = r.get("type") or "token-" + r["action"]
                counts[k] = counts.get(k, 0) + 1
            sent += len(batch)
    except (KeyboardInterrupt, SystemExit, BrokenPipeError):
        pass
    finally:
        sink.close()
        if not args.quiet:
            print("demo-producer: %d records in %.1f s: %s" % (
                sent, time.monotonic() - start,
                ", ".join("%s %d" % kv for kv in sorted(counts.items()))),
                file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
