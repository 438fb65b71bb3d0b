"""Writes agent-avatar.png: the support card's stand-in for an agent's photo.

A person's silhouette (a head and the shoulders) on a blue gradient, 384
pixels a side so that the 104-pixel avatar of `support.json` stays sharp at
2x and beyond, and antialiased by sampling each pixel 4x4 times, so that the
silhouette's edges are as smooth as the circle the template clips it to.
Standard library only; the output is deterministic, so re-running it
reproduces the committed file.
"""

import struct
import zlib

SIZE = 384
TOP, BOTTOM = (70, 130, 180), (40, 90, 150)
FIGURE = (236, 242, 250)
# In pixels of a 192-pixel design, scaled to SIZE below.
HEAD = (96, 73, 35)  # center x, center y, radius
BODY = (96, 205, 76, 92)  # an ellipse: center x, center y, radius x, radius y
SAMPLES = 4


def in_figure(x, y):
    """Whether the point (in SIZE pixels) lies inside the silhouette."""
    x, y = x * 192 / SIZE, y * 192 / SIZE
    hx, hy, hr = HEAD
    if (x - hx) ** 2 + (y - hy) ** 2 <= hr * hr:
        return True
    bx, by, rx, ry = BODY
    return ((x - bx) / rx) ** 2 + ((y - by) / ry) ** 2 <= 1.0


def row(y):
    t = y / (SIZE - 1)
    ground = [a + (b - a) * t for a, b in zip(TOP, BOTTOM)]
    offsets = [(i + 0.5) / SAMPLES for i in range(SAMPLES)]
    out = bytearray([0])  # filter type: none
    for x in range(SIZE):
        hits = sum(in_figure(x + dx, y + dy) for dx in offsets for dy in offsets)
        cover = hits / (SAMPLES * SAMPLES)
        out += bytes(int(round(g + (f - g) * cover)) for g, f in zip(ground, FIGURE))
    return bytes(out)


def chunk(kind, data):
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def main():
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 2, 0, 0, 0)
    pixels = b"".join(row(y) for y in range(SIZE))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    png += chunk(b"IDAT", zlib.compress(pixels, 9)) + chunk(b"IEND", b"")
    with open("agent-avatar.png", "wb") as out:
        out.write(png)


if __name__ == "__main__":
    main()
