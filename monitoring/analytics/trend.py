"""Robust trend with confidence: Theil-Sen slope and the Mann-Kendall test.

For each patient's series ``(t_i, x_i)`` (e.g. daily mean systolic BP, daily resting heart
rate), time in ``time_unit_s`` units from the first observation:

* Theil-Sen slope: the median of the slopes ``(x_j - x_i) / (t_j - t_i)`` of all pairs
  ``t_i < t_j``, intercept ``median(x) - slope * median(t)``, and its confidence interval by
  Sen's rank method (Sen PK. Estimates of the regression coefficient based on Kendall's tau.
  J Am Stat Assoc 1968;63(324):1379-1389, doi:10.1080/01621459.1968.10480934, eq. 2.6, with
  the tie correction for repeated values);
* Mann-Kendall: ``S = sum sign(x_j - x_i)`` over the same pairs, Kendall's tau-b and a two-sided
  p-value from the normal approximation with tie-corrected variance (Mann HB. Nonparametric
  tests against trend. Econometrica 1945;13(3):245-259, doi:10.2307/1907187; Kendall MG, Rank
  Correlation Methods, 1975).

These are exactly ``scipy.stats.theilslopes`` and ``scipy.stats.kendalltau(t, x,
method="asymptotic")`` (the tests check it), computed for all patients at once: the series are
padded into a ``(patients, observations)`` array, all pairwise slopes formed with one
broadcast, sorted once per row, and medians and interval bounds gathered by index; patients are
processed in blocks so memory stays bounded for long series.

A series with fewer than ``min_n`` (default 4) observations gets NaN and
``Status.INSUFFICIENT``; an empty one ``Status.NO_DATA``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from monitoring.analytics._prep import prepare
from monitoring.analytics._ragged import nanmedian_last, to_padded
from monitoring.analytics.series import PatientSeries
from monitoring.analytics.status import Status

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class TrendResult:
    """Per-patient trend; slopes are per ``time_unit_s`` (default per day)."""

    n: IntArray
    slope: FloatArray
    intercept: FloatArray
    slope_low: FloatArray
    slope_high: FloatArray
    s: FloatArray
    tau_b: FloatArray
    z: FloatArray
    p_value: FloatArray
    status: NDArray[np.int8]


def _tie_sums(v: FloatArray, n: IntArray) -> tuple[FloatArray, FloatArray]:
    """Per row, ``sum t(t-1)(2t+5)`` and ``sum t(t-1)/2`` over groups of equal values."""
    srt = np.sort(v, axis=1)  # NaN last
    p, w = srt.shape
    valid = np.arange(w)[None, :] < n[:, None]
    same = np.zeros((p, w), dtype=np.bool_)
    same[:, 1:] = (srt[:, 1:] == srt[:, :-1]) & valid[:, 1:]
    # group sizes: length of runs of "same" + 1, found on the flattened array
    flat_same = same.reshape(-1)
    start = ~flat_same & valid.reshape(-1)
    gid = np.cumsum(start) - 1
    size = np.bincount(gid[valid.reshape(-1)], minlength=int(start.sum()))
    row_of_group = np.repeat(np.arange(p), valid.sum(axis=1))[start[valid.reshape(-1)]]
    t = size.astype(np.float64)
    a = np.bincount(row_of_group, weights=t * (t - 1) * (2 * t + 5), minlength=p)
    b = np.bincount(row_of_group, weights=t * (t - 1) / 2, minlength=p)
    return a.astype(np.float64), b.astype(np.float64)


def _block(tp: FloatArray, xp: FloatArray, n: IntArray, z_alpha: float) -> tuple[FloatArray, ...]:
    p, w = xp.shape
    i, j = np.triu_indices(w, k=1)
    dx = tp[:, j] - tp[:, i]
    dy = xp[:, j] - xp[:, i]
    with np.errstate(invalid="ignore", divide="ignore"):
        slopes = np.where(dx > 0, dy / dx, np.nan)
    s_stat = np.nansum(np.sign(dy) * (dx > 0), axis=1)
    slopes.sort(axis=1)
    nt = (n * (n - 1)) // 2
    rows = np.arange(p)
    lo_i = np.maximum((nt - 1) // 2, 0)
    hi_i = np.maximum(nt // 2, 0)
    med = (
        (
            slopes[rows, np.minimum(lo_i, slopes.shape[1] - 1)]
            + slopes[rows, np.minimum(hi_i, slopes.shape[1] - 1)]
        )
        / 2.0
        if slopes.shape[1]
        else np.full(p, np.nan)
    )
    y1, ytie = _tie_sums(xp, n)
    nf = n.astype(np.float64)
    sigma = np.sqrt((nf * (nf - 1) * (2 * nf + 5) - y1) / 18.0)
    ru = np.minimum(np.round((nt - z_alpha * sigma) / 2.0).astype(np.int64), nt - 1)
    rl = np.maximum(np.round((nt + z_alpha * sigma) / 2.0).astype(np.int64) - 1, 0)
    cap = max(slopes.shape[1] - 1, 0)
    low = slopes[rows, np.clip(rl, 0, cap)] if slopes.shape[1] else np.full(p, np.nan)
    high = slopes[rows, np.clip(ru, 0, cap)] if slopes.shape[1] else np.full(p, np.nan)
    med_x = nanmedian_last(xp)
    med_t = nanmedian_last(tp)
    intercept = med_x - med * med_t
    tot = nf * (nf - 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = s_stat / np.sqrt(tot) / np.sqrt(tot - ytie)
        var = (nf * (nf - 1) * (2 * nf + 5) - y1) / 18.0
        z = s_stat / np.sqrt(var)
    pval = 2.0 * stats.norm.sf(np.abs(z))
    return med, intercept, low, high, s_stat, tau, z, pval


def trend(
    series: PatientSeries,
    *,
    time_unit_s: int = DAY_S,
    confidence: float = 0.95,
    min_n: int = 4,
    block_patients: int = 256,
) -> TrendResult:
    """Theil-Sen slope with confidence interval and Mann-Kendall test for every patient.

    Parameters
    ----------
    series : PatientSeries
        Cleaned observations (strictly increasing times per patient).
    time_unit_s : int
        Slope unit: value change per this many seconds (default one day).
    confidence : float
        Confidence level of the slope interval (default 95 %).
    min_n : int
        Fewest observations for a result.
    block_patients : int
        Patients per block (memory grows with block x observations^2).

    Returns
    -------
    TrendResult
    """
    series = prepare(series)
    n_p = series.n_patients
    out = {
        k: np.full(n_p, np.nan) for k in ("slope", "intercept", "low", "high", "s", "tau", "z", "p")
    }
    n_all = np.diff(series.offsets).astype(np.int64)
    a = 1.0 - confidence if confidence > 0.5 else confidence
    z_alpha = float(stats.norm.ppf(a / 2.0))
    for b0 in range(0, n_p, max(block_patients, 1)):
        b1 = min(b0 + block_patients, n_p)
        blk = series.block(b0, b1)
        nb = n_all[b0:b1]
        if blk.n_readings == 0:
            continue
        t0 = np.zeros(b1 - b0)
        has = nb > 0
        t0[has] = blk.time_s[blk.offsets[:-1][has]]
        rel = (blk.time_s - np.repeat(t0, nb)) / float(time_unit_s)
        (tp, xp), n = to_padded(blk.offsets, rel, blk.values)
        res = _block(tp, xp, n, z_alpha)
        for k, v in zip(
            ("slope", "intercept", "low", "high", "s", "tau", "z", "p"), res, strict=True
        ):
            out[k][b0:b1] = v
    status = np.full(n_p, Status.OK, dtype=np.int8)
    short = n_all < min_n
    status[short] = Status.INSUFFICIENT
    status[n_all == 0] = Status.NO_DATA
    for v in out.values():
        v[short] = np.nan
    return TrendResult(
        n=n_all,
        slope=out["slope"],
        intercept=out["intercept"],
        slope_low=out["low"],
        slope_high=out["high"],
        s=out["s"],
        tau_b=out["tau"],
        z=out["z"],
        p_value=out["p"],
        status=status,
    )
