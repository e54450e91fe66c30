"""The AGP chart: each patient's modal day as SVG (no dependency) or PNG.

The chart follows the AGP report layout (Johnson et al. 2019, doi:10.1089/dia.2019.0034):
median line, 25th-75th percentile band, 5th-95th percentile band, target range lines, time of
day on the x axis. The curves are the computed percentiles themselves (no smoothing), so the
picture shows exactly the numbers of :func:`monitoring.analytics.agp.agp`; times of day without
data leave gaps in the bands. A panel whose data is insufficient says so in red.

The same list of drawing primitives is rendered by :func:`render_svg` (text) and
:func:`render_png` (NumPy rasteriser in ``_raster``), so both outputs agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import numpy as np
from numpy.typing import NDArray

from monitoring.analytics._raster import Canvas, Color, encode_png

FloatArray = NDArray[np.float64]

_W = 900
_PANEL_H = 330
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 70, 58, 42
_BAND_OUTER: Color = (167, 190, 231)
_BAND_INNER: Color = (50, 93, 170)
_MEDIAN: Color = (20, 20, 20)
_TARGET: Color = (72, 186, 60)
_GRID: Color = (225, 225, 225)
_TEXT: Color = (40, 40, 40)
_WARN: Color = (200, 30, 30)


@dataclass(frozen=True, slots=True)
class AgpPanel:
    """One patient's modal day, values already in the display unit.

    ``values[k, s]`` is percentile ``percentiles[k]`` at time of day ``s * 5 min``; the chart
    needs the 5, 25, 50, 75 and 95th percentiles.
    """

    title: str
    subtitle: str
    percentiles: tuple[float, ...]
    values: FloatArray
    unit: str
    target_low: float
    target_high: float
    y_max: float
    y_ticks: tuple[float, ...]
    warning: str = ""


@dataclass(frozen=True, slots=True)
class _Prim:
    kind: str
    points: tuple[tuple[float, float], ...] = ()
    color: Color = (0, 0, 0)
    opacity: float = 1.0
    width: float = 1.0
    dash: float = 0.0
    text: str = ""
    size: int = 12
    anchor: str = "start"


def _runs(finite: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``[start, stop)`` of the runs of true values."""
    edges = np.diff(np.concatenate(([0], finite.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _panel_prims(panel: AgpPanel, top: float) -> list[_Prim]:
    x0, x1 = _LEFT, _W - _RIGHT
    y0, y1 = top + _TOP, top + _PANEL_H - _BOTTOM
    n_slots = panel.values.shape[1]

    def px(slot: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = x0 + (x1 - x0) * slot / n_slots
        return out

    def py(v: NDArray[np.float64]) -> NDArray[np.float64]:
        c = np.clip(v, 0.0, panel.y_max)
        out: NDArray[np.float64] = y1 - (y1 - y0) * c / panel.y_max
        return out

    prims: list[_Prim] = [
        _Prim("text", ((x0, top + 22),), _TEXT, text=panel.title, size=16),
        _Prim("text", ((x0, top + 42),), _TEXT, text=panel.subtitle, size=12),
    ]
    if panel.warning:
        prims.append(
            _Prim("text", ((x1, top + 22),), _WARN, text=panel.warning, size=12, anchor="end")
        )
    for tick in panel.y_ticks:
        yy = float(py(np.array([tick]))[0])
        prims.append(_Prim("line", ((x0, yy), (x1, yy)), _GRID, width=1))
        prims.append(
            _Prim("text", ((x0 - 8, yy + 4),), _TEXT, text=f"{tick:g}", size=11, anchor="end")
        )
    for hour in range(0, 25, 3):
        xx = x0 + (x1 - x0) * hour / 24
        prims.append(_Prim("line", ((xx, y0), (xx, y1)), _GRID, width=1))
        prims.append(
            _Prim("text", ((xx, y1 + 18),), _TEXT, text=f"{hour:02d}:00", size=11, anchor="middle")
        )
    prims.append(_Prim("text", ((x0 - 8, y0 - 8),), _TEXT, text=panel.unit, size=11, anchor="end"))
    idx = {p: k for k, p in enumerate(panel.percentiles)}
    v = panel.values
    slots = np.arange(n_slots, dtype=np.float64)
    for lo_p, hi_p, color, alpha in (
        (5.0, 95.0, _BAND_OUTER, 0.9),
        (25.0, 75.0, _BAND_INNER, 0.75),
    ):
        if lo_p not in idx or hi_p not in idx:
            continue
        lo, hi = v[idx[lo_p]], v[idx[hi_p]]
        ok = np.isfinite(lo) & np.isfinite(hi)
        for a, b in _runs(ok):
            xs = px(slots[a:b])
            top_pts = list(zip(xs.tolist(), py(hi[a:b]).tolist(), strict=True))
            bot_pts = list(zip(xs.tolist(), py(lo[a:b]).tolist(), strict=True))
            if b - a == 1:  # a lone time of day: a thin bar
                xx = float(xs[0])
                top_pts = [(xx - 1, top_pts[0][1]), (xx + 1, top_pts[0][1])]
                bot_pts = [(xx - 1, bot_pts[0][1]), (xx + 1, bot_pts[0][1])]
            prims.append(_Prim("poly", tuple(top_pts + bot_pts[::-1]), color, opacity=alpha))
    for target in (panel.target_low, panel.target_high):
        yy = float(py(np.array([target]))[0])
        prims.append(_Prim("line", ((x0, yy), (x1, yy)), _TARGET, width=2))
    if 50.0 in idx:
        med = v[idx[50.0]]
        for a, b in _runs(np.isfinite(med)):
            pts = tuple(zip(px(slots[a:b]).tolist(), py(med[a:b]).tolist(), strict=True))
            if len(pts) > 1:
                prims.append(_Prim("line", pts, _MEDIAN, width=2))
    finite_any = np.flatnonzero(np.isfinite(v).all(axis=0))
    if finite_any.size:
        last = int(finite_any[-1])
        labels = [
            (float(py(np.array([v[idx[p], last]]))[0]), p)
            for p in (95.0, 75.0, 50.0, 25.0, 5.0)
            if p in idx
        ]
        labels.sort()
        placed: list[float] = []
        for yy, p in labels:  # top to bottom, at least 12 px apart
            y_lab = max(yy, placed[-1] + 12.0) if placed else yy
            placed.append(y_lab)
            prims.append(_Prim("text", ((x1 + 6, y_lab + 4),), _TEXT, text=f"{p:g}%", size=11))
    prims.append(_Prim("rect", ((x0, y0), (x1, y1)), (120, 120, 120), width=1))
    return prims


def _layout(panels: list[AgpPanel]) -> tuple[int, int, list[_Prim]]:
    prims: list[_Prim] = []
    for i, panel in enumerate(panels):
        prims += _panel_prims(panel, i * _PANEL_H)
    return _W, max(len(panels), 1) * _PANEL_H, prims


def _rgb(c: Color) -> str:
    return f"rgb({c[0]},{c[1]},{c[2]})"


def render_svg(panels: list[AgpPanel]) -> str:
    """The AGP chart of ``panels`` (stacked vertically) as an SVG document."""
    width, height, prims = _layout(panels)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for p in prims:
        if p.kind == "poly":
            pts = " ".join(f"{x:.2f},{y:.2f}" for x, y in p.points)
            out.append(
                f'<polygon points="{pts}" fill="{_rgb(p.color)}" '
                f'fill-opacity="{p.opacity:g}" stroke="none"/>'
            )
        elif p.kind == "line":
            pts = " ".join(f"{x:.2f},{y:.2f}" for x, y in p.points)
            dash = f' stroke-dasharray="{p.dash:g}"' if p.dash else ""
            out.append(
                f'<polyline points="{pts}" fill="none" stroke="{_rgb(p.color)}" '
                f'stroke-width="{p.width:g}" stroke-opacity="{p.opacity:g}"{dash}/>'
            )
        elif p.kind == "rect":
            (xa, ya), (xb, yb) = p.points
            out.append(
                f'<rect x="{xa:.2f}" y="{ya:.2f}" width="{xb - xa:.2f}" '
                f'height="{yb - ya:.2f}" fill="none" stroke="{_rgb(p.color)}"/>'
            )
        elif p.kind == "text":
            ((x, y),) = p.points
            out.append(
                f'<text x="{x:.2f}" y="{y:.2f}" font-size="{p.size}" '
                f'text-anchor="{p.anchor}" fill="{_rgb(p.color)}">{escape(p.text)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def render_png(panels: list[AgpPanel]) -> bytes:
    """The AGP chart of ``panels`` as a PNG image (same layout as :func:`render_svg`)."""
    width, height, prims = _layout(panels)
    canvas = Canvas(width, height)
    for p in prims:
        if p.kind == "poly":
            canvas.fill_polygon(p.points, p.color, p.opacity)
        elif p.kind == "line":
            canvas.line(p.points, p.color, p.width, p.opacity, p.dash)
        elif p.kind == "rect":
            (xa, ya), (xb, yb) = p.points
            canvas.line(((xa, ya), (xb, ya), (xb, yb), (xa, yb), (xa, ya)), p.color, 1.0)
        elif p.kind == "text":
            ((x, y),) = p.points
            canvas.text(x, y, p.text, p.color, scale=2 if p.size >= 14 else 1, anchor=p.anchor)
    return encode_png(canvas.pixels)
