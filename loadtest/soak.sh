#!/usr/bin/env bash
# Half of the measured capacity for half an hour: memory must level off and
# nothing may fail. See loadtest/README.md.
#
#   loadtest/soak.sh                                  # 30 minutes after the setup
#   SOAK_SECONDS=120 WARMUP_SECONDS=30 N=20000 loadtest/soak.sh  # a quick check
#
# It first measures capacity with the open spike (lib/spike.sh) for
# CAPACITY_SECONDS, then replays the same plan at half that rate for
# SOAK_SECONDS, the first WARMUP_SECONDS of them counted as warm-up, sampling
# opentime's RSS every SAMPLE_SECONDS. It fails when any answer was broken,
# when Redis had errors, or when RSS at the end is more than 10% above RSS
# after warm-up.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$LOADTEST_DIR/lib/spike.sh"

N=${N:-400000}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
CAPACITY_SECONDS=${CAPACITY_SECONDS:-20}
SOAK_SECONDS=${SOAK_SECONDS:-1800}
WARMUP_SECONDS=${WARMUP_SECONDS:-180}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-10}
GROWTH_PERCENT=${GROWTH_PERCENT:-10}
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SIGNING_KEY=${SIGNING_KEY:-loadtest-signing-key-not-a-secret}

for v in N CONNECTIONS THREADS CAPACITY_SECONDS SOAK_SECONDS WARMUP_SECONDS SAMPLE_SECONDS GROWTH_PERCENT; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, got '${!v}'"
done
((WARMUP_SECONDS < SOAK_SECONDS)) || die "WARMUP_SECONDS must be shorter than SOAK_SECONDS"

setup_workdir
ensure_commands wrk:wrk redis-server:redis-server redis-cli:redis-tools \
    curl:curl ss:iproute2 ps:procps python3:python3
build_release
start_redis
spike_setup "$N"
start_opentime

log "capacity: ${CAPACITY_SECONDS}s of the spike at full speed"
spike_wrk "$OT_URL" "$CAPACITY_SECONDS" "$WORK_DIR/wrk-capacity.txt" 0
capacity=$RESULT
capacity_rps=$(field "$capacity" rps)
((($(spike_bad "$capacity")) == 0)) || die "broken answers while measuring capacity: $capacity"
offset=$(field "$capacity" walked_per_thread)

# Each connection pauses before every request so that all of them together
# ask for about half the capacity: CONNECTIONS / (pause + latency); the
# latency, short below capacity, makes it a little less.
target=$(awk -v r="$capacity_rps" 'BEGIN { printf "%.0f", r / 2 }')
pause=$(awk -v c="$CONNECTIONS" -v t="$target" 'BEGIN { p = c * 1000 / t; printf "%d", p < 1 ? 1 : p }')
log "capacity $capacity_rps requests/s; soak at about $target requests/s ($CONNECTIONS connections, ${pause} ms pause each)"

samples="$WORK_DIR/rss.txt"
(
    start=$SECONDS
    while kill -0 "$OT_PID" 2>/dev/null; do
        echo "$((SECONDS - start)) $(rss_kib "$OT_PID")"
        sleep "$SAMPLE_SECONDS"
    done
) >"$samples" &
track $!
before=$(scrape)
cpu0=$(cpu_ticks "$OT_PID")
SPIKE_DELAY_MS=$pause spike_wrk_start "$OT_URL" "$SOAK_SECONDS" "$WORK_DIR/wrk-soak.txt" "$offset"
load_pid=$SPIKE_WRK_PID
progress_every=$((SOAK_SECONDS / 10 > 60 ? 60 : (SOAK_SECONDS / 10 > 0 ? SOAK_SECONDS / 10 : 1)))
while kill -0 "$load_pid" 2>/dev/null; do
    sleep "$progress_every"
    kill -0 "$load_pid" 2>/dev/null || break
    now=$(scrape)
    log "  $(($(metric "$now" opentime_requests_total 'route="image"') - $(metric "$before" opentime_requests_total 'route="image"'))) images, renders $(($(metric "$now" opentime_renders_total) - $(metric "$before" opentime_renders_total))), fallbacks $(($(metric "$now" opentime_fallbacks_total) - $(metric "$before" opentime_fallbacks_total))), RSS $(mib "$(rss_kib "$OT_PID")") MiB"
done
spike_wrk_wait "$WORK_DIR/wrk-soak.txt"
soak=$RESULT
cpu1=$(cpu_ticks "$OT_PID")
after=$(scrape)
rss_end=$(rss_kib "$OT_PID")

