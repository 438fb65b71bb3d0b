# Shared helpers for the load tests; sourced, never run.
#
# Every child process a script starts goes through `track`, and the EXIT trap
# stops them all (TERM, a short wait, then KILL) and removes the temp dir, so
# a failed or interrupted run leaves no redis, nginx or opentime behind.

LOADTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$LOADTEST_DIR/.." && pwd)
TRACKED_PIDS=()
WORK_DIR=""

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    printf '\nFAILED: %s\n' "$*" >&2
    exit 1
}

# Records a child to stop at exit.
track() { TRACKED_PIDS+=("$1"); }

cleanup() {
    local status=$?
    set +e
    local pid
    for pid in "${TRACKED_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${TRACKED_PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid did not stop on TERM; killing it"
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    if [[ -n "$WORK_DIR" && -d "$WORK_DIR" ]]; then
        if [[ $status -ne 0 && -n "${KEEP_LOGS_ON_FAILURE:-1}" ]]; then
            local logs
            logs=$(mktemp -d "${TMPDIR:-/tmp}/opentime-loadtest-logs.XXXXXX")
            cp "$WORK_DIR"/*.log "$logs"/ 2>/dev/null
            log "logs of the failed run kept in $logs"
        fi
        rm -rf "$WORK_DIR"
    fi
    exit "$status"
}

# Makes the temp dir and installs the trap; call once, first.
setup_workdir() {
    WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/opentime-loadtest.XXXXXX")
    chmod 755 "$WORK_DIR" # nginx workers may run as another user
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Installs the Debian packages that provide the missing commands.
# Usage: ensure_commands cmd:package ...
ensure_commands() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
    local sudo=()
    [[ $(id -u) -ne 0 ]] && sudo=(sudo)
    log "installing ${missing[*]}"
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
    if ! "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >"${WORK_DIR:-/tmp}/apt.log" 2>&1; then
        "${apt[@]}" update >>"${WORK_DIR:-/tmp}/apt.log" 2>&1 || true
        "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >>"${WORK_DIR:-/tmp}/apt.log" 2>&1 ||
            die "apt-get install ${missing[*]} failed (see ${WORK_DIR:-/tmp}/apt.log)"
    fi
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || die "${pair%%:*} still missing after installing ${pair#*:}"
    done
}

# A loopback TCP port nobody listens on now.
free_port() {
    local port tries=0
    while ((tries++ < 200)); do
        port=$((20000 + RANDOM % 30000))
        if ! ss -Hltn "sport = :$port" | grep -q .; then
            echo "$port"
            return 0
        fi
    done
    die "no free loopback port found"
}

# Waits until `curl -fsS URL` succeeds, or fails after SECONDS.
wait_http() {
    local url=$1 seconds=$2 pid=${3:-} deadline=$((SECONDS + $2))
    until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

build_release() {
    command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) first"
    log "building the release binary (cargo build --release; minutes the first time)"
    (cd "$REPO_DIR" && cargo build --release --locked) || die "cargo build --release failed"
    # A relative CARGO_TARGET_DIR is relative to the repository, where cargo ran.
    local target=${CARGO_TARGET_DIR:-target}
    [[ $target == /* ]] || target="$REPO_DIR/$target"
    OPENTIME_BIN="$target/release/opentime"
    [[ -x "$OPENTIME_BIN" ]] || die "no binary at $OPENTIME_BIN"
}

# Starts a private redis-server on a free loopback port (never the system
# one), without persistence. Sets REDIS_PORT, REDIS_PID, REDIS_URL.
start_redis() {
    REDIS_PORT=$(free_port)
    mkdir -p "$WORK_DIR/redis"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$WORK_DIR/redis" \
        --save '' --appendonly no --daemonize no --protected-mode yes \
        --logfile "$WORK_DIR/redis.log" &
    REDIS_PID=$!
    track "$REDIS_PID"
    local deadline=$((SECONDS + 10))
    until redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; do
        kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited at start (see $WORK_DIR/redis.log)"
        ((SECONDS < deadline)) || die "redis-server on port $REDIS_PORT not answering after 10 s"
        sleep 0.1
    done
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
    log "private redis-server pid $REDIS_PID on 127.0.0.1:$REDIS_PORT"
}

rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# Writes N recipients' profiles with one `redis-cli --pipe` of generated RESP
# and their ids to $WORK_DIR/recipients.csv. MODE=same gives everyone the
# same fields (one render for all); MODE=distinct gives everyone their own
# name and points (one render each).
load_profiles() {
    local n=$1 mode=$2
    log "loading $n profiles ($mode fields) into redis"
    awk -v n="$n" -v mode="$mode" -v csv="$WORK_DIR/recipients.csv" '
        function bulk(s) { return "$" length(s) "\r\n" s "\r\n" }
        BEGIN {
            split("Alice Bruno Chloe Dmitri Emma Farid Grace Hugo Ines Jun", first, " ")
            split("member silver gold platinum", tier, " ")
            print "id" > csv
            for (i = 1; i <= n; i++) {
                id = sprintf("lt-%07d", i)
                print id > csv
                if (mode == "same") {
                    fn = "Alice"; ln = "Martin"; pts = "12480"; tr = "gold"
                } else {
                    fn = first[(i % 10) + 1]; ln = sprintf("N%07d", i)
                    pts = sprintf("%d", 1000 + i); tr = tier[(i % 4) + 1]
                }
                printf "*10\r\n%s%s%s%s%s%s%s%s%s%s", bulk("HSET"), bulk("ot:r:{" id "}"),
                    bulk("first_name"), bulk(fn), bulk("last_name"), bulk(ln),
                    bulk("points"), bulk(pts), bulk("tier"), bulk(tr)
            }
        }' | rcli --pipe >"$WORK_DIR/redis-pipe.log" 2>&1 || die "redis-cli --pipe failed (see $WORK_DIR/redis-pipe.log)"
    check_piped_profiles "$n"
}

# After profiles were sent with `rcli --pipe >"$WORK_DIR/redis-pipe.log"`:
# fails unless no command failed and redis holds $1 keys (at least $1
# when $2 is "at-least": other keys may be there too).
check_piped_profiles() {
    local n=$1 bound=${2:-exactly}
    grep -q "errors: 0" "$WORK_DIR/redis-pipe.log" || die "redis-cli --pipe reported errors: $(tail -1 "$WORK_DIR/redis-pipe.log")"
    local count
    count=$(rcli dbsize)
    if [[ $bound == at-least ]]; then
        ((count >= n)) || die "redis holds $count keys, expected at least $n"
    else
        ((count == n)) || die "redis holds $count keys, expected $n"
    fi
}

# Signs every recipient with `opentime sign --csv` and writes the bare
# tokens, one a line, to $WORK_DIR/tokens.txt.
sign_tokens() {
    log "signing tokens with opentime sign --csv"
    OPENTIME_SIGNING_KEYS="$SIGNING_KEY" "$OPENTIME_BIN" sign --csv "$WORK_DIR/recipients.csv" \
        --id-column id -o "$WORK_DIR/signed.csv" 2>"$WORK_DIR/sign.log" ||
        die "opentime sign failed: $(cat "$WORK_DIR/sign.log")"
    local column
    column=$(head -1 "$WORK_DIR/signed.csv" | tr ',' '\n' | grep -nx ot_token | cut -d: -f1)
    [[ -n "$column" ]] || die "signed CSV has no ot_token column: $(head -1 "$WORK_DIR/signed.csv")"
    tail -n +2 "$WORK_DIR/signed.csv" | cut -d, -f"$column" >"$WORK_DIR/tokens.txt"
    local n
    n=$(wc -l <"$WORK_DIR/tokens.txt")
    [[ "$n" -eq "$1" ]] || die "got $n tokens, expected $1"
    grep -qvE '^[A-Za-z0-9_.~-]+$' "$WORK_DIR/tokens.txt" &&
        die "some tokens hold characters that need URL-encoding; the wrk script sends them as they are"
    return 0
}

# Builds the commit BASELINE names for a side-by-side run (ab.sh,
# spike-ab.sh) in a worktree kept under target/, with a target directory
# shared by every baseline, so a second run with the same (or a nearby)
# commit rebuilds little. Sets base_rev, base_short, base_tree, base_bin and
# head_short (with "+changes" when the checkout has uncommitted changes).
build_baseline() {
    local baseline=$1
    base_rev=$(git -C "$REPO_DIR" rev-parse --verify --quiet "$baseline^{commit}") ||
        die "BASELINE '$baseline' is not a commit of this repository"
    base_short=$(git -C "$REPO_DIR" rev-parse --short "$base_rev")
    head_short=$(checkout_label)
    base_tree="$REPO_DIR/target/ab/tree-$base_short"
    if [[ ! -d $base_tree ]]; then
        git -C "$REPO_DIR" worktree add --detach "$base_tree" "$base_rev" >/dev/null ||
            die "cannot make a worktree for $baseline"
    fi
    log "building the baseline $base_short (in $base_tree)"
    (cd "$base_tree" && CARGO_TARGET_DIR="$REPO_DIR/target/ab/target" cargo build --release --locked) ||
        die "the baseline $base_short does not build"
    base_bin="$REPO_DIR/target/ab/target/release/opentime"
}

# Starts opentime on a free loopback port against the private redis, waits
# for /readyz. Extra environment (OPENTIME_CACHE_BYTES=...) may be passed
# as arguments; a non-empty OPENTIME_LAUNCHER array is the command the
# server runs under, which execs it (taskset --cpu-list 0, to pin it from
# its first thread). Sets OT_PORT, OT_PID, OT_URL.
OPENTIME_LAUNCHER=()
start_opentime() {
    OT_PORT=$(free_port)
    (
        cd "$REPO_DIR"
        exec env OPENTIME_REDIS_URL="$REDIS_URL" OPENTIME_LISTEN="127.0.0.1:$OT_PORT" \
            OPENTIME_SIGNING_KEYS="$SIGNING_KEY" OPENTIME_LOG=warn "$@" \
            "${OPENTIME_LAUNCHER[@]}" "$OPENTIME_BIN" serve
    ) >"$WORK_DIR/opentime.log" 2>&1 &
    OT_PID=$!
    track "$OT_PID"
    OT_URL="http://127.0.0.1:$OT_PORT"
    wait_http "$OT_URL/readyz" 30 "$OT_PID" ||
        die "opentime not ready on $OT_URL within 30 s: $(tail -5 "$WORK_DIR/opentime.log")"
    log "opentime pid $OT_PID on $OT_URL (ready)"
}

# The value of one Prometheus sample (sum over every series matching the
# name and the optional label filter), 0 when absent.
metric() {
    local text=$1 name=$2 filter=${3:-}
    awk -v name="$name" -v filter="$filter" '
        ($1 == name || index($1, name "{") == 1) && (filter == "" || index($1, filter) > 0) { sum += $NF }
        END { printf "%.0f\n", sum + 0 }' <<<"$text"
}

# Fetches PATH from opentime into OUT (headers into HEAD) once its render is
# hot: asks again until the ETag names the compact encoding (a `z` before
# its closing quote), which a cache hit starts in the background. Within
# 10 s; a server that does not re-encode (cache_recompress_png = false)
# keeps its first bytes, and those are fetched.
fetch_hot_image() {
    local path=$1 out=$2 head=$3 tries=0
    while :; do
        curl -fsS -D "$head" -o "$out" "$OT_URL$path" || die "cannot fetch $path from opentime"
        grep -qi '^etag: ".*z"' "$head" && return 0
        tries=$((tries + 1))
        if ((tries >= 100)); then
            log "the image's ETag never named the compact encoding; measuring its first bytes"
            return 0
        fi
        sleep 0.1
    done
}

scrape() { curl -fsS --max-time 5 "$OT_URL/metrics" || die "cannot read $OT_URL/metrics"; }

# The hit-path load: wrk for SECONDS against URL, each request the next
# recipient's token from $WORK_DIR/tokens.txt on $IMAGE_PATH, with
# $THREADS and $CONNECTIONS; output in OUT. Sets RESULT to its OTRESULT
# line. wrk runs as a tracked background child so that an interrupted run
# stops it. With USER_AGENT set, every request sends it (a mail client's
# open); without it, none (a scanner's, by the built-in rules).
run_wrk() {
    local url=$1 seconds=$2 out=$3
    OT_USER_AGENT=${USER_AGENT:-} timeout --kill-after=10 $((seconds + 60)) \
        wrk -t "$THREADS" -c "$CONNECTIONS" -d "${seconds}s" --latency --timeout 5s \
        -s "$LOADTEST_DIR/lib/cycle.lua" "$url" \
        -- "$WORK_DIR/tokens.txt" "$IMAGE_PATH?t=" 0 "$THREADS" >"$out" 2>&1 &
    local pid=$!
    track "$pid"
    wait "$pid" || die "wrk against $url failed: $(tail -5 "$out")"
    RESULT=$(grep '^OTRESULT ' "$out") || die "wrk printed no result: $(tail -5 "$out")"
}
# One NAME=value field of an OTRESULT line, and the median of numbers.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Prints a finished report and where it was written.
print_report() {
    echo
    cat "$1"
    echo
    log "written to $1"
}

# Resident set and its peak, in KiB, of PID.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# User plus system CPU time of PID (its threads included), in clock ticks.
cpu_ticks() {
    # Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
CLK_TCK=$(getconf CLK_TCK)

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# The summary that ab.sh and spike-ab.sh both report: a table header and
# the medians of each side's runs, with their ratios, from the lists the
# scripts fill (rps_list, p99_list, cpu_list and redis_list: numbers by
# side, space-separated; round_ratios: each round's current over its base).
paired_summary() {
    local b_rps c_rps b_p99 c_p99 b_cpu c_cpu b_redis c_redis
    # shellcheck disable=SC2086 # the lists are space-separated numbers
    {
        b_rps=$(median ${rps_list[base]}) c_rps=$(median ${rps_list[current]})
        b_cpu=$(median ${cpu_list[base]}) c_cpu=$(median ${cpu_list[current]})
        b_redis=$(median ${redis_list[base]}) c_redis=$(median ${redis_list[current]})
        b_p99=$(median ${p99_list[base]}) c_p99=$(median ${p99_list[current]})
    }
    echo "| median of $R runs | $base_short (baseline) | $head_short | $head_short / $base_short |"
    echo "|---|---:|---:|---:|"
    echo "| requests/s | $b_rps | $c_rps | $(ratio3 "$c_rps" "$b_rps") |"
    # shellcheck disable=SC2086
    echo "| requests/s, median of the rounds' ratios | | | $(median $round_ratios) |"
    echo "| p99 latency, us | $b_p99 | $c_p99 | $(ratio3 "$c_p99" "$b_p99") |"
    echo "| opentime CPU, us/request | $b_cpu | $c_cpu | $(ratio3 "$c_cpu" "$b_cpu") |"
    echo "| Redis CPU, us/request | $b_redis | $c_redis | $(ratio3 "$c_redis" "$b_redis") |"
}

# The checkout's commit for the reports, with "+changes" when its tracked
# files differ from that commit: a result names the code it measured.
checkout_label() {
    local short
    short=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null) || { echo '?'; return; }
    git -C "$REPO_DIR" diff --quiet HEAD -- 2>/dev/null || short+="+changes"
    echo "$short"
}

# Cores, CPU model and tool versions, for the reports. (`wrk -v` exits 1.)
machine_summary() {
    local cpu wrk_version nginx_version redis_version
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1 || true)
    # Whether SHA-256 runs in hardware here: a virtual machine's model name
    # ("Intel(R) Xeon(R) Processor") does not say.
    grep -qw sha_ni /proc/cpuinfo && cpu+=", SHA instructions" || cpu+=", no SHA instructions"
    wrk_version="no wrk" nginx_version=""
    command -v wrk >/dev/null && wrk_version=$( (wrk -v 2>&1 || true) | head -1 | cut -d' ' -f1-2)
    command -v nginx >/dev/null && nginx_version=$( (nginx -v 2>&1 || true) | sed 's/.*: //')
    redis_version=$(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/')
    echo "$(nproc) cores ($cpu); $wrk_version; ${nginx_version:-no nginx}; redis $redis_version"
}

us_to_ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
# The same to three places, for side-by-side runs (ab.sh, spike-ab.sh).
ratio3() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b ? a / b : 0 }'; }
# Ticks the hypervisor gave to other guests, machine-wide: a run with much
# steal measured a busy host, not the build.
steal_ticks() { awk '/^cpu / { print $9 }' /proc/stat; }
# CPU clock ticks over requests, as microseconds a request.
cpu_per_req() { awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }'; }

# The head and first rows of a report's opentime / nginx table: the medians
# of the runs' requests/s and latency percentiles, from the arrays ot_rps,
# ot_p50, ot_p99, ot_p999 and ngx_* of the calling script, and their ratio.
compare_rows() {
    local label a b
    echo "| median of $R runs | opentime | nginx static | opentime / nginx |"
    echo "|---|---:|---:|---:|"
    a=$(median "${ot_rps[@]}") b=$(median "${ngx_rps[@]}")
    echo "| requests/s | $a | $b | $(ratio "$a" "$b") |"
    for label in p50 p99 p999; do
        local -n ot_values="ot_$label" ngx_values="ngx_$label"
        a=$(median "${ot_values[@]}") b=$(median "${ngx_values[@]}")
        echo "| ${label/p999/p99.9} latency, ms | $(us_to_ms "$a") | $(us_to_ms "$b") | $(ratio "$a" "$b") |"
    done
}
