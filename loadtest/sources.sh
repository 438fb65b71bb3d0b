#!/usr/bin/env bash
# Sources (docs/sources.md) under load, two measurements in one run:
#
# 1. The hit path with a cached source: a card whose text reads a source
#    answer already cached, beside the same card with no source, in
#    alternating rounds (target: within 10% of its requests/s).
# 2. A spike of opens that each need a new call, the API answering in
#    DELAY_MS (50 ms): the open's p99 (target: under 100 ms).
#
#   loadtest/sources.sh                       # N=10000 D=10 R=3
#   N=2000 D=3 R=1 loadtest/sources.sh        # a quick check that it works
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

N=${N:-10000}              # recipients, all with the same profile fields
D=${D:-10}                 # seconds per measured wrk run
R=${R:-3}                  # rounds of (no source, cached source)
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
DELAY_MS=${DELAY_MS:-50}   # the API's answer time in the spike
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SIGNING_KEY=${SIGNING_KEY:-loadtest-signing-key-not-a-secret}

setup_workdir
ensure_commands wrk:wrk redis-server:redis-server redis-cli:redis-tools curl:curl python3:python3 ps:procps
build_release
start_redis
load_profiles "$N" same
sign_tokens "$N"

# Two APIs: one answering at once (for the cached measurement), one in
# DELAY_MS (for the spike).
FAST_PORT=$(free_port)
python3 "$LOADTEST_DIR/lib/json_api.py" "$FAST_PORT" 0 >"$WORK_DIR/api-fast.log" 2>&1 &
track $!
SLOW_PORT=$(free_port)
python3 "$LOADTEST_DIR/lib/json_api.py" "$SLOW_PORT" "$DELAY_MS" >"$WORK_DIR/api-slow.log" 2>&1 &
track $!
wait_http "http://127.0.0.1:$FAST_PORT/count" 10 || die "the fast API did not start"
wait_http "http://127.0.0.1:$SLOW_PORT/count" 10 || die "the slow API did not start"

# The same card three times: without a source, with a source on the fast
# API (ttl long enough to stay cached), and with one on the slow API.
TEMPLATES="$WORK_DIR/templates"
mkdir -p "$TEMPLATES"
card() { # name, sources JSON, tier text
    cat >"$TEMPLATES/$1.json" <<JSON
{ "name": "$1", "width": 600, "height": 200, "access": "token", "sources": { $2 },
  "variants": [ { "id": "member", "when": "profile.points is defined",
    "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 600, "height": 200, "fill": "#1b2a4a" },
                { "type": "text", "x": 30, "y": 30, "width": 540, "height": 50, "size": 32, "weight": "bold", "color": "#ffffff", "text": "{{ profile.first_name }} {{ profile.last_name }}" },
                { "type": "text", "x": 30, "y": 100, "width": 540, "height": 50, "size": 28, "color": "#ecbe5a", "text": "{{ profile.points | number }} points, $3" } ] },
    { "id": "default", "layers": [ { "type": "text", "x": 30, "y": 30, "width": 540, "height": 60, "size": 30, "text": "Join us" } ] } ] }
JSON
}
card plain "" "gold"
card cached "\"shop\": { \"url\": \"http://127.0.0.1:$FAST_PORT/c/{{ recipient.id | urlencode }}\", \"timeout_ms\": 500, \"ttl_s\": 3600 }" "{{ source.shop.tier | default('member') }}"
card spike "\"shop\": { \"url\": \"http://127.0.0.1:$SLOW_PORT/c/{{ recipient.id | urlencode }}\", \"timeout_ms\": 300, \"ttl_s\": 3600 }" "{{ source.shop.tier | default('member') }}"

start_opentime OPENTIME_TEMPLATES_DIR="$TEMPLATES" \
    OPENTIME_SOURCE_HOSTS="http://127.0.0.1:$FAST_PORT,http://127.0.0.1:$SLOW_PORT"

first_token=$(head -1 "$WORK_DIR/tokens.txt")
curl -fsS -o "$WORK_DIR/plain.png" "$OT_URL/i/plain.png?t=$first_token" || die "cannot fetch plain.png"
curl -fsS -o "$WORK_DIR/cached.png" "$OT_URL/i/cached.png?t=$first_token" || die "cannot fetch cached.png"
cmp -s "$WORK_DIR/plain.png" "$WORK_DIR/cached.png" ||
    die "the sourced card does not draw the same image as the plain one: the source was not answered"

