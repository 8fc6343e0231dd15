"""The app-stream web page (examples/web) in a real browser: headless
Chromium driven over the DevTools protocol (cdp.py) watches an app
stream (SPEC 5, proto/appstreams.md) of a real sluiced.

The page is served by a small http.server on 127.0.0.1 (loopback to
loopback: no browser network-access rule applies). Skipped when
/usr/bin/chromium is not installed. SLUICE_SCREENSHOT=FILE.png saves
what the page looked like at the end.
"""
import asyncio
import functools
import http.server
import json
import os
import re
import threading
import time
import urllib.parse

from sluice import SRC, Sluice, Tap, event

t = Tap()
if not os.access("/usr/bin/chromium", os.X_OK):
    t.skip("browser test", "chromium not installed")
    t.done()

from cdp import CDPError, Chromium  # noqa: E402  (needs websockets)

WEB = os.path.join(SRC, "examples", "web")
STREAM = {"object_types": ["post"], "type": "long_poll", "key": "web"}

ROWS = "[...document.querySelectorAll('#events li[data-id]')]"
ROW_IDS = ROWS + ".map(li => li.dataset.id)"


def js_str(s):
    return json.dumps(s)


def row_text(i):
    return ("(() => { const li = document.querySelector('#events li[data-id=\"%s\"]');"
            " return li && {type: li.dataset.type, cursor: li.dataset.cursor,"
            " text: li.querySelector('.text').textContent}; })()" % i)


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def create_stream(sl):
    return sl.api("POST", "/stream/0/streams", "tokapp1",
                  headers={"Content-Type": "application/json"},
                  body=json.dumps(STREAM).encode())


