"""Pillow's side of the peer comparison (loadtest/peers.sh).

Renders opentime's reference card (benches/support/cards.rs, `card_in`),
flat card (`flat_card`) or reference timer (`sale_timer`) COUNT times with
Pillow, the way a Pillow user writes an image server, and prints one JSON
line with the time of each render and encoding:

    python pillow_peer.py card 200 /tmp/pillow-card.png
    python pillow_peer.py flat 200 /tmp/pillow-flat.png
    python pillow_peer.py timer 20 /tmp/pillow-timer.gif

The fonts are loaded once per size and the background is decoded and
fitted to the card once, before the clock starts, as a server keeps them;
every card then starts from a copy of the fitted background. A flat card
starts from a new white image. Each timer
draws its static part (background, boxes, labels, separators) once and
copies it for each of its 60 frames, which get their digits, are mapped to
one palette built from the first frame, and are written with Pillow's GIF
writer. Two unmeasured renders warm up first. The first measured image is
written to OUTFILE and its size is the result's "bytes".
"""

import io
import json
import math
import os
import sys
import time
from pathlib import Path

import PIL
from PIL import Image, ImageDraw, ImageFont, ImageOps

REPO = Path(__file__).resolve().parents[2]
FONTS = REPO / "fonts"
BACKGROUND = REPO / "assets" / "images" / "card-background.png"

PNG_COMPRESS_LEVEL = int(os.environ.get("PILLOW_PNG_COMPRESS_LEVEL", "6"))
WARM_UP_RENDERS = 2
TIMER_START_SECONDS = 3 * 86_400
TIMER_FRAMES = 60
LINE_HEIGHT = 1.25
ELLIPSIS = "…"

# The reference card: 600x200, two text frames (x, y, width, height).
CARD_SIZE = (600, 200)
HEADLINE_FRAME = (24, 30, 552, 70)
SUBLINE_FRAME = (24, 110, 552, 60)
WHITE = (255, 255, 255, 255)
SUBLINE_COLOR = (255, 255, 255, 220)

# The flat card: white, with dark gray text in the same two frames.
FLAT_BACKGROUND = (255, 255, 255)
FLAT_INK = (31, 41, 55, 255)

# The reference timer: 600x150, a countdown in (30, 15, 540, 120).
TIMER_SIZE = (600, 150)
TIMER_BACKGROUND = (20, 24, 64)
COUNTDOWN_FRAME = (30, 15, 540, 120)
COUNTDOWN_GAP = 24
BOX_FILL = (60, 70, 160)
BOX_RADIUS = 10
LABEL_COLOR = (200, 210, 255, 255)
UNITS = [("days", 86_400), ("hours", 3_600), ("minutes", 60), ("seconds", 1)]


def main():
    case, count, output = parse_args(sys.argv[1:])
    renderer = RENDERERS[case]()
    signature = b"GIF89a" if case == "timer" else b"\x89PNG\r\n\x1a\n"

    for number in range(count, count + WARM_UP_RENDERS):
        renderer.render(number)
    times_ms = []
    sample = b""
    for number in range(count):
        started = time.perf_counter()
        image = renderer.render(number)
        times_ms.append((time.perf_counter() - started) * 1000)
        if not image.startswith(signature):
            sys.exit(f"{case} number {number} is not a {case} image ({len(image)} bytes)")
        if number == 0:
            sample = image
    Path(output).write_bytes(sample)
    result = {
        "renderer": "pillow",
        "version": PIL.__version__,
        "case": case,
        "png_compress_level": PNG_COMPRESS_LEVEL,
        "times_ms": times_ms,
        "bytes": len(sample),
    }
    print(json.dumps(result))


def parse_args(args):
    usage = f"usage: pillow_peer.py {'|'.join(RENDERERS)} COUNT OUTFILE"
    if len(args) != 3 or args[0] not in RENDERERS:
        sys.exit(usage)
    try:
        count = int(args[1])
    except ValueError:
        sys.exit(f"the count must be a whole number, not {args[1]!r}\n{usage}")
    if count <= 0:
        sys.exit(f"the count must be positive\n{usage}")
    return args[0], count, args[2]


class CardRenderer:
    """The reference card: fonts and the fitted background kept across renders."""

    def __init__(self):
        self.headline_font = ImageFont.truetype(str(FONTS / "NotoSans-Bold.ttf"), 36)
        self.subline_font = ImageFont.truetype(str(FONTS / "NotoSans-Regular.ttf"), 20)
        with Image.open(BACKGROUND) as source:
            # Scaled to cover the card and cropped around the center, with
            # the bilinear filter that opentime resizes with.
            self.background = ImageOps.fit(
                source.convert("RGB"), CARD_SIZE, Image.Resampling.BILINEAR
            )

    def render(self, number):
        canvas = self.background.copy()
        # An RGBA drawing mode blends the ink's alpha into the RGB canvas.
        draw = ImageDraw.Draw(canvas, "RGBA")
        draw_text(
            draw,
            f"Thank you, Алёна {number}!",
            self.headline_font,
            WHITE,
            HEADLINE_FRAME,
            vertical_align="bottom",
        )
        draw_text(
            draw,
            f"Your renewal #{number} went through. See you next year.",
            self.subline_font,
            SUBLINE_COLOR,
            SUBLINE_FRAME,
            vertical_align="top",
        )
        return png_bytes(canvas)


