#!/usr/bin/env bash
# The open spike while Redis fails in every way it does in production, and
# while renders pile up past the render queue's bound. See loadtest/README.md.
#
#   loadtest/faults.sh                # about 2 minutes after the build
#   N=5000 loadtest/faults.sh         # the same faults on fewer recipients
#
# Asserts: every image answer was a 200 image and every click and vote a
# 302 (wrk's and the probe's counts); the probe recipient is personalized
# again within RECOVERY_MS of Redis answering after each fault; opentime's
# peak RSS stayed under MEMORY_BOUND_MIB; every event opentime counted is
# accounted for (written + dropped = opens + clicks + votes) and every
# event it counted as written is in the Redis stream.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$LOADTEST_DIR/lib/spike.sh"

N=${N:-20000}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
FLOOD_CONNECTIONS=${FLOOD_CONNECTIONS:-256}
RENDER_QUEUE=${RENDER_QUEUE:-64}       # opentime's render_queue for this run
CACHE_BYTES=${CACHE_BYTES:-67108864}   # opentime's cache_bytes for this run
# The bound: the render cache, the glyph cache (64 MiB by default), and
# 256 MiB for the rest (fonts, templates, connections, allocator slack).
MEMORY_BOUND_MIB=${MEMORY_BOUND_MIB:-$((CACHE_BYTES / 1048576 + 64 + 256))}
RECOVERY_MS=${RECOVERY_MS:-1000}
DOWN_SECONDS=${DOWN_SECONDS:-4}        # how long each fault lasts
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SIGNING_KEY=${SIGNING_KEY:-loadtest-signing-key-not-a-secret}

for v in N CONNECTIONS THREADS FLOOD_CONNECTIONS RENDER_QUEUE CACHE_BYTES MEMORY_BOUND_MIB RECOVERY_MS DOWN_SECONDS; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, got '${!v}'"
done
((FLOOD_CONNECTIONS > RENDER_QUEUE + 8)) || die "FLOOD_CONNECTIONS must be well above RENDER_QUEUE to fill the queue"

setup_workdir
ensure_commands wrk:wrk redis-server:redis-server redis-cli:redis-tools \
    curl:curl ss:iproute2 ps:procps python3:python3
build_release

# Redis as production runs it: an append-only file synced at every write,
# so a killed Redis comes back with everything it acknowledged (the check
# of the events stream below relies on it). Always on the same port.
REDIS_PORT=$(free_port)
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
mkdir -p "$WORK_DIR/redis"
redis_up() {
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$WORK_DIR/redis" \
        --save '' --appendonly yes --appendfsync always --daemonize no --protected-mode yes \
        --enable-debug-command local \
        --logfile "$WORK_DIR/redis.log" &
    REDIS_PID=$!
    track "$REDIS_PID"
    local deadline=$((SECONDS + 30))
    until [[ $(rcli ping 2>/dev/null) == PONG ]]; do
        kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited at start (see $WORK_DIR/redis.log)"
        ((SECONDS < deadline)) || die "redis-server on port $REDIS_PORT not answering after 30 s"
        sleep 0.01
    done
}
redis_up
log "redis-server pid $REDIS_PID on 127.0.0.1:$REDIS_PORT (append-only, fsync always)"

spike_setup "$N"
start_opentime OPENTIME_RENDER_QUEUE="$RENDER_QUEUE" OPENTIME_CACHE_BYTES="$CACHE_BYTES"

# The probe recipient and the bytes opentime serves it while Redis is up.
probe_token=$(spike_probe_token faults)
probe_path="/i/loyalty.png?t=$probe_token"
curl -fsS -o "$WORK_DIR/probe-personalized.png" -A 'Mozilla/5.0 (iPhone) Mobile/15E148' "$OT_URL$probe_path" ||
    die "cannot fetch the probe image"
curl -fsS -o "$WORK_DIR/probe-default.png" "$OT_URL/i/loyalty.png"
cmp -s "$WORK_DIR/probe-personalized.png" "$WORK_DIR/probe-default.png" &&
    die "the probe's personalized image is the default one: the probe could not tell them apart"

# The flood: loyalty cards of recipients from the end of the list, each a
# render the 64 MiB cache does not hold (the load has long evicted them, if
# it reached them), on many more connections than the queue holds.
awk -F, 'NR > 1 && $2 == "loyalty" { print $NF }' "$WORK_DIR/signed.csv" | tail -n 20000 | tac |
    awk '{ print "/i/loyalty.png?t=" $0 "\tMozilla/5.0 (iPhone) Mobile/15E148" }' >"$WORK_DIR/flood.txt"
[[ -s "$WORK_DIR/flood.txt" ]] || die "no loyalty recipients for the flood"

now_ms() { date +%s%3N; }
fallbacks_now() { metric "$(scrape)" opentime_fallbacks_total; }
phases=() # "name start_ms back_ms fallbacks_at_start fallbacks_at_back"

