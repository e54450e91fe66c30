"""The shared resampler: every patient's readings on one regular 5-minute grid.

Metrics that compare glucose at fixed time lags (MODD, CONGA), look for sustained runs
(hypo/hyperglycaemia events), follow moving averages (MAGE) or profile the time of day (AGP)
all use this one grid, so they agree with each other about what was measured when.

Definition
----------
For a patient whose first reading falls on local calendar day ``D0`` and last on ``D1``:

* the grid has ``n_days = D1 - D0 + 1`` rows of 288 slots; slot ``s`` is the instant
  ``origin + s * 300 s`` where ``origin`` is local midnight starting ``D0`` (``utc_offset_s``
  gives local time; Asia/Shanghai is UTC+8 without daylight saving since 1991, so each day has
  exactly 288 slots);
* a slot's value is the linear interpolation between the readings immediately before and after
  it, ``g_i + (g_j - g_i) * ((t - t_i) / (t_j - t_i))``; a slot that coincides with a reading
  takes that reading's value exactly;
* no interpolation across a gap longer than 45 minutes (``max_gap_s``): slots strictly between
  two readings more than 45 min apart are NaN (a gap of exactly 45 min is interpolated);
* slots before the first or after the last reading are NaN.

This is the rule of the reference implementation (iglu ``CGMS2DayByDay``, Broll et al. 2021,
doi:10.1371/journal.pone.0248560) with two deliberate differences, neither of which changes a
value at any instant both grids contain: iglu's slots run from 00:05 of the first day to 24:00
of the last (ours from 00:00 to 23:55, so that slot ``s`` of every row is time of day
``(s mod 288) * 5 min``), and iglu counts days as ``ceiling(span + 1)`` which can add an empty
trailing day. Interpolation weights are computed from integer seconds as iglu does from
POSIXct seconds, so grid values agree bit for bit.

Empty, NaN and gappy input: a patient without readings has ``n_days == 0`` and an all-NaN row;
NaN readings never reach the grid (see ``clean_series``); gaps longer than 45 min stay NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitoring.analytics._ragged import lengths
from monitoring.analytics.errors import InputError
from monitoring.analytics.series import PatientSeries

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Grid step: 5 minutes, the sampling interval of current CGM sensors and of the consensus
#: metrics (Battelino et al. 2019, doi:10.2337/dci19-0028).
SLOT_S = 300
#: Slots per day.
SLOTS_PER_DAY = 86_400 // SLOT_S
#: Longest gap interpolated across: 45 minutes (iglu's ``inter_gap`` default).
MAX_GAP_S = 45 * 60
#: China Standard Time, UTC+8 (Asia/Shanghai; no daylight saving since 1991).
CHINA_UTC_OFFSET_S = 8 * 3600


@dataclass(frozen=True, slots=True)
class GlucoseGrid:
    """Readings of many patients on the 5-minute grid.

    Attributes
    ----------
    values : ndarray of float64, shape (n_patients, n_slots)
        Interpolated values in the unit of the input; NaN where there is none. ``n_slots`` is
        ``288 * max(n_days)``; rows of patients with fewer days end in NaN.
    origin_s : ndarray of int64, shape (n_patients,)
        UTC seconds of slot 0 (local midnight of the first day); 0 for empty patients.
    n_days : ndarray of int64, shape (n_patients,)
        Calendar days covered by each patient's grid row.
    """

    values: FloatArray
    origin_s: IntArray
    n_days: IntArray

    @property
    def n_patients(self) -> int:
        """Number of rows."""
        return int(self.values.shape[0])

    @property
    def n_slots(self) -> int:
        """Number of columns."""
        return int(self.values.shape[1])

    def slot_times_s(self, patient: int) -> IntArray:
        """UTC seconds of each slot of one patient's row."""
        times: IntArray = self.origin_s[patient] + SLOT_S * np.arange(self.n_slots, dtype=np.int64)
        return times


def local_day(time_s: IntArray, utc_offset_s: IntArray) -> IntArray:
    """Local calendar day number (days since 1970-01-01 in local time) of each instant."""
    # float64 holds epoch seconds exactly and the quotient's floor is exact (a non-integer
    # quotient lies at least 1/86400 from an integer); faster than int64 floor division
    day: IntArray = np.floor((time_s + utc_offset_s) / 86_400.0).astype(np.int64)
    return day


