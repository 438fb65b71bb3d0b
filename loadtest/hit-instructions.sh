#!/usr/bin/env bash
# Instructions per cache-hit open (or, with FIELDS=distinct, per cold
# open): the release server under callgrind,
# opened N times one after the other by curl (the hit path's recipients
# and card), counted from after a warm-up. Instructions, not seconds, so
# the figure is the same on a busy machine and a quiet one, and two
# commits compare to a few parts in a thousand. See loadtest/README.md.
#
#   loadtest/hit-instructions.sh                 # N=2000, no User-Agent
#   USER_AGENT='Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148' \
#       loadtest/hit-instructions.sh             # a mail client's opens
#
# FIELDS=distinct gives every recipient their own name and points (Latin
# names and numbers, not the spike's dozen scripts), so that every open
# is a cold render of the card rather than a hit.
# CARD=flat opens flat-card.sh's card instead (white, two lines, each
# recipient their own name: every open a cold render), one open at a time
# as there, so that the instructions of its cold open around the render
# can be told apart from the render's.
# KEEP_DUMP=<file> keeps callgrind's dump there, for callgrind_annotate.
# Prints the instructions an open and the functions that take the most,
# inclusive; keeps the report in loadtest/results/hit-instructions-<stamp>.txt.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

N=${N:-2000}               # measured opens
WARMUP=${WARMUP:-40}       # opens before the counters are zeroed
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SIGNING_KEY=${SIGNING_KEY:-loadtest-signing-key-not-a-secret}
FIELDS=${FIELDS:-same}
[[ $FIELDS == same || $FIELDS == distinct ]] || die "FIELDS must be same or distinct, got '$FIELDS'"
CARD=${CARD:-loyalty}
case $CARD in
    loyalty) IMAGE_PATH=/i/loyalty.png ;;
    flat)
        source "$LOADTEST_DIR/lib/flat.sh"
        IMAGE_PATH=/i/flat.png
        [[ $FIELDS == same ]] || die "CARD=flat gives every recipient a name of their own already: leave FIELDS unset"
        ;;
    *) die "CARD must be loyalty or flat, got '$CARD'" ;;
esac

for v in N WARMUP; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, got '${!v}'"
done

setup_workdir
ensure_commands valgrind:valgrind callgrind_control:valgrind redis-server:redis-server \
    redis-cli:redis-tools curl:curl
build_release
start_redis
OPENTIME_LAUNCHER=(valgrind --tool=callgrind --dump-instr=no
    "--callgrind-out-file=$WORK_DIR/callgrind.out")
if [[ $CARD == flat ]]; then
    load_flat_profiles $((N + WARMUP))
    sign_tokens $((N + WARMUP))
    write_flat_template
    start_opentime OPENTIME_TEMPLATES_DIR="$WORK_DIR/templates" OPENTIME_WATCH_TEMPLATES=false
else
    load_profiles $((N + WARMUP)) "$FIELDS"
    sign_tokens $((N + WARMUP))
    start_opentime
fi
first_token=$(head -1 "$WORK_DIR/tokens.txt")
if [[ $CARD == loyalty && $FIELDS == same ]]; then
    fetch_hot_image "$IMAGE_PATH?t=$first_token" "$WORK_DIR/image.png" "$WORK_DIR/image.head"
fi

# One curl for all the opens of a phase, on one connection, as a client
# that keeps it open would.
opens() {
    awk -v url="$OT_URL$IMAGE_PATH?t=" -v agent="${USER_AGENT:-}" '{
        print "url = \"" url $1 "\""
        print "output = /dev/null"
        print "user-agent = \"" agent "\""
    }' >"$WORK_DIR/curl.cfg"
    curl -fsS -K "$WORK_DIR/curl.cfg" || die "an open failed"
}
head -"$WARMUP" "$WORK_DIR/tokens.txt" | opens
callgrind_control -z "$OT_PID" >/dev/null || die "callgrind_control could not zero the counters"
before=$(metric "$(scrape)" opentime_requests_total 'outcome="personalized"')
tail -n +"$((WARMUP + 1))" "$WORK_DIR/tokens.txt" | opens
after=$(metric "$(scrape)" opentime_requests_total 'outcome="personalized"')
callgrind_control -d "$OT_PID" >/dev/null || die "callgrind_control could not dump the counters"
measured=$((after - before))
((measured == N)) || die "the server counted $measured personalized opens, not $N"
dump=$(ls "$WORK_DIR"/callgrind.out.* 2>/dev/null | head -1)
[[ -n $dump ]] || die "callgrind wrote no dump"
[[ -z ${KEEP_DUMP:-} ]] || cp "$dump" "$KEEP_DUMP"

mkdir -p "$OUT_DIR"
report="$OUT_DIR/hit-instructions-$(date -u +%Y-%m-%dT%H%M%SZ).txt"
total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
{
    if [[ $CARD == flat ]]; then
        kind="cold (CARD=flat)"
    elif [[ $FIELDS == same ]]; then
        kind=cache-hit
    else
        kind="cold (FIELDS=distinct)"
    fi
    echo "# commit $(checkout_label): $N $kind opens of $IMAGE_PATH, User-Agent: ${USER_AGENT:-none}"
    echo "# instructions: $total in all, $((total / N)) an open"
    echo "# inclusive, the functions above 2%:"
    callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null |
        awk -v total="$total" '$2 ~ /^\(/ { n = $1; gsub(",", "", n); if (n / total >= 0.02) print }' |
        cut -c1-200
} >"$report"
head -2 "$report"
log "report in $report"
