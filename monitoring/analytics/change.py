"""Change detection against the patient's own baseline: EWMA and CUSUM control charts.

A patient whose usual home BP is 150/90 is not "getting worse" because they are above the
guideline target; they are getting worse when they move away from *their* baseline. Both
charts standardise each observation against a baseline mean ``mu0`` and SD ``sigma0`` (by
default the mean and sample SD of the patient's first ``baseline_n`` observations; or given,
e.g. a doctor-set usual value) and signal a sustained shift:

* EWMA (Roberts SW. Control chart tests based on geometric moving averages. Technometrics
  1959;1(3):239-250, doi:10.1080/00401706.1959.10489860; Lucas JM, Saccucci MS. Exponentially
  weighted moving average control schemes: properties and enhancements. Technometrics
  1990;32(1):1-12, doi:10.1080/00401706.1990.10484583):
  ``z_t = lambda x_t + (1 - lambda) z_{t-1}``, ``z_0 = mu0``, signal when
  ``|z_t - mu0| > L sigma0 sqrt(lambda / (2 - lambda) (1 - (1 - lambda)^(2t)))``;
  ``lambda = 0.2``, ``L = 3`` (Montgomery DC, Introduction to Statistical Quality Control);
* tabular CUSUM (Page ES. Continuous inspection schemes. Biometrika 1954;41(1-2):100-115,
  doi:10.1093/biomet/41.1-2.100): with ``y_t = (x_t - mu0) / sigma0``,
  ``C+_t = max(0, C+_{t-1} + y_t - k)``, ``C-_t = max(0, C-_{t-1} - y_t - k)``, signal when
  either exceeds ``h``; ``k = 0.5``, ``h = 5`` (detects a 1 SD shift quickly, in-control ARL
  about 465).

The charts run on each patient's sequence of observations (e.g. daily means after
``outliers.hampel``) from the observation after the baseline on. The EWMA recursion is a linear
filter applied to all patients at once (``scipy.signal.lfilter`` along the time axis); the CUSUM
recursion runs once per time step for all patients together.

A patient with fewer than ``baseline_n + 1`` observations, or a baseline SD of 0, gets no
signal and ``Status.INSUFFICIENT``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import signal

from monitoring.analytics._prep import prepare
from monitoring.analytics._ragged import to_padded
from monitoring.analytics.series import PatientSeries
from monitoring.analytics.status import Status

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

EWMA_LAMBDA = 0.2
EWMA_L = 3.0
CUSUM_K = 0.5
CUSUM_H = 5.0


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """Per-patient chart outcome.

    ``first_signal_s`` is the time of the first out-of-control observation (0 if none);
    ``direction`` is +1 for an upward shift, -1 downward, 0 none; ``statistic`` the chart's
    last value (EWMA: ``(z - mu0) / sigma0``; CUSUM: ``C+ - C-``).
    """

    baseline_mean: FloatArray
    baseline_sd: FloatArray
    signalled: NDArray[np.bool_]
    first_signal_s: IntArray
    direction: NDArray[np.int8]
    statistic: FloatArray
    status: NDArray[np.int8]


def _baseline(
    x: FloatArray, n: IntArray, baseline_n: int, mean: ArrayLike | None, sd: ArrayLike | None
) -> tuple[FloatArray, FloatArray]:
    p = x.shape[0]
    head = x[:, :baseline_n]
    fin = np.isfinite(head)
    cnt = fin.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(fin, head, 0.0).sum(axis=1) / cnt
        dev = np.where(fin, head - mu[:, None], 0.0)
        s = np.sqrt((dev * dev).sum(axis=1) / (cnt - 1))
    s = np.where(cnt >= 2, s, np.nan)
    if mean is not None:
        given = np.broadcast_to(np.asarray(mean, dtype=np.float64), (p,))
        mu = np.where(np.isfinite(given), given, mu)
    if sd is not None:
        given = np.broadcast_to(np.asarray(sd, dtype=np.float64), (p,))
        s = np.where(np.isfinite(given), given, s)
    return mu, s


def _first_true(m: NDArray[np.bool_]) -> IntArray:
    any_ = m.any(axis=1)
    first: IntArray = np.where(any_, m.argmax(axis=1), -1).astype(np.int64)
    return first


def ewma_chart(
    series: PatientSeries,
    *,
    baseline_n: int = 14,
    baseline_mean: ArrayLike | None = None,
    baseline_sd: ArrayLike | None = None,
    lam: float = EWMA_LAMBDA,
    width: float = EWMA_L,
) -> ChangeResult:
    """EWMA chart of each patient's observations after the baseline (see module docstring)."""
    series = prepare(series)
    (x, t), n = to_padded(series.offsets, series.values, series.time_s.astype(np.float64))
    p = x.shape[0]
    mu, sd = _baseline(x, n, baseline_n, baseline_mean, baseline_sd)
    obs = x[:, baseline_n:]
    times = t[:, baseline_n:]
    m = obs.shape[1]
    status = np.full(p, Status.OK, dtype=np.int8)
    ok = (n > baseline_n) & np.isfinite(mu) & np.isfinite(sd) & (sd > 0)
    status[~ok] = Status.INSUFFICIENT
    status[n == 0] = Status.NO_DATA
    if m == 0:
        z_last = np.full(p, np.nan)
        return ChangeResult(
            mu,
            sd,
            np.zeros(p, np.bool_),
            np.zeros(p, np.int64),
            np.zeros(p, np.int8),
            z_last,
            status,
        )
    filled = np.where(np.isfinite(obs), obs, mu[:, None])
    filled = np.where(np.isfinite(filled), filled, 0.0)
    zi = ((1.0 - lam) * np.where(np.isfinite(mu), mu, 0.0))[:, None]
    z, _ = signal.lfilter([lam], [1.0, -(1.0 - lam)], filled, axis=1, zi=zi)
    step = np.arange(1, m + 1)
    limit = width * sd[:, None] * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * step)))[None]
    valid = np.isfinite(obs) & ok[:, None]
    with np.errstate(invalid="ignore"):
        out = valid & (np.abs(z - mu[:, None]) > limit)
    first = _first_true(out)
    rows = np.arange(p)
    sig = first >= 0
    direction = np.zeros(p, dtype=np.int8)
    direction[sig] = np.sign(z[rows[sig], first[sig]] - mu[sig]).astype(np.int8)
    last = np.maximum(n - baseline_n - 1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = np.where(ok, (z[rows, last] - mu) / sd, np.nan)
    first_s = np.where(sig, times[rows, np.maximum(first, 0)], 0).astype(np.int64)
    return ChangeResult(mu, sd, sig, first_s, direction, stat, status)


def cusum_chart(
    series: PatientSeries,
    *,
    baseline_n: int = 14,
    baseline_mean: ArrayLike | None = None,
    baseline_sd: ArrayLike | None = None,
    k: float = CUSUM_K,
    h: float = CUSUM_H,
) -> ChangeResult:
    """Two-sided tabular CUSUM of each patient's observations after the baseline."""
    series = prepare(series)
    (x, t), n = to_padded(series.offsets, series.values, series.time_s.astype(np.float64))
    p = x.shape[0]
    mu, sd = _baseline(x, n, baseline_n, baseline_mean, baseline_sd)
    ok = (n > baseline_n) & np.isfinite(mu) & np.isfinite(sd) & (sd > 0)
    status = np.full(p, Status.OK, dtype=np.int8)
    status[~ok] = Status.INSUFFICIENT
    status[n == 0] = Status.NO_DATA
    obs = x[:, baseline_n:]
    times = t[:, baseline_n:]
    with np.errstate(invalid="ignore", divide="ignore"):
        y = (obs - mu[:, None]) / sd[:, None]
    c_hi = np.zeros(p)
    c_lo = np.zeros(p)
    first = np.full(p, -1, dtype=np.int64)
    direction = np.zeros(p, dtype=np.int8)
    for col in range(y.shape[1]):  # one step for all patients at once
        yc = y[:, col]
        live = np.isfinite(yc) & ok
        c_hi = np.where(live, np.maximum(0.0, c_hi + yc - k), c_hi)
        c_lo = np.where(live, np.maximum(0.0, c_lo - yc - k), c_lo)
        new = live & (first < 0) & ((c_hi > h) | (c_lo > h))
        first[new] = col
        direction[new] = np.where(c_hi[new] > h, 1, -1).astype(np.int8)
    sig = first >= 0
    rows = np.arange(p)
    first_s = np.where(sig, times[rows, np.maximum(first, 0)] if times.size else 0, 0).astype(
        np.int64
    )
    stat = np.where(ok, c_hi - c_lo, np.nan)
    return ChangeResult(mu, sd, sig, first_s, direction, stat, status)
