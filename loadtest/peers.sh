#!/usr/bin/env bash
# opentime's renderer beside two peers, Pillow and takumi, drawing the same
# reference card, the same flat card and the same 60-frame countdown timer,
# in the same run. See loadtest/peers/README.md.
#
#   loadtest/peers.sh                         # N=200 of each card, TIMER_N=20 timers, R=3 rounds
#   loadtest/peers.sh 500                     # 500 of each card
#   CASES=flat loadtest/peers.sh              # the flat card alone
#   N=20 TIMER_N=3 R=1 loadtest/peers.sh      # a quick check that it works
#
# Each round runs opentime, Pillow and takumi one after the other on each
# case of CASES in turn, each in a fresh process that renders N cards
# (TIMER_N timers) after two unmeasured ones, so that the machine's drift
# falls on all three alike. Every process is pinned to one CPU (PIN_CPU,
# "none" to let takumi's thread pool use them all).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$LOADTEST_DIR/lib/peers.sh"

N=${1:-${N:-200}}          # cards of each kind per renderer and round
TIMER_N=${TIMER_N:-20}     # timers (60 frames each) per renderer and round
R=${R:-3}                  # rounds of (opentime, pillow, takumi)
CASES=${CASES:-card flat timer} # what to draw: card (reference), flat, timer
OUT_DIR=${OUT_DIR:-$LOADTEST_DIR/results}
SAMPLES_DIR=${SAMPLES_DIR:-$REPO_DIR/target/peers/samples} # the images, kept out of git
PIN_CPU=${PIN_CPU:-$(($(nproc) - 1))}

