"""Sustained runs of readings beyond a threshold (low SpO2, brady- or tachycardia).

A *run* is a maximal sequence of consecutive readings of one patient that are all beyond the
threshold (strictly below for ``"below"``, strictly above for ``"above"``), in which no two
neighbours are more than ``max_gap_s`` apart. A run is broken by one reading on the other side
of the threshold or by a gap longer than ``max_gap_s`` (a gap of exactly ``max_gap_s`` does not
break it: without evidence either way we do not invent a recovery). A run is *sustained* when
its last reading is at least ``min_duration_s`` after its first (exactly ``min_duration_s``
counts). This is the definition of the alert rule for sustained low SpO2 (``alerts.rules``),
so that analytics and alerts count the same episodes.

Vectorised: one boolean mask, one ``np.diff`` for run starts, ``ufunc.reduceat`` for the
statistics of all runs of all patients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitoring.analytics._prep import prepare
from monitoring.analytics._thresholds import above, below
from monitoring.analytics.series import PatientSeries

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class RunTable:
    """Sustained runs of a block of patients, one row per run, by patient then time."""

    patient: IntArray
    start_s: IntArray
    end_s: IntArray
    n_readings: IntArray
    extreme: FloatArray
    median: FloatArray

    @property
    def duration_s(self) -> IntArray:
        """Time from the first to the last reading of each run."""
        d: IntArray = self.end_s - self.start_s
        return d

    def __len__(self) -> int:
        return int(self.patient.size)


def sustained_runs(
    series: PatientSeries,
    *,
    threshold: ArrayLike,
    side: Literal["below", "above"],
    min_duration_s: int,
    max_gap_s: int,
) -> RunTable:
    """Find every sustained run beyond ``threshold`` (scalar or one per patient).

    Parameters
    ----------
    series : PatientSeries
        Cleaned readings.
    threshold : float or array_like, shape (n_patients,)
        Patient-specific threshold (e.g. an SpO2 floor of 88 % for COPD).
    side : {"below", "above"}
    min_duration_s, max_gap_s : int
        Sustained duration and longest tolerated gap between neighbours, seconds.

    Returns
    -------
    RunTable
        ``extreme`` is the lowest (below) or highest (above) reading, ``median`` the run's
        median value.
    """
    series = prepare(series)
    n_p = series.n_patients
    thr = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (n_p,))
    owner = series.owner
    x = series.values
    t = series.time_s
    if x.size == 0:
        z = np.zeros(0, np.int64)
        return RunTable(z, z, z, z, np.zeros(0), np.zeros(0))
    lim = thr[owner]
    beyond = below(x, lim) if side == "below" else above(x, lim)
    start = beyond.copy()
    start[1:] &= ~(beyond[:-1] & (owner[1:] == owner[:-1]) & (t[1:] - t[:-1] <= max_gap_s))
    starts = np.flatnonzero(start)
    # a run continues while the next reading is beyond, same patient, and close enough
    cont = np.zeros(x.size, dtype=np.bool_)
    cont[:-1] = beyond[1:] & (owner[1:] == owner[:-1]) & (t[1:] - t[:-1] <= max_gap_s)
    stop = beyond & ~cont
    ends = np.flatnonzero(stop)
    duration = t[ends] - t[starts]
    keep = duration >= min_duration_s
    starts, ends = starts[keep], ends[keep]
    n = ends - starts + 1
    if starts.size == 0:
        z = np.zeros(0, np.int64)
        return RunTable(z, z, z, z, np.zeros(0), np.zeros(0))
    idx = np.empty(2 * starts.size, dtype=np.int64)
    idx[0::2] = starts
    idx[1::2] = ends + 1
    if idx[-1] >= x.size:
        idx = idx[:-1]
    reducer = np.minimum if side == "below" else np.maximum
    extreme = reducer.reduceat(x, idx)[0::2]
    # medians: sort each run's values (runs are short) by (run, value)
    run_id = np.repeat(np.arange(starts.size), n)
    pos = np.repeat(starts, n) + (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
    vals = x[pos]
    order = np.lexsort((vals, run_id))
    vs = vals[order]
    base = np.cumsum(n) - n
    med = (vs[base + (n - 1) // 2] + vs[base + n // 2]) / 2.0
    return RunTable(
        patient=owner[starts].astype(np.int64),
        start_s=t[starts].astype(np.int64),
        end_s=t[ends].astype(np.int64),
        n_readings=n.astype(np.int64),
        extreme=np.asarray(extreme, dtype=np.float64),
        median=med,
    )
