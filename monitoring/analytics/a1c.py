"""Estimates of HbA1c from mean glucose: GMI and eA1c.

* GMI, the glucose management indicator (Bergenstal RM, Beck RW, Close KL, et al. Glucose
  Management Indicator (GMI): a new term for estimating A1C from continuous glucose
  monitoring. Diabetes Care 2018;41(11):2275-2280, doi:10.2337/dc18-1581):
  ``GMI (%) = 3.31 + 0.02392 * mean glucose (mg/dL)``. The consensus metric; it needs >= 14
  days of CGM (the regression was fitted on such data).
* eA1c, the ADAG estimate (Nathan DM, Kuenen J, Borg R, et al. Translating the A1C assay into
  estimated average glucose values. Diabetes Care 2008;31(8):1473-1478,
  doi:10.2337/dc08-0545), ``eAG = 28.7 * A1c - 46.7`` solved for A1c:
  ``eA1c (%) = (mean glucose (mg/dL) + 46.7) / 28.7``.

NaN mean (no readings) gives NaN.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: GMI intercept and slope, percent and percent per mg/dL (Bergenstal 2018).
GMI_INTERCEPT_PERCENT = 3.31
GMI_SLOPE_PERCENT_PER_MG_DL = 0.02392
#: ADAG regression, eAG (mg/dL) = 28.7 * A1c (%) - 46.7 (Nathan 2008).
ADAG_SLOPE_MG_DL_PER_PERCENT = 28.7
ADAG_INTERCEPT_MG_DL = -46.7


def gmi_percent(mean_mg_dl: FloatArray) -> FloatArray:
    """Glucose management indicator, percent, from mean glucose in mg/dL."""
    return GMI_INTERCEPT_PERCENT + GMI_SLOPE_PERCENT_PER_MG_DL * np.asarray(mean_mg_dl)


def ea1c_percent(mean_mg_dl: FloatArray) -> FloatArray:
    """ADAG estimated A1c, percent, from mean glucose in mg/dL."""
    return (np.asarray(mean_mg_dl) - ADAG_INTERCEPT_MG_DL) / ADAG_SLOPE_MG_DL_PER_PERCENT
