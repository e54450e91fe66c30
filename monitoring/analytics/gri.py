"""The Glycemia Risk Index (GRI).

Source: Klonoff DC, Wang J, Rodbard D, et al. A Glycemia Risk Index (GRI) of hypoglycemia and
hyperglycemia for continuous glucose monitoring validated by clinician ratings. J Diabetes Sci
Technol 2023;17(5):1226-1242 (online 2022), doi:10.1177/19322968221085273.

``hypo component  = VLow + 0.8 * Low``
``hyper component = VHigh + 0.5 * High``
``GRI = 3.0 * hypo + 1.6 * hyper = 3.0 VLow + 2.4 Low + 1.6 VHigh + 0.8 High``, capped at 100,

with VLow = % readings < 54 mg/dL, Low = % 54 to < 70, High = % > 180 to 250, VHigh = % > 250
(the ranges partition, unlike the cumulative consensus percentages). Zones A-E are GRI
quintiles 0-20, 20-40, 40-60, 60-80, 80-100.

NaN range percentages (no readings) give NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitoring.analytics.consensus import RangePercents

FloatArray = NDArray[np.float64]

#: Weights of Klonoff 2023.
GRI_HYPO_WEIGHT = 3.0
GRI_HYPER_WEIGHT = 1.6
GRI_LOW_WEIGHT_IN_HYPO = 0.8
GRI_HIGH_WEIGHT_IN_HYPER = 0.5
GRI_CAP = 100.0


@dataclass(frozen=True, slots=True)
class GriResult:
    """GRI and its two components, per patient."""

    gri: FloatArray
    hypo_component: FloatArray
    hyper_component: FloatArray

    @property
    def zone(self) -> NDArray[np.str_]:
        """Risk zone A (best) to E (worst); empty string where GRI is NaN."""
        z = np.array(["A", "B", "C", "D", "E", ""])
        g = np.asarray(self.gri)
        idx = np.where(np.isfinite(g), np.minimum(np.floor_divide(np.nan_to_num(g), 20.0), 4), 5)
        return z[idx.astype(np.int64)]


def gri(ranges_mg_dl: RangePercents) -> GriResult:
    """GRI from the mg/dL consensus range percentages (54 / 70 / 180 / 250)."""
    vlow = ranges_mg_dl.very_low
    low = ranges_mg_dl.low
    high = ranges_mg_dl.high
    vhigh = ranges_mg_dl.very_high
    hypo = vlow + GRI_LOW_WEIGHT_IN_HYPO * low
    hyper = vhigh + GRI_HIGH_WEIGHT_IN_HYPER * high
    raw = 3.0 * vlow + 2.4 * low + 1.6 * vhigh + 0.8 * high
    return GriResult(gri=np.minimum(raw, GRI_CAP), hypo_component=hypo, hyper_component=hyper)
