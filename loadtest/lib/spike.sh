# The open spike shared by spike.sh, soak.sh and faults.sh; sourced after
# common.sh.
#
# spike_setup writes N recipients to the private Redis, each drawn a
# template (the loyalty card, the campaign countdown, the care survey) and
# an opener (Apple's proxy, Gmail's proxy, a mail client), signs their
# tokens, signs the countdown's URL, and writes the request plan
# ($WORK_DIR/plan.txt) that lib/spike.lua replays.

SPIKE_TEMPLATES_PERCENT=${SPIKE_TEMPLATES_PERCENT:-"60 25 15"} # loyalty, flash-sale, care-survey
SPIKE_OPENERS_PERCENT=${SPIKE_OPENERS_PERCENT:-"35 35 30"}     # apple, gmail, client

# Profiles: a name in one of several scripts, distinct points (so every
# loyalty card is its own render, as in a real send), a tier, and a
# resolved support request for the survey. (awk in the C locale, so that
# length() counts the bytes RESP wants.) Writes $WORK_DIR/recipients.csv
# (id, template, opener).
spike_profiles() {
    local n=$1
    log "loading $n profiles into redis"
    LC_ALL=C awk -v n="$n" -v csv="$WORK_DIR/recipients.csv" \
        -v templates="$SPIKE_TEMPLATES_PERCENT" -v openers="$SPIKE_OPENERS_PERCENT" '
        function bulk(s) { return "$" length(s) "\r\n" s "\r\n" }
        function field(name, value) { return bulk(name) bulk(value) }
        BEGIN {
            split("Alice Bruno Chloé Дмитрий Emma Farid 由紀 Hugo ليلى 지수 Ελένη Priya", first, " ")
            split("Martin Rossi Dubois Иванов Schmidt Haddad 田中 Silva", last, " ")
            split("member silver gold platinum", tier, " ")
            split(templates, tp, " "); split(openers, op, " ")
            if (tp[1] + tp[2] + tp[3] != 100 || op[1] + op[2] + op[3] != 100) {
                print "SPIKE_TEMPLATES_PERCENT and SPIKE_OPENERS_PERCENT must each add up to 100" > "/dev/stderr"
                exit 2
            }
            srand(7)
            print "id,template,opener" > csv
            for (i = 1; i <= n; i++) {
                id = sprintf("sp-%07d", i)
                draw = rand() * 100
                template = draw < tp[1] ? "loyalty" : draw < tp[1] + tp[2] ? "flash-sale" : "care-survey"
                draw = rand() * 100
                opener = draw < op[1] ? "apple" : draw < op[1] + op[2] ? "gmail" : "client"
                print id "," template "," opener > csv
                printf "*14\r\n%s%s%s%s%s%s%s%s", bulk("HSET"), bulk("ot:r:{" id "}"),
                    field("first_name", first[(i % 12) + 1]), field("last_name", last[(i % 8) + 1] " " i),
                    field("points", sprintf("%d", 100 + (i * 37) % 20000)), field("tier", tier[(i % 4) + 1]),
                    field("ticket_id", sprintf("%d", 40000 + i)), field("ticket_status", "resolved")
            }
        }' | rcli --pipe >"$WORK_DIR/redis-pipe.log" 2>&1 || die "writing the profiles failed (see $WORK_DIR/redis-pipe.log)"
    check_piped_profiles "$n" at-least
}

