#!/usr/bin/env bash
# The flat card (white, a fixed heading, one line that names the recipient)
# opened cold over HTTP from a server on one core, beside Pillow and takumi
# drawing the same card in process on that core, in the same run. See
# loadtest/README.md.
#
#   loadtest/flat-card.sh                  # R=3 rounds of (10 s of opens, 300 cards per peer)
#   N=30000 D=3 R=1 WARMUP=1 PEERS_N=20 OUT_DIR=/tmp loadtest/flat-card.sh  # a quick check
#
# Every open is a different recipient with a name of their own, so every
# open is a new render; the script fails when the server's metrics say
# otherwise.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$LOADTEST_DIR/lib/peers.sh"
source "$LOADTEST_DIR/lib/flat.sh"

N=${N:-300000}             # recipients, each their own name (every open uses a new one)
D=${D:-10}                 # seconds per measured wrk run
R=${R:-3}                  # rounds of (opens over HTTP, then the three peers in process)
WARMUP=${WARMUP:-3}        # seconds of unmeasured opens first
CONNECTIONS=${CONNECTIONS:-8}
PEERS_N=${PEERS_N:-300}    # flat cards per peer process and round
SERVER_CPU=${SERVER_CPU:-0} # the server's core, and the peers'
LOAD_CPU=${LOAD_CPU:-1}    # wrk's and Redis's core
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SAMPLES_DIR=${SAMPLES_DIR:-$REPO_DIR/target/peers/samples} # the images, kept out of git
SIGNING_KEY=${SIGNING_KEY:-loadtest-signing-key-not-a-secret}
IMAGE_PATH=/i/flat.png
THREADS=1                  # wrk threads: one keeps up with one core's opens
TAKUMI_TARGET=5            # issue 23: at least 5x takumi in process
PILLOW_TARGET=20           # and 20x Pillow

for v in N D R WARMUP CONNECTIONS PEERS_N; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, got '${!v}'"
done
for v in SERVER_CPU LOAD_CPU; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -lt $(nproc) ]] || die "$v must be a CPU number below $(nproc), got '${!v}'"
done
((SERVER_CPU != LOAD_CPU)) || die "SERVER_CPU and LOAD_CPU must differ: the load generator needs a core of its own"

setup_workdir
ensure_commands wrk:wrk redis-server:redis-server redis-cli:redis-tools curl:curl ss:iproute2 taskset:util-linux
build_release
setup_peers
PEER_PIN=(taskset --cpu-list "$SERVER_CPU")
start_redis
taskset --all-tasks --cpu-list --pid "$LOAD_CPU" "$REDIS_PID" >/dev/null || die "cannot pin redis-server to CPU $LOAD_CPU"

load_flat_profiles "$N"
sign_tokens "$N"
write_flat_template

OPENTIME_LAUNCHER=(taskset --cpu-list "$SERVER_CPU")
start_opentime OPENTIME_TEMPLATES_DIR="$WORK_DIR/templates" OPENTIME_WATCH_TEMPLATES=false \
    OPENTIME_RENDER_CONCURRENCY=1
allowed=$(awk '/^Cpus_allowed_list:/ { print $2 }' "/proc/$OT_PID/status")
[[ $allowed == "$SERVER_CPU" ]] || die "opentime runs on CPUs $allowed, not on CPU $SERVER_CPU alone"

# Recipients 0 and 1, opened as a mail client would: the server's card 0
# is compared with the peers' card 0 below.
for k in 0 1; do
    token=$(sed -n "$((k + 1))p" "$WORK_DIR/tokens.txt")
    curl -fsS -D "$WORK_DIR/server-$k.head" -o "$WORK_DIR/server-$k.png" "$OT_URL$IMAGE_PATH?t=$token" ||
        die "cannot open $IMAGE_PATH for recipient $k"
    grep -qi '^content-type: image/png' "$WORK_DIR/server-$k.head" ||
        die "the server's flat card is not a PNG: $(cat "$WORK_DIR/server-$k.head")"
done
cmp -s "$WORK_DIR/server-0.png" "$WORK_DIR/server-1.png" &&
    die "two recipients with different names got the same image: the opens would not be renders"
