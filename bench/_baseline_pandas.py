"""The benchmark's baseline: a straightforward pandas implementation, one patient at a time.

It computes the same metric set as ``monitoring.analytics.cgm_metric_set`` the way one would
write it first: a DataFrame per patient, ``groupby`` for days and times of day, ``rolling`` for
moving averages, ``np.interp`` per patient for the grid, and plain Python loops where the
published algorithms are sequential (MAGE's crossings and excursions, event runs). The
benchmark checks on a subset that both give the same numbers before timing them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SLOT_S = 300
OFFSET_S = 8 * 3600


def _clean(t: np.ndarray, g: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame({"t": t, "gl": g})
    df = df[np.isfinite(df.gl) & (df.gl >= 9.0078) & (df.gl <= 999.8658)]
    return df.groupby("t", as_index=False)["gl"].mean().sort_values("t")


def _grid(df: pd.DataFrame) -> tuple[np.ndarray, int]:
    t = df.t.to_numpy()
    g = df.gl.to_numpy()
    local = t + OFFSET_S
    d0 = local[0] // 86400
    d1 = local[-1] // 86400
    origin = d0 * 86400 - OFFSET_S
    n = int(d1 - d0 + 1) * 288
    slots = origin + SLOT_S * np.arange(n)
    out = np.full(n, np.nan)
    for i in range(len(t) - 1):  # interpolate pair by pair, skipping gaps > 45 min
        if t[i + 1] - t[i] <= 2700:
            sel = (slots >= t[i]) & (slots < t[i + 1])
            out[sel] = g[i] + (g[i + 1] - g[i]) * ((slots[sel] - t[i]) / (t[i + 1] - t[i]))
        else:
            out[slots == t[i]] = g[i]
    out[slots == t[-1]] = g[-1]
    return out, int(d1 - d0 + 1)


def _runs(b: np.ndarray) -> list[tuple[int, int, bool]]:
    out, start = [], 0
    for i in range(1, len(b) + 1):
        if i == len(b) or b[i] != b[start]:
            out.append((start, i, bool(b[start])))
            start = i
    return out


def _events(grid: np.ndarray, below: bool, thr: float, start_n: int) -> list[np.ndarray]:
    events = []
    ok = np.isfinite(grid)
    for a, b, val in _runs(ok):
        if not val:
            continue
        seg = grid[a:b]
        lv = seg < thr * (1 - 1e-9) if below else seg > thr * (1 + 1e-9)
        runs = _runs(lv)
        ends = [s for s, e, v in runs if not v and e - s >= 3] + [len(seg)]
        used = set()
        for s, e, v in runs:
            if v and e - s >= start_n:
                end = min(x for x in ends if x > s)
                if end not in used:
                    used.add(end)
                    events.append(seg[s:end])
    return events


def _mage(grid: np.ndarray) -> float:
    ok = np.isfinite(grid)
    if not ok.any():
        return np.nan
    idx = np.flatnonzero(ok)
    r = grid[idx[0] : idx[-1] + 1]
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
        if n < 32:
            continue
        s = pd.Series(seg)
        ms = s.rolling(5, min_periods=1).mean().to_numpy().copy()
        ml = s.rolling(32, min_periods=1).mean().to_numpy().copy()
        ms[:5] = ms[4]
        ml[:32] = ml[31]
        d = ms - ml
        cross = [(0, d[0] > 0)]
        for k in range(1, n):
            if (
                np.isfinite(seg[k])
                and np.isfinite(seg[k - 1])
                and np.isfinite(d[k])
                and np.isfinite(d[k - 1])
                and (d[k] * d[k - 1] < 0 or d[k] * d[cross[-1][0]] < 0)
            ):
                cross.append((k, d[k] > 0))
        cross.append((n - 1, d[n - 1] > 0))
        m, ix = [], []
        for k in range(len(cross) - 1):
            s1 = cross[0][0] if k == 0 else ix[-1]
            w = seg[s1 : cross[k + 1][0] + 1]
            a = int(np.nanargmax(w) if cross[k][1] else np.nanargmin(w))
            m.append(w[a])
            ix.append(s1 + a)
        sd = np.nanstd(seg, ddof=1)
        if not sd > 0:
            continue
        for sign in (1, -1):
            h, j, pj = [], 0, 0
            while j < len(m):
                pick = np.argmin if sign == 1 else np.argmax
                lo = pj + int(pick(m[pj : j + 1]))
                if sign * (m[j] - m[lo]) >= sd:
                    for k in range(j, len(m)):
                        if sign * (m[k] - m[j]) > 0:
                            j = k
                        if sign * (m[k] - m[j]) < -sd or k == len(m) - 1:
                            h.append(m[j] - m[lo])
                            pj, j = (k, k) if sign == 1 else (j, k)
                            break
                else:
                    j += 1
            if h:
                vals.append(abs(float(np.mean(h))))
                durs.append(n - 1)
    if not vals:
        return np.nan
    dw = np.array(durs, dtype=float)
    return float(np.sum(np.array(vals) * (dw / dw.sum())))


def metrics_one(t: np.ndarray, g: np.ndarray) -> dict[str, float]:
    """The metric set of one patient (glucose in mg/dL, times in UTC seconds)."""
    df = _clean(t, g)
    x = df.gl
    out: dict[str, float] = {}
    out["n_readings"] = float(len(x))
    out["mean_mg_dl"] = x.mean()
    out["sd_mg_dl"] = x.std(ddof=1)
    out["cv_percent"] = 100 * out["sd_mg_dl"] / out["mean_mg_dl"]
    out["gmi_percent"] = 3.31 + 0.02392 * out["mean_mg_dl"]
    out["ea1c_percent"] = (out["mean_mg_dl"] + 46.7) / 28.7
    out["percent_below_54_mg_dl"] = 100 * (x < 54).mean()
    out["percent_below_70_mg_dl"] = 100 * (x < 70).mean()
    out["percent_70_180_mg_dl"] = 100 * ((x >= 70) & (x <= 180)).mean()
    out["percent_above_180_mg_dl"] = 100 * (x > 180).mean()
    out["percent_above_250_mg_dl"] = 100 * (x > 250).mean()
    f = np.log(x) ** 1.084 - 5.381
    out["lbgi"] = (22.77 * f.where(f < 0, 0) ** 2).mean()
    out["hbgi"] = (22.77 * f.where(f > 0, 0) ** 2).mean()
    day = (df.t + OFFSET_S) // 86400
    per_day = f.groupby(day).agg(["min", "max"])
    out["adrr"] = (
        22.77 * per_day["min"].clip(upper=0) ** 2 + 22.77 * per_day["max"].clip(lower=0) ** 2
    ).mean()
    out["j_index"] = 0.001 * (out["mean_mg_dl"] + out["sd_mg_dl"]) ** 2
    vlow = 100 * (x < 54).mean()
    low = 100 * ((x >= 54) & (x < 70)).mean()
    high = 100 * ((x > 180) & (x <= 250)).mean()
    vhigh = 100 * (x > 250).mean()
    out["gri"] = min(3.0 * vlow + 2.4 * low + 1.6 * vhigh + 0.8 * high, 100.0)
    step = np.diff(df.t.to_numpy()) / 60.0
    dt0 = float(np.round(np.median(step)))
    expected = np.round(np.round((df.t.iloc[-1] - df.t.iloc[0]) / 60.0) / dt0) + 1
    gaps = step[np.round(step) > dt0]
    missing = np.round((gaps.sum() - len(gaps) * dt0) / dt0)
    out["active_percent"] = 100 * (expected - missing) / expected
    grid, _ = _grid(df)
    d = grid[288:] - grid[:-288]
    out["modd_mg_dl"] = float(np.nanmean(np.abs(d)))
    for h in (1, 24):
        d = grid[12 * h :] - grid[: -12 * h]
        out[f"conga_{h}h_mg_dl"] = float(np.nanstd(d, ddof=1))
    out["mage_mg_dl"] = _mage(grid)
    for name, below, thr, start_n in (
        ("hypo_level1", True, 70, 3),
        ("hypo_level2", True, 54, 3),
        ("hypo_extended", True, 70, 25),
        ("hyper_level1", False, 180, 3),
        ("hyper_level2", False, 250, 3),
    ):
        ev = _events(grid, below, thr, start_n)
        out[f"{name}_events"] = float(len(ev))
        out[f"{name}_mean_duration_min"] = (
            float(np.mean([5 * len(e) for e in ev])) if ev else (np.nan)
        )
    tod = pd.Series(grid).groupby(np.arange(len(grid)) % 288)
    agp = tod.quantile([0.05, 0.25, 0.5, 0.75, 0.95])
    out["agp_median_0000_mg_dl"] = float(agp.loc[(0, 0.5)])
    return out
