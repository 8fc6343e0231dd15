"""cdp.py - drive a headless Chromium through the DevTools protocol.

Just enough of CDP for the e2e tests: start /usr/bin/chromium with a
fresh profile and --remote-debugging-port=0, read the port it chose
from DevToolsActivePort, attach to its page target over WebSocket
(Python `websockets`), navigate, evaluate JavaScript, take screenshots.
No npm, no webdriver.
"""
import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import websockets

CHROMIUM = "/usr/bin/chromium"

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-extensions", "--disable-default-apps",
    "--disable-dev-shm-usage",         # containers often have a tiny /dev/shm
    "--window-size=1100,760",
]


class CDPError(Exception):
    pass


class Chromium:
    """A headless Chromium in its own process group and temp profile.
    Always call close(), which kills it and removes the profile."""

    def __init__(self, binary=CHROMIUM, timeout=15.0):
        self.dir = tempfile.mkdtemp(prefix="sluice-chromium-")
        self.proc = None
        self.port = None
        profile = os.path.join(self.dir, "profile")
        self.log_path = os.path.join(self.dir, "chromium.log")
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary] + FLAGS + ["--user-data-dir=" + profile,
                                "--remote-debugging-port=0", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT,
            start_new_session=True)       # its helpers die with the group
        portfile = os.path.join(profile, "DevToolsActivePort")
        deadline = time.time() + timeout
        while time.time() < deadline and self.proc.poll() is None:
            try:
                with open(portfile) as f:
                    first = f.readline().strip()
                if first:
                    self.port = int(first)
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        if self.port is None:
            log = self.log()
            self.close()
            raise CDPError("chromium did not start:\n" + log[-3000:])

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def targets(self):
        url = "http://127.0.0.1:%d/json/list" % self.port
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)

    async def page(self, timeout=10.0):
        """A Session attached to the first page target."""
        deadline = time.time() + timeout
        while True:
            pages = [t for t in self.targets() if t.get("type") == "page"]
            if pages:
                return await Session.open(pages[0]["webSocketDebuggerUrl"])
            if time.time() > deadline:
                raise CDPError("no page target")
            await asyncio.sleep(0.1)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    pass
        if self.proc is not None:
            # the group may outlive its leader by a moment
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Session:
    """One CDP WebSocket: commands by id, events kept for the caller."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending = {}
        self.events = []          # (method, params), in arrival order
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, url):
        ws = await websockets.connect(url, max_size=None, ping_interval=None)
        return cls(ws)

    async def _read(self):
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if "id" in msg:
                    fut = self.pending.pop(msg["id"], None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                else:
                    self.events.append((msg.get("method"), msg.get("params", {})))
        except websockets.ConnectionClosed:
            pass
        finally:
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(CDPError("DevTools connection closed"))

    async def send(self, method, timeout=10.0, **params):
        n = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.pending[n] = fut
        await self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        msg = await asyncio.wait_for(fut, timeout)
        if "error" in msg:
            raise CDPError("%s: %s" % (method, msg["error"]))
        return msg.get("result", {})

    async def wait_event(self, method, timeout=10.0, since=0):
        """The params of the first event `method` at index >= since."""
        deadline = time.time() + timeout
        while True:
            for m, p in self.events[since:]:
                if m == method:
                    return p
            if time.time() > deadline:
                raise CDPError("no %s within %.0f s" % (method, timeout))
            await asyncio.sleep(0.05)

    async def navigate(self, url, timeout=10.0):
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        mark = len(self.events)
        res = await self.send("Page.navigate", url=url)
        if res.get("errorText"):
            raise CDPError("navigate %s: %s" % (url, res["errorText"]))
        await self.wait_event("Page.loadEventFired", timeout, since=mark)

    async def evaluate(self, expr):
        """The value of a JavaScript expression (JSON-able), raising on
        an exception in the page."""
        res = await self.send("Runtime.evaluate", expression=expr,
                              returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise CDPError("%s: %s" % (expr, res["exceptionDetails"]))
        return res["result"].get("value")

    async def wait_for(self, expr, timeout=10.0, interval=0.05):
        """Poll expr until it is truthy; its value, or None on timeout."""
        deadline = time.time() + timeout
        while True:
            v = await self.evaluate(expr)
            if v:
                return v
            if time.time() > deadline:
                return None
            await asyncio.sleep(interval)

    def exceptions(self):
        """Uncaught exceptions and console errors seen in the page."""
        out = []
        for m, p in self.events:
            if m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append(d.get("exception", {}).get("description") or d.get("text"))
            elif m == "Runtime.consoleAPICalled" and p.get("type") == "error":
                out.append(" ".join(str(a.get("value", a.get("description")))
                                    for a in p.get("args", [])))
        return out

    async def screenshot(self, path):
        res = await self.send("Page.captureScreenshot", format="png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(res["data"]))

    async def close(self):
        await self.ws.close()
        self.reader.cancel()
