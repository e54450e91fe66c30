"""Glucose units for the analytics: computed in mg/dL, shown in mmol/L by default.

The consensus CGM metrics, the risk indices (LBGI/HBGI/ADRR), the J-index, GMI and eA1c are all
*defined* on mg/dL (their constants only hold for that unit), as is the reference
implementation (iglu). So every glucose routine here computes in mg/dL; values given in mmol/L
are converted once on the way in with the factor the device catalog uses
(``devices.GLUCOSE_MG_DL_PER_MMOL_L`` = 18.0156, from the molar mass of glucose,
180.156 g/mol) and results are converted back only for display. Threshold comparisons are
protected against the round trip (see ``_thresholds``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from devices import GLUCOSE_MG_DL_PER_MMOL_L

FloatArray = NDArray[np.float64]
GlucoseUnit = Literal["mg/dL", "mmol/L"]

#: The device catalog's plausible glucose range, 0.5-55.5 mmol/L, in mg/dL.
PLAUSIBLE_MIN_MG_DL = 0.5 * GLUCOSE_MG_DL_PER_MMOL_L
PLAUSIBLE_MAX_MG_DL = 55.5 * GLUCOSE_MG_DL_PER_MMOL_L


def to_mg_dl(values: FloatArray, unit: GlucoseUnit) -> FloatArray:
    """Glucose values in ``unit`` converted to mg/dL."""
    if unit == "mg/dL":
        return values
    return values * GLUCOSE_MG_DL_PER_MMOL_L


def from_mg_dl(values_mg_dl: FloatArray, unit: GlucoseUnit) -> FloatArray:
    """Glucose values in mg/dL converted to ``unit`` for display."""
    if unit == "mg/dL":
        return values_mg_dl
    return values_mg_dl / GLUCOSE_MG_DL_PER_MMOL_L


def detect_unit(values: FloatArray) -> GlucoseUnit | None:
    """Guess the unit of one patient's glucose values, or ``None`` when it cannot be told.

    mmol/L readings of living patients lie in 1-35 (meters measure 0.6-33.3 mmol/L); mg/dL
    readings in 20-600 (CGMs report 40-400 mg/dL). A series whose 95th percentile is at most
    35 is mmol/L; one whose 5th percentile is at least 36 is mg/dL; anything else (a mix, or
    too few values to tell) is ``None`` and must be stated by the user: guessing wrong would
    scale every number by 18.
    """
    v = values[np.isfinite(values)]
    if v.size == 0:
        return None
    lo, hi = np.percentile(v, [5.0, 95.0])
    if hi <= 35.0 and v.max() <= 60.0:
        return "mmol/L"
    if lo >= 36.0 and v.min() >= 18.0:
        return "mg/dL"
    return None
