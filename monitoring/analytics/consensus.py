"""The international consensus CGM metrics: central tendency, variability, time in ranges.

Source: Battelino T, Danne T, Bergenstal RM, et al. Clinical targets for continuous glucose
monitoring data interpretation: recommendations from the international consensus on time in
range. Diabetes Care 2019;42(8):1593-1603, doi:10.2337/dci19-0028 (ranges, targets, data
sufficiency); Danne T, et al. International consensus on use of continuous glucose monitoring.
Diabetes Care 2017;40(12):1631-1640, doi:10.2337/dc17-1600 (CV, SD).

Definitions (per patient, over the cleaned readings of the window)
-------------------------------------------------------------------
* ``mean`` and ``sd``: arithmetic mean and *sample* standard deviation (n - 1) of the readings,
  mg/dL;
* ``cv``: 100 * sd / mean, percent (target <= 36 %);
* time in ranges as **percent of readings** (as the consensus reports them), cumulative like
  the consensus: ``below_54`` (level 2 hypoglycaemia, < 54 mg/dL), ``below_70`` (< 70,
  includes < 54), ``in_70_180`` (70-180 inclusive), ``above_180`` (> 180, includes > 250),
  ``above_250`` (level 2 hyperglycaemia). The same five percentages are computed against the
  consensus mmol/L thresholds 3.0 / 3.9 / 10.0 / 13.9 mmol/L, which are *not* exact conversions
  of 54 / 70 / 180 / 250 mg/dL (3.9 mmol/L is 70.26 mg/dL), so a reading of 70.1 mg/dL is in
  range by the mg/dL convention and below range by the mmol/L one; both are reported and each
  is independent of the unit the input came in.

Targets (Battelino 2019, Table 2)
---------------------------------
=========================  ======  ======  ======  ======  ======  =====
group                      TIR     <70     <54     >180    >250    CV
=========================  ======  ======  ======  ======  ======  =====
most adults (T1D/T2D)      > 70 %  < 4 %   < 1 %   < 25 %  < 5 %   <= 36 %
older / high-risk adults   > 50 %  < 1 %   --      < 50 %  < 10 %  <= 36 %
=========================  ======  ======  ======  ======  ======  =====

Empty input gives NaN with ``Status.NO_DATA``; a single reading has a mean and percentages but
no SD or CV (``Status.INSUFFICIENT``); a zero mean cannot occur after cleaning (values below the
plausible range are dropped).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from devices import GLUCOSE_MG_DL_PER_MMOL_L
from monitoring.analytics._ragged import lengths, segment_mean, segment_sd
from monitoring.analytics._thresholds import above, at_most, band_edges, bands, below
from monitoring.analytics.series import PatientSeries

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Consensus thresholds in mg/dL: level 2 hypo, level 1 hypo, level 1 hyper, level 2 hyper.
THRESHOLDS_MG_DL = (54.0, 70.0, 180.0, 250.0)
#: The consensus's own mmol/L thresholds (Battelino 2019), not conversions of the above.
THRESHOLDS_MMOL_L = (3.0, 3.9, 10.0, 13.9)
#: Coefficient of variation target, percent (Battelino 2019; Monnier et al. 2017).
CV_TARGET_PERCENT = 36.0


@dataclass(frozen=True, slots=True)
class SummaryStats:
    """Count, mean and variability of each patient's readings (mg/dL)."""

    n: IntArray
    mean_mg_dl: FloatArray
    sd_mg_dl: FloatArray
    cv_percent: FloatArray


@dataclass(frozen=True, slots=True)
class RangePercents:
    """Readings per consensus band, per patient, and the percentages derived from them.

    ``counts[:, k]`` counts band ``k``: 0 very low (< level 2 low), 1 low, 2 in range,
    3 high, 4 very high (> level 2 high). Each percentage divides its own count by the number of
    readings once, so that cumulative and partitioned percentages are both exactly
    ``100 * count / n``.
    """

    counts: IntArray
    n: IntArray

    def _pct(self, count: NDArray[np.int64]) -> FloatArray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return 100.0 * count.astype(np.float64) / self.n

    @property
    def below_l2(self) -> FloatArray:
        """Percent below the level 2 hypo threshold (< 54 mg/dL)."""
        return self._pct(self.counts[:, 0])

    @property
    def below_l1(self) -> FloatArray:
        """Percent below the level 1 hypo threshold (< 70 mg/dL, includes level 2)."""
        return self._pct(self.counts[:, 0] + self.counts[:, 1])

    @property
    def in_range(self) -> FloatArray:
        """Percent in range (70-180 mg/dL inclusive)."""
        return self._pct(self.counts[:, 2])

    @property
    def above_l1(self) -> FloatArray:
        """Percent above the level 1 hyper threshold (> 180 mg/dL, includes level 2)."""
        return self._pct(self.counts[:, 3] + self.counts[:, 4])

    @property
    def above_l2(self) -> FloatArray:
        """Percent above the level 2 hyper threshold (> 250 mg/dL)."""
        return self._pct(self.counts[:, 4])

    @property
    def very_low(self) -> FloatArray:
        """GRI's VLow: percent below level 2 (< 54 mg/dL)."""
        return self.below_l2

    @property
    def low(self) -> FloatArray:
        """GRI's Low: percent from level 2 to below level 1 (54 to < 70 mg/dL)."""
        return self._pct(self.counts[:, 1])

    @property
    def high(self) -> FloatArray:
        """GRI's High: percent above level 1 up to level 2 (> 180 to 250 mg/dL)."""
        return self._pct(self.counts[:, 3])

    @property
    def very_high(self) -> FloatArray:
        """GRI's VHigh: percent above level 2 (> 250 mg/dL)."""
        return self.above_l2


