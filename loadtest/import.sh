#!/usr/bin/env bash
# The NDJSON import of POST /api/v1/recipients at scale: lines per second,
# and opentime's memory while it reads a body of a million lines. Two
# imports run one after the other on the same server, a tenth of N and then
# N; the import holds constant memory when the peak of the second is no
# higher than the peak of the first. See loadtest/README.md.
#
#   loadtest/import.sh              # N=1000000
#   N=20000 loadtest/import.sh      # a quick check that it works
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

N=${N:-1000000}
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SIGNING_KEY=${SIGNING_KEY:-loadtest-signing-key-not-a-secret}
ADMIN_TOKEN=loadtest-admin-token-not-a-secret
[[ $N =~ ^[0-9]+$ && $N -ge 10 ]] || die "N must be an integer of at least 10, got '$N'"

setup_workdir
ensure_commands redis-server:redis-server redis-cli:redis-tools curl:curl ss:iproute2
build_release
start_redis
start_opentime OPENTIME_ADMIN_TOKENS="$ADMIN_TOKEN"

# Lines like a CRM export: five fields each, every hundredth line invalid
# (an id with a tab in it) so that the error report is exercised too.
lines() {
    awk -v n="$1" -v from="$2" 'BEGIN {
        split("member silver gold platinum", tier, " ")
        for (i = from; i < from + n; i++) {
            id = (i % 100 == 99) ? sprintf("bad\\tid-%d", i) : sprintf("im-%07d", i)
            printf "{\"recipient\":\"%s\",\"fields\":{\"first_name\":\"Name%d\",\"last_name\":\"N%07d\",\"points\":%d,\"tier\":\"%s\",\"renews_on\":\"2027-0%d-15\"}}\n",
                id, i % 1000, i, 1000 + i, tier[(i % 4) + 1], (i % 9) + 1
        }
    }'
}

# Imports COUNT lines starting at FROM, sampling opentime's RSS every 100 ms.
# Sets SECS, PEAK_KIB and REPORT.
import() {
    local count=$1 from=$2 sampler start
    (
        peak=0
        while kill -0 "$OT_PID" 2>/dev/null; do
            rss=$(rss_kib "$OT_PID")
            ((rss > peak)) && peak=$rss && echo "$peak" >"$WORK_DIR/peak"
            sleep 0.1
        done
    ) &
    sampler=$!
    track "$sampler"
    echo 0 >"$WORK_DIR/peak"
    start=$(date +%s.%N)
    # -T - streams standard input with chunked transfer encoding: neither
    # curl nor opentime ever holds the whole body.
    REPORT=$(lines "$count" "$from" | curl -fsS -X POST -T - --max-time 3600 \
        -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/x-ndjson' \
        "$OT_URL/api/v1/recipients") || die "the import failed: $REPORT"
    SECS=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
    sleep 0.3
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    PEAK_KIB=$(cat "$WORK_DIR/peak")
}

small=$((N / 10))
idle_kib=$(rss_kib "$OT_PID")
log "importing $small lines"
import "$small" 0
small_secs=$SECS small_peak=$PEAK_KIB small_report=$REPORT
log "importing $N lines"
import "$N" "$small"
large_secs=$SECS large_peak=$PEAK_KIB large_report=$REPORT
after_kib=$(rss_kib "$OT_PID")

# What landed: every valid line of both imports, and what the report said.
expected_bad=$(( (small + N) / 100 ))
keys=$(rcli dbsize)
written=$(( $(sed 's/.*"written":\([0-9]*\).*/\1/' <<<"$small_report") + $(sed 's/.*"written":\([0-9]*\).*/\1/' <<<"$large_report") ))
refused=$(( $(sed 's/.*"refused":\([0-9]*\).*/\1/' <<<"$small_report") + $(sed 's/.*"refused":\([0-9]*\).*/\1/' <<<"$large_report") ))
[[ $keys -eq $written ]] || die "redis holds $keys profiles, the reports say $written were written"
[[ $refused -eq $expected_bad ]] || die "$refused lines refused, $expected_bad were invalid"
[[ $(rcli hget "ot:r:{im-0000042}" points) == 1042 ]] || die "a spot check of im-0000042 failed"

mkdir -p "$OUT_DIR"
out="$OUT_DIR/import-$(date -u +%Y-%m-%dT%H%M%SZ).md"
{
    echo "NDJSON import, $(machine_summary)"
    echo "commit $(checkout_label)"
    printf '%-10s %10s %8s %12s %14s\n' lines seconds "lines/s" "peak RSS" "refused"
    printf '%-10s %10s %8.0f %9s MiB %14s\n' "$small" "$small_secs" "$(awk -v n="$small" -v s="$small_secs" 'BEGIN { print n / s }')" "$(mib "$small_peak")" "$(sed 's/.*"refused":\([0-9]*\).*/\1/' <<<"$small_report")"
    printf '%-10s %10s %8.0f %9s MiB %14s\n' "$N" "$large_secs" "$(awk -v n="$N" -v s="$large_secs" 'BEGIN { print n / s }')" "$(mib "$large_peak")" "$(sed 's/.*"refused":\([0-9]*\).*/\1/' <<<"$large_report")"
    echo "RSS before the imports $(mib "$idle_kib") MiB, after $(mib "$after_kib") MiB"
    echo "peak RSS of the large import / of the small one: $(awk -v a="$large_peak" -v b="$small_peak" 'BEGIN { printf "%.2f", a / b }')"
    echo "redis holds $keys profiles; every valid line landed, every invalid one was reported"
} >"$out"
print_report "$out"
