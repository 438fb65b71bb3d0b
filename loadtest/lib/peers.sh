# The three renderers of the peer comparison (opentime's peer_render
# example, Pillow, takumi), installed and run one process at a time; sourced
# by peers.sh and flat-card.sh after lib/common.sh, never run. See
# loadtest/peers/README.md.
#
# The caller sets R (rounds, for the log lines) and PEER_PIN (the command
# that pins a peer to a CPU, e.g. (taskset --cpu-list 1), or empty), and
# calls setup_workdir before setup_peers.

PILLOW_PNG_COMPRESS_LEVEL=${PILLOW_PNG_COMPRESS_LEVEL:-6}
PEERS_DIR=$LOADTEST_DIR/peers
VENV=$REPO_DIR/target/peers/venv
RENDERERS=(opentime pillow takumi)

[[ $PILLOW_PNG_COMPRESS_LEVEL =~ ^[0-9]$ ]] || die "PILLOW_PNG_COMPRESS_LEVEL must be 0 to 9"

# Builds opentime's peer and installs the other two; sets OPENTIME_PEER.
setup_peers() {
    ensure_commands python3:python3 node:nodejs npm:npm taskset:util-linux
    command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) first"
    node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' ||
        die "takumi needs Node 18 or later; this is $(node --version)"

    log "building the peer example (cargo build --release --example peer_render; minutes the first time)"
    (cd "$REPO_DIR" && cargo build --release --example peer_render --locked) >"$WORK_DIR/cargo.log" 2>&1 ||
        die "cargo build --release --example peer_render failed: $(tail -20 "$WORK_DIR/cargo.log")"
    # A relative CARGO_TARGET_DIR is relative to the repository, where cargo ran.
    local target_dir=${CARGO_TARGET_DIR:-target}
    [[ $target_dir == /* ]] || target_dir="$REPO_DIR/$target_dir"
    OPENTIME_PEER=$target_dir/release/examples/peer_render
    [[ -x $OPENTIME_PEER ]] || die "no binary at $OPENTIME_PEER"

    setup_pillow
    setup_takumi
    mkdir -p "$WORK_DIR/runs"
}

# The venv under target/ with the Pillow of requirements.txt; made again
# whenever requirements.txt changes.
setup_pillow() {
    local installed=$VENV/opentime-requirements.txt
    [[ -x $VENV/bin/python ]] && cmp -s "$PEERS_DIR/requirements.txt" "$installed" && return 0
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        local sudo=()
        [[ $(id -u) -ne 0 ]] && sudo=(sudo)
        log "installing python3-venv"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
            install -y --no-install-recommends python3-venv >"$WORK_DIR/apt.log" 2>&1 ||
            die "apt-get install python3-venv failed (see $WORK_DIR/apt.log)"
    fi
    log "making $VENV with $(tr '\n' ' ' <"$PEERS_DIR/requirements.txt" | grep -o '[a-z]*==[^ ]*')"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$PEERS_DIR/requirements.txt" \
        >"$WORK_DIR/pip.log" 2>&1 || die "pip install failed: $(tail -5 "$WORK_DIR/pip.log")"
    cp "$PEERS_DIR/requirements.txt" "$installed"
}

# loadtest/peers/node_modules as package-lock.json says; installed again
# whenever the lock file changes. The packages run no install scripts.
setup_takumi() {
    local installed=$PEERS_DIR/node_modules/opentime-package-lock.json
    cmp -s "$PEERS_DIR/package-lock.json" "$installed" && return 0
    log "installing @takumi-rs/core into $PEERS_DIR/node_modules (npm ci)"
    (cd "$PEERS_DIR" && npm ci --ignore-scripts --no-audit --no-fund) >"$WORK_DIR/npm.log" 2>&1 ||
        die "npm ci failed: $(tail -5 "$WORK_DIR/npm.log")"
    cp "$PEERS_DIR/package-lock.json" "$installed"
}

# The three renderers' versions and runtimes, for the reports.
peer_versions() {
    local pillow python takumi
    pillow=$("$VENV/bin/python" -c 'import PIL; print(PIL.__version__)')
    python=$("$VENV/bin/python" -c 'import platform; print(platform.python_version())')
    takumi=$(node -p 'require(process.argv[1]).version' "$PEERS_DIR/node_modules/@takumi-rs/core/package.json")
    echo "opentime: examples/peer_render.rs, release build, $(rustc --version | cut -d' ' -f1-2). Pillow: $pillow on Python $python, PNG compress_level $PILLOW_PNG_COMPRESS_LEVEL. takumi: @takumi-rs/core $takumi on Node $(node --version | tr -d v)."
}

# Runs RENDERER on CASE for COUNT images in round ROUND; its JSON line goes to
# $WORK_DIR/runs/ROUND-RENDERER-CASE.json and its first image beside it.
run_peer() {
    local round=$1 renderer=$2 case=$3 count=$4
    local command extension=png
    [[ $case == timer ]] && extension=gif
    case $renderer in
        opentime) command=("$OPENTIME_PEER") ;;
        pillow) command=(env PILLOW_PNG_COMPRESS_LEVEL="$PILLOW_PNG_COMPRESS_LEVEL" "$VENV/bin/python" "$PEERS_DIR/pillow_peer.py") ;;
        takumi) command=(node "$PEERS_DIR/takumi_peer.mjs") ;;
    esac
    local base="$WORK_DIR/runs/$round-$renderer-$case"
    log "round $round/$R: $renderer, $count ${case}s"
    "${PEER_PIN[@]}" "${command[@]}" "$case" "$count" "$base.$extension" >"$base.json" 2>"$WORK_DIR/$round-$renderer-$case.log" ||
        die "$renderer failed on the $case in round $round: $(tail -5 "$WORK_DIR/$round-$renderer-$case.log")"
}
