"""sluice_client.py - what user_stream.py and app_stream.py share: the
JSON API call and the one-line summary of an event. Plain Python 3."""
import json
import urllib.error
import urllib.request


def say(*a):
    print("*", *a, flush=True)


def api(server, method, path, token, body=None):
    """A JSON API call: (HTTP status, parsed body or None)."""
    headers = {"Authorization": "Bearer " + token}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(server + path, data=data, method=method,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw.strip() else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, None


def who(u):
    return "@" + u.get("username", u.get("id", "?")) if isinstance(u, dict) else "?"


def text_of(obj):
    c = obj.get("content") or {}
    return c.get("text", obj.get("text", ""))


def summary(kind, obj, meta):
    """One line about an event (data is the object for app streams, a
    list of one object for user streams)."""
    if isinstance(obj, list):
        obj = obj[0] if obj else {}
    obj = obj or {}
    if meta.get("is_deleted"):
        return "%s %s" % (kind, meta.get("deleted_id", meta.get("id", obj.get("id", ""))))
    if kind == "post":
        if "repost_of" in obj:
            return "%s reposted %s" % (who(obj.get("user")), who(obj["repost_of"].get("user")))
        return "%s: %s" % (who(obj.get("user")), text_of(obj))
    if kind == "message":
        members = meta.get("subscribed_user_ids")
        return "[channel %s, %s%s] %s: %s" % (
            obj.get("channel_id"), meta.get("channel_type"),
            ", members " + ",".join(members) if members else "",
            who(obj.get("user")), text_of(obj))
    if kind == "follow":
        return "%s follows %s" % (who(obj.get("user")), who(obj.get("follows_user")))
    if kind == "bookmark":
        return "%s bookmarked post %s" % (who(obj.get("user")), (obj.get("post") or {}).get("id"))
    if kind == "channel":
        return "channel %s (%s)" % (obj.get("id"), meta.get("channel_type", obj.get("type")))
    if kind == "channel_subscription":
        return "%s joined channel %s" % (who(obj.get("user")), (obj.get("channel") or {}).get("id"))
    if kind == "file":
        return "%s's file %s (%s)" % (who(obj.get("user")), obj.get("name"),
                                      "complete" if obj.get("is_complete", True) else "uploading")
    if kind == "user":
        return "%s (%s)" % (who(obj), obj.get("name", ""))
    if kind == "token":
        return "%s authorized %s" % (who(obj.get("user")), (obj.get("app") or {}).get("name"))
    return json.dumps(obj)[:100]
