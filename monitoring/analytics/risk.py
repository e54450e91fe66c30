"""Kovatchev's glucose risk indices: LBGI, HBGI and ADRR.

The blood glucose scale is asymmetric (hypoglycaemia spans 20-70 mg/dL, hyperglycaemia
180-600); Kovatchev's transform makes it symmetric around 112.5 mg/dL:

``f(BG) = 1.509 * ((ln BG)^1.084 - 5.381)``   (BG in mg/dL)
``r(BG) = 10 * f(BG)^2``; ``rl = r`` where ``f < 0`` else 0; ``rh = r`` where ``f > 0`` else 0.

* LBGI = mean of ``rl`` over the readings, HBGI = mean of ``rh`` (Kovatchev BP, Cox DJ,
  Gonder-Frederick LA, Clarke W. Symmetrization of the blood glucose measurement scale and its
  applications. Diabetes Care 1997;20(11):1655-1658, doi:10.2337/diacare.20.11.1655;
  Kovatchev BP, et al. Assessment of risk for severe hypoglycemia among adults with IDDM:
  validation of the low blood glucose index. Diabetes Care 1998;21(11):1870-1875,
  doi:10.2337/diacare.21.11.1870).
* ADRR = mean over days of (max ``rl`` of the day + max ``rh`` of the day) (Kovatchev BP,
  Otto E, Cox D, Gonder-Frederick L, Clarke W. Evaluation of a new measure of blood glucose
  variability in diabetes. Diabetes Care 2006;29(11):2433-2438, doi:10.2337/dc06-1085). Days
  are local calendar days; a day with no reading below 112.5 mg/dL contributes 0 for its low
  part (and likewise for high).

``10 * 1.509^2`` is used as 22.77, the rounding the reference implementation (iglu) uses; the
unrounded 22.77081 would change LBGI/HBGI/ADRR by 0.0036 % and no longer reproduce its
recorded values.

Empty input gives NaN (``Status.NO_DATA``); any number of readings >= 1 gives a value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitoring.analytics._ragged import lengths, segment_mean
from monitoring.analytics.resample import CHINA_UTC_OFFSET_S, local_day, per_patient_offset
from monitoring.analytics.series import PatientSeries

FloatArray = NDArray[np.float64]

#: Kovatchev transform constants (mg/dL scale), Kovatchev 1997.
KOVATCHEV_EXPONENT = 1.084
KOVATCHEV_OFFSET = 5.381
#: 10 * 1.509^2, rounded as published by the reference implementation.
KOVATCHEV_RISK_SCALE = 22.77

_LUT_MAX = 1000  # integer mg/dL values up to the plausible maximum use a lookup table


def _lut_g() -> FloatArray:
    x = np.arange(1, _LUT_MAX + 1, dtype=np.float64)
    g = np.empty(_LUT_MAX + 1)
    g[0] = np.nan
    g[1:] = np.log(x) ** KOVATCHEV_EXPONENT - KOVATCHEV_OFFSET
    return g


_G_TABLE = _lut_g()


def symmetrized(glucose_mg_dl: FloatArray) -> FloatArray:
    """``(ln BG)^1.084 - 5.381`` for each value (``f / 1.509``).

    Integer-valued input (most CGMs report whole mg/dL) is looked up in a table holding exactly
    the values the formula gives, which is several times faster than ``log`` and ``pow``.
    """
    x = np.asarray(glucose_mg_dl, dtype=np.float64)
    if x.size and x.min() >= 1.0 and x.max() <= _LUT_MAX:
        xi = x.astype(np.int64)
        if np.array_equal(xi, x):
            return _G_TABLE[xi]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(x) ** KOVATCHEV_EXPONENT - KOVATCHEV_OFFSET


@dataclass(frozen=True, slots=True)
class RiskIndices:
    """Per-patient LBGI, HBGI and ADRR (dimensionless)."""

    lbgi: FloatArray
    hbgi: FloatArray
    adrr: FloatArray


def risk_indices(
    glucose_mg_dl: PatientSeries, *, utc_offset_s: ArrayLike = CHINA_UTC_OFFSET_S
) -> RiskIndices:
    """LBGI, HBGI and ADRR of each patient.

    Parameters
    ----------
    glucose_mg_dl : PatientSeries
        Cleaned readings in mg/dL (sorted by time within each patient).
    utc_offset_s : int or array_like
        Local time minus UTC in seconds, fixing the calendar days of ADRR.

    Returns
    -------
    RiskIndices
        NaN for patients without readings.
    """
    off = glucose_mg_dl.offsets
    x = glucose_mg_dl.values
    g = symmetrized(x)
    r = KOVATCHEV_RISK_SCALE * (g * g)
    low = g < 0.0
    rl = np.where(low, r, 0.0)
    rh = np.where(low, 0.0, r)
    lbgi = segment_mean(rl, off)
    hbgi = segment_mean(rh, off)

    n = glucose_mg_dl.n_patients
    adrr = np.full(n, np.nan)
    if x.size:
        pidx = glucose_mg_dl.owner
        tz = per_patient_offset(utc_offset_s, n)
        day = local_day(glucose_mg_dl.time_s, tz[pidx])
        new = np.empty(x.size, dtype=np.bool_)
        new[0] = True
        new[1:] = (day[1:] != day[:-1]) | (pidx[1:] != pidx[:-1])
        starts = np.flatnonzero(new)
        gmax = np.maximum.reduceat(g, starts)
        gmin = np.minimum.reduceat(g, starts)
        hi = np.maximum(gmax, 0.0)
        lo = np.minimum(gmin, 0.0)
        drr = KOVATCHEV_RISK_SCALE * (lo * lo) + KOVATCHEV_RISK_SCALE * (hi * hi)
        day_owner = pidx[starts]
        days_per = np.bincount(day_owner, minlength=n).astype(np.int64)
        day_off = np.concatenate(([0], np.cumsum(days_per))).astype(np.int64)
        adrr = segment_mean(drr, day_off)
    adrr[lengths(off) == 0] = np.nan
    return RiskIndices(lbgi=lbgi, hbgi=hbgi, adrr=adrr)
