#!/usr/bin/env bash
# Memory stays bounded: many distinct renders through a small render cache.
# See loadtest/README.md.
#
#   loadtest/memory.sh                                      # 100k recipients, 1M requests
#   N=5000 REQUESTS=20000 WARMUP_REQUESTS=5000 loadtest/memory.sh   # a quick check
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

N=${N:-100000}                       # recipients, each with its own name and points
REQUESTS=${REQUESTS:-1000000}        # requests in all, warm-up included
WARMUP_REQUESTS=${WARMUP_REQUESTS:-100000}
CACHE_BYTES=${CACHE_BYTES:-$((64 * 1024 * 1024))}
MAX_SECONDS=${MAX_SECONDS:-2400}     # load stops after this, warm-up included, even if short of REQUESTS
PROGRESS=${PROGRESS:-15}             # seconds between progress lines
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SIGNING_KEY=${SIGNING_KEY:-loadtest-signing-key-not-a-secret}
IMAGE_PATH=/i/loyalty.png

for v in N REQUESTS WARMUP_REQUESTS CACHE_BYTES MAX_SECONDS PROGRESS CONNECTIONS THREADS; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, got '${!v}'"
done
((WARMUP_REQUESTS < REQUESTS)) || die "WARMUP_REQUESTS ($WARMUP_REQUESTS) must be below REQUESTS ($REQUESTS)"

setup_workdir
ensure_commands wrk:wrk redis-server:redis-server redis-cli:redis-tools curl:curl ss:iproute2
build_release
start_redis
load_profiles "$N" distinct
sign_tokens "$N"
start_opentime OPENTIME_CACHE_BYTES="$CACHE_BYTES"

# Two recipients must get two different images, or the test would measure hits.
curl -fsS -o "$WORK_DIR/a.png" "$OT_URL$IMAGE_PATH?t=$(sed -n 1p "$WORK_DIR/tokens.txt")"
curl -fsS -o "$WORK_DIR/b.png" "$OT_URL$IMAGE_PATH?t=$(sed -n 2p "$WORK_DIR/tokens.txt")"
cmp -s "$WORK_DIR/a.png" "$WORK_DIR/b.png" && die "two recipients got the same image: renders are not distinct"

image_requests() { metric "$(scrape)" opentime_requests_total 'route="image"'; }

# One status line from opentime's metrics and /proc.
status_line() {
    local text
    text=$(scrape)
    printf 'requests %s, renders %s, cache %s MiB, fallbacks %s, store errors %s, VmRSS %s MiB, VmHWM %s MiB' \
        "$(metric "$text" opentime_requests_total 'route="image"')" "$(metric "$text" opentime_renders_total)" \
        "$(mib $(($(metric "$text" opentime_render_cache_bytes) / 1024)))" "$(metric "$text" opentime_fallbacks_total)" \
        "$(metric "$text" opentime_store_errors_total)" "$(mib "$(rss_kib "$OT_PID")")" "$(mib "$(hwm_kib "$OT_PID")")"
}

# Sends CAP requests (the wrk script stops each thread at its share),
# starting OFFSET into the token list, printing progress; stops wrk after
# SECONDS whatever the count. Sets RESULT to wrk's OTRESULT line.
run_capped() {
    local label=$1 cap=$2 offset=$3 seconds=$4 out="$WORK_DIR/wrk-$1.txt"
    local base start last_print count
    base=$(image_requests)
    start=$SECONDS last_print=$SECONDS
    wrk -t "$THREADS" -c "$CONNECTIONS" -d "$((seconds + 5))s" --timeout 10s \
        -s "$LOADTEST_DIR/lib/cycle.lua" "$OT_URL" \
        -- "$WORK_DIR/tokens.txt" "$IMAGE_PATH?t=" "$cap" "$THREADS" "$offset" >"$out" 2>&1 &
    local wrk_pid=$!
    track "$wrk_pid"
    while kill -0 "$wrk_pid" 2>/dev/null; do
        sleep 1
        count=$(($(image_requests) - base))
        if ((SECONDS - last_print >= PROGRESS)); then
            last_print=$SECONDS
            log "$label: $count/$cap after $((SECONDS - start))s; $(status_line)"
        fi
        if ((count >= cap)); then
            sleep 1 # let the last responses reach wrk
            break
        fi
        if ((SECONDS - start >= seconds)); then
            log "$label: time bound of ${seconds}s reached at $count/$cap requests; stopping"
            break
        fi
    done
    # wrk sleeps for its whole -d even once every thread has stopped; SIGINT
    # ends that sleep and makes it print its summary.
    kill -INT "$wrk_pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$wrk_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -0 "$wrk_pid" 2>/dev/null && { kill -KILL "$wrk_pid"; die "wrk did not stop on SIGINT"; }
    wait "$wrk_pid" || die "wrk failed: $(tail -5 "$out")"
    RESULT=$(grep '^OTRESULT ' "$out") || die "wrk printed no result: $(tail -5 "$out")"
}

