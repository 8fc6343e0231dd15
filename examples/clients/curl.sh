#!/bin/sh
# curl.sh TOKEN [ENDPOINT...] - watch a sluice user stream with curl alone.
#
# Opens an HTTP chunked user stream (GET /stream/user), reads its
# Connection-Id header, subscribes it to each ENDPOINT through the JSON
# API (default: /posts/stream/unified /users/me/mentions
# /users/me/channels), and prints the stream: one JSON message per line,
# and a blank line for each keepalive.
#
#   SLUICE_URL    the gateway (default http://127.0.0.1:8080)
#   SLUICE_WATCH  stop after this many seconds (default 0: until Ctrl-C)
#
# The stream is opened with auto_delete=1: it goes away with curl, so
# running this again does not use up the token's 5 streams.
# With `make run`:  examples/clients/curl.sh demo-alice
# In a browser: examples/web/ (an app stream); in Python: user_stream.py.
set -u
token=${1:?usage: curl.sh TOKEN [ENDPOINT...]}
shift
[ $# -gt 0 ] || set -- /posts/stream/unified /users/me/mentions /users/me/channels
url=${SLUICE_URL:-http://127.0.0.1:8080}
watch=${SLUICE_WATCH:-0}
hdr=$(mktemp) || exit 1
trap 'rm -f "$hdr"' EXIT
trap 'exit 0' INT TERM

# 1. the stream, in the background: headers to $hdr, messages to stdout
curl -sSN --max-time "$watch" -D "$hdr" -H "Authorization: Bearer $token" \
	"$url/stream/user?auto_delete=1" &
stream=$!

# 2. its connection id, from the response headers
cid=
i=0
while [ -z "$cid" ] && [ $i -lt 50 ] && kill -0 $stream 2>/dev/null; do
	cid=$(sed -n 's/^[Cc]onnection-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$hdr")
	[ -n "$cid" ] || sleep 0.1
	i=$((i + 1))
done
if [ -z "$cid" ]; then
	echo "curl.sh: no Connection-Id from $url/stream/user:" >&2
	head -1 "$hdr" >&2
	wait $stream
	exit 1
fi
echo "curl.sh: stream $cid" >&2

# 3. subscriptions: count=0 skips the backfill (the newest retained
# events, which come in the response body, not on the stream)
for ep in "$@"; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
		"$url/stream/0$ep?connection_id=$cid&count=0")
	echo "curl.sh: subscribed $ep: $code" >&2
done

# 4. watch until curl ends (SLUICE_WATCH, Ctrl-C, or the server)
wait $stream
rc=$?
# curl's 28 is its --max-time: the SLUICE_WATCH asked for
[ $rc -eq 28 ] && [ "$watch" != 0 ] && rc=0
exit $rc
