"""Glycaemic variability: J-index, MODD and CONGA.

* J-index (Wojcicki JM. "J"-index. A new proposition of the assessment of current glucose
  control in diabetic patients. Horm Metab Res 1995;27(1):41-42, doi:10.1055/s-2007-979906):
  ``J = 0.001 * (mean + SD)^2`` with mean and sample SD of the readings in mg/dL.
* MODD, mean of daily differences (Service FJ, Nelson RL. Characteristics of glycemic
  stability. Diabetes Care 1980;3(1):58-62, doi:10.2337/diacare.3.1.58): the mean absolute
  difference between grid values exactly ``lag_days`` x 24 h apart, over all pairs where both
  exist, mg/dL.
* CONGA(n), continuous overall net glycaemic action (McDonnell CM, Donath SM, Vidmar SI,
  Werther GA, Cameron FJ. A novel approach to continuous glucose analysis utilizing glycemic
  variation. Diabetes Technol Ther 2005;7(2):253-263, doi:10.1089/dia.2005.7.253): the sample
  SD of the differences between grid values exactly ``n`` hours apart, mg/dL.

MODD and CONGA use the shared 5-minute grid (``resample``), like the reference implementation,
so that "the same time of day" and "n hours later" are well defined for irregular readings.
Gaps stay NaN on the grid and pairs with a NaN side are skipped. A patient with no pair (less
than ``lag`` of data, or all pairs falling into gaps) gets NaN and ``Status.INSUFFICIENT``;
CONGA needs at least two differences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitoring.analytics.resample import SLOTS_PER_DAY, GlucoseGrid

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: J-index scale for mg/dL (Wojcicki 1995).
J_INDEX_SCALE_MG_DL = 0.001


def j_index(mean_mg_dl: FloatArray, sd_mg_dl: FloatArray) -> FloatArray:
    """J-index from the mean and sample SD in mg/dL (dimensionless)."""
    s = np.asarray(mean_mg_dl) + np.asarray(sd_mg_dl)
    return J_INDEX_SCALE_MG_DL * (s * s)


@dataclass(frozen=True, slots=True)
class LagStatistic:
    """A statistic over pairs of grid values a fixed lag apart, with its number of pairs."""

    value: FloatArray
    n_pairs: IntArray


def _lag_differences(grid: GlucoseGrid, lag_slots: int) -> tuple[FloatArray, NDArray[np.bool_]]:
    v = grid.values
    if lag_slots <= 0 or v.shape[1] <= lag_slots:
        empty = np.zeros((v.shape[0], 0))
        return empty, np.zeros((v.shape[0], 0), dtype=np.bool_)
    d = v[:, lag_slots:] - v[:, :-lag_slots]
    ok = np.isfinite(d)
    return d, ok


def modd(grid: GlucoseGrid, lag_days: int = 1) -> LagStatistic:
    """Mean of daily differences, mg/dL, of each patient's grid row.

    Parameters
    ----------
    grid : GlucoseGrid
        Glucose in mg/dL on the 5-minute grid.
    lag_days : int
        Compare values this many days apart (default 1).

    Returns
    -------
    LagStatistic
        ``value`` NaN where ``n_pairs == 0``.
    """
    d, ok = _lag_differences(grid, lag_days * SLOTS_PER_DAY)
    n = ok.sum(axis=1).astype(np.int64)
    np.abs(d, out=d)
    d[~ok] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        value = d.sum(axis=1) / n
    return LagStatistic(value=value, n_pairs=n)


def conga(grid: GlucoseGrid, hours: float = 24.0) -> LagStatistic:
    """CONGA(n): sample SD of the differences ``hours`` apart, mg/dL.

    Parameters
    ----------
    grid : GlucoseGrid
        Glucose in mg/dL on the 5-minute grid.
    hours : float
        The lag ``n`` in hours; must be a whole number of 5-minute slots.

    Returns
    -------
    LagStatistic
        ``value`` NaN where fewer than two differences exist.
    """
    lag = round(hours * 12)
    d, ok = _lag_differences(grid, lag)
    n = ok.sum(axis=1).astype(np.int64)
    bad = ~ok
    d[bad] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = d.sum(axis=1) / n
        d -= mean[:, None]
        d[bad] = 0.0
        np.square(d, out=d)
        value = np.sqrt(d.sum(axis=1) / (n - 1))
    value[n < 2] = np.nan
    return LagStatistic(value=value, n_pairs=n)
