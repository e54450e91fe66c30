"""Threshold comparisons that survive a unit round trip.

A reading of 70 mg/dL converted to mmol/L and back may come out as 69.99999999999999 mg/dL.
Glucose meters resolve 1 mg/dL or 0.1 mmol/L, so any two values within one part in 10^9 are the
same reading; comparisons against clinical thresholds therefore treat values within that
relative tolerance of the threshold as *at* the threshold. Without this, converting the units
of the input could move a reading across a threshold and change a percentage.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Relative tolerance of threshold comparisons (far below any device resolution).
REL_TOL = 1e-9


def below(values: FloatArray, threshold: float | FloatArray) -> BoolArray:
    """``values < threshold``, with values within ``REL_TOL`` counted as equal."""
    with np.errstate(invalid="ignore"):
        return values < threshold * (1.0 - REL_TOL)


def above(values: FloatArray, threshold: float | FloatArray) -> BoolArray:
    """``values > threshold``, with values within ``REL_TOL`` counted as equal."""
    with np.errstate(invalid="ignore"):
        return values > threshold * (1.0 + REL_TOL)


def at_least(values: FloatArray, threshold: float | FloatArray) -> BoolArray:
    """``values >= threshold`` (the complement of :func:`below` for finite values)."""
    with np.errstate(invalid="ignore"):
        return values >= threshold * (1.0 - REL_TOL)


def at_most(values: FloatArray, threshold: float | FloatArray) -> BoolArray:
    """``values <= threshold`` (the complement of :func:`above` for finite values)."""
    with np.errstate(invalid="ignore"):
        return values <= threshold * (1.0 + REL_TOL)


def band_edges(lower: tuple[float, ...], upper: tuple[float, ...]) -> NDArray[np.float64]:
    """Edges for :func:`bands`: below each ``lower`` threshold, above each ``upper`` one.

    ``x >= edge`` counts ``x`` at or above a lower threshold (not below it) and, with the upper
    edges nudged to the next float up, strictly above an upper threshold. All lower thresholds
    must lie below all upper ones.
    """
    lo = [t * (1.0 - REL_TOL) for t in sorted(lower)]
    hi = [float(np.nextafter(t * (1.0 + REL_TOL), np.inf)) for t in sorted(upper)]
    edges: NDArray[np.float64] = np.asarray(lo + hi, dtype=np.float64)
    return edges


def bands(values: FloatArray, edges: NDArray[np.float64]) -> NDArray[np.int8]:
    """Band of each value: 0 below the lowest threshold ... ``len(edges)`` above the highest.

    ``band = sum(values >= edge)``: a vectorised comparison per edge (cheaper than a binary
    search per value for a handful of thresholds). NaN falls in band 0; callers mask it.
    """
    out = np.zeros(values.shape, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        for e in edges:
            out += (values >= e).view(np.int8)
    return out
