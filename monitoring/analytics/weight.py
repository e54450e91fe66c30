"""Heart-failure weight gain: more than 2 kg in 3 days.

Source: heart-failure self-care advice of the Heart Failure Association of the ESC ("if you
gain more than 2 kg in 3 days, contact your doctor or nurse", heartfailurematters.org, patient
information of the HFA/ESC), which the 2021 ESC heart-failure guidelines endorse as part of
self-care (McDonagh TA, et al. 2021 ESC Guidelines for the diagnosis and treatment of acute and
chronic heart failure. Eur Heart J 2021;42(36):3599-3726, doi:10.1093/eurheartj/ehab368:
patients should weigh themselves daily and act on a sudden unexpected weight gain, e.g.
> 2 kg in 3 days).

Definition, from irregular daily weights:

* the day's weight is the *first* reading of the local day (the advice is to weigh each
  morning after voiding, before breakfast);
* on each day with a weight, the gain is that weight minus the lowest daily weight of the 3
  preceding calendar days (days without a weight are skipped, not interpolated);
* an alert day has a gain strictly greater than 2.0 kg.

A day with no weight in the 3 preceding days has no gain (NaN): the rule cannot be applied, and
a patient with no such day at all is ``Status.INSUFFICIENT``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitoring.analytics._prep import prepare
from monitoring.analytics.daily import DailyTable, daily
from monitoring.analytics.resample import CHINA_UTC_OFFSET_S
from monitoring.analytics.series import PatientSeries
from monitoring.analytics.status import Status

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: HFA/ESC patient advice: contact the care team for a gain of more than 2 kg in 3 days.
GAIN_THRESHOLD_KG = 2.0
GAIN_WINDOW_DAYS = 3


@dataclass(frozen=True, slots=True)
class WeightGainResult:
    """Per-patient result; ``gain_kg`` per day is kept for plotting."""

    daily_weight: DailyTable
    gain_kg: FloatArray
    latest_gain_kg: FloatArray
    max_gain_kg: FloatArray
    alert_days: IntArray
    latest_alert: NDArray[np.bool_]
    status: NDArray[np.int8]


def weight_gain(
    weight_kg: PatientSeries,
    *,
    utc_offset_s: ArrayLike = CHINA_UTC_OFFSET_S,
    threshold_kg: float = GAIN_THRESHOLD_KG,
    window_days: int = GAIN_WINDOW_DAYS,
) -> WeightGainResult:
    """Daily weight gain against the preceding ``window_days`` and the > 2 kg alert.

    Parameters
    ----------
    weight_kg : PatientSeries
        Cleaned body weights in kg.
    utc_offset_s : int or array_like
        Local time minus UTC, seconds.
    threshold_kg, window_days : float, int
        The rule: more than ``threshold_kg`` within ``window_days`` days.

    Returns
    -------
    WeightGainResult
        ``gain_kg`` has the daily table's shape; ``latest_gain_kg`` is the gain on each
        patient's last weighing day.
    """
    weight_kg = prepare(weight_kg, "body_weight")
    table = daily(weight_kg, "first", utc_offset_s=utc_offset_s)
    w = table.values
    n_p, n_d = w.shape
    prior = np.full((window_days, n_p, n_d), np.nan)
    for k in range(1, window_days + 1):
        prior[k - 1, :, k:] = w[:, :-k] if k < n_d else prior[k - 1, :, k:]
    lowest = np.fmin.reduce(prior, axis=0) if n_d else np.full((n_p, 0), np.nan)
    gain = w - lowest
    has_gain = np.isfinite(gain)
    alert = has_gain & (gain > threshold_kg * (1 + 1e-12))
    last_col = (
        np.where(np.isfinite(w), np.arange(n_d)[None, :], -1).max(axis=1)
        if n_d
        else (np.full(n_p, -1))
    )
    rows = np.arange(n_p)
    latest = np.where(last_col >= 0, gain[rows, np.maximum(last_col, 0)] if n_d else np.nan, np.nan)
    with np.errstate(invalid="ignore"):
        max_gain = (
            np.where(
                has_gain.any(axis=1), np.nanmax(np.where(has_gain, gain, -np.inf), axis=1), np.nan
            )
            if n_d
            else (np.full(n_p, np.nan))
        )
    status = np.full(n_p, Status.OK, dtype=np.int8)
    status[~has_gain.any(axis=1)] = Status.INSUFFICIENT
    status[~np.isfinite(w).any(axis=1)] = Status.NO_DATA
    return WeightGainResult(
        daily_weight=table,
        gain_kg=gain,
        latest_gain_kg=np.asarray(latest, dtype=np.float64),
        max_gain_kg=np.asarray(max_gain, dtype=np.float64),
        alert_days=alert.sum(axis=1).astype(np.int64),
        latest_alert=np.asarray(np.isfinite(latest) & (latest > threshold_kg * (1 + 1e-12))),
        status=status,
    )
