#!/usr/bin/python3
"""app_stream.py - define a sluice app stream with a filter, and watch it.

With an app token: creates the app stream KEY (POST /stream/0/streams),
or updates it if it exists (PUT /stream/0/streams/KEY: live
connections get the new definition at once), connects to
/v1/app?key=KEY over WebSocket, and prints every event, one line each:

    #CURSOR TYPE[ deleted] SUMMARY

It sends a text keepalive every --keepalive seconds (the gateway closes
an app client that sends nothing for app_keepalive, 50 s by default)
and prints the gateway's "pong". When the connection breaks it
reconnects with ?cursor=LAST and gets every event it missed, or a
"gap" message when some have left the gateway's replay window.

  app_stream.py [--server URL] --token APP_TOKEN [--key KEY]
                [--types post,message,...] [--tag TAG | --filter JSON]
                [--keepalive S] [--max-events N] [--timeout S] [--delete]

--tag TAG lets through only the posts tagged TAG (other types pass);
--filter takes any App.net filter object (proto/appstreams.md).
Needs Python 3 and the `websockets` package (Debian: python3-websockets).
With `make run`:  app_stream.py --token demo-app --tag coffee
"""
import argparse
import asyncio
import json
import sys
import urllib.parse

import websockets

from sluice_client import api, say, summary


class Client:
    def __init__(self, a):
        self.a = a
        self.server = a.server.rstrip("/")
        if self.server.startswith("ws"):
            self.server = "http" + self.server[2:]
        self.ws_base = "ws" + self.server[4:]
        self.cursor = a.cursor
        self.events = 0
        self.pongs = 0
        self.delay = 1

    def define(self):
        """Create the stream, or replace its definition; True if done."""
        body = {"object_types": self.a.types, "type": "long_poll", "key": self.a.key}
        if self.a.filter is not None:
            body["filter"] = self.a.filter
        status, doc = api(self.server, "GET", "/stream/0/streams/" + self.a.key, self.a.token)
        if status == 200:
            status, doc = api(self.server, "PUT", "/stream/0/streams/" + self.a.key,
                              self.a.token, body)
            verb = "updated"
        else:
            status, doc = api(self.server, "POST", "/stream/0/streams", self.a.token, body)
            verb = "created"
        if status not in (200, 201):
            say("cannot define stream %s: %d %s" % (
                self.a.key, status, ((doc or {}).get("meta") or {}).get("error_message")))
            return False
        say("%s stream %s: %s" % (verb, self.a.key, json.dumps(doc["data"])))
        return True

    async def keepalive(self, ws):
        while True:
            await asyncio.sleep(self.a.keepalive)
            await ws.send("ping")

    async def session(self):
        q = {"access_token": self.a.token, "key": self.a.key}
        if self.cursor:
            q["cursor"] = self.cursor
        url = "%s/v1/app?%s" % (self.ws_base, urllib.parse.urlencode(q))
        async with websockets.connect(url, open_timeout=10, max_size=2 ** 24) as ws:
            hello = json.loads(await ws.recv())
            self.delay = 1
            say("connected %s, object types %s%s" % (
                hello["meta"].get("connection_id"),
                ",".join(hello["meta"].get("stream", {}).get("object_types", [])),
                ", from cursor " + self.cursor if self.cursor else ""))
            ka = asyncio.ensure_future(self.keepalive(ws))
            try:
                async for raw in ws:
                    if raw == "pong":       # the answer to our keepalive
                        self.pongs += 1
                        say("pong")
                        continue
                    msg = json.loads(raw)
                    meta = msg.get("meta", {})
                    kind = meta.get("type")
                    if kind == "gap":
                        say("gap: events after %s up to %s are gone; backfill them "
                            "through the API" % (meta.get("from"), meta.get("to")))
                        continue
                    if "cursor" not in meta:
                        say("message:", raw)
                        continue
                    self.cursor = meta["cursor"]
                    self.events += 1
                    print("#%s %s%s %s" % (meta["cursor"], kind,
                                           " deleted" if meta.get("is_deleted") else "",
                                           summary(kind, msg.get("data"), meta)), flush=True)
                    if self.a.max_events and self.events >= self.a.max_events:
                        return True
            finally:
                ka.cancel()
        return False

    async def run(self):
        if not await asyncio.get_running_loop().run_in_executor(None, self.define):
            return False
        while True:
            try:
                if await self.session():
                    return True
                say("the server ended the connection; reconnecting in %d s" % self.delay)
            except websockets.ConnectionClosed as e:
                if e.code in (1000, 1008):   # stream deleted, keepalive missed, token revoked
                    say("closed %s %s" % (e.code, e.reason))
                    return False
                say("closed %s %s; reconnecting in %d s" % (e.code, e.reason, self.delay))
            except websockets.InvalidHandshake as e:
                say("refused: %s" % e)   # 401/403/404/429 before the upgrade
                return False
            except (OSError, asyncio.TimeoutError) as e:
                say("cannot connect (%s); retrying in %d s" % (e, self.delay))
            await asyncio.sleep(self.delay)
            self.delay = min(self.delay * 2, 30)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="http://127.0.0.1:8080",
                    help="the gateway, http:// or ws:// (default http://127.0.0.1:8080)")
    ap.add_argument("--token", required=True, help="an app token")
    ap.add_argument("--key", default="example", help="the stream's key (default example)")
    ap.add_argument("--types", default="post,message,follow,bookmark,file,user,token",
                    help="comma-separated object types (default %(default)s)")
    ap.add_argument("--tag", help="only posts with this hashtag (other types pass)")
    ap.add_argument("--filter", help="an App.net filter object, as JSON")
    ap.add_argument("--cursor", help="start from this cursor (replay what came after it)")
    ap.add_argument("--keepalive", type=float, default=25,
                    help="seconds between text keepalives (default 25)")
    ap.add_argument("--max-events", type=int, default=0, help="stop after N events")
    ap.add_argument("--timeout", type=float, default=0,
                    help="stop after S seconds (exit 1 if --max-events was not reached)")
    ap.add_argument("--delete", action="store_true", help="delete the stream at the end")
    a = ap.parse_args()
    a.types = [t for t in a.types.split(",") if t]
    if a.tag and a.filter:
        ap.error("--tag and --filter do not go together")
    if a.tag:
        a.filter = {"match_policy": "include_any", "name": "tag " + a.tag,
                    "clauses": [{"object_type": "post", "operator": "equals",
                                 "field": "/data/content/entities/tags/*/text",
                                 "value": a.tag}]}
    elif a.filter:
        a.filter = json.loads(a.filter)
    c = Client(a)
    ok = False
    try:
        ok = await asyncio.wait_for(c.run(), a.timeout or None)
    except asyncio.TimeoutError:
        ok = not a.max_events
        say("timeout after %g s" % a.timeout)
    finally:
        if a.delete:
            status, _ = api(c.server, "DELETE", "/stream/0/streams/" + a.key, a.token)
            say("deleted stream %s: %d" % (a.key, status))
        say("%d events, %d pongs" % (c.events, c.pongs))
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        pass