def summary_stats(glucose_mg_dl: PatientSeries) -> SummaryStats:
    """Mean, sample SD and CV of each patient's readings.

    Parameters
    ----------
    glucose_mg_dl : PatientSeries
        Cleaned readings in mg/dL.

    Returns
    -------
    SummaryStats
        ``mean`` NaN for an empty patient; ``sd`` and ``cv`` NaN for fewer than two readings.
    """
    off = glucose_mg_dl.offsets
    n = lengths(off)
    mean = segment_mean(glucose_mg_dl.values, off)
    sd = segment_sd(glucose_mg_dl.values, off, mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        cv = 100.0 * sd / mean
    return SummaryStats(n=n, mean_mg_dl=mean, sd_mg_dl=sd, cv_percent=cv)


def range_percents(
    glucose_mg_dl: PatientSeries,
    thresholds_mg_dl: tuple[float, float, float, float] = THRESHOLDS_MG_DL,
) -> RangePercents:
    """Percent of each patient's readings below, in and above the consensus ranges.

    Parameters
    ----------
    glucose_mg_dl : PatientSeries
        Cleaned readings in mg/dL.
    thresholds_mg_dl : tuple of 4 floats
        ``(level 2 low, level 1 low, level 1 high, level 2 high)`` in mg/dL; use
        :func:`mmol_thresholds_in_mg_dl` for the consensus mmol/L convention.

    Returns
    -------
    RangePercents
        NaN for patients without readings. Below is strict (< 70), the range is inclusive
        (70-180), above is strict (> 180), as in the consensus.

    Notes
    -----
    One band code per reading (0 = very low ... 4 = very high) and one ``np.bincount`` over
    ``patient * 5 + band`` count all five ranges for all patients in a single pass.
    """
    l2, l1, h1, h2 = thresholds_mg_dl
    x = glucose_mg_dl.values
    off = glucose_mg_dl.offsets
    p = glucose_mg_dl.n_patients
    band = bands(x, band_edges((l2, l1), (h1, h2)))  # 0 very low ... 4 very high
    key = glucose_mg_dl.owner * 5 + band
    counts = np.bincount(key, minlength=5 * p).reshape(p, 5).astype(np.int64)
    return RangePercents(counts=counts, n=lengths(off))


def mmol_thresholds_in_mg_dl() -> tuple[float, float, float, float]:
    """The consensus mmol/L thresholds (3.0, 3.9, 10.0, 13.9) expressed in mg/dL."""
    f = GLUCOSE_MG_DL_PER_MMOL_L
    a, b, c, d = THRESHOLDS_MMOL_L
    return (a * f, b * f, c * f, d * f)


@dataclass(frozen=True, slots=True)
class TargetResult:
    """Whether each consensus target is met, per patient (False where not computable)."""

    in_range: BoolArray
    below_l1: BoolArray
    below_l2: BoolArray
    above_l1: BoolArray
    above_l2: BoolArray
    cv: BoolArray

    @property
    def all_met(self) -> BoolArray:
        """Every target of the group met."""
        return (
            self.in_range & self.below_l1 & self.below_l2 & self.above_l1 & self.above_l2 & self.cv
        )


def targets_most_adults(ranges: RangePercents, cv_percent: FloatArray) -> TargetResult:
    """Consensus targets for most adults with type 1 or type 2 diabetes (Battelino 2019)."""
    return TargetResult(
        in_range=above(ranges.in_range, 70.0),
        below_l1=below(ranges.below_l1, 4.0),
        below_l2=below(ranges.below_l2, 1.0),
        above_l1=below(ranges.above_l1, 25.0),
        above_l2=below(ranges.above_l2, 5.0),
        cv=at_most(cv_percent, CV_TARGET_PERCENT),
    )


def targets_older_high_risk(ranges: RangePercents, cv_percent: FloatArray) -> TargetResult:
    """Consensus targets for older or high-risk adults (Battelino 2019).

    The consensus sets no separate < 54 mg/dL target for this group (its < 70 target of < 1 %
    already bounds it), so ``below_l2`` is reported as met whenever ``below_l1`` is.
    """
    below_l1 = below(ranges.below_l1, 1.0)
    return TargetResult(
        in_range=above(ranges.in_range, 50.0),
        below_l1=below_l1,
        below_l2=below_l1,
        above_l1=below(ranges.above_l1, 50.0),
        above_l2=below(ranges.above_l2, 10.0),
        cv=at_most(cv_percent, CV_TARGET_PERCENT),
    )
