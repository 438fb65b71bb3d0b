#!/usr/bin/env bash
# A send's open spike (spike.sh's plan) against two builds of opentime side
# by side in one run: the checkout and a baseline commit, each on a Redis of
# its own loaded alike, rounds interleaved. See loadtest/README.md.
#
#   BASELINE=48ec0ab loadtest/spike-ab.sh                 # N=400000 D=15 R=3
#   BASELINE=HEAD~1 N=20000 D=3 R=1 WARMUP=1 loadtest/spike-ab.sh  # a quick check
#   BASELINE=HEAD CURRENT_ENV="OPENTIME_CACHE_RECOMPRESS_PNG=false" loadtest/spike-ab.sh
#                                   # one setting against the same build without it
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$LOADTEST_DIR/lib/spike.sh"

BASELINE=${BASELINE:-}
N=${N:-400000}       # recipients: the plan must outlast both sides' rounds
D=${D:-15}
R=${R:-3}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SIGNING_KEY=${SIGNING_KEY:-loadtest-signing-key-not-a-secret}

[[ -n $BASELINE ]] || die "set BASELINE to the commit to compare with, for example BASELINE=HEAD~1"
for v in N D R WARMUP CONNECTIONS THREADS; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, got '${!v}'"
done

setup_workdir
ensure_commands wrk:wrk redis-server:redis-server redis-cli:redis-tools curl:curl ss:iproute2 \
    ps:procps python3:python3
build_release
current_bin=$OPENTIME_BIN
build_baseline "$BASELINE"

# A Redis for each side: an open writes records (first opens, locks, poll
# votes) that the same open on the other side must not find. Both get the
# same profiles (spike_profiles draws them from a fixed seed) and replay the
# same plan.
declare -A url pid redis_pid
start_redis
spike_setup "$N"
redis_pid[base]=$REDIS_PID
OPENTIME_BIN=$base_bin REPO_DIR=$base_tree start_opentime
url[base]=$OT_URL pid[base]=$OT_PID
start_redis
spike_profiles "$N"
redis_pid[current]=$REDIS_PID
OPENTIME_BIN=$current_bin
# shellcheck disable=SC2086 # CURRENT_ENV is a list of NAME=value words
start_opentime ${CURRENT_ENV:-}
url[current]=$OT_URL pid[current]=$OT_PID


# Each round both sides replay the same stretch of the plan; the next
# round starts past the longer of their two walks, so neither side meets a
# request of the plan twice (a re-open it served would be a cache hit).
offset=0
log "warm-up: ${WARMUP}s on each"
walked=0
for side in base current; do
    spike_wrk "${url[$side]}" "$WARMUP" "$WORK_DIR/wrk-warmup-$side.txt" "$offset"
    w=$(field "$RESULT" walked_per_thread)
    if ((w > walked)); then walked=$w; fi
done
offset=$walked

declare -A rps_list cpu_list redis_list p99_list round_rps renders0 fallbacks0
for side in base current; do
    metrics=$(curl -fsS "${url[$side]}/metrics")
    renders0[$side]=$(metric "$metrics" opentime_renders_total)
    fallbacks0[$side]=$(metric "$metrics" opentime_fallbacks_total)
done
rows=()
round_ratios=
errors=0
wrapped=0
for round in $(seq "$R"); do
    if ((round % 2)); then order="base current"; else order="current base"; fi
    walked=0
    for side in $order; do
        log "round $round/$R: $side, ${D}s, from line $offset of each thread's part"
        cpu0=$(cpu_ticks "${pid[$side]}") redis0=$(cpu_ticks "${redis_pid[$side]}") steal0=$(steal_ticks)
        spike_wrk "${url[$side]}" "$D" "$WORK_DIR/wrk-$side-$round.txt" "$offset"
        cpu1=$(cpu_ticks "${pid[$side]}") redis1=$(cpu_ticks "${redis_pid[$side]}") steal1=$(steal_ticks)
        rps=$(field "$RESULT" rps) requests=$(field "$RESULT" requests) p99=$(field "$RESULT" p99_us)
        bad=$(spike_bad "$RESULT")
        errors=$((errors + bad))
        wrapped=$((wrapped + $(field "$RESULT" wrapped)))
        w=$(field "$RESULT" walked_per_thread)
        if ((w > walked)); then walked=$w; fi
        cpu=$(cpu_per_req $((cpu1 - cpu0)) "$requests") redis=$(cpu_per_req $((redis1 - redis0)) "$requests")
        steal=$(awk -v s=$((steal1 - steal0)) -v hz="$CLK_TCK" -v d="$D" -v c="$(nproc)" 'BEGIN { printf "%.1f", s / hz / d / c * 100 }')
        log "  $rps req/s, p99 $p99 us, opentime $cpu us/request, redis $redis us/request, steal $steal%, bad $bad"
        rps_list[$side]+="$rps " cpu_list[$side]+="$cpu " redis_list[$side]+="$redis " p99_list[$side]+="$p99 "
        rows+=("| $round | $side | $rps | $p99 | $(field "$RESULT" images) | $(field "$RESULT" redirects) | $cpu | $redis | $steal | $bad |")
        round_rps[$side]=$rps
    done
    offset=$((offset + walked))
    round_ratios+="$(ratio3 "${round_rps[current]}" "${round_rps[base]}") "
done

declare -A renders fallbacks
for side in base current; do
    metrics=$(curl -fsS "${url[$side]}/metrics")
    renders[$side]=$(($(metric "$metrics" opentime_renders_total) - ${renders0[$side]}))
    fallbacks[$side]=$(($(metric "$metrics" opentime_fallbacks_total) - ${fallbacks0[$side]}))
done

mkdir -p "$OUT_DIR"
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
report="$OUT_DIR/spike-ab-$stamp.md"
{
    echo "# open spike, $head_short against $base_short, $stamp"
    echo
    echo "$(machine_summary)."
    echo "N=$N recipients (templates loyalty / flash-sale / care-survey: $SPIKE_TEMPLATES_PERCENT %; openers Apple proxy / Gmail proxy / mail client: $SPIKE_OPENERS_PERCENT %), the plan of spike.sh; wrk -t$THREADS -c$CONNECTIONS, ${D}s per run after ${WARMUP}s warm-up, $R rounds, the side that goes first alternating, both on the same stretch of the plan; each server on a Redis of its own, loaded alike."
    echo
    paired_summary
    echo "| renders over the measured runs | ${renders[base]} | ${renders[current]} | |"
    echo "| fallbacks over the measured runs | ${fallbacks[base]} | ${fallbacks[current]} | |"
    echo
    echo "| round | side | requests/s | p99 us | images | redirects | opentime CPU us/req | Redis CPU us/req | steal % | bad |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
} >"$report"
print_report "$report"
((errors == 0)) || die "$errors bad answers or socket errors (see the per-run table)"
((wrapped == 0)) || die "a side ran through the whole plan: raise N, or the last rounds measured re-opens only"
