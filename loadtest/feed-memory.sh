#!/usr/bin/env bash
# Peak memory of a product feed refresh: generates a Google Merchant feed
# of 100,000 items (40 MB by du -h), runs opentime against a private
# redis-server with that feed configured, waits until the feed is
# refreshed and loaded, and reports the process's peak RSS (VmHWM) beside
# the same server with no feed. docs/benchmarks.md, "Product feeds", keeps
# the figure.
#
#   loadtest/feed-memory.sh [ITEMS]      (OPENTIME_BIN to choose the binary)
set -euo pipefail

ITEMS="${1:-100000}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${OPENTIME_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/opentime}"
[ -x "$BIN" ] || { echo "no binary at $BIN: cargo build --release, or set OPENTIME_BIN" >&2; exit 1; }
WORK="$(mktemp -d /tmp/ot-feed-mem.XXXXXX)"
REDIS_PID=""
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

python3 - "$ITEMS" > "$WORK/feed.xml" <<'PY'
import sys
n = int(sys.argv[1])
out = sys.stdout
out.write('<?xml version="1.0" encoding="UTF-8"?>\n<rss xmlns:g="http://base.google.com/ns/1.0" version="2.0"><channel><title>Load</title>\n')
for i in range(n):
    out.write(
        f'<item><g:id>sku-{i}</g:id><g:title>Product {i} &amp; friends</g:title>'
        f'<g:description><![CDATA[A fine product, number {i}, with a description of some length to be realistic.]]></g:description>'
        f'<g:link>https://shop.example/p/sku-{i}</g:link><g:image_link>https://cdn.shop.example/sku-{i}.png</g:image_link>'
        f'<g:availability>{"in stock" if i % 3 else "out of stock"}</g:availability>'
        f'<g:price>{10 + i % 90}.90 EUR</g:price><g:brand>Northwind</g:brand></item>\n')
out.write('</channel></rss>\n')
PY
echo "feed: $ITEMS items, $(du -h "$WORK/feed.xml" | cut -f1)"

redis-server --unixsocket "$WORK/redis.sock" --port 0 --save "" --appendonly no \
  --dir "$WORK" --daemonize no > "$WORK/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 50); do [ -S "$WORK/redis.sock" ] && break; sleep 0.1; done

ADMIN="feed-memory-admin-token"
# Runs the server with or without the feed; prints its peak and current RSS
# once it is ready (and the feed loaded).
measure() {
  local with_feed="$1" port=$((20000 + RANDOM % 20000))
  redis-cli -s "$WORK/redis.sock" flushall > /dev/null
  local feeds=""
  [ "$with_feed" = yes ] && feeds="{\"products\": {\"file\": \"$WORK/feed.xml\", \"format\": \"google_merchant\"}}"
  OPENTIME_REDIS_URL="redis+unix://$WORK/redis.sock" \
  OPENTIME_SIGNING_KEYS="feed-memory-signing-key-0123456789" \
  OPENTIME_ADMIN_TOKENS="$ADMIN" \
  OPENTIME_LISTEN="127.0.0.1:$port" \
  OPENTIME_TEMPLATES_DIR="$ROOT/assets/templates" \
  OPENTIME_FONTS_DIR="$ROOT/fonts" \
  OPENTIME_DEMO_DIR="$ROOT/assets/demo" \
  OPENTIME_FEEDS="$feeds" \
    "$BIN" serve > "$WORK/server-$with_feed.log" 2>&1 &
  SERVER_PID=$!
  local started=$SECONDS
  until curl -fs "http://127.0.0.1:$port/healthz" > /dev/null; do
    sleep 0.2
    [ $((SECONDS - started)) -gt 60 ] && { echo "the server did not start" >&2; cat "$WORK/server-$with_feed.log" >&2; exit 1; }
  done
  if [ "$with_feed" = yes ]; then
    until curl -fs -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$port/api/v1/feeds" \
        | python3 -c "import json,sys; f=json.load(sys.stdin)['feeds'][0]; sys.exit(0 if f['loaded'] == $ITEMS else 1)"; do
      sleep 0.5
      [ $((SECONDS - started)) -gt 600 ] && { echo "the feed did not load" >&2; exit 1; }
    done
    echo "with the feed: refreshed and loaded in $((SECONDS - started)) s"
  fi
  sleep 2
  local hwm rss
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
  echo "$with_feed feed: peak RSS $((hwm / 1024)) MiB, RSS now $((rss / 1024)) MiB"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
}

measure no
measure yes
echo "redis used_memory with the feed: $(redis-cli -s "$WORK/redis.sock" info memory | awk -F: '/^used_memory_human/ {print $2}' | tr -d '\r')"
