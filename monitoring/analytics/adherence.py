"""Missing data and adherence: a device that stops reporting, or a patient who stops measuring,
is itself a finding.

Per patient and metric, as of ``now_s``:

* ``silent_hours``: hours since the last reading;
* ``days_measured`` / ``window_days``: local days of the last ``window_days`` (14) with at
  least ``min_per_day`` readings;
* a finding with a severity:

  ==========================  ========  ======================================================
  finding                     severity  when
  ==========================  ========  ======================================================
  ``no_data``                 high      no reading in the window at all
  ``device_silent``           warning   silent longer than the policy's ``silent_after_h``
  ``device_silent``           high      silent longer than ``4 * silent_after_h``
  ``measuring_less``          warning   measured on fewer than 50 % of the window's days
  ``measuring_less``          high      on fewer than 25 %
  ``ok``                      none      otherwise
  ==========================  ========  ======================================================

  The most severe finding is reported (silence before adherence at equal severity).

The policies are Homeward's operational defaults, not clinical thresholds: a CGM reports every
5 minutes, so 6 hours of silence means a lost sensor or phone; home BP follows a twice-daily
protocol (ESH 2021), weights are daily for heart failure (ESC 2021), so three days without a
reading is worth a call. A doctor can set a patient's own policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitoring.analytics._prep import prepare
from monitoring.analytics.daily import daily
from monitoring.analytics.resample import CHINA_UTC_OFFSET_S, local_day, per_patient_offset
from monitoring.analytics.series import PatientSeries

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

NONE, INFO, WARNING, HIGH = 0, 1, 2, 3
SEVERITY_NAMES = {NONE: "none", INFO: "info", WARNING: "warning", HIGH: "high"}


@dataclass(frozen=True, slots=True)
class AdherencePolicy:
    """What "measuring as expected" means for one metric."""

    silent_after_h: float
    min_per_day: int = 1
    window_days: int = 14


#: Defaults per metric code of the device catalog.
POLICIES: dict[str, AdherencePolicy] = {
    "glucose_cgm": AdherencePolicy(silent_after_h=6.0, min_per_day=144),
    "glucose": AdherencePolicy(silent_after_h=72.0),
    "bp_systolic": AdherencePolicy(silent_after_h=72.0, min_per_day=2),
    "body_weight": AdherencePolicy(silent_after_h=72.0),
    "spo2": AdherencePolicy(silent_after_h=48.0),
    "heart_rate": AdherencePolicy(silent_after_h=24.0, min_per_day=12),
    "body_temperature": AdherencePolicy(silent_after_h=168.0),
}


@dataclass(frozen=True, slots=True)
class AdherenceResult:
    """Per-patient adherence of one metric."""

    silent_hours: FloatArray
    days_measured: IntArray
    adherence_percent: FloatArray
    finding: NDArray[np.str_]
    severity: NDArray[np.int8]


def adherence(
    series: PatientSeries,
    policy: AdherencePolicy,
    *,
    now_s: int,
    utc_offset_s: ArrayLike = CHINA_UTC_OFFSET_S,
) -> AdherenceResult:
    """Silence and measuring adherence of each patient for one metric (see module docstring)."""
    series = prepare(series)
    n_p = series.n_patients
    off = per_patient_offset(utc_offset_s, n_p)
    keep = series.time_s <= now_s
    owner = series.owner[keep]
    t = series.time_s[keep]
    last = np.full(n_p, np.iinfo(np.int64).min)
    np.maximum.at(last, owner, t)
    silent = np.where(last > np.iinfo(np.int64).min, (now_s - last) / 3600.0, np.inf)
    today = local_day(np.full(n_p, now_s, dtype=np.int64), off)
    w = policy.window_days
    counts = np.bincount(owner, minlength=n_p).astype(np.int64)
    sub = PatientSeries(
        np.concatenate(([0], np.cumsum(counts))).astype(np.int64), t, np.ones(t.size)
    )
    first = int(today.min()) - w + 1 if n_p else 0
    table = daily(
        sub,
        "count",
        utc_offset_s=off,
        first_day=first,
        n_days=int(today.max()) - first + 1 if n_p else 0,
    )
    col = np.arange(table.n_days)[None, :] + table.first_day
    in_window = (col > (today - w)[:, None]) & (col <= today[:, None])
    measured = ((table.count >= policy.min_per_day) & in_window).sum(axis=1).astype(np.int64)
    pct = 100.0 * measured / w
    in_win_any = ((table.count > 0) & in_window).any(axis=1)
    sev = np.zeros(n_p, dtype=np.int8)
    finding = np.full(n_p, "ok", dtype=object)
    less_w = pct < 50.0
    less_h = pct < 25.0
    sev[less_w] = WARNING
    finding[less_w] = "measuring_less"
    sev[less_h] = HIGH
    sil_w = silent > policy.silent_after_h
    sil_h = silent > 4 * policy.silent_after_h
    upd = sil_w & (sev <= WARNING)
    sev[upd] = np.maximum(sev[upd], WARNING)
    finding[upd] = "device_silent"
    upd = sil_h & (sev <= HIGH)
    sev[upd] = HIGH
    finding[upd] = "device_silent"
    sev[~in_win_any] = HIGH
    finding[~in_win_any] = "no_data"
    return AdherenceResult(silent, measured, pct, finding.astype(np.str_), sev)