start_text=$(scrape)
start_rss=$(rss_kib "$OT_PID") start_hwm=$(hwm_kib "$OT_PID")
start_cache=$(metric "$start_text" opentime_render_cache_bytes)
log "opentime cache bound $(mib $((CACHE_BYTES / 1024))) MiB; at start: $(status_line)"
load_deadline=$((SECONDS + MAX_SECONDS))
log "warm-up: $WARMUP_REQUESTS requests over distinct recipients"
run_capped warm-up "$WARMUP_REQUESTS" 0 "$MAX_SECONDS"
warm=$RESULT
warm_text=$(scrape)
warm_rss=$(rss_kib "$OT_PID") warm_hwm=$(hwm_kib "$OT_PID")
warm_cache=$(metric "$warm_text" opentime_render_cache_bytes)
log "after warm-up: $(status_line)"

main_cap=$((REQUESTS - WARMUP_REQUESTS))
main_seconds=$((load_deadline - SECONDS))
((main_seconds >= 10)) || main_seconds=10 # a short measured phase rather than none
log "measured phase: $main_cap requests (at most ${main_seconds}s)"
cpu0=$(cpu_ticks "$OT_PID")
run_capped measured "$main_cap" $((WARMUP_REQUESTS / THREADS)) "$main_seconds"
main=$RESULT
cpu1=$(cpu_ticks "$OT_PID")
end_text=$(scrape)
end_rss=$(rss_kib "$OT_PID") end_hwm=$(hwm_kib "$OT_PID")
end_cache=$(metric "$end_text" opentime_render_cache_bytes)
log "at the end: $(status_line)"

requests_done=$(metric "$end_text" opentime_requests_total 'route="image"')
renders=$(metric "$end_text" opentime_renders_total)
fallbacks=$(metric "$end_text" opentime_fallbacks_total)
store_errors=$(metric "$end_text" opentime_store_errors_total)
hits=$(metric "$end_text" opentime_render_cache_lookups_total 'result="hit"')
misses=$(metric "$end_text" opentime_render_cache_lookups_total 'result="miss"')
errors=0
for r in "$warm" "$main"; do
    errors=$((errors + $(field "$r" non200) + $(field "$r" connect_errors) + $(field "$r" read_errors) +
        $(field "$r" write_errors) + $(field "$r" timeouts)))
done
overhead() { mib $((($1 * 1024 - $2) / 1024)); }

mkdir -p "$OUT_DIR"
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
report="$OUT_DIR/memory-$stamp.md"
{
    echo "# memory: distinct renders through a bounded cache, $stamp"
    echo
    echo "commit $(checkout_label); $(machine_summary). N=$N recipients with distinct names and points, $IMAGE_PATH, OPENTIME_CACHE_BYTES=$CACHE_BYTES ($(mib $((CACHE_BYTES / 1024))) MiB); wrk -t$THREADS -c$CONNECTIONS cycling through them; $WARMUP_REQUESTS warm-up requests, then $main_cap more (load bounded by ${MAX_SECONDS}s in all)."
    echo
    echo "| | at start | after warm-up | at the end |"
    echo "|---|---:|---:|---:|"
    echo "| image requests served | $(metric "$start_text" opentime_requests_total 'route="image"') | $(metric "$warm_text" opentime_requests_total 'route="image"') | $requests_done |"
    echo "| renders done | $(metric "$start_text" opentime_renders_total) | $(metric "$warm_text" opentime_renders_total) | $renders |"
    echo "| render cache bytes, MiB | $(mib $((start_cache / 1024))) | $(mib $((warm_cache / 1024))) | $(mib $((end_cache / 1024))) |"
    echo "| VmRSS, MiB | $(mib "$start_rss") | $(mib "$warm_rss") | $(mib "$end_rss") |"
    echo "| VmHWM, MiB | $(mib "$start_hwm") | $(mib "$warm_hwm") | $(mib "$end_hwm") |"
    echo "| VmRSS minus cache bytes, MiB | $(overhead "$start_rss" "$start_cache") | $(overhead "$warm_rss" "$warm_cache") | $(overhead "$end_rss" "$end_cache") |"
    echo
    echo "| measured phase | |"
    echo "|---|---:|"
    echo "| requests | $(field "$main" requests) in $(field "$main" seconds) s ($(field "$main" rps)/s) |"
    echo "| latency p50 / p99 / p99.9, ms | $(awk -v a="$(field "$main" p50_us)" -v b="$(field "$main" p99_us)" -v c="$(field "$main" p999_us)" 'BEGIN { printf "%.1f / %.1f / %.1f", a / 1000, b / 1000, c / 1000 }') |"
    echo "| opentime CPU | $(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz }') s |"
    echo "| cache hits / misses (whole run) | $hits / $misses |"
    echo "| fallbacks (whole run) | $fallbacks |"
    echo "| store errors (whole run) | $store_errors |"
    echo "| non-200 responses and socket errors | $errors |"
} >"$report"
print_report "$report"

((errors == 0)) || die "$errors non-200 responses or socket errors"
((end_cache <= CACHE_BYTES)) || die "the render cache holds $end_cache bytes, over its bound of $CACHE_BYTES"
