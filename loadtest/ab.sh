#!/usr/bin/env bash
# Two builds of opentime on the hit path, side by side in one run: the
# checkout and a baseline commit, on one Redis, rounds interleaved. For
# "is this change slower", where two separate runs on a shared machine
# differ by more than the change. See loadtest/README.md.
#
#   BASELINE=5d321de loadtest/ab.sh                # R=5 D=15
#   BASELINE=HEAD~1 N=1000 D=3 R=1 loadtest/ab.sh  # a quick check that it works
#   BASELINE=HEAD CURRENT_ENV="OPENTIME_EVENT_BUFFER=1" loadtest/ab.sh
#                                   # one setting against the same build without it
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

BASELINE=${BASELINE:-}
N=${N:-10000}
D=${D:-15}
R=${R:-5}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SIGNING_KEY=${SIGNING_KEY:-loadtest-signing-key-not-a-secret}
IMAGE_PATH=/i/loyalty.png

[[ -n $BASELINE ]] || die "set BASELINE to the commit to compare with, for example BASELINE=HEAD~1"
for v in N D R WARMUP CONNECTIONS THREADS; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, got '${!v}'"
done

setup_workdir
ensure_commands wrk:wrk redis-server:redis-server redis-cli:redis-tools curl:curl ss:iproute2 ps:procps
build_release
current_bin=$OPENTIME_BIN

build_baseline "$BASELINE"

start_redis
load_profiles "$N" same
sign_tokens "$N"

# Both servers read the same Redis and serve the same templates (each its
# own commit's assets: templates are part of what a commit changes).
declare -A url pid
OPENTIME_BIN=$base_bin REPO_DIR=$base_tree start_opentime
url[base]=$OT_URL pid[base]=$OT_PID
OPENTIME_BIN=$current_bin
# shellcheck disable=SC2086 # CURRENT_ENV is a list of NAME=value words
start_opentime ${CURRENT_ENV:-}
url[current]=$OT_URL pid[current]=$OT_PID

first_token=$(head -1 "$WORK_DIR/tokens.txt")
for side in base current; do
    curl -fsS -o "$WORK_DIR/image-$side.png" "${url[$side]}$IMAGE_PATH?t=$first_token" ||
        die "cannot fetch $IMAGE_PATH from the $side server"
done

log "warm-up: ${WARMUP}s on each"
for side in base current; do
    run_wrk "${url[$side]}" "$WARMUP" "$WORK_DIR/wrk-warmup-$side.txt"
done

declare -A rps_list cpu_list redis_list p99_list round_rps
rows=()
round_ratios=
errors=0
for round in $(seq "$R"); do
    # Alternate which side goes first, so a drift within a round hits both.
    if ((round % 2)); then order="base current"; else order="current base"; fi
    for side in $order; do
        log "round $round/$R: $side, ${D}s"
        cpu0=$(cpu_ticks "${pid[$side]}") redis0=$(cpu_ticks "$REDIS_PID") steal0=$(steal_ticks)
        run_wrk "${url[$side]}" "$D" "$WORK_DIR/wrk-$side-$round.txt"
        cpu1=$(cpu_ticks "${pid[$side]}") redis1=$(cpu_ticks "$REDIS_PID") steal1=$(steal_ticks)
        rps=$(field "$RESULT" rps) requests=$(field "$RESULT" requests) p99=$(field "$RESULT" p99_us)
        bad=$(($(field "$RESULT" non200) + $(field "$RESULT" connect_errors) + $(field "$RESULT" read_errors) +
            $(field "$RESULT" write_errors) + $(field "$RESULT" timeouts)))
        errors=$((errors + bad))
        cpu=$(cpu_per_req $((cpu1 - cpu0)) "$requests") redis=$(cpu_per_req $((redis1 - redis0)) "$requests")
        steal=$(awk -v s=$((steal1 - steal0)) -v hz="$CLK_TCK" -v d="$D" -v c="$(nproc)" 'BEGIN { printf "%.1f", s / hz / d / c * 100 }')
        log "  $rps req/s, p99 $p99 us, opentime $cpu us/request, redis $redis us/request, steal $steal%, errors $bad"
        rps_list[$side]+="$rps " cpu_list[$side]+="$cpu " redis_list[$side]+="$redis " p99_list[$side]+="$p99 "
        rows+=("| $round | $side | $rps | $p99 | $cpu | $redis | $steal | $bad |")
        round_rps[$side]=$rps
    done
    # The two runs of a round are next to each other in time, so their
    # ratio is what a slow drift of the machine disturbs least.
    round_ratios+="$(ratio3 "${round_rps[current]}" "${round_rps[base]}") "
done

written=$(metric "$(curl -fsS "${url[current]}/metrics")" opentime_events_written_total)
dropped=$(metric "$(curl -fsS "${url[current]}/metrics")" opentime_events_dropped_total)

mkdir -p "$OUT_DIR"
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
report="$OUT_DIR/ab-$stamp.md"
{
    echo "# hit path, $head_short against $base_short, $stamp"
    echo
    echo "$(machine_summary)."
    echo "N=$N recipients with the same fields, $IMAGE_PATH; wrk -t$THREADS -c$CONNECTIONS, ${D}s per run after ${WARMUP}s warm-up, $R rounds, the side that goes first alternating; both servers on one Redis; User-Agent: ${USER_AGENT:-none}."
    [[ -z ${CURRENT_ENV:-} ]] || echo "$head_short ran with CURRENT_ENV=\"$CURRENT_ENV\"."
    echo
    paired_summary
    echo
    echo "| round | side | requests/s | p99 us | opentime CPU us/req | Redis CPU us/req | steal % | errors |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "Events written / dropped by $head_short since it started: ${written:-0} / ${dropped:-0}."
} >"$report"
print_report "$report"
((errors == 0)) || die "$errors non-200 responses or socket errors (see the per-run table)"
