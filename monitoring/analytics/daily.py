"""One value per patient and local calendar day: the layout of home-measurement protocols.

Home blood pressure, body weight, salt intake and resting heart rate are judged day by day.
:func:`daily` turns a cleaned :class:`PatientSeries` into a :class:`DailyTable`, a dense
``(n_patients, n_days)`` array whose column ``d`` is local day ``first_day + d`` (days without a
reading are NaN), with one pass of grouping over all patients.

Aggregates: ``first`` and ``last`` reading of the day, ``mean``, ``median``, ``min``, ``max``,
``sum`` and ``count``. Empty input gives a ``(n_patients, 0)`` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitoring.analytics._prep import prepare
from monitoring.analytics.resample import CHINA_UTC_OFFSET_S, local_day, per_patient_offset
from monitoring.analytics.series import PatientSeries

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Aggregate = Literal["first", "last", "mean", "median", "min", "max", "sum", "count"]


@dataclass(frozen=True, slots=True)
class DailyTable:
    """Per-patient, per-local-day values.

    Attributes
    ----------
    values : ndarray, shape (n_patients, n_days)
        The aggregate of each day; NaN where the day has no reading.
    count : ndarray of int64, shape (n_patients, n_days)
        Readings of each day.
    first_day : int
        Local day number (days since 1970-01-01, local time) of column 0, shared by all rows.
    """

    values: FloatArray
    count: IntArray
    first_day: int

    @property
    def n_days(self) -> int:
        """Number of columns."""
        return int(self.values.shape[1])


def daily(
    series: PatientSeries,
    how: Aggregate = "mean",
    *,
    utc_offset_s: ArrayLike = CHINA_UTC_OFFSET_S,
    first_day: int | None = None,
    n_days: int | None = None,
) -> DailyTable:
    """Aggregate each patient's cleaned readings by local calendar day.

    Parameters
    ----------
    series : PatientSeries
        Cleaned readings (sorted by time within each patient).
    how : {"first", "last", "mean", "median", "min", "max", "sum", "count"}
        The daily aggregate.
    utc_offset_s : int or array_like of int
        Local time minus UTC, seconds, per patient.
    first_day, n_days : int, optional
        Columns to produce (local day numbers ``first_day .. first_day + n_days - 1``); by
        default from the earliest to the latest day of any patient. Readings outside are
        ignored.

    Returns
    -------
    DailyTable
    """
    series = prepare(series)
    n_p = series.n_patients
    off = per_patient_offset(utc_offset_s, n_p)
    owner = series.owner
    day = local_day(series.time_s, off[owner]) if series.n_readings else np.zeros(0, np.int64)
    d0 = int(day.min()) if first_day is None and day.size else (first_day or 0)
    nd = (int(day.max()) - d0 + 1 if day.size else 0) if n_days is None else n_days
    col = day - d0
    inside = (col >= 0) & (col < nd)
    owner, col = owner[inside], col[inside]
    x = series.values[inside]
    key = owner * nd + col
    count = np.bincount(key, minlength=n_p * nd).reshape(n_p, nd).astype(np.int64)
    out = np.full(n_p * nd, np.nan)
    if key.size:
        if how in ("sum", "mean", "count"):
            s = np.bincount(key, weights=x, minlength=n_p * nd)
            c = count.reshape(-1)
            if how == "sum":
                out = np.where(c > 0, s, np.nan)
            elif how == "count":
                out = c.astype(np.float64)
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    out = np.where(c > 0, s / c, np.nan)
        else:
            order = np.lexsort((x, key)) if how == "median" else np.arange(key.size)
            k, v = key[order], x[order]
            starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
            ends = np.concatenate((starts[1:], [k.size]))
            g = k[starts]
            if how == "first":
                out[g] = v[starts]
            elif how == "last":
                out[g] = v[ends - 1]
            elif how == "min":
                out[g] = np.minimum.reduceat(v, starts)
            elif how == "max":
                out[g] = np.maximum.reduceat(v, starts)
            else:  # median of each sorted group
                n = ends - starts
                lo = starts + (n - 1) // 2
                hi = starts + n // 2
                out[g] = (v[lo] + v[hi]) / 2.0
    return DailyTable(values=out.reshape(n_p, nd), count=count, first_day=d0)