personalized=$(metric "$(scrape)" opentime_requests_total 'outcome="personalized"')
[[ "$personalized" -ge 2 ]] ||
    die "the probe opens were not personalized (is the profile read from redis?): $(scrape | grep '^opentime_requests_total')"
image_bytes=$(stat -c %s "$WORK_DIR/server-0.png")
log "opentime serves a $image_bytes-byte PNG to recipient 0"

# A Prometheus sample (summed over matching series) with its decimals.
metric_value() {
    awk -v name="$2" '($1 == name || index($1, name "{") == 1) { sum += $NF } END { printf "%.6f\n", sum + 0 }' <<<"$1"
}
# Busy ticks of the server's core, whoever ran on it (steal included).
core_busy_ticks() { awk -v cpu="cpu$SERVER_CPU" '$1 == cpu { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# Waits until no render runs or waits, so that a scrape counts every
# render the run started.
wait_idle() {
    local text
    for _ in $(seq 50); do
        text=$(scrape)
        (($(metric "$text" opentime_renders_in_flight) == 0 && $(metric "$text" opentime_render_queue) == 0)) && return 0
        sleep 0.1
    done
    die "renders still running 5 s after the load stopped"
}

# wrk from OFFSET in the token list, for SECONDS, on the load CPU; sets RESULT.
# cycle.lua sends line OFFSET+1 first and one line further each request.
flat_wrk() {
    local seconds=$1 out=$2 offset=$3
    timeout --kill-after=10 $((seconds + 60)) \
        taskset --cpu-list "$LOAD_CPU" \
        wrk -t "$THREADS" -c "$CONNECTIONS" -d "${seconds}s" --latency --timeout 5s \
        -s "$LOADTEST_DIR/lib/cycle.lua" "$OT_URL" \
        -- "$WORK_DIR/tokens.txt" "$IMAGE_PATH?t=" 0 "$THREADS" "$offset" >"$out" 2>&1 &
    local pid=$!
    track "$pid"
    wait "$pid" || die "wrk failed: $(tail -5 "$out")"
    RESULT=$(grep '^OTRESULT ' "$out") || die "wrk printed no result: $(tail -5 "$out")"
}
# Where the next run starts: past every request this one sent, answered or
# still in flight when wrk stopped (those may have rendered too). Fails
# when the recipients ran out, since cycle.lua would have started over.
advance() {
    offset=$((offset + $(field "$RESULT" requests) + CONNECTIONS))
    ((offset <= N)) || die "the runs needed more than N=$N recipients: raise N, or later opens were not new renders"
}

offset=2 # recipients 0 and 1 were the probes
log "warm-up: ${WARMUP}s of opens"
flat_wrk "$WARMUP" "$WORK_DIR/wrk-warmup.txt" "$offset"
advance
wait_idle

load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
rps_list=() run_rows=() failures=()
errors=0 requests_total=0 image_requests_total=0 renders_total=0 server_ticks_total=0 redis_ticks_total=0
for round in $(seq "$R"); do
    log "round $round/$R: opens over HTTP, ${D}s, $CONNECTIONS connections, from recipient $offset"
    before=$(scrape)
    cpu0=$(cpu_ticks "$OT_PID") redis0=$(cpu_ticks "$REDIS_PID") core0=$(core_busy_ticks)
    flat_wrk "$D" "$WORK_DIR/wrk-$round.txt" "$offset"
    cpu1=$(cpu_ticks "$OT_PID") redis1=$(cpu_ticks "$REDIS_PID") core1=$(core_busy_ticks)
    advance
    wait_idle
    after=$(scrape)

    delta() { echo $(($(metric "$after" "$@") - $(metric "$before" "$@"))); }
    rps=$(field "$RESULT" rps) requests=$(field "$RESULT" requests) seconds=$(field "$RESULT" seconds)
    p50=$(field "$RESULT" p50_us) p99=$(field "$RESULT" p99_us)
    bad=$(($(field "$RESULT" non200) + $(field "$RESULT" connect_errors) + $(field "$RESULT" read_errors) +
        $(field "$RESULT" write_errors) + $(field "$RESULT" timeouts)))
    renders=$(delta opentime_renders_total)
    image_requests=$(delta opentime_requests_total 'route="image"')
    personalized=$(delta opentime_requests_total 'outcome="personalized"')
    hits=$(delta opentime_render_cache_lookups_total 'result="hit"')
    shared_hits=$(delta opentime_shared_cache_lookups_total 'result="hit"')
    fallbacks=$(delta opentime_fallbacks_total)
    store_errors=$(delta opentime_store_errors_total)
    render_ms=$(awk -v s1="$(metric_value "$after" opentime_render_duration_seconds_sum)" \
        -v s0="$(metric_value "$before" opentime_render_duration_seconds_sum)" -v n="$renders" \
        'BEGIN { printf "%.3f", n ? (s1 - s0) * 1000 / n : 0 }')
    per_open_ms=$(awk -v r="$rps" 'BEGIN { printf "%.3f", r ? 1000 / r : 0 }')
    cpu_ms=$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.3f", n ? t / hz * 1000 / n : 0 }')
    others=$(awk -v busy=$((core1 - core0)) -v own=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v s="$seconds" \
        'BEGIN { v = (busy - own) / hz / s * 100; printf "%.1f", v < 0 ? 0 : v }')
    server_share=$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v s="$seconds" 'BEGIN { printf "%.0f", t / hz / s * 100 }')

    # Every open answered must have been a new render: no cache answered
    # it, no fallback stood in, and the server rendered once per image
    # request it answered.
    ((bad == 0)) || failures+=("round $round: $bad non-200 answers or socket errors")
    ((hits == 0 && shared_hits == 0)) || failures+=("round $round: $hits render cache hits and $shared_hits shared cache hits: not every open was a new render")
    ((renders == image_requests)) || failures+=("round $round: $renders renders for $image_requests image requests")
    ((image_requests >= requests && image_requests <= requests + CONNECTIONS)) ||
        failures+=("round $round: the server answered $image_requests image requests, wrk counted $requests")
    ((personalized == image_requests)) || failures+=("round $round: $((image_requests - personalized)) image requests not personalized")
    ((fallbacks == 0 && store_errors == 0)) || failures+=("round $round: $fallbacks fallbacks, $store_errors store errors")

    errors=$((errors + bad)) requests_total=$((requests_total + requests)) renders_total=$((renders_total + renders))
    image_requests_total=$((image_requests_total + image_requests))
    server_ticks_total=$((server_ticks_total + cpu1 - cpu0)) redis_ticks_total=$((redis_ticks_total + redis1 - redis0))
    rps_list+=("$rps")
    log "  $rps opens/s ($per_open_ms ms each), server CPU $cpu_ms ms/open, render $render_ms ms, $renders renders for $image_requests image requests, others on the core $others%"
    run_rows+=("| $round | $rps | $per_open_ms | $cpu_ms | $render_ms | $(us_to_ms "$p50") | $(us_to_ms "$p99") | $requests | $renders | $server_share | $others | $bad |")

    for renderer in "${RENDERERS[@]}"; do run_peer "$round" "$renderer" flat "$PEERS_N"; done
    if ((round == 1)); then
        cmp -s "$WORK_DIR/server-0.png" "$WORK_DIR/runs/1-opentime-flat.png" ||
            die "the server's card for recipient 0 differs from peer_render's flat card 0: the template is not the flat card"
        log "the server's card 0 is byte for byte peer_render's flat card 0"
    fi
