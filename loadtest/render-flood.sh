#!/usr/bin/env bash
# Distinct renders on demand: a recipient's open beside a client that asks a
# public template for a new image with every request. See loadtest/README.md.
#
#   loadtest/render-flood.sh                 # about 2 minutes after the build
#   D=5 WARMUP=1 OUT_DIR=/tmp loadtest/render-flood.sh   # quick check
#
# Asserts: every probe and attack answer was a 200 (the attack's mostly the
# fallback image) with no socket error; with the attack, the probe's p99
# stays under P99_TARGET_MS and Redis's used_memory grows by less than
# REDIS_GROWTH_TARGET_MIB.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

N=${N:-10000}                             # probe recipients (all the same card)
D=${D:-30}                                # seconds per measured phase
WARMUP=${WARMUP:-3}
PROBE_CONNECTIONS=${PROBE_CONNECTIONS:-4}
PROBE_INTERVAL_MS=${PROBE_INTERVAL_MS:-20} # per probe connection: 200 opens/s with 4
FLOOD_CONNECTIONS=${FLOOD_CONNECTIONS:-128}
THREADS=${THREADS:-2}
P99_TARGET_MS=${P99_TARGET_MS:-50}
REDIS_GROWTH_TARGET_MIB=${REDIS_GROWTH_TARGET_MIB:-64}
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SIGNING_KEY=${SIGNING_KEY:-loadtest-signing-key-not-a-secret}

for v in N D WARMUP PROBE_CONNECTIONS PROBE_INTERVAL_MS FLOOD_CONNECTIONS THREADS P99_TARGET_MS REDIS_GROWTH_TARGET_MIB; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, got '${!v}'"
done

setup_workdir
ensure_commands wrk:wrk redis-server:redis-server redis-cli:redis-tools curl:curl ss:iproute2
build_release
start_redis
load_profiles "$N" same
sign_tokens "$N"

# The shipped templates, and a public one that draws an unsigned parameter:
# what the attack asks for.
cp -r "$REPO_DIR/assets/templates" "$WORK_DIR/templates"
cat >"$WORK_DIR/templates/flood.json" <<'JSON'
{
  "name": "flood",
  "width": 600, "height": 120,
  "access": "public",
  "params": { "name": { "max_len": 64, "default": "there" } },
  "variants": [
    { "id": "default",
      "layers": [
        { "type": "rect", "x": 0, "y": 0, "width": 600, "height": 120, "fill": "#0b3d91" },
        { "type": "text", "x": 24, "y": 24, "width": 552, "height": 72,
          "text": "Hello {{ query.name }}, your offer is ready",
          "size": 32, "min_size": 18, "weight": "bold", "color": "#ffffff" } ] }
  ]
}
JSON
start_opentime OPENTIME_TEMPLATES_DIR="$WORK_DIR/templates" OPENTIME_WATCH_TEMPLATES=false

PROBE_PATH=/i/loyalty.png?t=
first=$(head -1 "$WORK_DIR/tokens.txt")
curl -fsS -o "$WORK_DIR/probe.png" "$OT_URL$PROBE_PATH$first" || die "the probe's first open failed"
curl -fsS -o "$WORK_DIR/attack.png" "$OT_URL/i/flood.png?name=first" || die "the attack's first open failed"

