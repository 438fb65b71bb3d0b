#!/usr/bin/env bash
# Compares the render benchmark of this checkout with the same benchmark at
# an earlier revision, side by side in one run.
#
#   loadtest/compare-render.sh BASE_REV [FILTER] [ROUNDS]
#
# Builds `benches/render.rs` at BASE_REV (in a scratch git worktree) and in
# this checkout, then runs the benchmarks whose id matches FILTER (a regex,
# default 'cold render$', the reference card) alternately, base then
# current, ROUNDS times (default 5). Alternating spreads the machine's drift
# over both sides. Prints each round's medians and, at the end, the median of
# the rounds for each side, their ratio, and the median of the rounds' own
# ratios (each round's current over the same round's base, which cancels
# drift that lasts a round). Benchmarks that exist on one side only are
# reported for that side.
set -euo pipefail

base_rev=${1:?usage: loadtest/compare-render.sh BASE_REV [FILTER] [ROUNDS]}
filter=${2:-'cold render$'}
rounds=${3:-5}

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
base_tree="$work/base"
cleanup() {
    git -C "$root" worktree remove --force "$base_tree" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

git -C "$root" worktree add --detach --quiet "$base_tree" "$base_rev"

# The bench executable of the tree in $1, built in its own target dir.
bench_binary() {
    (cd "$1" && cargo bench --bench render --no-run --message-format=json 2>/dev/null) |
        python3 -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") \
            and message["target"]["name"] == "render":
        print(message["executable"])
'
}

echo "building the benchmark at $base_rev and in this checkout..." >&2
# The base builds in a target dir of its own under ours, kept between runs.
base_binary=$(CARGO_TARGET_DIR="$root/target/compare-base" bench_binary "$base_tree")
current_binary=$(bench_binary "$root")

# Runs one side's benchmarks and prints "id<TAB>median in ns" per benchmark.
run_side() {
    local tree=$1 binary=$2 home=$3
    rm -rf "$home"
    (cd "$tree" && CRITERION_HOME="$home" "$binary" --bench "$filter" \
        --warm-up-time 1 --measurement-time 4 >/dev/null 2>&1)
    python3 - "$home" <<'PY'
import json, os, sys
home = sys.argv[1]
for group in sorted(os.listdir(home)):
    group_dir = os.path.join(home, group)
    if not os.path.isdir(group_dir) or group == "report":
        continue
    for bench in sorted(os.listdir(group_dir)):
        estimates = os.path.join(group_dir, bench, "new", "estimates.json")
        if os.path.exists(estimates):
            with open(estimates) as f:
                median = json.load(f)["median"]["point_estimate"]
            print(f"{group}/{bench}\t{median}")
PY
}

results="$work/results.tsv"
for round in $(seq 1 "$rounds"); do
    for side in base current; do
        if [ "$side" = base ]; then
            tree=$base_tree binary=$base_binary
        else
            tree=$root binary=$current_binary
        fi
        run_side "$tree" "$binary" "$work/criterion-$side" |
            while IFS=$'\t' read -r id median; do
                printf '%s\t%s\t%s\t%s\n' "$round" "$side" "$id" "$median" | tee -a "$results" |
                    awk -F'\t' '{ printf "round %s %-8s %-45s %10.1f µs\n", $1, $2, $3, $4 / 1000 }'
            done
    done
done

python3 - "$results" "$base_rev" <<'PY'
import statistics, sys
from collections import defaultdict
medians = defaultdict(lambda: defaultdict(list))
for line in open(sys.argv[1]):
    _round, side, bench, median = line.rstrip("\n").split("\t")
    medians[bench][side].append(float(median))
print()
print(f"| benchmark | {sys.argv[2]} | this checkout | ratio of medians | median of round ratios |")
print("|---|---|---|---|---|")
for bench in sorted(medians):
    sides = medians[bench]
    base = statistics.median(sides["base"]) if sides["base"] else None
    current = statistics.median(sides["current"]) if sides["current"] else None
    show = lambda value: f"{value / 1000:.1f} µs" if value is not None else "-"
    ratio = f"{current / base:.3f}" if base and current else "-"
    paired = [c / b for b, c in zip(sides["base"], sides["current"])]
    round_ratio = f"{statistics.median(paired):.3f}" if paired else "-"
    print(f"| {bench} | {show(base)} | {show(current)} | {ratio} | {round_ratio} |")
PY
