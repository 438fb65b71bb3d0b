#!/usr/bin/env bash
# Startup RSS and time, and the RSS after one name of each script, of a
# release server in demo mode with the fonts of FONTS_DIR: the cost of the
# bundled fonts (docs/benchmarks.md, "Fonts for every script").
#
#   loadtest/fonts.sh FONTS_DIR LABEL   # after cargo build --release
set -euo pipefail
bin=${OPENTIME_BIN:-${CARGO_TARGET_DIR:-target}/release/opentime}
fonts=$1 label=$2
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cd "$(dirname "$0")/.."
start=$(date +%s.%N)
OPENTIME_LISTEN=127.0.0.1:$port OPENTIME_FONTS_DIR=$fonts OPENTIME_ADMIN_TOKENS=measure-admin-token-0123456789abcdef OPENTIME_LOG=warn $bin serve >"${TMPDIR:-/tmp}/opentime-fonts-$label.log" 2>&1 &
pid=$!
until curl -fs -o /dev/null http://127.0.0.1:$port/readyz; do sleep 0.02; done
ready=$(date +%s.%N)
sleep 1
rss() { awk '/VmRSS/{print $2}' /proc/$pid/status; }
echo "$label: ready after $(python3 -c "print(round(($ready-$start)*1000))") ms; VmRSS at startup $(rss) KiB"
for name in "Zoë" "நன்றி முருகன்" "লক্ষ্মী" "ಲಕ್ಷ್ಮಿ" "శ్రీనివాస్" "കൃഷ്ണൻ" "પ્રિયા" "ਹਰਪ੍ਰੀਤ" "ଲକ୍ଷ୍ମୀ" "නිමල්" "ស្រីនាង" "ສົມພອນ" "မြင့်မြင့်" "ნინო" "Անի" "አበበ" "ބަނޑާރަ" "བཀྲ་ཤིས" "王芳"; do
  body=$(python3 -c 'import json,sys; print(json.dumps({"template":"loyalty","state":{"first_name":sys.argv[1],"points":"1200"}}))' "$name")
  ms=$(curl -fsS -u x:measure-admin-token-0123456789abcdef -H 'content-type: application/json' -d "$body" http://127.0.0.1:$port/preview/render | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["variant"], d["bytes"], d["render_ms"], "ms")')
  echo "  $name: $ms"
done
echo "$label: VmRSS after one name of each script $(rss) KiB; VmHWM $(awk '/VmHWM/{print $2}' /proc/$pid/status) KiB"
curl -fsS http://127.0.0.1:$port/metrics | grep missing_glyph || true
kill $pid; wait $pid || true
