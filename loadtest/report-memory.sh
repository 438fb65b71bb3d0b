#!/usr/bin/env bash
# What one template-day of report counts costs Redis: for each size, a
# template with a two-arm experiment (two variants) is opened in one email
# (`e`) by SIZE distinct people through the real server, with Apple's
# prefetch for four in ten of them, a scanner for one in fifty and a click
# by one in ten; then `MEMORY USAGE` of every key of that template-day
# (the counters' hash and the HyperLogLogs of openers and clickers) and of
# the experiment's sets. docs/reports.md and docs/benchmarks.md keep the
# figures. See loadtest/README.md.
#
#   loadtest/report-memory.sh                   # SIZES="1000 10000 100000"
#   SIZES="1000 5000" OUT_DIR=/tmp loadtest/report-memory.sh   # a quick check
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SIZES=${SIZES:-1000 10000 100000}
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SIGNING_KEY=${SIGNING_KEY:-loadtest-signing-key-not-a-secret}
ADMIN_TOKEN=loadtest-admin-token-not-a-secret
TEMPLATE=report-load
for size in $SIZES; do
    [[ $size =~ ^[0-9]+$ && $size -ge 100 ]] || die "each size is an integer of at least 100, got '$size'"
done

setup_workdir
ensure_commands redis-server:redis-server redis-cli:redis-tools curl:curl ss:iproute2 python3:python3
if [[ -n ${OPENTIME_BIN:-} ]]; then
    [[ -x $OPENTIME_BIN ]] || die "OPENTIME_BIN=$OPENTIME_BIN is not an executable"
else
    build_release
fi
start_redis

# The demo templates and the load's own, with a variant per arm.
mkdir -p "$WORK_DIR/templates"
cp -r "$REPO_DIR/assets/templates/." "$WORK_DIR/templates/"
cat >"$WORK_DIR/templates/$TEMPLATE.json" <<'JSON'
{ "name": "report-load", "width": 120, "height": 40, "access": "token", "scales": [1],
  "experiment": { "id": "report-load-copy", "arms": { "a": 50, "b": 50 } },
  "variants": [
    { "id": "copy-a", "arm": "a", "link": "https://example.com/a",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 120, "height": 40, "fill": "#1f5fa8" } ] },
    { "id": "copy-b", "arm": "b", "link": "https://example.com/b",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 120, "height": 40, "fill": "#c2410c" } ] },
    { "id": "default", "link": "https://example.com/",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 120, "height": 40, "fill": "#888888" } ] } ] }
JSON

# Sends the day's requests: each of the recipients in tokens.txt opens
# once as a person, with Apple's prefetch before for four in ten, a
# scanner's open for one in fifty, and a click for one in ten. Eight
# threads on keep-alive connections; fails on any answer but 200 or 302.
send_day() {
    python3 - "$OT_URL" "$WORK_DIR/tokens.txt" <<'PY'
import http.client, sys, threading, urllib.parse
base, tokens = sys.argv[1], [line.strip() for line in open(sys.argv[2]) if line.strip()]
host = urllib.parse.urlsplit(base).netloc
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
requests = []
for n, token in enumerate(tokens):
    if n % 10 < 4:
        requests.append((f"/i/report-load.png?t={token}&e=welcome-1", "Mozilla/5.0"))
    if n % 50 == 0:
        requests.append((f"/i/report-load.png?t={token}&e=welcome-1", "python-requests/2.31.0"))
    requests.append((f"/i/report-load.png?t={token}&e=welcome-1", IPHONE))
    if n % 10 == 0:
        requests.append((f"/c/report-load?t={token}&e=welcome-1", IPHONE))
failures = []
def run(part):
    connection = http.client.HTTPConnection(host, timeout=30)
    for path, agent in part:
        connection.request("GET", path, headers={"User-Agent": agent})
        response = connection.getresponse()
        response.read()
        if response.status not in (200, 302):
            failures.append((path[:40], response.status))
threads = [threading.Thread(target=run, args=(requests[i::8],)) for i in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
if failures:
    sys.exit(f"{len(failures)} requests failed, e.g. {failures[:3]}")
print(len(requests))
PY
}

# The template-day's keys and the bytes MEMORY USAGE gives each, summed by
# kind: "hash BYTES COUNT", "uniques BYTES COUNT", "experiment BYTES COUNT".
measure() {
    local day=$1
    {
        rcli --scan --pattern "ot:rep:{$TEMPLATE}:$day" | sed 's/^/hash /'
        rcli --scan --pattern "ot:rep:{$TEMPLATE}:$day:u:*" | sed 's/^/uniques /'
        rcli --scan --pattern "ot:exp:{$TEMPLATE-copy}:*" | sed 's/^/experiment /'
    } | while read -r kind key; do
        echo "$kind $(rcli memory usage "$key" samples 0)"
    done | awk '{ bytes[$1] += $2; keys[$1]++ } END {
        for (kind in bytes) printf "%s %d %d\n", kind, bytes[kind], keys[kind] }'
}

stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
mkdir -p "$OUT_DIR"
report="$OUT_DIR/report-memory-$stamp.md"
{
    echo "# Report memory per template-day, $stamp"
    echo
    echo "$(machine_summary). Two variants (arms), one email; each recipient opens once as a person (four in ten also fetched by Apple's prefetch, one in fifty by a scanner) and one in ten clicks. Bytes are \`MEMORY USAGE key SAMPLES 0\`. An open whose state lookup ran over the store's budget under this load shows the default variant (no arm), a third line with sets of its own: the last column counts them."
    echo
    echo "| distinct openers | requests | counters hash | openers' and clickers' HyperLogLogs | template-day | unique openers reported | experiment's sets (whole experiment) | opens shown the default |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$report"

for size in $SIZES; do
    rcli flushall >/dev/null
    load_profiles "$size" same
    sign_tokens "$size"
    start_opentime OPENTIME_ADMIN_TOKENS="$ADMIN_TOKEN" OPENTIME_TEMPLATES_DIR="$WORK_DIR/templates"
    log "$size recipients open"
    sent=$(send_day) || die "the opens failed: $sent"
    day=$(date -u +%Y%m%d)
    today=$(date -u +%Y-%m-%d)
    # The event writer counts in batches: wait until every open is in.
    expected_opens=$((size + (size * 4 + 9) / 10 + (size + 49) / 50))
    deadline=$((SECONDS + 120))
    while :; do
        answer=$(curl -fsS -H "Authorization: Bearer $ADMIN_TOKEN" \
            "$OT_URL/api/v1/reports/$TEMPLATE?from=$today&to=$today") || die "the report call failed"
        counted=$(python3 -c 'import json,sys; o=json.load(sys.stdin)["totals"]["opens"]; print(sum(o.values()))' <<<"$answer")
        ((counted >= expected_opens)) && break
        ((SECONDS < deadline)) || die "only $counted of $expected_opens opens counted after 120 s"
        sleep 0.5
    done
    openers=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"]["unique_human_openers"])' <<<"$answer")
    declare -A bytes=() keys=()
    while read -r kind b k; do bytes[$kind]=$b keys[$kind]=$k; done < <(measure "$day")
    hash=${bytes[hash]:-0} uniques=${bytes[uniques]:-0} experiment=${bytes[experiment]:-0}
    log "$size: hash $hash B, uniques $uniques B in ${keys[uniques]:-0} keys, experiment $experiment B"
    # Which lines the people fell in: under this load a few opens may
    # find the store over its budget and show the default variant.
    groups=$(rcli --scan --pattern "ot:rep:{$TEMPLATE}:$day:u:*" | sed 's/.*:u://' | sort | tr '\n' ' ')
    log "$size: unique sets $groups"
    defaults=$(rcli hget "ot:rep:{$TEMPLATE}:$day" "welcome-1|default||open.human")
    echo "| $size | $sent | $hash B | $uniques B (${keys[uniques]:-0} keys) | $((hash + uniques)) B | $openers | $experiment B (${keys[experiment]:-0} keys) | ${defaults:-0} |" >>"$report"
    kill -TERM "$OT_PID"
    wait "$OT_PID" 2>/dev/null || true
done
echo >>"$report"
echo "Command: \`SIZES=\"$SIZES\" loadtest/report-memory.sh\`" >>"$report"
print_report "$report"
