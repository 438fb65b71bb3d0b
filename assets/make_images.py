"""Draws the demo templates' background images.

Run from this folder with `python3 make_images.py`; it needs nothing beyond
Python's standard library. The images are committed, so this only matters
when they are redesigned.
"""
import math
import struct
import zlib


def write_png(path, width, height, pixel):
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            rows.extend(pixel(x / width, y / height))
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    with open(path, "wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                  + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b""))


def mix(a, b, t):
    t = max(0.0, min(1.0, t))
    return tuple(round(a[i] + (b[i] - a[i]) * t) for i in range(3))


def glow(x, y, cx, cy, radius, aspect=3.0):
    d = math.hypot((x - cx) * aspect, y - cy) / radius
    return max(0.0, 1.0 - d) ** 2


def backdrop(start, end, light, spots):
    def pixel(x, y):
        color = mix(start, end, x * 0.8 + y * 0.2)
        for cx, cy, r in spots:
            color = mix(color, light, glow(x, y, cx, cy, r) * 0.35)
        return color
    return pixel


DESIGNS = {
    "renewal-bg.png": backdrop((11, 61, 145), (23, 118, 190), (120, 200, 255),
                               [(0.85, 0.2, 0.9), (0.1, 0.9, 0.7)]),
    "reactivation-bg.png": backdrop((236, 94, 72), (244, 166, 84), (255, 226, 170),
                                    [(0.8, 0.8, 0.8), (0.2, 0.1, 0.6)]),
    "support-bg.png": backdrop((241, 244, 249), (226, 233, 243), (255, 255, 255),
                               [(0.9, 0.1, 0.9)]),
    "loyalty-bg.png": backdrop((39, 22, 66), (88, 38, 110), (236, 190, 90),
                               [(0.95, 0.05, 0.7), (0.05, 1.0, 0.5)]),
}

for name, pixel in DESIGNS.items():
    write_png(f"templates/images/{name}", 1200, 400, pixel)


def avatar(x, y):
    background = mix((70, 130, 180), (40, 90, 150), y)
    head = math.hypot(x - 0.5, y - 0.38) < 0.18
    body = math.hypot((x - 0.5) * 1.1, y - 1.0) < 0.42
    return (236, 242, 250) if head or body else background


write_png("templates/images/agent-avatar.png", 192, 192, avatar)