used_memory() { rcli info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
render_keys() { rcli --scan --pattern 'ot:render:*' | wc -l; }

# wrk for SECONDS with SCRIPT and its arguments; output in OUT.
run_wrk_script() {
    local connections=$1 seconds=$2 out=$3 script=$4
    shift 4
    local threads=$THREADS
    ((connections < threads)) && threads=$connections
    timeout --kill-after=10 $((seconds + 60)) \
        wrk -t "$threads" -c "$connections" -d "${seconds}s" --latency --timeout 5s \
        -s "$LOADTEST_DIR/lib/$script" "$OT_URL" -- "$@" >"$out" 2>&1
}
probe() {
    run_wrk_script "$PROBE_CONNECTIONS" "$1" "$2" paced.lua \
        "$WORK_DIR/tokens.txt" "$PROBE_PATH" "$PROBE_INTERVAL_MS"
}
check_result() {
    local label=$1 out=$2 line
    line=$(grep '^OTRESULT ' "$out") || die "$label: wrk printed no result: $(tail -5 "$out")"
    for f in non200 connect_errors read_errors write_errors timeouts status_errors; do
        [[ $(field "$line" "$f") -eq 0 ]] || die "$label: $f=$(field "$line" "$f"): $line"
    done
    echo "$line"
}

log "warm-up: ${WARMUP}s of probe"
probe "$WARMUP" "$WORK_DIR/warmup.out" || die "warm-up probe failed"

log "probe alone: ${D}s"
probe "$D" "$WORK_DIR/alone.out" || die "probe failed"
alone=$(check_result "probe alone" "$WORK_DIR/alone.out")

before_text=$(scrape)
memory_before=$(used_memory)
keys_before=$(render_keys)
log "probe beside $FLOOD_CONNECTIONS attacking connections: ${D}s"
run_wrk_script "$FLOOD_CONNECTIONS" $((D + 4)) "$WORK_DIR/attack.out" distinct.lua "/i/flood.png?name=" &
attack_pid=$!
track "$attack_pid"
sleep 2
probe "$D" "$WORK_DIR/beside.out" || die "probe beside the attack failed"
wait "$attack_pid" || die "the attack's wrk failed: $(tail -5 "$WORK_DIR/attack.out")"
memory_after=$(used_memory)
keys_after=$(render_keys)
after_text=$(scrape)
beside=$(check_result "probe beside the attack" "$WORK_DIR/beside.out")
attack=$(check_result "attack" "$WORK_DIR/attack.out")

delta() { echo $(($(metric "$after_text" "$1" "${2:-}") - $(metric "$before_text" "$1" "${2:-}"))); }
renders=$(delta opentime_renders_total)
budget_fallbacks=$(delta opentime_fallbacks_total 'reason="anonymous_budget"')
other_fallbacks=$(($(delta opentime_fallbacks_total) - budget_fallbacks))
not_repeated=$(delta opentime_shared_cache_writes_total 'result="not_repeated"')
stored=$(delta opentime_shared_cache_writes_total 'result="stored"')
growth=$((memory_after - memory_before))
growth_mib=$(awk -v b="$growth" 'BEGIN { printf "%.1f", b / 1048576 }')
p99_beside_ms=$(us_to_ms "$(field "$beside" p99_us)")

verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v < t) ? "met" : "MISSED" }'; }
p99_verdict=$(verdict "$p99_beside_ms" "$P99_TARGET_MS")
growth_verdict=$(verdict "$growth_mib" "$REDIS_GROWTH_TARGET_MIB")

mkdir -p "$OUT_DIR"
report="$OUT_DIR/render-flood-$(date -u +%Y-%m-%dT%H%M%SZ).md"
{
    echo "# render-flood.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "$(machine_summary); commit $(checkout_label)"
    echo "probe: $PROBE_CONNECTIONS connections, one open each every $PROBE_INTERVAL_MS ms ($PROBE_PATH...); attack: $FLOOD_CONNECTIONS connections, $THREADS threads, /i/flood.png?name=<new each time>; ${D}s each"
    echo
    echo "| probe (tokened opens of loyalty) | alone | beside the attack |"
    echo "|---|---:|---:|"
    for label in rps p50_us p90_us p99_us max_us; do
        a=$(field "$alone" "$label") b=$(field "$beside" "$label")
        if [[ $label == *_us ]]; then
            echo "| ${label%_us}, ms | $(us_to_ms "$a") | $(us_to_ms "$b") |"
        else
            echo "| opens/s | $a | $b |"
        fi
    done
    echo
    echo "| the attack | |"
    echo "|---|---:|"
    echo "| requests/s | $(field "$attack" rps) |"
    echo "| p99, ms | $(us_to_ms "$(field "$attack" p99_us)") |"
    echo "| renders during it | $renders |"
    echo "| fallbacks, anonymous_budget | $budget_fallbacks |"
    echo "| fallbacks, other reasons | $other_fallbacks |"
    echo "| renders kept in the replica (not_repeated) | $not_repeated |"
    echo "| renders written to the shared cache | $stored |"
    echo "| ot:render:* keys in Redis, before / after | $keys_before / $keys_after |"
    echo "| Redis used_memory growth, MiB | $growth_mib |"
    echo
    echo "| target | value | |"
    echo "|---|---:|---|"
    echo "| probe p99 beside the attack < $P99_TARGET_MS ms | $p99_beside_ms | $p99_verdict |"
    echo "| Redis growth < $REDIS_GROWTH_TARGET_MIB MiB | $growth_mib | $growth_verdict |"
} >"$report"
print_report "$report"
[[ $p99_verdict == met && $growth_verdict == met ]] || die "a target was missed (see the report)"
