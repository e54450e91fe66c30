"""A tiny raster back end for charts: polygons, lines and bitmap text into a PNG.

The AGP chart is a handful of filled bands, a few lines and some labels. Writing a PNG for it
needs no plotting library: NumPy fills an RGB array (scanline polygon fill, stamped thick
lines, a 5x7 bitmap font) and ``zlib`` plus ``struct`` write the file (PNG specification,
ISO/IEC 15948:2004: signature, IHDR, IDAT with filter byte 0 per row, IEND; CRC-32 per chunk).
Pure functions over arrays; no I/O.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

Color = tuple[int, int, int]

# 5x7 glyphs, 7 rows of 5 columns each ('#' = ink). Upper case only: labels are upper-cased
# before drawing.
_GLYPHS: dict[str, tuple[str, ...]] = {
    " ": (".....", ".....", ".....", ".....", ".....", ".....", "....."),
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".###."),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "I": (".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "J": ("..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "Q": (".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "V": ("#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "W": ("#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    "Y": ("#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."),
    "Z": ("#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"),
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    ":": (".....", "..#..", "..#..", ".....", "..#..", "..#..", "....."),
    ".": (".....", ".....", ".....", ".....", ".....", ".##..", ".##.."),
    ",": (".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."),
    "%": ("##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"),
    "/": (".....", "....#", "...#.", "..#..", ".#...", "#....", "....."),
    "-": (".....", ".....", ".....", "#####", ".....", ".....", "....."),
    "+": (".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."),
    "=": (".....", ".....", "#####", ".....", "#####", ".....", "....."),
    "<": ("...#.", "..#..", ".#...", "#....", ".#...", "..#..", "...#."),
    ">": (".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#..."),
    "(": ("...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."),
    ")": (".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."),
    "*": (".....", "..#..", "#.#.#", ".###.", "#.#.#", "..#..", "....."),
    "_": (".....", ".....", ".....", ".....", ".....", ".....", "#####"),
    "?": (".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."),
}
_GLYPH_W, _GLYPH_H = 5, 7
_FONT = {
    ch: np.array([[c == "#" for c in row] for row in bits], dtype=np.bool_)
    for ch, bits in _GLYPHS.items()
}


class Canvas:
    """An RGB image being drawn on (origin top left, x right, y down, pixels)."""

    def __init__(self, width: int, height: int, background: Color = (255, 255, 255)) -> None:
        self.width = width
        self.height = height
        self.pixels: NDArray[np.uint8] = np.empty((height, width, 3), dtype=np.uint8)
        self.pixels[:] = background

    def _blend(self, mask: NDArray[np.bool_], color: Color, opacity: float) -> None:
        if not mask.any():
            return
        px = self.pixels[mask].astype(np.float64)
        px = (1.0 - opacity) * px + opacity * np.asarray(color, dtype=np.float64)
        self.pixels[mask] = np.clip(np.rint(px), 0, 255).astype(np.uint8)

    def fill_polygon(
        self, points: Sequence[tuple[float, float]], color: Color, opacity: float = 1.0
    ) -> None:
        """Fill a simple polygon (even-odd rule, pixel centres)."""
        if len(points) < 3:
            return
        pts = np.asarray(points, dtype=np.float64)
        x0, y0 = pts[:, 0], pts[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        ys = np.arange(self.height) + 0.5
        xs = np.arange(self.width) + 0.5
        mask = np.zeros((self.height, self.width), dtype=np.bool_)
        lo = int(max(np.floor(pts[:, 1].min()), 0))
        hi = int(min(np.ceil(pts[:, 1].max()), self.height))
        for row in range(lo, hi):
            y = ys[row]
            cross = (y0 <= y) != (y1 <= y)
            if not cross.any():
                continue
            xa = x0[cross] + (y - y0[cross]) * (x1[cross] - x0[cross]) / (y1[cross] - y0[cross])
            xa.sort()
            inside = np.searchsorted(xa, xs) % 2 == 1
            mask[row] = inside
        self._blend(mask, color, opacity)

    def line(
        self,
        points: Sequence[tuple[float, float]],
        color: Color,
        width: float = 1.0,
        opacity: float = 1.0,
        dash: float = 0.0,
    ) -> None:
        """Stroke a polyline with square pens of ``width`` pixels (optionally dashed)."""
        if len(points) < 2:
            return
        pts = np.asarray(points, dtype=np.float64)
        mask = np.zeros((self.height, self.width), dtype=np.bool_)
        half = max(width / 2.0, 0.5)
        run = 0.0
        for (xa, ya), (xb, yb) in itertools.pairwise(pts):
            seg = float(np.hypot(xb - xa, yb - ya))
            n = max(int(np.ceil(seg * 2)), 1)
            t = np.linspace(0.0, 1.0, n + 1)
            px = xa + t * (xb - xa)
            py = ya + t * (yb - ya)
            if dash > 0:
                along = run + t * seg
                on = (np.floor(along / dash) % 2) == 0
                px, py = px[on], py[on]
            run += seg
            for dx in np.arange(-half + 0.5, half, 1.0):
                for dy in np.arange(-half + 0.5, half, 1.0):
                    cx = np.floor(px + dx).astype(np.int64)
                    cy = np.floor(py + dy).astype(np.int64)
                    ok = (cx >= 0) & (cx < self.width) & (cy >= 0) & (cy < self.height)
                    mask[cy[ok], cx[ok]] = True
        self._blend(mask, color, opacity)

    def rect(
        self, x: float, y: float, w: float, h: float, color: Color, opacity: float = 1.0
    ) -> None:
        """Fill an axis-aligned rectangle."""
        x0, y0 = max(round(x), 0), max(round(y), 0)
        x1 = min(round(x + w), self.width)
        y1 = min(round(y + h), self.height)
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros((self.height, self.width), dtype=np.bool_)
        mask[y0:y1, x0:x1] = True
        self._blend(mask, color, opacity)

    def text(
        self, x: float, y: float, text: str, color: Color, scale: int = 2, anchor: str = "start"
    ) -> None:
        """Draw ``text`` with its baseline at ``y``; ``anchor`` start, middle or end."""
        s = text.upper()
        adv = (_GLYPH_W + 1) * scale
        total = len(s) * adv - scale
        if anchor == "middle":
            x -= total / 2
        elif anchor == "end":
            x -= total
        top = round(y) - _GLYPH_H * scale
        left = round(x)
        for i, ch in enumerate(s):
            glyph = _FONT.get(ch, _FONT["?"])
            big = np.kron(glyph, np.ones((scale, scale), dtype=np.bool_)).astype(np.bool_)
            gx = left + i * adv
            y0, x0 = max(top, 0), max(gx, 0)
            y1 = min(top + big.shape[0], self.height)
            x1 = min(gx + big.shape[1], self.width)
            if y1 <= y0 or x1 <= x0:
                continue
            sub = big[y0 - top : y1 - top, x0 - gx : x1 - gx]
            region = self.pixels[y0:y1, x0:x1]
            region[sub] = color


def encode_png(pixels: NDArray[np.uint8]) -> bytes:
    """Encode an ``(height, width, 3)`` RGB array as a PNG file (8-bit, no interlace)."""
    height, width, _ = pixels.shape
    raw = np.zeros((height, 1 + width * 3), dtype=np.uint8)
    raw[:, 1:] = pixels.reshape(height, width * 3)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
        + chunk(b"IEND", b"")
    )