class FlatCardRenderer:
    """The flat card: fonts kept across renders."""

    def __init__(self):
        self.heading_font = ImageFont.truetype(str(FONTS / "NotoSans-Bold.ttf"), 32)
        self.line_font = ImageFont.truetype(str(FONTS / "NotoSans-Regular.ttf"), 22)

    def render(self, number):
        canvas = Image.new("RGB", CARD_SIZE, FLAT_BACKGROUND)
        draw = ImageDraw.Draw(canvas, "RGBA")
        draw_text(
            draw,
            "Your order is on its way",
            self.heading_font,
            FLAT_INK,
            HEADLINE_FRAME,
            vertical_align="bottom",
        )
        draw_text(
            draw,
            f"Thank you, Алёна {number}!",
            self.line_font,
            FLAT_INK,
            SUBLINE_FRAME,
            vertical_align="top",
        )
        return png_bytes(canvas)


def png_bytes(canvas):
    out = io.BytesIO()
    # No optimize pass, and zlib at Pillow's default level 6 unless
    # PILLOW_PNG_COMPRESS_LEVEL says otherwise (1 is its fastest).
    canvas.save(out, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return out.getvalue()


class TimerRenderer:
    """The reference timer: fonts kept across renders."""

    def __init__(self):
        self.digit_font = ImageFont.truetype(str(FONTS / "NotoSans-Bold.ttf"), 48)
        self.label_font = ImageFont.truetype(str(FONTS / "NotoSans-Regular.ttf"), 16)
        self.cells = countdown_cells()

    def render(self, number):
        remaining = TIMER_START_SECONDS - number
        base = Image.new("RGB", TIMER_SIZE, TIMER_BACKGROUND)
        draw = ImageDraw.Draw(base, "RGBA")
        for index, (box, label_frame) in enumerate(self.cells):
            x, y, width, height = box
            draw.rounded_rectangle(
                (x, y, x + width - 1, y + height - 1), radius=BOX_RADIUS, fill=BOX_FILL
            )
            draw_text(draw, UNITS[index][0], self.label_font, LABEL_COLOR, label_frame)
            if index + 1 < len(self.cells):
                between = (x + width, y, COUNTDOWN_GAP, height)
                draw_text(draw, ":", self.digit_font, WHITE, between, wrap=False)

        frames = []
        palette = None
        for second in range(TIMER_FRAMES):
            frame = base.copy()
            draw = ImageDraw.Draw(frame, "RGBA")
            for (box, _), digits in zip(self.cells, unit_numbers(remaining - second)):
                draw_text(draw, digits, self.digit_font, WHITE, box, wrap=False)
            if palette is None:
                # Every frame has the same colors (flat fills, white digits
                # and their antialiasing), so one palette, from the first
                # frame by Pillow's fast octree, serves all of them.
                palette = frame.quantize(256, method=Image.Quantize.FASTOCTREE)
            frames.append(frame.quantize(palette=palette, dither=Image.Dither.NONE))
        out = io.BytesIO()
        frames[0].save(
            out,
            format="GIF",
            save_all=True,
            append_images=frames[1:],
            duration=1000,
            loop=0,
            # The frames already share one palette: Pillow's optimize pass
            # (on by default for GIF) would only search each frame for
            # unused colors again.
            optimize=False,
        )
        return out.getvalue()


def countdown_cells():
    """Each unit's box and label frame, laid out as opentime's countdown."""
    x0, y0, width, height = COUNTDOWN_FRAME
    cell_width = (width - COUNTDOWN_GAP * (len(UNITS) - 1)) / len(UNITS)
    box_height = 48 * 1.4
    label_height = 16 * 1.4
    top = y0 + (height - box_height - label_height) / 2
    cells = []
    for index in range(len(UNITS)):
        x = x0 + index * (cell_width + COUNTDOWN_GAP)
        cells.append(
            (
                (x, top, cell_width, box_height),
                (x, top + box_height, cell_width, label_height),
            )
        )
    return cells


def unit_numbers(seconds):
    """Days, hours, minutes and seconds left, two digits each."""
    rest = max(seconds, 0)
    numbers = []
    for _, unit_seconds in UNITS:
        numbers.append(f"{rest // unit_seconds:02d}")
        rest %= unit_seconds
    return numbers


def draw_text(draw, text, font, fill, frame, vertical_align="middle", wrap=True, max_lines=2):
    """Draws `text` centered in `frame`, wrapped at spaces, as many lines as
    the frame's height and `max_lines` allow, the last cut with an ellipsis
    if needed. Lines are LINE_HEIGHT times the font size apart, with half
    the leading above the ascent and half below the descent (as in CSS)."""
    x, y, width, height = frame
    size = font.size
    line_height = LINE_HEIGHT * size
    allowed = max(1, min(max_lines if wrap else 1, math.floor(height / line_height + 1e-3)))
    lines = wrap_lines(text, font, width) if wrap else [text]
    if len(lines) > allowed:
        lines = lines[:allowed]
        lines[-1] = with_ellipsis(lines[-1], font, width)
    block_height = len(lines) * line_height
    top = y + {"top": 0, "middle": (height - block_height) / 2, "bottom": height - block_height}[
        vertical_align
    ]
    ascent, descent = font.getmetrics()
    half_leading = (line_height - (ascent + descent)) / 2
    for index, line in enumerate(lines):
        baseline = round(top + index * line_height + half_leading + ascent)
        line_x = x + (width - font.getlength(line)) / 2
        draw.text((line_x, baseline), line, font=font, fill=fill, anchor="ls")


def wrap_lines(text, font, width):
    """Greedy line breaking at spaces."""
    lines = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and font.getlength(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    return lines


def with_ellipsis(line, font, width):
    while line and font.getlength(line + ELLIPSIS) > width:
        line = line[:-1]
    return line.rstrip() + ELLIPSIS


RENDERERS = {"card": CardRenderer, "flat": FlatCardRenderer, "timer": TimerRenderer}


if __name__ == "__main__":
    main()
