#!/usr/bin/env bash
# Runs every cargo fuzz target for SECONDS each (default 30), from its
# seeds in fuzz/seeds/ and the corpus it has grown in fuzz/corpus/.
# A crash stops the run; the input is kept in fuzz/artifacts/<target>/.
#
#   fuzz/run.sh               # 30 s per target, as CI runs it
#   fuzz/run.sh 3600          # an hour per target
#   TARGETS="token form" fuzz/run.sh 600
#
# Needs cargo-fuzz (cargo install cargo-fuzz --locked). cargo fuzz passes
# rustc unstable flags (-Z), so it builds on the nightly toolchain where
# rustup has one, and otherwise on the current toolchain with
# RUSTC_BOOTSTRAP=1, which lets a stable rustc take them. SANITIZER=none
# builds without AddressSanitizer, faster, for a quick check. PROFILE=dev
# builds without optimizations, in about half the time of the default
# build (optimized, one codegen unit per crate, debug assertions on). CI's
# ten-second runs check that each target builds and survives its seeds and
# a short search, which is not worth minutes of optimizing; long runs want
# the default.
set -euo pipefail

SECONDS_EACH=${1:-30}
TARGETS=${TARGETS:-url_query token form ndjson template}
SANITIZER=${SANITIZER:-address}
PROFILE=${PROFILE:-release}
case $PROFILE in
    release) profile=() ;;
    dev) profile=(--dev) ;;
    *) echo "PROFILE must be release or dev" >&2; exit 2 ;;
esac
[[ $SECONDS_EACH =~ ^[0-9]+$ && $SECONDS_EACH -gt 0 ]] || { echo "seconds must be a positive integer" >&2; exit 2; }
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 2; }
if rustup run nightly rustc --version >/dev/null 2>&1; then
    toolchain=(+nightly)
else
    echo "no nightly toolchain: building on $(rustc --version) with RUSTC_BOOTSTRAP=1" >&2
    toolchain=()
    export RUSTC_BOOTSTRAP=1
fi

# The whole log only when the build fails: a target that no longer compiles
# must say why, not just that cargo-fuzz gave up.
build_log=$(mktemp)
if ! cargo "${toolchain[@]}" fuzz build "${profile[@]}" --sanitizer "$SANITIZER" >"$build_log" 2>&1; then
    grep -v "^ *Compiling " "$build_log" | head -60 >&2
    echo "the fuzz targets do not build (above)" >&2
    exit 1
fi
tail -1 "$build_log"
for target in $TARGETS; do
    mkdir -p "fuzz/corpus/$target"
    echo "== $target: $SECONDS_EACH s"
    cargo "${toolchain[@]}" fuzz run "${profile[@]}" --sanitizer "$SANITIZER" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 2>&1 |
        grep -E "^(#|==|stat::number_of_executed_units|stat::peak_rss_mb|Done)|ERROR|panicked|SUMMARY" | tail -6
done
