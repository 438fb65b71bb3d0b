#!/usr/bin/env bash
# Decompression bombs through remote images: opentime's peak memory and a
# legitimate open's latency while many connections open a public template
# whose photo URL (an allowed origin's) is a small PNG declaring 4096 x 4096
# pixels, a new URL every time. See loadtest/README.md.
#
#   loadtest/remote-bomb.sh                 # about 1 minute after the build
#   CONCURRENCY=64 SECONDS_PER_RUN=20 loadtest/remote-bomb.sh
#
# Two runs on fresh servers: with the configured decode limits (the
# defaults unless OPENTIME_REMOTE_IMAGE_* are set), then with them lifted
# (64 decodes at once, a 64 GiB budget), which is what opentime did before
# it had them. Asserts: every open with the limits was a 200 image, and the
# server's peak RSS stayed under MEMORY_BOUND_MIB.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CONCURRENCY=${CONCURRENCY:-32}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-15}
# The bound: the decode budget (128 MiB), the remote image cache (64 MiB),
# the render cache (256 MiB at most) and 256 MiB for everything else.
MEMORY_BOUND_MIB=${MEMORY_BOUND_MIB:-704}
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SIGNING_KEY=${SIGNING_KEY:-loadtest-signing-key-not-a-secret}

for v in CONCURRENCY SECONDS_PER_RUN MEMORY_BOUND_MIB; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, got '${!v}'"
done

setup_workdir
ensure_commands redis-server:redis-server redis-cli:redis-tools curl:curl ss:iproute2 python3:python3
build_release
start_redis

# The image server: bombs on every path but /photo.png.
IMAGE_PORT=$(free_port)
IMAGE_ORIGIN="http://127.0.0.1:$IMAGE_PORT"
python3 "$LOADTEST_DIR/lib/bomb.py" serve "$IMAGE_PORT" >"$WORK_DIR/images.log" 2>&1 &
track $!
wait_http "$IMAGE_ORIGIN/count" 30 || die "the image server did not start: $(cat "$WORK_DIR/images.log")"
log "image server on $IMAGE_ORIGIN: $(head -1 "$WORK_DIR/images.log")"

# A public template whose photo comes from a declared parameter: the way
# anyone on the internet can choose the URL, within the allowed origin.
mkdir -p "$WORK_DIR/templates"
cat >"$WORK_DIR/templates/bomb.json" <<'EOF'
{
  "name": "bomb", "width": 300, "height": 150, "access": "public", "scales": [1],
  "params": { "photo": { "max_len": 200 } },
  "variants": [
    { "id": "default", "layers": [
      { "type": "rect", "x": 0, "y": 0, "width": 300, "height": 150, "fill": "#ffffff" },
      { "type": "image", "x": 0, "y": 0, "width": 150, "height": 150, "url": "{{ query.photo }}", "fit": "cover" } ] }
  ]
}
EOF

rows=() failures=()
run() {
    local label=$1
    shift
    start_opentime OPENTIME_TEMPLATES_DIR="$WORK_DIR/templates" OPENTIME_WATCH_TEMPLATES=false \
        OPENTIME_REMOTE_IMAGE_ORIGINS="$IMAGE_ORIGIN" "$@"
    local photo
    photo=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$IMAGE_ORIGIN/photo.png")
    curl -fsS -o /dev/null "$OT_URL/i/bomb.png?photo=$photo" || die "the probe's first open failed"
    local idle_hwm fetched_before
    idle_hwm=$(hwm_kib "$OT_PID")
    fetched_before=$(curl -fsS "$IMAGE_ORIGIN/count")
    log "$label: $CONCURRENCY connections of bombs for ${SECONDS_PER_RUN}s, a probe every 50 ms"
    python3 "$LOADTEST_DIR/lib/bomb.py" attack "$OT_URL" "$IMAGE_ORIGIN" "$CONCURRENCY" "$SECONDS_PER_RUN" \
        "$WORK_DIR/attack-$label.txt"
    kill -0 "$OT_PID" 2>/dev/null || die "$label: opentime died during the attack: $(tail -5 "$WORK_DIR/opentime.log")"
    local result peak final fetched results
    result=$(cat "$WORK_DIR/attack-$label.txt")
    peak=$(hwm_kib "$OT_PID")
    final=$(scrape)
    fetched=$(($(curl -fsS "$IMAGE_ORIGIN/count") - fetched_before))
    results=$(grep '^opentime_remote_images_total{' <<<"$final" | sed 's/opentime_remote_images_total{result="\([^"]*\)"} /\1=/' | tr '\n' ' ')
    rows+=("| $label | $(mib "$idle_hwm") | $(mib "$peak") | $(field " $result" attack) | $(field " $result" attack_bad) | $fetched | $(field " $result" probe) / $(field " $result" probe_bad) | $(field " $result" p50_ms) / $(field " $result" p99_ms) / $(field " $result" max_ms) | ${results% } |")
    if [[ $label == limited ]]; then
        (($(field " $result" attack_bad) == 0 && $(field " $result" probe_bad) == 0)) ||
            failures+=("with the limits, some opens were not a 200 image: $result")
        (($(mib "$peak" | cut -d. -f1) < MEMORY_BOUND_MIB)) ||
            failures+=("with the limits, peak RSS $(mib "$peak") MiB is over the bound of $MEMORY_BOUND_MIB MiB")
    fi
    kill -TERM "$OT_PID"
    wait "$OT_PID" 2>/dev/null || true
    # Gone: the exit trap must not signal whatever gets its number next.
    local alive=() pid
    for pid in "${TRACKED_PIDS[@]}"; do [[ $pid == "$OT_PID" ]] || alive+=("$pid"); done
    TRACKED_PIDS=("${alive[@]}")
}

run limited
run unlimited OPENTIME_REMOTE_IMAGE_MAX_CONCURRENT_DECODES=64 OPENTIME_REMOTE_IMAGE_DECODE_BUDGET_BYTES=68719476736

mkdir -p "$OUT_DIR"
report="$OUT_DIR/remote-bomb-$(date -u +%Y%m%dT%H%M%SZ).md"
{
    echo "# remote-bomb.sh: $CONCURRENCY connections of decompression bombs for ${SECONDS_PER_RUN}s"
    echo
    echo "$(machine_summary); opentime $(checkout_label)"
    echo
    echo "Each attacking open names a new 4096 x 4096 RGBA PNG of $(head -1 "$WORK_DIR/images.log" | cut -d' ' -f3) bytes (64 MiB decoded);"
    echo "the probe opens the same template with a small photo every 50 ms."
    echo
    echo "| decode limits | peak RSS before, MiB | peak RSS after, MiB | attack opens | not 200 | images fetched | probe opens / not 200 | probe p50 / p99 / max, ms | remote image results |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
    printf '%s\n' "${rows[@]}"
    if ((${#failures[@]})); then
        echo
        printf -- '- FAILED: %s\n' "${failures[@]}"
    fi
} >"$report"
print_report "$report"
((${#failures[@]} == 0)) || exit 1
