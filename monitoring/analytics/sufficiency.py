"""Data sufficiency: how much of the period the CGM was active.

Source: Battelino T, et al. Diabetes Care 2019;42(8):1593-1603, doi:10.2337/dci19-0028:
"number of days CGM worn: recommend 14 days"; "percentage of time CGM is active: recommend 70 %
of data from 14 days". The consensus metrics of a patient whose data falls short are still
computed but marked ``Status.INSUFFICIENT``, so a report can grey them out instead of showing
them as valid.

Definition (the reference implementation's, iglu ``active_percent``)
--------------------------------------------------------------------
* ``interval_min``: the sensor's sampling interval, the median difference between consecutive
  readings rounded to whole minutes (5 for current Dexcom/Medtronic/Sibionics sensors, 15 for
  FreeStyle Libre 1 history);
* without a window: the period runs from the first to the last reading;
  ``expected = round(round(span_min) / interval) + 1`` readings, and each gap between
  consecutive readings whose rounded length exceeds the interval misses
  ``(gap - interval) / interval`` readings; ``missing = round(sum over gaps / interval)``;
* with a window ``[start, end)`` (e.g. the 14 days before a visit): ``expected =
  round(window_min / interval)`` and the time before the first and after the last reading in
  the window is missing too;
* ``active_percent = 100 * (expected - missing) / expected``; ``days = expected * interval /
  1440``;
* sufficient when ``days >= 14`` and ``active_percent >= 70``.

Empty input: ``active_percent`` 0 with a window, NaN without; a single reading without a window
has no period, so NaN (``Status.INSUFFICIENT``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitoring.analytics._ragged import lengths, segment_sum
from monitoring.analytics.series import PatientSeries

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Consensus minimum wear period, days (Battelino 2019).
MIN_DAYS = 14.0
#: Consensus minimum share of expected readings, percent (Battelino 2019).
MIN_ACTIVE_PERCENT = 70.0
_MAX_INTERVAL_BIN = 64  # intervals >= 64 min share one histogram bin for the median


@dataclass(frozen=True, slots=True)
class Sufficiency:
    """Per-patient wear statistics and the consensus sufficiency verdict."""

    interval_min: FloatArray
    expected_readings: FloatArray
    active_percent: FloatArray
    days: FloatArray
    sufficient: BoolArray


def _median_interval_min(step_min: FloatArray, step_owner: IntArray, n: int) -> FloatArray:
    """Median of the rounded steps of each patient, from a per-patient histogram (O(n))."""
    bins = np.minimum(np.rint(step_min), _MAX_INTERVAL_BIN - 1).astype(np.int64)
    hist = np.bincount(
        step_owner * _MAX_INTERVAL_BIN + bins, minlength=n * _MAX_INTERVAL_BIN
    ).reshape(n, _MAX_INTERVAL_BIN)
    total = hist.sum(axis=1)
    cum = np.cumsum(hist, axis=1)
    # lower and upper middle elements (1-based ranks) of each patient's sorted steps
    lo_rank = (total + 1) // 2
    hi_rank = total // 2 + 1
    lo = (cum < lo_rank[:, None]).sum(axis=1)
    hi = (cum < hi_rank[:, None]).sum(axis=1)
    med = np.rint((lo + hi) / 2.0)
    out = np.where(total > 0, med, np.nan).astype(np.float64)
    out[out == 0] = 1.0  # readings less than 30 s apart: treat as 1-minute sampling
    return out


def sufficiency(
    glucose: PatientSeries,
    *,
    window_start_s: ArrayLike | None = None,
    window_end_s: ArrayLike | None = None,
    min_days: float = MIN_DAYS,
    min_active_percent: float = MIN_ACTIVE_PERCENT,
) -> Sufficiency:
    """Percent of expected CGM readings present, and whether the consensus minimum is met.

    Parameters
    ----------
    glucose : PatientSeries
        Cleaned readings (any unit; only the times matter).
    window_start_s, window_end_s : array_like of int, shape (n_patients,), optional
        Analysis window per patient, UTC seconds, end exclusive. Both or neither.
    min_days, min_active_percent : float
        Consensus thresholds (14 days, 70 %).

    Returns
    -------
    Sufficiency
    """
    n = glucose.n_patients
    off = glucose.offsets
    cnt = lengths(off)
    t = glucose.time_s
    pidx = glucose.owner
    same = pidx[1:] == pidx[:-1]
    step_min = (t[1:] - t[:-1])[same] / 60.0
    step_owner = pidx[1:][same]
    interval = _median_interval_min(step_min, step_owner, n)

    gap = np.rint(step_min) > interval[step_owner]
    gap_excess = np.where(gap, step_min - interval[step_owner], 0.0)
    gap_off = np.concatenate(([0], np.cumsum(np.maximum(cnt - 1, 0)))).astype(np.int64)
    missing_min = segment_sum(gap_excess, gap_off)

    has = cnt > 0
    first = np.zeros(n, dtype=np.int64)
    last = np.zeros(n, dtype=np.int64)
    first[has] = t[off[:-1][has]]
    last[has] = t[off[1:][has] - 1]

    if window_start_s is None and window_end_s is None:
        span_min = (last - first) / 60.0
        with np.errstate(invalid="ignore", divide="ignore"):
            expected = np.rint(np.rint(span_min) / interval) + 1.0
            missing = np.rint(missing_min / interval)
        expected[~has] = np.nan
    elif window_start_s is not None and window_end_s is not None:
        ws = np.broadcast_to(np.asarray(window_start_s, dtype=np.int64), (n,))
        we = np.broadcast_to(np.asarray(window_end_s, dtype=np.int64), (n,))
        iv = np.where(np.isfinite(interval), interval, 5.0)
        window_min = (we - ws) / 60.0
        lead = np.where(has, np.maximum(first - ws, 0) / 60.0, window_min)
        trail = np.where(has, np.maximum((we - last) / 60.0 - iv, 0.0), 0.0)
        expected = np.rint(window_min / iv)
        missing = np.minimum(np.rint((missing_min + lead + trail) / iv), expected)
        interval = iv
    else:
        raise ValueError("give both window_start_s and window_end_s, or neither")

    with np.errstate(invalid="ignore", divide="ignore"):
        active = 100.0 * (expected - missing) / expected
        days = expected * interval / 1440.0
    single = (cnt == 1) & (window_start_s is None)
    active[single] = np.nan
    ok = np.isfinite(active) & (days >= min_days) & (active >= min_active_percent)
    return Sufficiency(
        interval_min=interval,
        expected_readings=expected,
        active_percent=active,
        days=days,
        sufficient=ok,
    )