# The load and the probe run through every phase.
total=$((8 + 4 * (DOWN_SECONDS + 8) + 12))
log "load: ${total}s of the spike plan on $CONNECTIONS connections, a probe every 50 ms"
python3 "$LOADTEST_DIR/lib/probe.py" "$OT_URL" "$probe_path" "$WORK_DIR/probe-personalized.png" 50 "$OT_PID" \
    "$WORK_DIR/probe.log" &
probe_pid=$!
track "$probe_pid"
spike_wrk_start "$OT_URL" "$total" "$WORK_DIR/wrk-load.txt" 0
load_pid=$SPIKE_WRK_PID
start=$(now_ms) fb=$(fallbacks_now)
sleep 8
phases+=("none $start $(now_ms) $fb $(fallbacks_now)")

log "fault 1: redis killed (SIGKILL) for ${DOWN_SECONDS}s, then started again"
start=$(now_ms) fb=$(fallbacks_now)
kill -KILL "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
# Gone: the exit trap must not signal whatever gets its number next.
alive=()
for pid in "${TRACKED_PIDS[@]}"; do [[ $pid == "$REDIS_PID" ]] || alive+=("$pid"); done
TRACKED_PIDS=("${alive[@]}")
sleep "$DOWN_SECONDS"
redis_up
phases+=("killed $start $(now_ms) $fb $(fallbacks_now)")
sleep 8

log "fault 2: redis paused (SIGSTOP) for ${DOWN_SECONDS}s"
start=$(now_ms) fb=$(fallbacks_now)
kill -STOP "$REDIS_PID"
sleep "$DOWN_SECONDS"
kill -CONT "$REDIS_PID"
phases+=("paused $start $(now_ms) $fb $(fallbacks_now)")
sleep 8

log "fault 3: redis busy (DEBUG SLEEP $DOWN_SECONDS)"
start=$(now_ms) fb=$(fallbacks_now)
reply=$(rcli debug sleep "$DOWN_SECONDS")
[[ $reply == OK ]] || die "DEBUG SLEEP was refused: $reply"
phases+=("debug-sleep $start $(now_ms) $fb $(fallbacks_now)")
sleep 8

log "fault 4: ${FLOOD_CONNECTIONS} connections of new renders for ${DOWN_SECONDS}s (render queue $RENDER_QUEUE)"
start=$(now_ms) fb=$(fallbacks_now)
SPIKE_PLAN="$WORK_DIR/flood.txt" spike_wrk "$OT_URL" "$DOWN_SECONDS" "$WORK_DIR/wrk-flood.txt" 0 "$FLOOD_CONNECTIONS"
flood=$RESULT
fb_end=$(fallbacks_now)
phases+=("render-flood $start $(now_ms) $fb $fb_end")
flood_fallbacks=$((fb_end - fb))

SPIKE_WRK_PID=$load_pid spike_wrk_wait "$WORK_DIR/wrk-load.txt"
load=$RESULT
sleep 1
kill -TERM "$probe_pid"
wait "$probe_pid" 2>/dev/null || true

# Every queued event reaches Redis once the writer catches up.
deadline=$((SECONDS + 30))
until [[ $(metric "$(scrape)" opentime_events_buffered) -eq 0 ]]; do
    ((SECONDS < deadline)) || die "events still queued 30 s after the load: $(scrape | grep '^opentime_events')"
    sleep 0.2
done
final=$(scrape)

