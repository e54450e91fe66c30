"""Turn raw readings into a defined series: finite, plausible, sorted, one value per instant.

Every analytic routine starts here, so that bad input has one defined meaning everywhere:

============================  ==============================================================
input                         result
============================  ==============================================================
NaN or infinite value         dropped, counted in ``n_nonfinite``
value outside plausible range dropped, counted in ``n_implausible`` (a device fault or a unit
                              mix-up, never a reading to compute with)
unsorted times                sorted (stable); ``unsorted`` is true for the patient
duplicated timestamp          one reading at that instant whose value is the mean of the
                              duplicates (order-independent, so that permuting or repeating
                              input cannot change any result); ``n_duplicates`` counts the
                              rows merged away and ``n_conflicting`` the instants whose
                              duplicates disagreed
empty patient                 stays empty; metrics report ``Status.NO_DATA``
============================  ==============================================================

The reference implementation (iglu, ``check_data_time``) also averages duplicated timestamps;
its interpolation routine alone keeps the last one, which depends on input order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitoring.analytics._ragged import lengths
from monitoring.analytics.series import PatientSeries

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class SeriesQuality:
    """What cleaning found, per patient (all arrays of shape ``(n_patients,)``)."""

    n_input: IntArray
    n_nonfinite: IntArray
    n_implausible: IntArray
    n_duplicates: IntArray
    n_conflicting: IntArray
    unsorted: BoolArray

    @property
    def n_used(self) -> IntArray:
        """Readings left after cleaning."""
        return self.n_input - self.n_nonfinite - self.n_implausible - self.n_duplicates

    @classmethod
    def concatenate(cls, parts: list[SeriesQuality]) -> SeriesQuality:
        """Join the qualities of consecutive blocks of patients."""
        return cls(
            n_input=np.concatenate([q.n_input for q in parts]),
            n_nonfinite=np.concatenate([q.n_nonfinite for q in parts]),
            n_implausible=np.concatenate([q.n_implausible for q in parts]),
            n_duplicates=np.concatenate([q.n_duplicates for q in parts]),
            n_conflicting=np.concatenate([q.n_conflicting for q in parts]),
            unsorted=np.concatenate([q.unsorted for q in parts]),
        )


def _count_per_patient(mask: BoolArray, pidx: IntArray, n: int) -> IntArray:
    return np.bincount(pidx[mask], minlength=n).astype(np.int64)


def clean_series(
    series: PatientSeries, *, plausible_min: float, plausible_max: float
) -> tuple[PatientSeries, SeriesQuality]:
    """Drop unusable readings, sort each patient by time and merge duplicated instants.

    See :func:`clean_labelled_series`, of which this is the unlabelled form.
    """
    cleaned, _, quality = clean_labelled_series(
        series, None, plausible_min=plausible_min, plausible_max=plausible_max
    )
    return cleaned, quality


def clean_labelled_series(
    series: PatientSeries,
    labels: NDArray[np.int64] | None,
    *,
    plausible_min: float,
    plausible_max: float,
) -> tuple[PatientSeries, NDArray[np.int64] | None, SeriesQuality]:
    """Drop unusable readings, sort, merge duplicated instants; carry a label along.

    See :func:`clean_with_columns`, of which this is the labelled form.
    """
    cleaned, lab, _, quality = clean_with_columns(
        series, labels, (), plausible_min=plausible_min, plausible_max=plausible_max
    )
    return cleaned, lab, quality


def clean_with_columns(
    series: PatientSeries,
    labels: NDArray[np.int64] | None,
    columns: tuple[tuple[NDArray[np.float64], float, float], ...],
    *,
    plausible_min: float,
    plausible_max: float,
) -> tuple[PatientSeries, NDArray[np.int64] | None, list[NDArray[np.float64]], SeriesQuality]:
    """Drop unusable readings, sort each patient by time and merge duplicated instants.

    Parameters
    ----------
    series : PatientSeries
        Raw readings, in the unit of ``plausible_min``/``plausible_max``.
    labels : ndarray of int64, shape (n_readings,), optional
        A code carried along with each reading (e.g. a meal context); merged duplicates keep
        the code when all agree and get 0 ("unknown") otherwise.
    columns : tuple of (values, plausible_min, plausible_max)
        Further values measured with each reading (e.g. the diastolic pressure of a systolic
        one): a reading is dropped when any of its values is NaN or implausible, and merged
        duplicates average every column.
    plausible_min, plausible_max : float
        Inclusive plausible range (for glucose: the device catalog's 0.5-55.5 mmol/L, i.e.
        9-1000 mg/dL); values outside it are dropped.

    Returns
    -------
    cleaned : PatientSeries
        Finite, plausible readings, strictly increasing in time within each patient.
    labels : ndarray of int64 or None
        The labels of the cleaned readings.
    columns : list of ndarray
        The further columns of the cleaned readings.
    quality : SeriesQuality
        Per-patient counts of what was dropped or merged.

    Notes
    -----
    Cost is a few passes over the arrays when the input is already clean and sorted (the
    common case: one ``np.diff`` proves it); a full ``lexsort`` happens only when some patient
    is out of order, and duplicate merging only when some timestamp repeats.
    """
    n = series.n_patients
    pidx = series.owner
    v = series.values
    t = series.time_s
    finite = np.isfinite(v)
    with np.errstate(invalid="ignore"):
        plausible = (v >= plausible_min) & (v <= plausible_max)
    cols = [np.asarray(c, dtype=np.float64) for c, _, _ in columns]
    for c, (_, lo, hi) in zip(cols, columns, strict=True):
        finite &= np.isfinite(c)
        with np.errstate(invalid="ignore"):
            plausible &= (c >= lo) & (c <= hi)
    keep = finite & plausible
    n_input = lengths(series.offsets)
    n_nonfinite = _count_per_patient(~finite, pidx, n)
    n_implausible = _count_per_patient(finite & ~plausible, pidx, n)
    lab = labels
    if not keep.all():
        pidx, t, v = pidx[keep], t[keep], v[keep]
        lab = lab[keep] if lab is not None else None
        cols = [c[keep] for c in cols]

    # Sortedness within each patient: a negative step between two readings of one patient.
    same = pidx[1:] == pidx[:-1]
    step = np.diff(t)
    backwards = same & (step < 0)
    unsorted = np.zeros(n, dtype=np.bool_)
    if backwards.any():
        unsorted[np.unique(pidx[1:][backwards])] = True
        order = np.lexsort((v, t, pidx))  # value as last key: ties in a defined order
        pidx, t, v = pidx[order], t[order], v[order]
        lab = lab[order] if lab is not None else None
        cols = [c[order] for c in cols]
        same = pidx[1:] == pidx[:-1]
        step = np.diff(t)

    n_duplicates = np.zeros(n, dtype=np.int64)
    n_conflicting = np.zeros(n, dtype=np.int64)
    dup = same & (step == 0)
    if dup.any():
        first = np.concatenate(([True], ~dup))  # first row of each (patient, time) group
        starts = np.flatnonzero(first)
        sizes = np.diff(np.concatenate((starts, [v.size])))
        sums = np.add.reduceat(v, starts)
        vmax = np.maximum.reduceat(v, starts)
        vmin = np.minimum.reduceat(v, starts)
        gp = pidx[starts]
        n_duplicates = np.bincount(gp, weights=sizes - 1, minlength=n).astype(np.int64)
        n_conflicting = np.bincount(gp[vmax != vmin], minlength=n).astype(np.int64)
        merged = sums / sizes
        # A group of identical values keeps the exact value (no rounding from sum/size).
        same_vals = vmax == vmin
        merged[same_vals] = vmin[same_vals]
        if lab is not None:
            lmax = np.maximum.reduceat(lab, starts)
            lmin = np.minimum.reduceat(lab, starts)
            lab = np.where(lmax == lmin, lmin, 0).astype(np.int64)
        cols = [np.add.reduceat(c, starts) / sizes for c in cols]
        pidx, t, v = gp, t[starts], merged

    counts = np.bincount(pidx, minlength=n).astype(np.int64)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    cleaned = PatientSeries(
        offsets=offsets,
        time_s=np.ascontiguousarray(t, dtype=np.int64),
        values=np.ascontiguousarray(v, dtype=np.float64),
    )
    cleaned.__dict__["owner"] = pidx.astype(np.int64, copy=False)  # prime the cached property
    quality = SeriesQuality(
        n_input=n_input,
        n_nonfinite=n_nonfinite,
        n_implausible=n_implausible,
        n_duplicates=n_duplicates,
        n_conflicting=n_conflicting,
        unsorted=unsorted,
    )
    return cleaned, lab, cols, quality
