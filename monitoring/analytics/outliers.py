"""Artifact and outlier rejection: the Hampel filter.

A reading is an outlier when it lies more than ``n_sigmas`` robust standard deviations from the
median of its window: ``|x_i - m_i| > n_sigmas * 1.4826 * MAD_i``, where ``m_i`` and ``MAD_i``
are the median and the median absolute deviation of the ``2 * half_width + 1`` observations
centred on ``i`` (fewer at the ends of a series; NaN never counts), and 1.4826 makes the MAD a
consistent estimate of the SD for normal data (Hampel FR. The influence curve and its role in
robust estimation. J Am Stat Assoc 1974;69(346):383-393, doi:10.1080/01621459.1974.10482962;
Pearson RK, Neuvo Y, Astola J, Gabbouj M. Generalized Hampel filters. EURASIP J Adv Signal
Process 2016;2016:87, doi:10.1186/s13634-016-0383-6). Defaults ``half_width = 3`` and
``n_sigmas = 3`` are the usual ones.

Trend and change detection run on the filtered series: an outlier is replaced by its window
median (and flagged), so one cuff error does not move a Theil-Sen slope or trip a CUSUM.

A window whose MAD is 0 (at least half its values equal) flags nothing: with no spread there is
no scale to call a deviation large. Series shorter than 3 are returned unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitoring.analytics._prep import prepare
from monitoring.analytics._ragged import nanmedian_last, to_padded
from monitoring.analytics.series import PatientSeries

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Scale factor from MAD to SD for normally distributed data (1 / Phi^-1(3/4)).
MAD_TO_SD = 1.4826


@dataclass(frozen=True, slots=True)
class HampelResult:
    """Filtered series (outliers replaced by their window median) and the outlier mask."""

    filtered: PatientSeries
    outlier: BoolArray


def hampel(series: PatientSeries, *, half_width: int = 3, n_sigmas: float = 3.0) -> HampelResult:
    """Flag and replace outliers in every patient's series (windows in observations).

    Parameters
    ----------
    series : PatientSeries
        Cleaned observations.
    half_width : int
        Observations on each side of the window's centre.
    n_sigmas : float
        Threshold in robust standard deviations.

    Returns
    -------
    HampelResult
    """
    series = prepare(series)
    (x,), n = to_padded(series.offsets, series.values)
    p, w = x.shape
    if w == 0:
        return HampelResult(series, np.zeros(0, dtype=np.bool_))
    k = half_width
    pad = np.full((p, w + 2 * k), np.nan)
    pad[:, k : k + w] = x
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * k + 1, axis=1)
    med = nanmedian_last(win)
    mad = nanmedian_last(np.abs(win - med[..., None]))
    with np.errstate(invalid="ignore"):
        out = np.abs(x - med) > n_sigmas * MAD_TO_SD * mad
    out &= (mad > 0) & (n[:, None] >= 3)
    row = np.repeat(np.arange(p), n)
    col = np.arange(series.n_readings) - np.repeat(series.offsets[:-1], n)
    flag = out[row, col]
    values = np.where(flag, med[row, col], series.values)
    return HampelResult(PatientSeries(series.offsets, series.time_s, values), flag)
