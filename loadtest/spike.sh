#!/usr/bin/env bash
# A send's open spike replayed against opentime, beside nginx serving the
# same bytes as static files, in the same run. See loadtest/README.md.
#
#   loadtest/spike.sh                       # N=400000 D=15 R=3
#   N=30000 D=3 R=1 WARMUP=1 loadtest/spike.sh  # a quick check that it works
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$LOADTEST_DIR/lib/nginx.sh"
source "$LOADTEST_DIR/lib/spike.sh"

N=${N:-400000}       # recipients (the plan must outlast the run: about 1.4 requests each)
D=${D:-15}           # seconds per measured wrk run
R=${R:-3}            # rounds of (opentime, nginx)
WARMUP=${WARMUP:-3}  # seconds of unmeasured load on each server first
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SIGNING_KEY=${SIGNING_KEY:-loadtest-signing-key-not-a-secret}

for v in N D R WARMUP CONNECTIONS THREADS; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, got '${!v}'"
done

setup_workdir
ensure_commands wrk:wrk nginx:nginx-light redis-server:redis-server redis-cli:redis-tools \
    curl:curl ss:iproute2 ps:procps python3:python3
build_release
start_redis
spike_setup "$N"
start_opentime
spike_start_nginx


# Both servers replay the same stretch of the plan in each round: opentime
# first, then nginx from the same place; the next round goes on where
# opentime stopped, so opentime meets every request of the plan once, in
# order, as it would in a send.
offset=0
log "warm-up: ${WARMUP}s on each"
spike_wrk "$OT_URL" "$WARMUP" "$WORK_DIR/wrk-warmup-opentime.txt" "$offset"
warm=$RESULT
spike_wrk "$NGINX_URL" "$WARMUP" "$WORK_DIR/wrk-warmup-nginx.txt" "$offset"
offset=$(field "$warm" walked_per_thread)

before=$(scrape)
ot_cpu=0 ngx_cpu=0 redis_cpu=0 ot_requests=0 ngx_requests=0 errors=0 wrapped=0
images=0 redirects=0
declare -a ot_rps ot_p50 ot_p99 ot_p999 ngx_rps ngx_p50 ngx_p99 ngx_p999 run_rows
for round in $(seq "$R"); do
    for server in opentime nginx; do
        if [[ $server == opentime ]]; then url=$OT_URL; else url=$NGINX_URL; fi
        log "round $round/$R: $server, ${D}s, $CONNECTIONS connections, from line $offset of each thread's part"
        if [[ $server == opentime ]]; then cpu0=$(cpu_ticks "$OT_PID") redis0=$(cpu_ticks "$REDIS_PID"); else cpu0=$(nginx_cpu_ticks); fi
        spike_wrk "$url" "$D" "$WORK_DIR/wrk-$server-$round.txt" "$offset"
        result=$RESULT
        if [[ $server == opentime ]]; then cpu1=$(cpu_ticks "$OT_PID") redis1=$(cpu_ticks "$REDIS_PID"); else cpu1=$(nginx_cpu_ticks); fi
        rps=$(field "$result" rps) requests=$(field "$result" requests)
        p50=$(field "$result" p50_us) p99=$(field "$result" p99_us) p999=$(field "$result" p999_us)
        bad=$(spike_bad "$result")
        errors=$((errors + bad))
        cpu_us=$(cpu_per_req $((cpu1 - cpu0)) "$requests")
        log "  $rps req/s, p50 $(us_to_ms "$p50") ms, p99 $(us_to_ms "$p99") ms, p99.9 $(us_to_ms "$p999") ms, bad $bad, CPU $cpu_us us/request"
        run_rows+=("| $round | $server | $rps | $(us_to_ms "$p50") | $(us_to_ms "$p99") | $(us_to_ms "$p999") | $(field "$result" images) | $(field "$result" redirects) | $bad | $cpu_us |")
        if [[ $server == opentime ]]; then
            ot_rps+=("$rps") ot_p50+=("$p50") ot_p99+=("$p99") ot_p999+=("$p999")
            ot_cpu=$((ot_cpu + cpu1 - cpu0)) ot_requests=$((ot_requests + requests))
            redis_cpu=$((redis_cpu + redis1 - redis0))
            images=$((images + $(field "$result" images))) redirects=$((redirects + $(field "$result" redirects)))
            wrapped=$((wrapped + $(field "$result" wrapped)))
            next_offset=$((offset + $(field "$result" walked_per_thread)))
        else
            ngx_rps+=("$rps") ngx_p50+=("$p50") ngx_p99+=("$p99") ngx_p999+=("$p999")
            ngx_cpu=$((ngx_cpu + cpu1 - cpu0)) ngx_requests=$((ngx_requests + requests))
        fi
    done
    offset=$next_offset
