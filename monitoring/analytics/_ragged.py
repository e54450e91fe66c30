"""Reductions over a ragged layout: one flat array, patients delimited by ``offsets``.

``offsets`` has ``n_patients + 1`` non-decreasing entries, ``offsets[0] == 0`` and
``offsets[-1] == len(values)``; patient ``p`` owns ``values[offsets[p]:offsets[p + 1]]``.
Empty patients are allowed everywhere: their sums and counts are 0, their extrema NaN.

``np.ufunc.reduceat`` does the work; it misbehaves on empty segments (it returns the element at
the index instead of the identity), so every helper reduces only the non-empty segments.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


def lengths(offsets: IntArray) -> IntArray:
    """Number of elements of each patient."""
    return np.diff(offsets)


def owner(offsets: IntArray) -> IntArray:
    """For each element, the index of the patient that owns it."""
    n = offsets.size - 1
    return np.repeat(np.arange(n, dtype=np.int64), lengths(offsets))


def segment_sum(values: FloatArray, offsets: IntArray) -> FloatArray:
    """Sum of each patient's values (0 for an empty patient)."""
    n = offsets.size - 1
    out = np.zeros(n, dtype=np.float64)
    nonempty = lengths(offsets) > 0
    if values.size and nonempty.any():
        out[nonempty] = np.add.reduceat(values, offsets[:-1][nonempty])
    return out


def segment_count(mask: BoolArray, offsets: IntArray) -> IntArray:
    """Number of true elements of each patient."""
    n = offsets.size - 1
    out = np.zeros(n, dtype=np.int64)
    nonempty = lengths(offsets) > 0
    if mask.size and nonempty.any():
        out[nonempty] = np.add.reduceat(mask, offsets[:-1][nonempty], dtype=np.int64)
    return out


def segment_max(values: FloatArray, offsets: IntArray) -> FloatArray:
    """Maximum of each patient's values (NaN for an empty patient)."""
    n = offsets.size - 1
    out = np.full(n, np.nan)
    nonempty = lengths(offsets) > 0
    if values.size and nonempty.any():
        out[nonempty] = np.maximum.reduceat(values, offsets[:-1][nonempty])
    return out


def segment_min(values: FloatArray, offsets: IntArray) -> FloatArray:
    """Minimum of each patient's values (NaN for an empty patient)."""
    n = offsets.size - 1
    out = np.full(n, np.nan)
    nonempty = lengths(offsets) > 0
    if values.size and nonempty.any():
        out[nonempty] = np.minimum.reduceat(values, offsets[:-1][nonempty])
    return out


def segment_mean(values: FloatArray, offsets: IntArray) -> FloatArray:
    """Arithmetic mean of each patient's values, refined by a second pass (NaN when empty).

    The second pass adds the mean of the residuals, as R's ``mean`` does, so that results agree
    with the reference implementation to the last few bits rather than to ``n * eps``.
    """
    counts = lengths(offsets)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = segment_sum(values, offsets) / counts
        resid = values - np.repeat(mean, counts)
        mean = mean + segment_sum(resid, offsets) / counts
    return mean


def segment_sd(values: FloatArray, offsets: IntArray, mean: FloatArray) -> FloatArray:
    """Sample standard deviation (n - 1 denominator) given each patient's mean.

    Two-pass formula; NaN for patients with fewer than two values.
    """
    counts = lengths(offsets)
    dev = values - np.repeat(mean, counts)
    ss = segment_sum(dev * dev, offsets)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(ss / (counts - 1))
    sd[counts < 2] = np.nan
    return sd


def run_starts(change: BoolArray) -> IntArray:
    """Indices where a run starts, given ``change[i]`` = element ``i`` differs from ``i - 1``.

    ``change[0]`` is treated as true.
    """
    starts = np.flatnonzero(change)
    if change.size and (starts.size == 0 or starts[0] != 0):
        starts = np.concatenate(([0], starts))
    return starts.astype(np.int64)


def to_padded(
    offsets: IntArray, *arrays: NDArray[np.float64]
) -> tuple[list[NDArray[np.float64]], IntArray]:
    """Left-aligned ``(n_patients, max_len)`` copies of ragged arrays, NaN-padded.

    Returns the padded arrays and each patient's length.
    """
    n = lengths(offsets)
    p = n.size
    width = int(n.max()) if p and n.size else 0
    col = np.arange(int(offsets[-1]), dtype=np.int64) - np.repeat(offsets[:-1], n)
    row = owner(offsets)
    out = []
    for a in arrays:
        m = np.full((p, width), np.nan)
        m[row, col] = a
        out.append(m)
    return out, n


def nanmedian_last(a: FloatArray) -> FloatArray:
    """Median over the last axis ignoring NaN (NaN when all are NaN), without Python loops."""
    s = np.sort(a, axis=-1)
    n = np.isfinite(s).sum(axis=-1)
    lo = np.maximum((n - 1) // 2, 0)
    hi = np.maximum(n // 2, 0)
    x_lo = np.take_along_axis(s, lo[..., None], axis=-1)[..., 0]
    x_hi = np.take_along_axis(s, hi[..., None], axis=-1)[..., 0]
    med: FloatArray = np.where(n > 0, (x_lo + x_hi) / 2.0, np.nan)
    return med
