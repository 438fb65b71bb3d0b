"""Writes card-background.png: the background of the reference card.

A 1200x400 diagonal gradient from deep blue to teal with three soft, light
discs, so that resizing, blending and PNG compression see a realistic photo-
like image rather than a flat fill. Standard library only; the output is
deterministic, so re-running it reproduces the committed file.
"""

import struct
import zlib

WIDTH, HEIGHT = 1200, 400
START, END = (11, 61, 145), (20, 150, 160)
# Soft discs: center x, center y, radius, color, strength.
DISCS = [
    (250, 120, 220, (255, 255, 255), 0.18),
    (900, 330, 260, (255, 200, 120), 0.22),
    (1050, 60, 140, (180, 230, 255), 0.25),
]


def pixel(x, y):
    t = (x / WIDTH) * 0.7 + (y / HEIGHT) * 0.3
    color = [s + (e - s) * t for s, e in zip(START, END)]
    for cx, cy, radius, disc_color, strength in DISCS:
        d = ((x - cx) ** 2 + (y - cy) ** 2) ** 0.5 / radius
        if d < 1.0:
            weight = strength * (1.0 - d * d) ** 2
            color = [c + (dc - c) * weight for c, dc in zip(color, disc_color)]
    return bytes(min(255, max(0, int(round(c)))) for c in color)


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def main():
    rows = bytearray()
    for y in range(HEIGHT):
        rows.append(0)
        for x in range(WIDTH):
            rows += pixel(x, y)
    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    png += chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b"")
    with open("card-background.png", "wb") as out:
        out.write(png)


if __name__ == "__main__":
    main()