# Every recipient's source answer is fetched once before measuring.
log "warm-up: every recipient's answer cached, ${WARMUP}s of plain load"
IMAGE_PATH=/i/cached.png
run_wrk "$OT_URL" "$(( N / 500 + WARMUP ))" "$WORK_DIR/wrk-warmup-cached.txt"
IMAGE_PATH=/i/plain.png run_wrk "$OT_URL" "$WARMUP" "$WORK_DIR/wrk-warmup-plain.txt"
fast_calls=$(curl -fsS "http://127.0.0.1:$FAST_PORT/count")
log "the fast API was called $fast_calls times for $N recipients"

before=$(scrape)
declare -a plain_rps cached_rps plain_p99 cached_p99 run_rows
for round in $(seq "$R"); do
    for card_name in plain cached; do
        IMAGE_PATH=/i/$card_name.png
        log "round $round/$R: $card_name, ${D}s"
        run_wrk "$OT_URL" "$D" "$WORK_DIR/wrk-$card_name-$round.txt"
        rps=$(field "$RESULT" rps) p50=$(field "$RESULT" p50_us) p99=$(field "$RESULT" p99_us)
        bad=$(($(field "$RESULT" non200) + $(field "$RESULT" timeouts)))
        log "  $rps req/s, p50 $(us_to_ms "$p50") ms, p99 $(us_to_ms "$p99") ms, errors $bad"
        run_rows+=("| $round | $card_name | $rps | $(us_to_ms "$p50") | $(us_to_ms "$p99") | $bad |")
        if [[ $card_name == plain ]]; then plain_rps+=("$rps") plain_p99+=("$p99"); else cached_rps+=("$rps") cached_p99+=("$p99"); fi
    done
done
after=$(scrape)
calls_during=$(( $(curl -fsS "http://127.0.0.1:$FAST_PORT/count") - fast_calls ))

# The spike: every open a recipient whose answer is not cached yet, the
# API answering in DELAY_MS.
log "spike: /i/spike.png, every open a new call answered in ${DELAY_MS} ms, ${D}s"
IMAGE_PATH=/i/spike.png
run_wrk "$OT_URL" "$D" "$WORK_DIR/wrk-spike.txt"
spike=$RESULT
spike_calls=$(curl -fsS "http://127.0.0.1:$SLOW_PORT/count")
spike_after=$(scrape)
spike_timeouts=$(metric "$spike_after" opentime_source_errors_total 'source="spike/shop"')

mkdir -p "$OUT_DIR"
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
report="$OUT_DIR/sources-$stamp.md"
a=$(median "${plain_rps[@]}") b=$(median "${cached_rps[@]}")
{
    echo "# sources: the hit path with a cached source, and a spike of calls, $stamp"
    echo
    echo "commit $(checkout_label); $(machine_summary)."
    echo "N=$N recipients; wrk -t$THREADS -c$CONNECTIONS, ${D}s per run, $R rounds alternating; every request a different recipient's token. APIs and load generator share the machine."
    echo
    echo "| median of $R runs | no source | cached source | cached / none |"
    echo "|---|---:|---:|---:|"
    echo "| requests/s | $a | $b | $(ratio "$b" "$a") |"
    echo "| p99 latency, ms | $(us_to_ms "$(median "${plain_p99[@]}")") | $(us_to_ms "$(median "${cached_p99[@]}")") | $(ratio "$(median "${cached_p99[@]}")" "$(median "${plain_p99[@]}")") |"
    echo
    echo "| run | card | requests/s | p50 ms | p99 ms | errors |"
    echo "|---:|---|---:|---:|---:|---:|"
    printf '%s\n' "${run_rows[@]}"
    echo
    echo "Calls to the API during the measured runs: $calls_during (every answer was cached)."
    echo
    echo "## Spike: every open a new call answered in ${DELAY_MS} ms"
    echo
    echo "| | |"
    echo "|---|---:|"
    echo "| requests/s | $(field "$spike" rps) |"
    echo "| p50 latency, ms | $(us_to_ms "$(field "$spike" p50_us)") |"
    echo "| p99 latency, ms | $(us_to_ms "$(field "$spike" p99_us)") |"
    echo "| p99.9 latency, ms | $(us_to_ms "$(field "$spike" p999_us)") |"
    echo "| API calls | $spike_calls |"
    echo "| source errors (timeouts, budget) | $spike_timeouts |"
    echo "| non-200 | $(field "$spike" non200) |"
} >"$report"
print_report "$report"