# What the probe saw in each phase, and how long after Redis answered
# again (or the flood ended) its image was personalized again.
phase_rows=() failures=()
for phase in "${phases[@]}"; do
    read -r name start back fb0 fb1 <<<"$phase"
    row=$(awk -v s="$start" -v b="$back" '
        $1 >= s && $1 < b { during++; if ($2 == "personalized") p++; else if ($2 == "default") d++; else bad++ }
        $1 >= b && first == "" && $2 == "personalized" { first = $1 - b }
        $1 >= b && first == "" && $2 != "personalized" { after_default++ }
        END { printf "%d %d %d %d %s %d\n", during, p, d, bad, (first == "" ? "never" : first), after_default }' \
        "$WORK_DIR/probe.log")
    read -r during p d bad recovery after_default <<<"$row"
    [[ $name == none ]] && recovery="(no fault: the load alone)"
    phase_rows+=("| $name | $(((back - start))) | $during | $p / $d / $bad | $((fb1 - fb0)) | $recovery |")
    if [[ $name == none ]]; then
        continue
    elif [[ $recovery == never ]]; then
        failures+=("$name: the probe was never personalized again")
    elif ((recovery > RECOVERY_MS)); then
        failures+=("$name: personalized again only ${recovery} ms after Redis answered (target $RECOVERY_MS ms)")
    fi
done

probe_total=$(wc -l <"$WORK_DIR/probe.log")
probe_bad=$(grep -c ' bad' "$WORK_DIR/probe.log" || true)
peak_rss=$(awk '$3 > m { m = $3 } END { print m + 0 }' "$WORK_DIR/probe.log")
hwm=$(hwm_kib "$OT_PID")
load_bad=$(spike_bad "$load") flood_bad=$(spike_bad "$flood")
opens=$(metric "$final" opentime_opens_total)
clicks=$(metric "$final" opentime_clicks_total)
# Votes for no poll or with a bad token write no event.
votes=$(($(metric "$final" opentime_votes_total) - $(metric "$final" opentime_votes_total 'result="not_found"') -
    $(metric "$final" opentime_votes_total 'result="forbidden"')))
written=$(metric "$final" opentime_events_written_total)
dropped=$(metric "$final" opentime_events_dropped_total)
write_errors=$(metric "$final" opentime_event_write_errors_total)
stream=$(rcli xlen ot:events)
# Each event once, however often a batch was sent again: the distinct ids.
distinct=$(rcli --raw xrange ot:events - + | python3 -c '
import json, sys
ids = set()
for line in sys.stdin:
    if line.startswith("{"):
        ids.add(json.loads(line)["id"])
print(len(ids))')
store_errors=$(metric "$final" opentime_store_errors_total)
fallbacks=$(metric "$final" opentime_fallbacks_total)
answered=$(($(field "$load" images) + $(field "$load" redirects) + $(field "$flood" images) + $(field "$flood" redirects)))

((load_bad == 0)) || failures+=("the load got $load_bad broken answers or socket errors")
((flood_bad == 0)) || failures+=("the flood got $flood_bad broken answers or socket errors")
((probe_bad == 0)) || failures+=("the probe got $probe_bad broken answers")
((flood_fallbacks > 0)) || failures+=("the flood never filled the render queue (no fallback served): raise FLOOD_CONNECTIONS")
((peak_rss <= MEMORY_BOUND_MIB * 1024)) || failures+=("opentime's RSS reached $(mib "$peak_rss") MiB, over $MEMORY_BOUND_MIB MiB")
((written + dropped == opens + clicks + votes)) ||
    failures+=("events: $written written + $dropped dropped, but $opens opens + $clicks clicks + $votes votes counted")
((distinct == written)) || failures+=("the stream holds $distinct distinct events, but opentime counted $written as written")
((opens + clicks + votes >= answered)) ||
    failures+=("wrk got $answered images and redirects, but opentime counted only $((opens + clicks + votes)) events")

mkdir -p "$OUT_DIR"
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
report="$OUT_DIR/faults-$stamp.md"
{
    echo "# faults under the open spike, $stamp"
    echo
    echo "commit $(checkout_label); $(machine_summary)."
    echo "N=$N recipients; the spike plan on $CONNECTIONS connections for ${total}s; a probe recipient fetched every 50 ms; Redis with appendfsync always; opentime with render_queue $RENDER_QUEUE, cache_bytes $CACHE_BYTES; each fault ${DOWN_SECONDS}s, 8 s apart."
    echo
    echo "| fault | lasted, ms | probe answers during it | personalized / default / broken | fallbacks served meanwhile (all requests) | personalized again, ms after Redis answered |"
    echo "|---|---:|---:|---:|---:|---:|"
    printf '%s\n' "${phase_rows[@]}"
    echo
    echo "| | |"
    echo "|---|---:|"
    echo "| load: requests, images / redirects, broken | $(field "$load" requests), $(field "$load" images) / $(field "$load" redirects), $load_bad |"
    echo "| load: p50 / p99 / max latency, ms | $(awk -v a="$(field "$load" p50_us)" -v b="$(field "$load" p99_us)" -v c="$(field "$load" max_us)" 'BEGIN { printf "%.2f / %.2f / %.0f", a / 1000, b / 1000, c / 1000 }') |"
    echo "| flood: requests, images, broken | $(field "$flood" requests), $(field "$flood" images), $flood_bad |"
    echo "| fallbacks during the flood / in all | $flood_fallbacks / $fallbacks |"
    echo "| fallbacks by template and reason | $(grep '^opentime_fallbacks_total{' <<<"$final" | sed 's/^opentime_fallbacks_total//' | paste -sd ' ' -) |"
    echo "| store errors (answers with the default variant) | $store_errors |"
    echo "| probe answers, broken | $probe_total, $probe_bad |"
    echo "| opentime peak RSS (probe samples) / VmHWM, MiB | $(mib "$peak_rss") / $(mib "$hwm") (bound $MEMORY_BOUND_MIB) |"
    echo "| events counted: opens + clicks + votes | $opens + $clicks + $votes = $((opens + clicks + votes)) |"
    echo "| events written / dropped (queue full) | $written / $dropped |"
    echo "| event batches that failed and were sent again | $write_errors |"
    echo "| entries in the Redis stream / distinct events among them | $stream / $distinct ($((stream - distinct)) sent twice: batches Redis applied after opentime gave up waiting for them) |"
} >"$report"
print_report "$report"

if ((${#failures[@]} > 0)); then
    printf '  - %s\n' "${failures[@]}" >&2
    die "${#failures[@]} checks failed"
fi
log "all checks passed"