# Everything the plan needs; sets SPIKE_PLAN and SPIKE_FLASH_PATH.
spike_setup() {
    local n=$1
    spike_profiles "$n"
    log "signing tokens with opentime sign --csv"
    OPENTIME_SIGNING_KEYS="$SIGNING_KEY" "$OPENTIME_BIN" sign --csv "$WORK_DIR/recipients.csv" \
        --id-column id -o "$WORK_DIR/signed.csv" 2>"$WORK_DIR/sign.log" ||
        die "opentime sign failed: $(cat "$WORK_DIR/sign.log")"
    # The campaign's countdown ends in three days; its URL is signed once
    # and is the same in every email.
    local until
    until=$(date -u -d '+3 days' +%Y-%m-%dT23:59:59Z)
    SPIKE_FLASH_PATH=$(OPENTIME_SIGNING_KEYS="$SIGNING_KEY" "$OPENTIME_BIN" sign --url "/i/flash-sale.gif?until=$until") ||
        die "opentime sign --url failed"
    SPIKE_PLAN="$WORK_DIR/plan.txt"
    local lines
    lines=$(python3 "$LOADTEST_DIR/lib/spike_plan.py" "$WORK_DIR/signed.csv" "$SPIKE_FLASH_PATH" "$SPIKE_PLAN") ||
        die "writing the request plan failed"
    log "request plan: $lines requests for $n recipients ($SPIKE_PLAN)"
}

# Probe recipients outside the plan: one per template, fetched once to
# give nginx the bytes opentime serves. Sets SPIKE_PROBE_TOKEN_<template>.
spike_probe_token() {
    local id="sp-probe-$1"
    rcli hset "ot:r:{$id}" first_name Alice last_name "Martin 0" points 12480 tier gold \
        ticket_id 40000 ticket_status resolved >/dev/null
    OPENTIME_SIGNING_KEYS="$SIGNING_KEY" "$OPENTIME_BIN" sign --recipient "$id"
}

# Fills nginx's tree with what opentime answered for each template's probe
# recipient, and starts nginx: the same bytes, from static files, for the
# same URLs (nginx ignores the query); clicks and votes get a 302.
spike_start_nginx() {
    local www="$WORK_DIR/nginx/www/i" token
    mkdir -p "$www"
    for template in loyalty care-survey; do
        token=$(spike_probe_token "$template")
        curl -fsS -o "$www/$template.png" -H 'User-Agent: Mozilla/5.0' "$OT_URL/i/$template.png?t=$token" ||
            die "cannot fetch /i/$template.png from opentime"
    done
    curl -fsS -o "$www/flash-sale.gif" "$OT_URL$SPIKE_FLASH_PATH" || die "cannot fetch the countdown from opentime"
    start_nginx_tree /i/loyalty.png \
        'location /c/ { return 302 https://example.com/rewards?tier=gold; }' \
        'location /v/ { return 302 https://example.com/support/thanks?rating=5; }'
}

# Starts wrk replaying the plan against URL for SECONDS from OFFSET (lines
# per thread), CONNECTIONS connections, output in OUT, as a tracked child of
# this shell (call it directly, not in a subshell or with `&`, so that the
# EXIT trap can stop it). Sets SPIKE_WRK_PID. SPIKE_DELAY_MS in the
# environment slows it (soak.sh).
spike_wrk_start() {
    local url=$1 seconds=$2 out=$3 offset=$4 connections=${5:-$CONNECTIONS}
    timeout --kill-after=10 $((seconds + 120)) \
        wrk -t "$THREADS" -c "$connections" -d "${seconds}s" --latency --timeout 5s \
        -s "$LOADTEST_DIR/lib/spike.lua" "$url" -- "$SPIKE_PLAN" "$THREADS" "$offset" >"$out" 2>&1 &
    SPIKE_WRK_PID=$!
    track "$SPIKE_WRK_PID"
}

# Waits for the wrk SPIKE_WRK_PID writing OUT; sets RESULT to its OTRESULT line.
spike_wrk_wait() {
    local out=$1
    wait "$SPIKE_WRK_PID" || die "wrk failed: $(tail -5 "$out")"
    RESULT=$(grep '^OTRESULT ' "$out") || die "wrk printed no result: $(tail -5 "$out")"
}

# spike_wrk_start, then spike_wrk_wait.
spike_wrk() {
    spike_wrk_start "$@"
    spike_wrk_wait "$3"
}

# Socket errors and answers an email would show broken, in an OTRESULT line.
spike_bad() {
    echo $(($(field "$1" bad) + $(field "$1" connect_errors) + $(field "$1" read_errors) +
        $(field "$1" write_errors) + $(field "$1" timeouts)))
}