delta() { echo $(($(metric "$after" "$@") - $(metric "$before" "$@"))); }
rss_warm=$(awk -v w="$WARMUP_SECONDS" '$1 >= w { print $2; exit }' "$samples")
[[ -n "$rss_warm" ]] || die "no RSS sample after the warm-up"
rss_max=$(awk -v w="$WARMUP_SECONDS" '$1 >= w && $2 > m { m = $2 } END { print m + 0 }' "$samples")
growth=$(awk -v a="$rss_warm" -v b="$rss_end" 'BEGIN { printf "%.3f", b / a }')
bad=$(spike_bad "$soak")
store_errors=$(delta opentime_store_errors_total)
fallbacks=$(delta opentime_fallbacks_total)
hits=$(delta opentime_render_cache_lookups_total 'result="hit"')
misses=$(delta opentime_render_cache_lookups_total 'result="miss"')

mkdir -p "$OUT_DIR"
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
report="$OUT_DIR/soak-$stamp.md"
{
    echo "# soak at half capacity, $stamp"
    echo
    echo "commit $(checkout_label); $(machine_summary)."
    echo "N=$N recipients, the open spike's plan (lib/spike.sh); capacity measured for ${CAPACITY_SECONDS}s at full speed, then ${SOAK_SECONDS}s at about half of it on $CONNECTIONS connections (each pausing ${pause} ms before a request), the plan starting over when it ends; RSS sampled every ${SAMPLE_SECONDS}s."
    echo
    echo "| | |"
    echo "|---|---:|"
    echo "| capacity (the spike at full speed) | $capacity_rps requests/s |"
    echo "| soak rate achieved | $(field "$soak" rps) requests/s ($(awk -v a="$(field "$soak" rps)" -v b="$capacity_rps" 'BEGIN { printf "%.2f", a / b }') of capacity) |"
    echo "| requests: images / redirects / broken and socket errors | $(field "$soak" images) / $(field "$soak" redirects) / $bad |"
    echo "| latency p50 / p99 / p99.9, ms | $(awk -v a="$(field "$soak" p50_us)" -v b="$(field "$soak" p99_us)" -v c="$(field "$soak" p999_us)" 'BEGIN { printf "%.2f / %.2f / %.2f", a / 1000, b / 1000, c / 1000 }') |"
    echo "| store errors (default images: a lookup over its budget or failed) / fallbacks | $store_errors ($(grep '^opentime_store_errors_total{' <<<"$after" | sed 's/^opentime_store_errors_total//' | paste -sd ' ' -)) / $fallbacks |"
    echo "| render cache hit ratio | $(awk -v h="$hits" -v m="$misses" 'BEGIN { printf "%.3f", (h + m) ? h / (h + m) : 0 }') |"
    echo "| opentime CPU, us/request | $(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="$(field "$soak" requests)" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }') |"
    echo "| RSS after the ${WARMUP_SECONDS}s warm-up | $(mib "$rss_warm") MiB |"
    echo "| RSS at the end / highest after warm-up | $(mib "$rss_end") / $(mib "$rss_max") MiB |"
    echo "| end / after warm-up | **$growth** (limit $(awk -v g="$GROWTH_PERCENT" 'BEGIN { printf "%.2f", 1 + g / 100 }')) |"
    echo "| at the end, render cache / glyph cache / shaped text cache | $(mib $(($(metric "$after" opentime_render_cache_bytes) / 1024))) / $(mib $(($(metric "$after" opentime_glyph_cache_bytes) / 1024))) / $(mib $(($(metric "$after" opentime_shape_cache_bytes) / 1024))) MiB |"
    echo "| renders | $(delta opentime_renders_total) |"
    echo
    echo "RSS, MiB, every $((SOAK_SECONDS / 12 > SAMPLE_SECONDS ? SOAK_SECONDS / 12 : SAMPLE_SECONDS)) s:"
    echo
    echo '```'
    awk -v every=$((SOAK_SECONDS / 12 > SAMPLE_SECONDS ? SOAK_SECONDS / 12 : SAMPLE_SECONDS)) \
        '$1 >= next_at { printf "%5d s  %.1f\n", $1, $2 / 1024; next_at = $1 + every }' "$samples"
    echo '```'
} >"$report"
print_report "$report"

((bad == 0)) || die "$bad broken answers or socket errors"
((store_errors == 0)) || die "$store_errors store errors"
awk -v g="$growth" -v p="$GROWTH_PERCENT" 'BEGIN { exit !(g <= 1 + p / 100) }' ||
    die "RSS grew by more than $GROWTH_PERCENT% after warm-up ($growth)"
log "soak passed"
