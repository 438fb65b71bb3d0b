#!/usr/bin/env bash
# Where the server's CPU goes on the hit path: the load of hit-path.sh
# (every request a different recipient's token, one shared render) while
# `perf record` samples the release server, then the top of `perf report`.
# With LOAD=spike, the load is spike.sh's plan instead (first opens that
# render, re-opens, clicks, votes).
#
#   loadtest/hit-profile.sh              # N=10000 recipients, D=10 s of samples
#   N=2000 D=5 loadtest/hit-profile.sh   # quicker
#   LOAD=spike N=100000 loadtest/hit-profile.sh
#   KEEP_PERF=/tmp/perf.data loadtest/hit-profile.sh  # keep the samples for perf report
#
# Needs perf (Debian's linux-perf) and wrk; the report is printed and kept
# in loadtest/results/hit-profile-<stamp>.txt (spike-profile-<stamp>.txt
# with LOAD=spike).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

N=${N:-10000}
D=${D:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SIGNING_KEY=${SIGNING_KEY:-loadtest-signing-key-not-a-secret}
IMAGE_PATH=/i/loyalty.png
LOAD=${LOAD:-hit}
[[ $LOAD == hit || $LOAD == spike ]] || die "LOAD must be hit or spike, got '$LOAD'"
if [[ $LOAD == spike ]]; then
    source "$LOADTEST_DIR/lib/spike.sh"
    ensure_commands python3:python3
fi

setup_workdir
ensure_commands wrk:wrk perf:linux-perf redis-server:redis-server redis-cli:redis-tools curl:curl
build_release
start_redis
if [[ $LOAD == spike ]]; then
    spike_setup "$N"
else
    load_profiles "$N" same
    sign_tokens "$N"
fi
start_opentime

# LOAD=spike replays the plan from its start, unmeasured for 3 s, then
# from where the warm-up stopped.
offset=0
load() {
    if [[ $LOAD == spike ]]; then
        spike_wrk "$OT_URL" "$1" "$2" "$offset"
        offset=$((offset + $(field "$RESULT" walked_per_thread)))
    else
        run_wrk "$OT_URL" "$1" "$2"
    fi
}

log "warming up for 3 s"
load 3 "$WORK_DIR/warm.txt"
log "sampling opentime (pid $OT_PID) for $D s under load"
(sleep 1 && exec perf record -F 499 -g --call-graph dwarf,16384 -p "$OT_PID" \
    -o "$WORK_DIR/perf.data" -- sleep "$D") >"$WORK_DIR/perf-record.log" 2>&1 &
perf_pid=$!
track "$perf_pid"
load $((D + 2)) "$WORK_DIR/load.txt"
wait "$perf_pid" || die "perf record failed: $(tail -5 "$WORK_DIR/perf-record.log")"

mkdir -p "$OUT_DIR"
report="$OUT_DIR/$LOAD-profile-$(date -u +%Y-%m-%dT%H%M%SZ).txt"
{
    echo "# commit $(checkout_label), LOAD=$LOAD N=$N: $(grep '^OTRESULT ' "$WORK_DIR/load.txt")"
    # head may close the pipe before perf is done: not a failure.
    perf report -i "$WORK_DIR/perf.data" --no-children --percent-limit 0.7 --stdio \
        --sort symbol -g none 2>/dev/null | grep -v '^$' || true
    echo "# inclusive (children), top entries"
    perf report -i "$WORK_DIR/perf.data" --children --percent-limit 3 --stdio \
        --sort symbol -g none 2>/dev/null | grep -v '^$' | head -80 || true
} >"$report"
cat "$report"
if [[ -n ${KEEP_PERF:-} ]]; then
    cp "$WORK_DIR/perf.data" "$KEEP_PERF" || die "cannot keep the perf data in $KEEP_PERF"
    log "perf data kept in $KEEP_PERF"
fi
log "report in $report"
