#!/usr/bin/env bash
# Rebuilds NotoEmoji-Regular.ttf and NotoEmoji-Bold.ttf, the monochrome emoji
# fonts, from the npm registry's @fontsource/noto-emoji package.
#
# Google Fonts serves Noto Emoji only as web fonts cut into eleven slices by
# Unicode range (each slice keeps its emoji sequences whole). This script
# converts the weight-400 and weight-700 slices from WOFF2 to TrueType with
# fontTools and merges each weight's slices back into one font. The merged
# font applies the slices' substitutions in the order merged, and sequences
# that join people (families, professions) only form when slice 8 comes
# first and slice 3 (with the objects they hold) second; the order below
# forms them. Two flag sequences (rainbow and pirate flags) still fall apart
# into their parts; the color emoji font sets them. Needs npm and Python 3;
# installs fontTools and brotli with pip into a scratch venv.
set -euo pipefail

version=5.3.2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "@fontsource/noto-emoji@$version" >/dev/null
tar xzf fontsource-noto-emoji-$version.tgz
python3 -m venv venv
venv/bin/pip install --quiet fonttools==4.* brotli
for pair in 400:Regular 700:Bold; do
    weight=${pair%%:*}
    name=${pair##*:}
    slices=()
    for slice in 8 3 1 0 2 4 5 6 7 9 10; do
        woff2=package/files/noto-emoji-$slice-$weight-normal.woff2
        ttf=${woff2%.woff2}.ttf
        venv/bin/python - "$woff2" "$ttf" <<'PY'
import sys
from fontTools.ttLib import TTFont
font = TTFont(sys.argv[1])
font.flavor = None
font.save(sys.argv[2])
PY
        slices+=("$ttf")
    done
    venv/bin/python -m fontTools.merge --output-file="$here/NotoEmoji-$name.ttf" "${slices[@]}"
done
echo "wrote $here/NotoEmoji-Regular.ttf and $here/NotoEmoji-Bold.ttf"
