"""Asks opentime for one recipient's image every INTERVAL_MS and logs what came back.

    python3 probe.py BASE_URL PATH REFERENCE_FILE INTERVAL_MS OPENTIME_PID OUT

Each line of OUT is `EPOCH_MS KIND RSS_KIB`, written when an answer arrives:
KIND is `personalized` (the exact bytes of REFERENCE_FILE, which is what
opentime served this recipient while Redis was up), `default` (another 200
image: the default variant, or a fallback), or `bad:...` (anything an email
would show broken: another status, a body that is not an image, a socket
error, no answer within 5 s). RSS_KIB is opentime's resident memory at that
moment. Runs until it is sent SIGTERM.
"""

import http.client
import signal
import sys
import time
import urllib.parse


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    base, path, reference_file, interval_ms, pid, out = sys.argv[1:7]
    with open(reference_file, "rb") as file:
        reference = file.read()
    interval = int(interval_ms) / 1000
    address = urllib.parse.urlsplit(base)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    connection = None
    with open(out, "w", buffering=1) as log:
        while True:
            started = time.monotonic()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
                connection.request("GET", path, headers={"User-Agent": "Mozilla/5.0 (iPhone) Mobile/15E148"})
                answer = connection.getresponse()
                body = answer.read()
                kind_header = answer.getheader("Content-Type", "")
                if answer.status != 200 or not kind_header.startswith("image/"):
                    kind = f"bad:{answer.status}:{kind_header}"
                elif body == reference:
                    kind = "personalized"
                else:
                    kind = "default"
            except (OSError, http.client.HTTPException) as error:
                kind = f"bad:{type(error).__name__}"
                connection = None
            log.write(f"{int(time.time() * 1000)} {kind} {rss_kib(pid)}\n")
            time.sleep(max(0.0, interval - (time.monotonic() - started)))


if __name__ == "__main__":
    main()