for v in N TIMER_N R; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, got '${!v}'"
done
read -ra CASE_LIST <<<"$CASES"
((${#CASE_LIST[@]} > 0)) || die "CASES names no case"
for case in "${CASE_LIST[@]}"; do
    [[ $case =~ ^(card|flat|timer)$ ]] || die "CASES holds '$case'; the cases are card, flat and timer"
done
[[ $PIN_CPU == none || $PIN_CPU =~ ^[0-9]+$ ]] || die "PIN_CPU must be a CPU number or 'none', got '$PIN_CPU'"

setup_workdir
setup_peers
PEER_PIN=()
[[ $PIN_CPU != none ]] && PEER_PIN=(taskset --cpu-list "$PIN_CPU")

load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$R"); do
    for case in "${CASE_LIST[@]}"; do
        count=$N
        [[ $case == timer ]] && count=$TIMER_N
        for renderer in "${RENDERERS[@]}"; do run_peer "$round" "$renderer" "$case" "$count"; done
    done
done
load_at_end=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p "$OUT_DIR"
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
report="$OUT_DIR/peers-$stamp.md"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1 || true)
pinned="pinned to CPU $PIN_CPU"
[[ $PIN_CPU == none ]] && pinned="not pinned (takumi's thread pool may use every core)"

# Checks every result and image, keeps the last round's images in OUT_DIR,
# and writes the report. Any failed check stops the run.
{
    echo "# Renderers side by side: opentime, Pillow, takumi, $stamp"
    echo
    echo "commit $(checkout_label); $(nproc) cores ($cpu); load average $load_at_start at the start, $load_at_end at the end."
    peer_versions
    echo "Cases: $CASES. $N of each card (600x200 PNG: the reference card, the flat card) and $TIMER_N timers (600x150 GIF, 60 frames) per renderer and round, in $R round(s) of the three one after the other, two unmeasured renders first in each process; every image a new text. Times are one render with its encoding, in process, one at a time; every process $pinned."
    echo "Median and p90 are over every image of every round; \"/ opentime\" is the renderer's median over opentime's (above 1, opentime is faster); bytes are those of image number 0; the mean difference is the mean absolute difference per channel, 0 to 255, of that image (a timer's first frame) from opentime's."
    echo
    "$VENV/bin/python" - "$WORK_DIR/runs" "$R" "$N" "$TIMER_N" "$SAMPLES_DIR" "peers-$stamp" "$CASES" "${RENDERERS[@]}" <<'PY'
import json, statistics, sys
from pathlib import Path
from PIL import Image, ImageChops, ImageStat

runs, rounds, cards, timers, out_dir, prefix, cases = sys.argv[1:8]
runs, out_dir = Path(runs), Path(out_dir)
rounds = int(rounds)
counts = {case: int(timers if case == "timer" else cards) for case in cases.split()}
renderers = sys.argv[8:]
shapes = {"card": ("PNG", (600, 200), 1), "flat": ("PNG", (600, 200), 1), "timer": ("GIF", (600, 150), 60)}
extensions = {"card": "png", "flat": "png", "timer": "gif"}

def fail(message):
    sys.exit(f"peers.sh: {message}")

def check_image(path, case, renderer, expected_bytes):
    """Decodes the sample fully: format, size, frames, frame delays."""
    image_format, size, frames = shapes[case]
    if path.stat().st_size != expected_bytes or expected_bytes == 0:
        fail(f"{renderer}'s {case} {path} has {path.stat().st_size} bytes, it reported {expected_bytes}")
    try:
        with Image.open(path) as image:
            if image.format != image_format or image.size != size:
                fail(f"{renderer}'s {case} is a {image.format} of {image.size}, not a {image_format} of {size}")
            count = getattr(image, "n_frames", 1)
            if count != frames:
                fail(f"{renderer}'s {case} has {count} frames, not {frames}")
            for index in range(count):
                image.seek(index)
                image.load()
                if case == "timer" and image.info.get("duration") != 1000:
                    fail(f"{renderer}'s timer frame {index} lasts {image.info.get('duration')} ms, not 1000")
            if case == "timer" and image.info.get("loop") != 0:
                fail(f"{renderer}'s timer does not loop forever (loop={image.info.get('loop')})")
            image.seek(0)
            first = image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as error:
        fail(f"{renderer}'s {case} {path} does not decode: {error}")
    if first.getextrema() in (((0, 0),) * 3, ((255, 255),) * 3):
        fail(f"{renderer}'s {case} is one flat color")
    return first

results = {}
for round_number in range(1, rounds + 1):
    for case in counts:
        for renderer in renderers:
            base = runs / f"{round_number}-{renderer}-{case}"
            lines = base.with_suffix(".json").read_text().strip().splitlines()
            try:
                result = json.loads(lines[-1])
            except (IndexError, json.JSONDecodeError):
                fail(f"{renderer} printed no result for the {case} in round {round_number}: {lines[-3:]}")
            times = result.get("times_ms", [])
            if result.get("renderer") != renderer or result.get("case") != case:
                fail(f"{base}.json is {result.get('renderer')}/{result.get('case')}, not {renderer}/{case}")
            if len(times) != counts[case] or not all(isinstance(t, (int, float)) and t > 0 for t in times):
                fail(f"{renderer} gave {len(times)} valid times for {counts[case]} {case}s in round {round_number}")
            sample = Path(f"{base}.{extensions[case]}")
            first = check_image(sample, case, renderer, result.get("bytes", 0))
            results[round_number, renderer, case] = (result, sample, first)

def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

def mean_difference(a, b):
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3

print("| case | renderer | version | median ms | p90 ms | / opentime | bytes | mean difference from opentime |")
print("|---|---|---|---:|---:|---:|---:|---:|")
medians = {}
for case in counts:
    for renderer in renderers:
        times = [t for r in range(1, rounds + 1) for t in results[r, renderer, case][0]["times_ms"]]
        medians[renderer, case] = statistics.median(times)
    for renderer in renderers:
        result, sample, first = results[rounds, renderer, case]
        times = [t for r in range(1, rounds + 1) for t in results[r, renderer, case][0]["times_ms"]]
        ratio = medians[renderer, case] / medians["opentime", case]
        difference = mean_difference(results[rounds, "opentime", case][2], first)
        print(f"| {case} | {renderer} | {result.get('version', '?')} | {medians[renderer, case]:.2f} "
              f"| {percentile(times, 0.9):.2f} | {ratio:.2f} | {result['bytes']} | {difference:.2f} |")
print()
print("| round | case | " + " | ".join(f"{r} median ms" for r in renderers) + " | "
      + " | ".join(f"{r} / opentime" for r in renderers[1:]) + " |")
print("|---:|---|" + "---:|" * (2 * len(renderers) - 1))
for case in counts:
    for round_number in range(1, rounds + 1):
        round_medians = [statistics.median(results[round_number, r, case][0]["times_ms"]) for r in renderers]
        ratios = [m / round_medians[0] for m in round_medians[1:]]
        print(f"| {round_number} | {case} | " + " | ".join(f"{m:.2f}" for m in round_medians) + " | "
              + " | ".join(f"{x:.2f}" for x in ratios) + " |")

out_dir.mkdir(parents=True, exist_ok=True)
kept = []
for case in counts:
    for renderer in renderers:
        sample = results[rounds, renderer, case][1]
        target = out_dir / f"{prefix}-{renderer}-{case}.{extensions[case]}"
        target.write_bytes(sample.read_bytes())
        kept.append(target.name)
print()
print("The sample images (image number 0 of each case) were written to `SAMPLES_DIR` (`target/peers/samples/` by default): " + ", ".join(f"`{name}`" for name in kept) + ".")
PY
} >"$report.partial" || {
    rm -f "$report.partial"
    die "the results did not check out (see above)"
}
mv "$report.partial" "$report"
print_report "$report"
for renderer in "${RENDERERS[@]}"; do
    samples=()
    for case in "${CASE_LIST[@]}"; do
        extension=png
        [[ $case == timer ]] && extension=gif
        samples+=("$SAMPLES_DIR/peers-$stamp-$renderer-$case.$extension")
    done
    log "sample images: ${samples[*]}"
done
