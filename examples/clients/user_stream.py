#!/usr/bin/python3
"""user_stream.py - watch a sluice user stream over WebSocket, and resume it.

Connects to /stream/user with a user token, subscribes the stream to
some endpoints through the JSON API (plain urllib), and prints every
event, one line each:

    #CURSOR TYPE[ deleted] [SUBSCRIPTION,...] SUMMARY

Lines starting with "* " say what the client does. When the connection
breaks, it reconnects with ?connection_id=ID&cursor=LAST: sluice then
sends every event the stream missed, in order and exactly once, and the
subscriptions are kept. If the stream is gone (too long away, past
replay_window), sluice gives a new connection_id and the client
subscribes again.

  user_stream.py [--server URL] --token TOKEN [--endpoint PATH ...]
                 [--max-events N] [--timeout S] [--drop-after N] [--json]

--drop-after N breaks the connection once after N events, to show the
resume. At the end (Ctrl-C, --max-events, --timeout) the stream is
deleted (DELETE /stream/0/users/me/streams/ID), since a token may hold
only max_streams_per_token (5) of them. Needs Python 3 and the
`websockets` package (Debian: python3-websockets).
With `make run`:  user_stream.py --token demo-alice
"""
import argparse
import asyncio
import json
import sys
import urllib.parse

import websockets

from sluice_client import api, say, summary

DEFAULT_ENDPOINTS = ["/posts/stream/unified", "/users/me/mentions",
                     "/users/me/channels", "/users/me/interactions"]


class Client:
    def __init__(self, args):
        self.a = args
        self.server = args.server.rstrip("/")
        if self.server.startswith("ws"):
            self.server = "http" + self.server[2:]
        self.ws_base = "ws" + self.server[4:]
        self.cid = None       # our stream
        self.cursor = None    # the last cursor received
        self.events = 0
        self.dropped = False      # --drop-after done
        self.just_dropped = False
        self.delay = 1            # seconds before the next reconnect

    def subscribe(self):
        for ep in self.a.endpoint:
            sid = ep.strip("/").replace("/", "_")
            q = urllib.parse.urlencode({"connection_id": self.cid, "subscription_id": sid,
                                        "count": 0})
            status, doc = api(self.server, "GET", "/stream/0%s?%s" % (ep, q), self.a.token)
            err = "" if status == 200 else ": " + str(((doc or {}).get("meta") or {}).get("error_message"))
            say("subscribed %s as %s: %d%s" % (ep, sid, status, err))

    async def session(self):
        """One connection, until it breaks or we are done; True when done."""
        q = {"access_token": self.a.token}
        if self.cid:
            q["connection_id"] = self.cid
            if self.cursor:
                q["cursor"] = self.cursor
        url = "%s/stream/user?%s" % (self.ws_base, urllib.parse.urlencode(q))
        async with websockets.connect(url, open_timeout=10, max_size=2 ** 24) as ws:
            hello = json.loads(await ws.recv())
            cid = hello["meta"]["connection_id"]
            self.delay = 1        # connected: the next retry comes quickly
            if cid == self.cid:
                say("resumed stream %s after cursor %s" % (cid, self.cursor))
            else:
                say("%s stream %s" % ("new" if self.cid is None else
                                      "old stream gone, new", cid))
                self.cid = cid
                await asyncio.get_running_loop().run_in_executor(None, self.subscribe)
            async for raw in ws:
                msg = json.loads(raw)
                meta = msg.get("meta", {})
                kind = meta.get("type")
                if kind == "warning":
                    say("warning:", json.dumps(meta))
                    continue
                if "cursor" not in meta:
                    continue
                self.cursor = meta["cursor"]
                self.events += 1
                if self.a.json:
                    print(raw, flush=True)
                else:
                    print("#%s %s%s [%s] %s" % (
                        meta["cursor"], kind, " deleted" if meta.get("is_deleted") else "",
                        ",".join(meta.get("subscription_ids", [])),
                        summary(kind, msg.get("data"), meta)), flush=True)
                if self.a.max_events and self.events >= self.a.max_events:
                    return True
                if self.a.drop_after and not self.dropped and self.events >= self.a.drop_after:
                    self.dropped = self.just_dropped = True
                    say("dropping the connection after %d events" % self.events)
                    ws.transport.abort()    # as a network failure would
        return False

    async def run(self):
        while True:
            try:
                if await self.session():
                    return True
                say("the server ended the connection; resuming in %d s" % self.delay)
            except websockets.ConnectionClosed as e:
                reason = "closed %s %s" % (e.code, e.reason) if e.code != 1006 else "connection lost"
                if e.code in (1008, 4001):  # token revoked / another client took over
                    say(reason)
                    return False
                if self.just_dropped:
                    self.just_dropped = False
                    say("%s; resuming now" % reason)
                    continue
                say("%s; resuming in %d s" % (reason, self.delay))
            except websockets.InvalidHandshake as e:
                # 401/403/429 before the upgrade
                say("refused: %s" % e)
                return False
            except (OSError, asyncio.TimeoutError) as e:
                say("cannot connect (%s); retrying in %d s" % (e, self.delay))
            await asyncio.sleep(self.delay)
            self.delay = min(self.delay * 2, 30)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="http://127.0.0.1:8080",
                    help="the gateway, http:// or ws:// (default http://127.0.0.1:8080)")
    ap.add_argument("--token", required=True, help="a user token")
    ap.add_argument("--endpoint", action="append",
                    help="subscribe to this endpoint path (repeatable; default: %s)" %
                    " ".join(DEFAULT_ENDPOINTS))
    ap.add_argument("--max-events", type=int, default=0, help="stop after N events")
    ap.add_argument("--timeout", type=float, default=0,
                    help="stop after S seconds (exit 1 if --max-events was not reached)")
    ap.add_argument("--drop-after", type=int, default=0,
                    help="break the connection once after N events, to show the resume")
    ap.add_argument("--keep", action="store_true", help="do not delete the stream at the end")
    ap.add_argument("--json", action="store_true", help="print each message as received")
    args = ap.parse_args()
    args.endpoint = args.endpoint or DEFAULT_ENDPOINTS
    c = Client(args)
    ok = False
    try:
        ok = await asyncio.wait_for(c.run(), args.timeout or None)
    except asyncio.TimeoutError:
        ok = not args.max_events
        say("timeout after %g s" % args.timeout)
    finally:
        if c.cid and not args.keep:
            status, _ = api(c.server, "DELETE", "/stream/0/users/me/streams/" + c.cid, args.token)
            say("deleted stream %s: %d" % (c.cid, status))
        say("%d events" % c.events)
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        pass
