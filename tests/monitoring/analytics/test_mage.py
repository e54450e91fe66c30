"""MAGE: the vectorised algorithm equals a plain transcription of the published one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.analytics.mage import mage
from monitoring.analytics.resample import GlucoseGrid


def _ma(seg: np.ndarray, w: int) -> np.ndarray:
    n = len(seg)
    out = np.full(n, np.nan)
    for k in range(w - 1, n):
        win = seg[k - w + 1 : k + 1]
        win = win[np.isfinite(win)]
        out[k] = win.mean() if win.size else np.nan
    out[:w] = out[w - 1]
    return out


def _mage_plain(row: np.ndarray, short: int = 5, long: int = 32) -> float:
    """Fernandes et al. 2022 as written: one segment at a time, one crossing at a time."""
    ok = np.isfinite(row)
    if not ok.any():
        return float("nan")
    first, last = np.flatnonzero(ok)[[0, -1]]
    r = row[first : last + 1]
    segs, start, i = [], 0, 0
    while i < len(r):
        if np.isnan(r[i]):
            j = i
            while j < len(r) and np.isnan(r[j]):
                j += 1
            if j - i > 36:
                segs.append(r[start:i])
                start = j
            i = j
        else:
            i += 1
    segs.append(r[start:])
    vals, durs = [], []
    for seg in segs:
        n = len(seg)
        if n < 7 or n < long:
            continue
        d = _ma(seg, short) - _ma(seg, long)
        cross = [(0, d[0] > 0)]
        for k in range(1, n):
            finite = all(np.isfinite(x) for x in (seg[k], seg[k - 1], d[k], d[k - 1]))
            if finite and (d[k] * d[k - 1] < 0 or d[k] * d[cross[-1][0]] < 0):
                cross.append((k, d[k] > 0))
        cross.append((n - 1, d[n - 1] > 0))
        mm, ix = [], []
        for k in range(len(cross) - 1):
            s1 = cross[0][0] if k == 0 else ix[-1]
            w = seg[s1 : cross[k + 1][0] + 1]
            a = int(np.nanargmax(w) if cross[k][1] else np.nanargmin(w))
            mm.append(w[a])
            ix.append(s1 + a)
        m = np.array(mm)
        sd = np.nanstd(seg, ddof=1)
        if not sd > 0:
            continue
        plus, minus = [], []
        j = pj = 0
        while j < len(m):
            lo = pj + int(np.argmin(m[pj : j + 1]))
            if m[j] - m[lo] >= sd:
                for k in range(j, len(m)):
                    if m[k] > m[j]:
                        j = k
                    if m[k] - m[j] < -sd or k == len(m) - 1:
                        plus.append(m[j] - m[lo])
                        pj = j = k
                        break
            else:
                j += 1
        j = pj = 0
        while j < len(m):
            hi = pj + int(np.argmax(m[pj : j + 1]))
            if m[j] - m[hi] <= -sd:
                for k in range(j, len(m)):
                    if m[k] < m[j]:
                        j = k
                    if m[k] - m[j] > sd or k == len(m) - 1:
                        minus.append(m[j] - m[hi])
                        pj, j = j, k
                        break
            else:
                j += 1
        for h in (plus, minus):
            if h:
                vals.append(abs(float(np.mean(h))))
                durs.append(n - 1)
    if not vals:
        return float("nan")
    dw = np.array(durs, dtype=float)
    return float(np.sum(np.array(vals) * (dw / dw.sum())))


def _grid(rows: list[np.ndarray]) -> GlucoseGrid:
    width = max(len(r) for r in rows)
    v = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        v[i, : len(r)] = r
    return GlucoseGrid(
        values=v, origin_s=np.zeros(len(rows), np.int64), n_days=np.ones(len(rows), np.int64)
    )


@st.composite
def traces(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(min_value=20, max_value=220))
    steps = draw(st.lists(st.integers(-12, 12), min_size=n, max_size=n))
    x = 120.0 + np.cumsum(steps).astype(float)
    x = np.round(x, draw(st.sampled_from([0, 1])))
    if draw(st.booleans()):  # a gap that is kept inside the segment, or one that splits it
        a = draw(st.integers(0, n - 1))
        x[a : a + draw(st.integers(1, 50))] = np.nan
    if draw(st.booleans()):  # a flat stretch: exact zero differences of the moving averages
        a = draw(st.integers(0, n - 1))
        x[a : a + draw(st.integers(5, 60))] = 150.0
    return x


@settings(max_examples=60, deadline=None)
@given(st.lists(traces(), min_size=1, max_size=4))
def test_vectorised_mage_equals_the_plain_algorithm(rows: list[np.ndarray]) -> None:
    got = mage(_grid(rows)).mage_mg_dl
    want = np.array([_mage_plain(r) for r in rows])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


def test_flat_trace_has_no_excursion() -> None:
    r = mage(_grid([np.full(100, 120.0)]))
    assert np.isnan(r.mage_mg_dl[0])
    assert r.n_segments[0] == 1
    assert r.n_excursions[0] == 0


def test_trace_shorter_than_the_long_window_has_no_segment() -> None:
    r = mage(_grid([120.0 + 40 * np.sin(np.arange(31) / 3.0)]))
    assert np.isnan(r.mage_mg_dl[0])
    assert r.n_segments[0] == 0


def test_regular_oscillation_mage_is_its_peak_to_nadir_amplitude() -> None:
    t = np.arange(288 * 3)
    x = 150.0 + 50.0 * np.sin(2 * np.pi * t / 96.0)  # 100..200 mg/dL, 8-hour period
    # every full excursion is 100 mg/dL; the half excursions at both ends pull the mean down
    r = mage(_grid([x])).mage_mg_dl[0]
    assert 90.0 < r <= 100.0
    assert r == pytest.approx(_mage_plain(x), rel=1e-12)
