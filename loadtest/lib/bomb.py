"""The two halves of loadtest/remote-bomb.sh: an image server of
decompression bombs, and the attack on opentime with a probe beside it.

    python3 bomb.py serve PORT
    python3 bomb.py attack OT_URL IMAGE_ORIGIN CONCURRENCY SECONDS OUT

`serve` answers `/photo.png` with a small real photo and any other path
ending in `.png` with the same bomb: a valid PNG of 4096 x 4096 RGBA pixels
of one color, about 65 KB compressed and 64 MiB decoded. `/count` answers
how many images it has served. It runs until it is sent SIGTERM.

`attack` runs CONCURRENCY connections that each open
`/i/bomb.png?photo=IMAGE_ORIGIN/bomb/<n>.png` with a new `n` every time
(so opentime's cache never absorbs them) for SECONDS, and beside them a
probe that opens `/i/bomb.png?photo=IMAGE_ORIGIN/photo.png` every 50 ms.
It writes one line to OUT: `attack=<opens> attack_bad=<non-200 or
errors> probe=<opens> probe_bad=<...> p50_ms=.. p99_ms=.. max_ms=..`.
"""

import http.client
import http.server
import itertools
import signal
import struct
import sys
import threading
import time
import urllib.parse
import zlib


def png(width, height, row):
    """A PNG of RGBA rows, each `row` (4 * width bytes), filter 0."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    compressor = zlib.compressobj(9)
    line = b"\x00" + row
    data = b"".join(compressor.compress(line) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def serve(port):
    bomb = png(4096, 4096, b"\x00\x80\xff\xff" * 4096)
    photo = png(64, 64, bytes(range(256)))
    served = itertools.count()
    counted = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.path == "/count":
                body, kind = str(counted[0]).encode(), "text/plain"
            elif self.path == "/photo.png":
                body, kind = photo, "image/png"
            elif self.path.endswith(".png"):
                body, kind = bomb, "image/png"
            else:
                self.send_error(404)
                return
            if kind == "image/png":
                counted[0] = next(served) + 1
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
    server.daemon_threads = True
    print(f"bomb of {len(bomb)} bytes declaring 4096x4096 RGBA", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


def opener(base):
    address = urllib.parse.urlsplit(base)
    state = {"connection": None}

    def open_path(path):
        """The status of one GET, 0 on a socket error or no answer in 10 s."""
        try:
            if state["connection"] is None:
                state["connection"] = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
            state["connection"].request("GET", path)
            answer = state["connection"].getresponse()
            answer.read()
            kind = answer.getheader("Content-Type", "")
            return answer.status if kind.startswith("image/") else -answer.status
        except (OSError, http.client.HTTPException):
            state["connection"] = None
            return 0

    return open_path


def attack(base, origin, concurrency, seconds, out):
    deadline = time.monotonic() + float(seconds)
    numbers = itertools.count()
    lock = threading.Lock()
    attack_counts = {"opens": 0, "bad": 0}
    probe_latencies, probe_bad = [], [0]

    def attacker():
        open_path = opener(base)
        while time.monotonic() < deadline:
            photo = urllib.parse.quote(f"{origin}/bomb/{next(numbers)}.png", safe="")
            status = open_path(f"/i/bomb.png?photo={photo}")
            with lock:
                attack_counts["opens"] += 1
                attack_counts["bad"] += status != 200

    def probe():
        open_path = opener(base)
        photo = urllib.parse.quote(f"{origin}/photo.png", safe="")
        while time.monotonic() < deadline:
            started = time.monotonic()
            status = open_path(f"/i/bomb.png?photo={photo}")
            elapsed = time.monotonic() - started
            probe_latencies.append(elapsed * 1000)
            probe_bad[0] += status != 200
            time.sleep(max(0.0, 0.05 - elapsed))

    threads = [threading.Thread(target=attacker) for _ in range(int(concurrency))]
    threads.append(threading.Thread(target=probe))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = sorted(probe_latencies) or [0.0]

    def percentile(share):
        return latencies[min(len(latencies) - 1, int(share * len(latencies)))]

    with open(out, "w") as file:
        file.write(
            f"attack={attack_counts['opens']} attack_bad={attack_counts['bad']} "
            f"probe={len(probe_latencies)} probe_bad={probe_bad[0]} "
            f"p50_ms={percentile(0.5):.1f} p99_ms={percentile(0.99):.1f} max_ms={latencies[-1]:.1f}\n"
        )


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(*sys.argv[2:3])
    elif sys.argv[1] == "attack":
        attack(*sys.argv[2:7])
    else:
        sys.exit(__doc__)
