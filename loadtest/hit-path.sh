#!/usr/bin/env bash
# The open-time image path on a render-cache hit, beside nginx serving the
# same bytes as a static file, in the same run. See loadtest/README.md.
#
#   loadtest/hit-path.sh                 # N=10000 D=15 R=3
#   N=1000 D=3 R=1 loadtest/hit-path.sh  # a quick check that it works
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$LOADTEST_DIR/lib/nginx.sh"

N=${N:-10000}              # recipients, all with the same profile fields
D=${D:-15}                 # seconds per measured wrk run
R=${R:-3}                  # rounds of (opentime, nginx)
WARMUP=${WARMUP:-3}        # seconds of unmeasured load on each server first
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SIGNING_KEY=${SIGNING_KEY:-loadtest-signing-key-not-a-secret}
IMAGE_PATH=/i/loyalty.png

for v in N D R WARMUP CONNECTIONS THREADS; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, got '${!v}'"
done
((${#SIGNING_KEY} >= 16)) || die "SIGNING_KEY must be at least 16 bytes"

setup_workdir
ensure_commands wrk:wrk nginx:nginx-light redis-server:redis-server redis-cli:redis-tools \
    curl:curl ss:iproute2 ps:procps
build_release
start_redis
load_profiles "$N" same
sign_tokens "$N"
start_opentime

# One image, fetched as a recipient would once it is hot, becomes nginx's
# static file: a render asked for again is re-encoded smaller in the
# background (its ETag gains a `z`), and those are the bytes opentime
# serves while it is measured.
first_token=$(head -1 "$WORK_DIR/tokens.txt")
last_token=$(tail -1 "$WORK_DIR/tokens.txt")
fetch_hot_image "$IMAGE_PATH?t=$first_token" "$WORK_DIR/image.png" "$WORK_DIR/image.head"
grep -qi '^content-type: image/png' "$WORK_DIR/image.head" || die "opentime's image is not a PNG: $(cat "$WORK_DIR/image.head")"
curl -fsS -o "$WORK_DIR/image-last.png" "$OT_URL$IMAGE_PATH?t=$last_token"
cmp -s "$WORK_DIR/image.png" "$WORK_DIR/image-last.png" ||
    die "two recipients with the same fields got different images: the test would not measure the cache-hit path"
personalized=$(metric "$(scrape)" opentime_requests_total 'outcome="personalized"')
[[ "$personalized" -ge 2 ]] ||
    die "the probe requests were not personalized (is the profile read from redis?): $(scrape | grep '^opentime_requests_total')"
image_bytes=$(stat -c %s "$WORK_DIR/image.png")
log "opentime serves a $image_bytes-byte PNG, the same for every recipient"

start_nginx "$WORK_DIR/image.png" "$IMAGE_PATH"
curl -fsS -o "$WORK_DIR/image-nginx.png" "$NGINX_URL$IMAGE_PATH?t=$first_token"
cmp -s "$WORK_DIR/image.png" "$WORK_DIR/image-nginx.png" || die "nginx does not serve the same bytes as opentime"


log "warm-up: ${WARMUP}s on each"
run_wrk "$OT_URL" "$WARMUP" "$WORK_DIR/wrk-warmup-opentime.txt"
run_wrk "$NGINX_URL" "$WARMUP" "$WORK_DIR/wrk-warmup-nginx.txt"

before=$(scrape)
ot_cpu=0 ngx_cpu=0 redis_cpu=0 ot_requests=0 ngx_requests=0 errors=0
declare -a ot_rps ot_p50 ot_p99 ot_p999 ngx_rps ngx_p50 ngx_p99 ngx_p999 run_rows
for round in $(seq "$R"); do
    for server in opentime nginx; do
        if [[ $server == opentime ]]; then url=$OT_URL; else url=$NGINX_URL; fi
        log "round $round/$R: $server, ${D}s, $CONNECTIONS connections, $THREADS threads"
        if [[ $server == opentime ]]; then cpu0=$(cpu_ticks "$OT_PID") redis0=$(cpu_ticks "$REDIS_PID"); else cpu0=$(nginx_cpu_ticks); fi
        run_wrk "$url" "$D" "$WORK_DIR/wrk-$server-$round.txt"
        result=$RESULT
        if [[ $server == opentime ]]; then cpu1=$(cpu_ticks "$OT_PID") redis1=$(cpu_ticks "$REDIS_PID"); else cpu1=$(nginx_cpu_ticks); fi
        rps=$(field "$result" rps) requests=$(field "$result" requests)
        p50=$(field "$result" p50_us) p99=$(field "$result" p99_us) p999=$(field "$result" p999_us)
        bad=$(($(field "$result" non200) + $(field "$result" connect_errors) + $(field "$result" read_errors) +
            $(field "$result" write_errors) + $(field "$result" timeouts)))
        errors=$((errors + bad))
        cpu_us_per_req=$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
        log "  $rps req/s, p50 $(us_to_ms "$p50") ms, p99 $(us_to_ms "$p99") ms, p99.9 $(us_to_ms "$p999") ms, errors $bad, CPU $cpu_us_per_req us/request"
        run_rows+=("| $round | $server | $rps | $(us_to_ms "$p50") | $(us_to_ms "$p99") | $(us_to_ms "$p999") | $bad | $cpu_us_per_req |")
        if [[ $server == opentime ]]; then
            ot_rps+=("$rps") ot_p50+=("$p50") ot_p99+=("$p99") ot_p999+=("$p999")
            ot_cpu=$((ot_cpu + cpu1 - cpu0)) ot_requests=$((ot_requests + requests))
            redis_cpu=$((redis_cpu + redis1 - redis0))
        else
            ngx_rps+=("$rps") ngx_p50+=("$p50") ngx_p99+=("$p99") ngx_p999+=("$p999")
            ngx_cpu=$((ngx_cpu + cpu1 - cpu0)) ngx_requests=$((ngx_requests + requests))
        fi
    done
done
after=$(scrape)

delta() { echo $(($(metric "$after" "$@") - $(metric "$before" "$@"))); }
hits=$(delta opentime_render_cache_lookups_total 'result="hit"')
misses=$(delta opentime_render_cache_lookups_total 'result="miss"')
hit_ratio=$(awk -v h="$hits" -v m="$misses" 'BEGIN { printf "%.6f", (h + m) ? h / (h + m) : 0 }')
fallbacks=$(delta opentime_fallbacks_total)
store_errors=$(delta opentime_store_errors_total)
# Every open is an event written to Redis off the request path; the
# counters say whether the writer kept up (a version without events
# reports 0 for both).
events_written=$(delta opentime_events_written_total)
events_dropped=$(delta opentime_events_dropped_total)
not_personalized=$(($(delta opentime_requests_total 'route="image"') - $(delta opentime_requests_total 'outcome="personalized"')))
renders_total=$(metric "$after" opentime_renders_total)
rss=$(rss_kib "$OT_PID") hwm=$(hwm_kib "$OT_PID")


mkdir -p "$OUT_DIR"
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
report="$OUT_DIR/hit-path-$stamp.md"
{
    echo "# hit path: opentime vs nginx static, $stamp"
    echo
    echo "commit $(checkout_label); $(machine_summary)."
    echo "N=$N recipients with the same fields (one render), $IMAGE_PATH of $image_bytes bytes; wrk -t$THREADS -c$CONNECTIONS, ${D}s per run after ${WARMUP}s warm-up, $R rounds alternating; every request a different recipient's token, User-Agent: ${USER_AGENT:-none}. Load generator and servers share the machine."
    echo
    compare_rows
    echo "| server CPU, us/request | $(cpu_per_req "$ot_cpu" "$ot_requests") | $(cpu_per_req "$ngx_cpu" "$ngx_requests") | $(ratio "$(cpu_per_req "$ot_cpu" "$ot_requests")" "$(cpu_per_req "$ngx_cpu" "$ngx_requests")") |"
    echo
    echo "| run | server | requests/s | p50 ms | p99 ms | p99.9 ms | errors | CPU us/req |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${run_rows[@]}"
    echo
    echo "| opentime, over the measured runs | |"
    echo "|---|---:|"
    echo "| requests | $ot_requests |"
    echo "| non-200 responses and socket errors, both servers | $errors |"
    echo "| render cache hits / misses | $hits / $misses |"
    echo "| cache hit ratio | $hit_ratio |"
    echo "| image requests not personalized | $not_personalized |"
    echo "| fallbacks | $fallbacks |"
    echo "| store errors | $store_errors |"
    echo "| events written to Redis / dropped | $events_written / $events_dropped |"
    echo "| renders since start | $renders_total |"
    echo "| redis-server CPU, us/request (not in the CPU row above) | $(cpu_per_req "$redis_cpu" "$ot_requests") |"
    echo "| CPU time | $(awk -v t="$ot_cpu" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }') s |"
    echo "| VmRSS / VmHWM at the end | $(mib "$rss") / $(mib "$hwm") MiB |"
} >"$report"
print_report "$report"

((errors == 0)) || die "$errors non-200 responses or socket errors (see the per-run table)"
((fallbacks == 0 && store_errors == 0 && not_personalized == 0)) ||
    die "fallbacks $fallbacks, store errors $store_errors, not personalized $not_personalized: the hit path was not what was measured"