async def scenario(sl, page, site):
    st, _, doc = create_stream(sl)
    t.eq(st, 201, "app stream created through the API")
    t.eq(doc and doc["data"]["key"], "web", "its key is the one asked for")

    q = urllib.parse.urlencode({"server": "ws://127.0.0.1:%d" % sl.port,
                                "token": "tokapp1", "key": "web", "keepalive": "1"})
    await page.navigate("%s/index.html?%s" % (site, q))

    # -- connect: the first message's connection_id is shown
    cid = await page.wait_for("document.getElementById('connection-id').textContent", 10)
    t.ok(cid and re.fullmatch(r"[0-9a-f]{32}", cid), "page shows the connection_id", cid)
    t.eq(await page.evaluate("document.getElementById('status').dataset.state"), "open",
         "status is open")
    stream = await page.evaluate("document.getElementById('stream').textContent")
    t.eq(stream, "web (post)", "page shows the stream's key and object types")

    # -- events: a post appears; a follow (not in object_types) does not;
    # a later post is the barrier (cursor order: the follow would be in
    # before it)
    sl.publish(event(101, ["global"], data={"id": "101", "text": "hello from the ingest pipe"}),
               event(102, ["follow:12"], type="follow", data={"id": "102"}),
               event(103, ["global"]))
    got = await page.wait_for(ROW_IDS + ".includes('103') && " + ROW_IDS, 10)
    t.eq(got, ["103", "101"], "the posts appear, newest first; the follow does not")
    r101 = await page.evaluate(row_text(101))
    r103 = await page.evaluate(row_text(103))
    t.eq(r101 and (r101["type"], r101["text"]), ("post", "hello from the ingest pipe"),
         "the row shows type and data.text")
    t.ok(r101 and r103 and r101["cursor"].isdigit() and int(r103["cursor"]) > int(r101["cursor"]),
         "and the cursor, increasing", (r101, r103))
    t.eq(await page.evaluate("document.getElementById('count').dataset.count"), "2",
         "the event count says 2")

    # private events: user 12 authorized app1 (tok12), user 99 did not;
    # event text is shown as text, never as HTML
    html = "<img id=evil src=x onerror=\"document.title='pwned'\">"
    sl.publish(event(104, ["global"], visible_to=["99"]),
               event(105, ["global"], visible_to=["12"], data={"id": "105", "text": html}),
               event(106, ["global"], action="delete"))
    got = await page.wait_for(ROW_IDS + ".includes('106') && " + ROW_IDS, 10)
    t.eq(got, ["106", "105", "103", "101"],
         "a post private to an authorizing user appears, one to a stranger does not")
    t.eq((await page.evaluate(row_text(105)) or {}).get("text"), html,
         "markup in the data is shown as text")
    t.eq(await page.evaluate("document.getElementById('evil') === null && document.title !== 'pwned'"),
         True, "and is not turned into elements")
    t.eq((await page.evaluate(row_text(106)) or {}).get("text"), "deleted 106",
         "a delete shows as deleted")

    # -- keepalive: app_keepalive is 3 s here; the page pings every 1 s,
    # the server answers "pong", and the connection outlives 3 s
    await asyncio.sleep(4.5)
    ka = await page.evaluate("({...document.getElementById('keepalive').dataset})")
    t.ok(int(ka["pings"]) >= 3 and int(ka["pongs"]) >= 3,
         "the page sent text keepalives and the server answered each", ka)
    t.eq(await page.evaluate("[document.getElementById('status').dataset.state,"
                             " document.getElementById('connection-id').textContent,"
                             " document.getElementById('last-close').dataset.count]"),
         ["open", cid, "0"], "still the same open connection after 4.5 s (> app_keepalive)")
    t.eq(await page.evaluate(ROWS + ".length"), 4, "the pongs are not shown as events")

    # -- close and reconnect: deleting the stream closes 1000; the page
    # retries (refused, 1006: the key is unknown) and comes back when the
    # stream exists again
    st, _, _ = sl.api("DELETE", "/stream/0/streams/web", "tokapp1")
    t.eq(st, 200, "stream deleted through the API")
    lc = await page.wait_for("(() => { const d = document.getElementById('last-close').dataset;"
                             " return d.count === '1' && [d.code, d.reason]; })()", 5)
    t.eq(lc, ["1000", "stream deleted"], "page shows close code and reason")
    lc = await page.wait_for("(() => { const d = document.getElementById('last-close').dataset;"
                             " return d.count >= 2 && d.code; })()", 5)
    t.eq(lc, "1006", "it retried; the handshake was refused")
    st, _, _ = create_stream(sl)
    t.eq(st, 201, "stream created again")
    cid2 = await page.wait_for("document.getElementById('status').dataset.state === 'open' &&"
                               " document.getElementById('connection-id').textContent !== %s &&"
                               " document.getElementById('connection-id').textContent" % js_str(cid), 8)
    t.ok(cid2 and re.fullmatch(r"[0-9a-f]{32}", cid2), "the page reconnected with backoff: a new connection_id", cid2)
    sl.publish(event(107, ["global"], data={"id": "107", "text": "after the reconnect"}))
    r = await page.wait_for(row_text(107), 10)
    t.eq(r and r["text"], "after the reconnect", "events flow again")

    # -- at most 200 rows, newest first; the count goes on
    sl.publish(*[event(1000 + i, ["global"]) for i in range(250)])
    n = await page.wait_for("document.getElementById('count').dataset.count === '255' && "
                            + ROWS + ".length", 10)
    t.eq(n, 200, "250 more events: 200 rows kept")
    t.eq(await page.evaluate(ROW_IDS + ".slice(0, 2).concat(" + ROW_IDS + ".slice(-1))"),
         ["1249", "1248", "1050"], "the newest ones, newest first")

    t.eq(page.exceptions(), [], "no JavaScript errors in the page")
    shot = os.environ.get("SLUICE_SCREENSHOT")
    if shot:
        await page.screenshot(shot)


async def main(sl, browser, site):
    page = await browser.page()
    try:
        await scenario(sl, page, site)
    finally:
        await page.close()


sl = Sluice(conf={"app_keepalive": "3s"})
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=WEB))
threading.Thread(target=httpd.serve_forever, daemon=True).start()
browser = None
start = time.time()
try:
    browser = Chromium()
    asyncio.run(asyncio.wait_for(main(sl, browser, "http://127.0.0.1:%d" % httpd.server_address[1]), 25))
except (CDPError, asyncio.TimeoutError, OSError) as e:
    t.ok(False, "browser session ran to the end", "%s: %s" % (type(e).__name__, e) +
         ("\n" + browser.log()[-2000:] if browser else ""))
finally:
    if browser is not None:
        browser.close()
    httpd.shutdown()
    httpd.server_close()
t.diag("browser part took %.1f s" % (time.time() - start))
sl.stop(t)
t.done()
