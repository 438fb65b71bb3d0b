#!/usr/bin/env bash
# Where the server's CPU goes on the hit path: the load of hit-path.sh
# (every request a different recipient's token, one shared render) while
# `perf record` samples the release server, then the top of `perf report`.
#
#   loadtest/hit-profile.sh              # N=10000 recipients, D=10 s of samples
#   N=2000 D=5 loadtest/hit-profile.sh   # quicker
#
# Needs perf (Debian's linux-perf) and wrk; the report is printed and kept
# in loadtest/results/hit-profile-<stamp>.txt.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

N=${N:-10000}
D=${D:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SIGNING_KEY=${SIGNING_KEY:-loadtest-signing-key-not-a-secret}
IMAGE_PATH=/i/loyalty.png

setup_workdir
ensure_commands wrk:wrk perf:linux-perf redis-server:redis-server redis-cli:redis-tools curl:curl
build_release
start_redis
load_profiles "$N" same
sign_tokens "$N"
start_opentime

log "warming up for 3 s"
run_wrk "$OT_URL" 3 "$WORK_DIR/warm.txt"
log "sampling opentime (pid $OT_PID) for $D s under load"
(sleep 1 && exec perf record -F 499 -g --call-graph dwarf,16384 -p "$OT_PID" \
    -o "$WORK_DIR/perf.data" -- sleep "$D") >"$WORK_DIR/perf-record.log" 2>&1 &
perf_pid=$!
track "$perf_pid"
run_wrk "$OT_URL" $((D + 2)) "$WORK_DIR/load.txt"
wait "$perf_pid" || die "perf record failed: $(tail -5 "$WORK_DIR/perf-record.log")"

mkdir -p "$OUT_DIR"
report="$OUT_DIR/hit-profile-$(date -u +%Y-%m-%dT%H%M%SZ).txt"
{
    echo "# commit $(checkout_label): $(grep '^OTRESULT ' "$WORK_DIR/load.txt")"
    # head may close the pipe before perf is done: not a failure.
    perf report -i "$WORK_DIR/perf.data" --no-children --percent-limit 0.7 --stdio \
        --sort symbol -g none 2>/dev/null | grep -v '^$' || true
    echo "# inclusive (children), top entries"
    perf report -i "$WORK_DIR/perf.data" --children --percent-limit 3 --stdio \
        --sort symbol -g none 2>/dev/null | grep -v '^$' | head -80 || true
} >"$report"
cat "$report"
log "report in $report"
