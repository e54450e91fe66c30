"""Time series of many patients in one ragged layout.

A :class:`PatientSeries` holds the readings of one metric for many patients as three flat NumPy
arrays: ``time_s`` (UTC, integer seconds since the Unix epoch), ``values`` (in a unit the
caller states in the argument name, e.g. ``glucose_mg_dl``) and ``offsets`` (patient ``p`` owns
``[offsets[p], offsets[p + 1])``). Every analytic routine takes this layout, so that one call
covers a whole programme's patients with array operations and no per-reading Python loop.

Nothing here cleans the data: readings may be unsorted, duplicated, NaN or implausible;
:func:`monitoring.analytics.cleaning.clean_series` turns them into a defined, sorted series and
counts what it removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitoring.analytics.errors import InputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class PatientSeries:
    """Readings of one metric for ``n_patients`` patients (ragged layout).

    Attributes
    ----------
    offsets : ndarray of int64, shape (n_patients + 1,)
        Patient ``p`` owns elements ``offsets[p]:offsets[p + 1]``.
    time_s : ndarray of int64, shape (n,)
        Moment of each reading, UTC seconds since 1970-01-01.
    values : ndarray of float64, shape (n,)
        The readings, in the unit the caller's argument name states.
    """

    offsets: IntArray
    time_s: IntArray
    values: FloatArray

    def __post_init__(self) -> None:
        off = self.offsets
        if off.ndim != 1 or off.size < 1:
            raise InputError("offsets", "must be a 1-D array of n_patients + 1 entries")
        if self.time_s.ndim != 1 or self.values.ndim != 1:
            raise InputError("time_s/values", "must be 1-D arrays")
        if self.time_s.size != self.values.size:
            raise InputError(
                "time_s/values", f"lengths differ ({self.time_s.size} != {self.values.size})"
            )
        if off[0] != 0 or off[-1] != self.values.size:
            raise InputError("offsets", "must start at 0 and end at len(values)")
        if off.size > 1 and np.any(np.diff(off) < 0):
            raise InputError("offsets", "must be non-decreasing")

    @cached_property
    def owner(self) -> IntArray:
        """For each reading, the index of its patient (computed once, then cached)."""
        n = self.offsets.size - 1
        return np.repeat(np.arange(n, dtype=np.int64), np.diff(self.offsets))

    @property
    def n_patients(self) -> int:
        """Number of patients (some may have no readings)."""
        return int(self.offsets.size - 1)

    @property
    def n_readings(self) -> int:
        """Total number of readings over all patients."""
        return int(self.values.size)

    def patient(self, p: int) -> tuple[IntArray, FloatArray]:
        """``(time_s, values)`` of patient ``p`` (views, not copies)."""
        a, b = int(self.offsets[p]), int(self.offsets[p + 1])
        return self.time_s[a:b], self.values[a:b]

    def block(self, start: int, stop: int) -> PatientSeries:
        """Patients ``start..stop-1`` as a new series (views of the arrays)."""
        a, b = int(self.offsets[start]), int(self.offsets[stop])
        return PatientSeries(
            offsets=self.offsets[start : stop + 1] - a,
            time_s=self.time_s[a:b],
            values=self.values[a:b],
        )

    def scaled(self, factor: float) -> PatientSeries:
        """The same readings multiplied by ``factor`` (unit conversion)."""
        return PatientSeries(self.offsets, self.time_s, self.values * factor)

    @classmethod
    def from_arrays(
        cls,
        patient_index: ArrayLike,
        time_s: ArrayLike,
        values: ArrayLike,
        n_patients: int | None = None,
    ) -> PatientSeries:
        """Group readings given as parallel arrays by patient.

        Parameters
        ----------
        patient_index : array_like of int
            Patient of each reading, ``0 <= patient_index < n_patients``; any order.
        time_s : array_like of int
            UTC seconds since the epoch of each reading.
        values : array_like of float
            The readings.
        n_patients : int, optional
            Number of patients (default ``max(patient_index) + 1``); patients without readings
            get empty slices.

        Returns
        -------
        PatientSeries
            Readings grouped by patient, in their original order within each patient
            (a stable sort; time order is established by ``clean_series``).
        """
        pidx = np.asarray(patient_index, dtype=np.int64)
        t = np.asarray(time_s, dtype=np.int64)
        v = np.asarray(values, dtype=np.float64)
        if not (pidx.shape == t.shape == v.shape) or pidx.ndim != 1:
            raise InputError("patient_index/time_s/values", "must be 1-D arrays of equal length")
        n = int(pidx.max()) + 1 if n_patients is None and pidx.size else (n_patients or 0)
        if pidx.size and (pidx.min() < 0 or pidx.max() >= n):
            raise InputError("patient_index", f"must lie in [0, {n})")
        order = np.argsort(pidx, kind="stable")
        counts = np.bincount(pidx, minlength=n).astype(np.int64)
        offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return cls(offsets=offsets, time_s=t[order], values=v[order])

    @classmethod
    def from_lists(cls, per_patient: Sequence[tuple[ArrayLike, ArrayLike]]) -> PatientSeries:
        """Build from one ``(time_s, values)`` pair per patient."""
        times = [np.asarray(t, dtype=np.int64).reshape(-1) for t, _ in per_patient]
        vals = [np.asarray(v, dtype=np.float64).reshape(-1) for _, v in per_patient]
        for i, (t, v) in enumerate(zip(times, vals, strict=True)):
            if t.size != v.size:
                raise InputError(f"per_patient[{i}]", "time and value lengths differ")
        counts = np.array([t.size for t in times], dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        t_all = np.concatenate(times) if times else np.zeros(0, dtype=np.int64)
        v_all = np.concatenate(vals) if vals else np.zeros(0, dtype=np.float64)
        return cls(offsets=offsets, time_s=t_all.astype(np.int64), values=v_all)

    @classmethod
    def empty(cls, n_patients: int) -> PatientSeries:
        """``n_patients`` patients without any reading."""
        return cls(
            offsets=np.zeros(n_patients + 1, dtype=np.int64),
            time_s=np.zeros(0, dtype=np.int64),
            values=np.zeros(0, dtype=np.float64),
        )