def per_patient_offset(utc_offset_s: ArrayLike, n_patients: int) -> IntArray:
    """Broadcast a scalar or per-patient UTC offset (seconds) to shape ``(n_patients,)``."""
    off = np.asarray(utc_offset_s, dtype=np.int64)
    if off.ndim == 0:
        return np.full(n_patients, int(off), dtype=np.int64)
    if off.shape != (n_patients,):
        raise InputError("utc_offset_s", f"must be a scalar or have shape ({n_patients},)")
    out: IntArray = off
    return out


def resample(
    series: PatientSeries,
    *,
    utc_offset_s: ArrayLike = CHINA_UTC_OFFSET_S,
    max_gap_s: int = MAX_GAP_S,
) -> GlucoseGrid:
    """Put cleaned readings of many patients on the 5-minute grid.

    Parameters
    ----------
    series : PatientSeries
        Output of ``clean_series``: finite values, strictly increasing times per patient.
    utc_offset_s : int or array_like of int, shape (n_patients,)
        Local time minus UTC, in seconds, fixing local midnight and time of day.
    max_gap_s : int
        Readings further apart than this are not interpolated between (default 45 min).

    Returns
    -------
    GlucoseGrid

    Notes
    -----
    Vectorised over all patients: each pair of consecutive readings ``(i, i + 1)`` owns the
    slots ``ceil(t_i / 300) <= s < ceil(t_{i+1} / 300)``; ``np.repeat`` expands the pairs into
    slots, one gather computes the interpolation and one scatter fills the grid, so the cost is
    a handful of passes over the readings and the grid.
    """
    n = series.n_patients
    off = per_patient_offset(utc_offset_s, n)
    counts = lengths(series.offsets)
    t = series.time_s
    g = series.values
    origin = np.zeros(n, dtype=np.int64)
    n_days = np.zeros(n, dtype=np.int64)
    has = counts > 0
    first = series.offsets[:-1][has]
    last = series.offsets[1:][has] - 1
    day_first = local_day(t[first], off[has])
    day_last = local_day(t[last], off[has])
    origin[has] = day_first * 86_400 - off[has]
    n_days[has] = day_last - day_first + 1
    n_slots = int(n_days.max()) * SLOTS_PER_DAY if n else 0
    grid = np.full((n, n_slots), np.nan)
    if t.size == 0:
        return GlucoseGrid(values=grid, origin_s=origin, n_days=n_days)

    pidx = series.owner
    # seconds since the patient's origin (>= 0, < 2**31 for any realistic window); float64
    # holds them exactly and makes the slot arithmetic cheap
    rel = (t - origin[pidx]).astype(np.float64)
    slot0 = np.ceil(rel / SLOT_S)  # first slot at or after each reading (exact: see above)
    on_slot = slot0 * SLOT_S == rel
    # pair (i, i + 1) bridges when both belong to one patient and are <= max_gap_s apart
    ends = series.offsets[1:][counts > 0] - 1
    step = np.empty_like(rel)
    np.subtract(rel[1:], rel[:-1], out=step[:-1])
    step[ends] = np.inf
    bridge = step <= max_gap_s
    n_fill = np.empty_like(rel)
    np.subtract(slot0[1:], slot0[:-1], out=n_fill[:-1])
    n_fill[ends] = 0.0
    n_fill = np.where(bridge, n_fill, on_slot)
    g_next = np.empty_like(g)
    g_next[:-1] = g[1:]
    g_next[~bridge] = g[~bridge]  # no partner: the slot (if any) is the reading itself
    step[~bridge] = 1.0
    flat = grid.reshape(-1)
    base = (pidx * n_slots).astype(np.float64)
    # first slot of every pair, straight on the full arrays:
    # g_i + (g_j - g_i) * ((slot_time - t_i) / (t_j - t_i)), the reference's formula
    frac = slot0 * SLOT_S
    frac -= rel
    frac /= step
    value = g_next - g
    value *= frac
    value += g
    has_slot = n_fill > 0
    flat[(base + slot0)[has_slot].astype(np.int64)] = value[has_slot]
    # further slots of pairs spanning more than one slot (a missed reading or a short gap)
    more = np.flatnonzero(n_fill > 1)
    k = 1
    while more.size:
        slot = slot0[more] + k
        g0 = g[more]
        flat[(base[more] + slot).astype(np.int64)] = g0 + (g_next[more] - g0) * (
            (slot * SLOT_S - rel[more]) / step[more]
        )
        more = more[n_fill[more] > k + 1]
        k += 1
    return GlucoseGrid(values=grid, origin_s=origin, n_days=n_days)