done
load_at_end=$(cut -d' ' -f1-3 /proc/loadavg)

rps_median=$(median "${rps_list[@]}")
per_open_ms=$(awk -v r="$rps_median" 'BEGIN { printf "%.3f", r ? 1000 / r : 0 }')
cpu_ms=$(awk -v t="$server_ticks_total" -v hz="$CLK_TCK" -v n="$requests_total" 'BEGIN { printf "%.3f", n ? t / hz * 1000 / n : 0 }')
redis_ms=$(awk -v t="$redis_ticks_total" -v hz="$CLK_TCK" -v n="$requests_total" 'BEGIN { printf "%.3f", n ? t / hz * 1000 / n : 0 }')

mkdir -p "$OUT_DIR" "$SAMPLES_DIR"
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
report="$OUT_DIR/flat-card-$stamp.md"
cp "$WORK_DIR/server-0.png" "$SAMPLES_DIR/flat-card-$stamp-server.png"
{
    echo "# Flat card, cold, over HTTP on one core, beside Pillow and takumi in process, $stamp"
    echo
    echo "commit $(checkout_label); $(machine_summary); load average $load_at_start at the start, $load_at_end at the end."
    peer_versions
    echo "The flat card (\`flat_card\` in benches/support/cards.rs): 600x200 PNG, white, \"Your order is on its way\" in Noto Sans Bold 32 px at the bottom of (24, 30, 552, 70) and \"Thank you, Алёна {n}!\" in Noto Sans Regular 22 px at the top of (24, 110, 552, 60), both rgb(31, 41, 55), centered. The server serves it as a template whose second line is \`Thank you, {{ profile.first_name }}!\`, recipient n being named \"Алёна n\"; its card for recipient 0 is byte for byte peer_render's card 0."
    echo "Server: the release binary pinned to CPU $SERVER_CPU (taskset, from its first thread), render_concurrency 1; wrk (-t$THREADS -c$CONNECTIONS) and Redis pinned to CPU $LOAD_CPU. N=$N recipients; each round ${D}s of opens (after ${WARMUP}s of warm-up before the first), every open a recipient not opened before, then $PEERS_N flat cards by each peer in process, pinned to CPU $SERVER_CPU, one process each; $R round(s)."
    echo "\"time per open\" is 1 / opens per second: the server's core spent per open, idle time included. Server CPU is its user + system time (/proc) over the requests. Peer times are one render with its encoding, in process (loadtest/peers/README.md); median and p90 over every card of every round. The ratios are the peer's median over opentime's time per open."
    echo
    "$VENV/bin/python" - "$WORK_DIR/runs" "$R" "$PEERS_N" "$WORK_DIR/server-0.png" "$per_open_ms" "$cpu_ms" \
        "$TAKUMI_TARGET" "$PILLOW_TARGET" "$SAMPLES_DIR" "flat-card-$stamp" "${RENDERERS[@]}" <<'PY'
import json, statistics, sys
from pathlib import Path
from PIL import Image, ImageChops, ImageStat

runs, rounds, count, server_image, per_open, cpu_per_open = sys.argv[1:7]
takumi_target, pillow_target, samples, prefix = sys.argv[7:11]
renderers = sys.argv[11:]
runs, rounds, count = Path(runs), int(rounds), int(count)
per_open, cpu_per_open = float(per_open), float(cpu_per_open)
targets = {"takumi": float(takumi_target), "pillow": float(pillow_target)}

def fail(message):
    sys.exit(f"flat-card.sh: {message}")

def decoded(path, who):
    try:
        with Image.open(path) as image:
            if image.format != "PNG" or image.size != (600, 200):
                fail(f"{who}'s flat card is a {image.format} of {image.size}, not a PNG of (600, 200)")
            pixels = image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as error:
        fail(f"{who}'s flat card {path} does not decode: {error}")
    if pixels.getextrema() in (((0, 0),) * 3, ((255, 255),) * 3):
        fail(f"{who}'s flat card is one flat color")
    return pixels

server = decoded(server_image, "the server")
times, rounds_medians, samples_of = {}, {}, {}
for renderer in renderers:
    times[renderer] = []
    for round_number in range(1, rounds + 1):
        base = runs / f"{round_number}-{renderer}-flat"
        lines = base.with_suffix(".json").read_text().strip().splitlines()
        try:
            result = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            fail(f"{renderer} printed no result in round {round_number}: {lines[-3:]}")
        round_times = result.get("times_ms", [])
        if result.get("renderer") != renderer or result.get("case") != "flat":
            fail(f"{base}.json is {result.get('renderer')}/{result.get('case')}, not {renderer}/flat")
        if len(round_times) != count or not all(isinstance(t, (int, float)) and t > 0 for t in round_times):
            fail(f"{renderer} gave {len(round_times)} valid times for {count} cards in round {round_number}")
        sample = base.with_suffix(".png")
        if sample.stat().st_size != result.get("bytes"):
            fail(f"{renderer}'s card {sample} has {sample.stat().st_size} bytes, it reported {result.get('bytes')}")
        times[renderer] += round_times
        rounds_medians[round_number, renderer] = statistics.median(round_times)
        samples_of[renderer] = (sample, result)

def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

def mean_difference(a, b):
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3

print("| renderer | version | median ms | p90 ms | / opentime's time per open over HTTP | / opentime's server CPU per open | bytes | mean difference from the server's card |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
print(f"| opentime over HTTP, time per open | | {per_open:.3f} | | 1.00 | | {Path(server_image).stat().st_size} | 0.00 |")
print(f"| opentime over HTTP, server CPU per open | | {cpu_per_open:.3f} | | | 1.00 | | |")
medians = {}
for renderer in renderers:
    sample, result = samples_of[renderer]
    medians[renderer] = statistics.median(times[renderer])
    difference = mean_difference(server, decoded(sample, renderer))
    print(f"| {renderer} in process | {result.get('version', '?')} | {medians[renderer]:.3f} | {percentile(times[renderer], 0.9):.3f} "
          f"| {medians[renderer] / per_open:.2f} | {medians[renderer] / cpu_per_open:.2f} | {result['bytes']} | {difference:.2f} |")
print()
print("| target (issue 23) | measured | |")
print("|---|---:|---|")
for renderer in ("takumi", "pillow"):
    ratio = medians[renderer] / per_open
    verdict = "met" if ratio >= targets[renderer] else "not met"
    print(f"| at least {targets[renderer]:g}x {renderer}'s in-process median | {ratio:.2f}x | {verdict} |")
print()
print("| round | " + " | ".join(f"{r} in process, median ms" for r in renderers) + " |")
print("|---:|" + "---:|" * len(renderers))
for round_number in range(1, rounds + 1):
    print(f"| {round_number} | " + " | ".join(f"{rounds_medians[round_number, r]:.3f}" for r in renderers) + " |")

samples = Path(samples)
kept = [f"{prefix}-server.png"]
for renderer in renderers:
    target = samples / f"{prefix}-{renderer}.png"
    target.write_bytes(samples_of[renderer][0].read_bytes())
    kept.append(target.name)
print()
print("The cards for recipient 0 (the server's, and each peer's card number 0 of the last round) were written to `SAMPLES_DIR` (`target/peers/samples/` by default): " + ", ".join(f"`{name}`" for name in kept) + ".")
PY
    echo
    echo "| round | opens/s | time per open, ms | server CPU, ms/open | render, ms (server's histogram) | p50 ms | p99 ms | opens (wrk) | renders | server's share of its core, % | others on that core, % | errors |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${run_rows[@]}"
    echo
    echo "| over the measured runs | |"
    echo "|---|---:|"
    echo "| opens/s, median of $R runs | $rps_median |"
    echo "| opens wrk counted / image requests the server answered / renders (the server also answers the opens in flight when wrk stops) | $requests_total / $image_requests_total / $renders_total |"
    echo "| Redis CPU, ms/open (on CPU $LOAD_CPU, not in the server's figures) | $redis_ms |"
    echo "| VmRSS / VmHWM at the end | $(mib "$(rss_kib "$OT_PID")") / $(mib "$(hwm_kib "$OT_PID")") MiB |"
    if ((${#failures[@]} == 0)); then
        echo "| every open answered 200 with a new render (no cache hit, no fallback, one render per image request) | yes |"
    else
        echo "| failed checks | $(printf '%s; ' "${failures[@]}") |"
    fi
} >"$report.partial" || {
    rm -f "$report.partial"
    die "the results did not check out (see above)"
}
mv "$report.partial" "$report"
print_report "$report"

((${#failures[@]} == 0)) || die "$(printf '%s; ' "${failures[@]}")"