done
after=$(scrape)

delta() { echo $(($(metric "$after" "$@") - $(metric "$before" "$@"))); }
hits=$(delta opentime_render_cache_lookups_total 'result="hit"')
misses=$(delta opentime_render_cache_lookups_total 'result="miss"')
hit_ratio=$(awk -v h="$hits" -v m="$misses" 'BEGIN { printf "%.3f", (h + m) ? h / (h + m) : 0 }')
renders=$(delta opentime_renders_total)
fallbacks=$(delta opentime_fallbacks_total)
store_errors=$(delta opentime_store_errors_total)
image_requests=$(delta opentime_requests_total 'route="image"')
personalized=$(delta opentime_requests_total 'outcome="personalized",route="image"')
opens_apple=$(delta opentime_opens_total 'opener="apple_proxy"')
opens_gmail=$(delta opentime_opens_total 'opener="gmail_proxy"')
opens_human=$(delta opentime_opens_total 'opener="human"')
clicks=$(delta opentime_clicks_total)
votes=$(delta opentime_votes_total)
events_written=$(delta opentime_events_written_total)
events_dropped=$(delta opentime_events_dropped_total)
rss=$(rss_kib "$OT_PID") hwm=$(hwm_kib "$OT_PID")
plan_lines=$(wc -l <"$SPIKE_PLAN")


mkdir -p "$OUT_DIR"
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
report="$OUT_DIR/spike-$stamp.md"
{
    echo "# open spike: opentime vs nginx static, $stamp"
    echo
    echo "commit $(checkout_label); $(machine_summary)."
    echo "N=$N recipients (templates loyalty / flash-sale / care-survey: $SPIKE_TEMPLATES_PERCENT %; openers Apple proxy / Gmail proxy / mail client: $SPIKE_OPENERS_PERCENT %), a plan of $plan_lines requests (first opens, re-opens, clicks, votes); wrk -t$THREADS -c$CONNECTIONS, ${D}s per run after ${WARMUP}s warm-up, $R rounds, opentime then nginx on the same stretch of the plan. nginx serves, for each URL, the bytes opentime served a probe recipient of the same template. Load generator and servers share the machine."
    echo
    compare_rows
    echo "| server CPU, us/request | $(cpu_per_req "$ot_cpu" "$ot_requests") | $(cpu_per_req "$ngx_cpu" "$ngx_requests") | $(ratio "$(cpu_per_req "$ot_cpu" "$ot_requests")" "$(cpu_per_req "$ngx_cpu" "$ngx_requests")") |"
    echo
    echo "| run | server | requests/s | p50 ms | p99 ms | p99.9 ms | images | redirects | bad | CPU us/req |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${run_rows[@]}"
    echo
    echo "| opentime, over the measured runs | |"
    echo "|---|---:|"
    echo "| requests: images (200) / redirects (302) | $images / $redirects |"
    echo "| bad answers and socket errors, both servers | $errors |"
    echo "| image requests personalized | $personalized of $image_requests (the countdown is the same for all: $((image_requests - personalized)) anonymous by design) |"
    echo "| opens by Apple proxy / Gmail proxy / person | $opens_apple / $opens_gmail / $opens_human |"
    echo "| clicks / votes | $clicks / $votes |"
    echo "| render cache hits / misses (hit ratio) | $hits / $misses ($hit_ratio) |"
    echo "| renders | $renders |"
    echo "| fallbacks (pre-rendered images served when renders could not keep up) | $fallbacks |"
    echo "| store errors | $store_errors |"
    echo "| events written to Redis / dropped | $events_written / $events_dropped |"
    echo "| redis-server CPU, us/request (not in the CPU row above) | $(cpu_per_req "$redis_cpu" "$ot_requests") |"
    echo "| opentime CPU time | $(awk -v t="$ot_cpu" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }') s |"
    echo "| VmRSS / VmHWM at the end | $(mib "$rss") / $(mib "$hwm") MiB |"
    echo "| of which render cache / glyph cache / shaped text cache | $(mib $(($(metric "$after" opentime_render_cache_bytes) / 1024))) / $(mib $(($(metric "$after" opentime_glyph_cache_bytes) / 1024))) / $(mib $(($(metric "$after" opentime_shape_cache_bytes) / 1024))) MiB |"
} >"$report"
print_report "$report"

((errors == 0)) || die "$errors bad answers or socket errors (see the per-run table)"
((store_errors == 0)) || die "$store_errors store errors: Redis was not keeping up, so this did not measure the spike"
((wrapped == 0)) || die "opentime ran through the whole plan: raise N, or the last rounds measured re-opens only"
