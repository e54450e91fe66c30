"""Heart rate, SpO2 and body temperature: sustained low SpO2, resting heart-rate trend,
brady- and tachycardia episodes, fever in older adults.

SpO2. Sustained low saturation is a run of readings below the patient's floor lasting
``min_duration`` (5 min), broken by a reading at or above the floor or a gap longer than 2 min
(:mod:`runs`, the same definition as the alert rule). Floor: 90 % by default; 88 % for patients
at risk of hypercapnic respiratory failure such as many with COPD, whose target range is
88-92 % (O'Driscoll BR, et al. BTS guideline for oxygen use in adults in healthcare and
emergency settings. Thorax 2017;72(Suppl 1):ii1-ii90, doi:10.1136/thoraxjnl-2016-209729).

Heart rate. Bradycardia below 50 /min (sinus bradycardia, Kusumoto FM, et al. 2018
ACC/AHA/HRS guideline on the evaluation and management of patients with bradycardia and
cardiac conduction delay. Circulation 2019;140(8):e382-e482,
doi:10.1161/CIR.0000000000000628) and tachycardia above 100 /min (Page RL, et al. 2015
ACC/AHA/HRS guideline for the management of adult patients with supraventricular
tachycardia. Circulation 2016;133(14):e506-e574, doi:10.1161/CIR.0000000000000311), each
sustained for 10 minutes with gaps of at most 5 minutes (wearables sample every 1-5 minutes;
10 minutes keeps a walk up the stairs from counting as an episode). The daily *resting* heart
rate is the median of the night's readings (00:00-05:59 local time, at least 12 readings),
when an elderly patient is lying down; its trend is the Theil-Sen slope per week
(:mod:`trend`).

Temperature. Fever in older adults by the IDSA definition for long-term care residents
(High KP, et al. Clinical practice guideline for the evaluation of fever and infection in older
adult residents of long-term care facilities: 2008 update by the Infectious Diseases Society of
America. Clin Infect Dis 2009;48(2):149-171, doi:10.1086/595683): a single oral temperature
> 37.8 C, or repeated oral temperatures > 37.2 C, or an increase of > 1.1 C over the
baseline temperature. Here "repeated" is two or more readings above 37.2 C within the
assessment window, and the baseline is the median of the patient's readings from 30 days to
24 hours before ``now`` (at least 3 readings, else the rise criterion is not assessed). Home
thermometers (oral, tympanic) are taken as oral equivalents; the definition's rectal
threshold is not used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitoring.analytics._prep import prepare
from monitoring.analytics._thresholds import above
from monitoring.analytics.daily import DailyTable, daily
from monitoring.analytics.resample import CHINA_UTC_OFFSET_S, per_patient_offset
from monitoring.analytics.runs import RunTable, sustained_runs
from monitoring.analytics.series import PatientSeries
from monitoring.analytics.status import Status
from monitoring.analytics.trend import TrendResult, trend

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: SpO2 floors, percent (BTS 2017): default and for hypercapnic-risk patients (COPD).
SPO2_FLOOR_PCT = 90.0
SPO2_FLOOR_COPD_PCT = 88.0
SPO2_SUSTAINED_S = 5 * 60
SPO2_MAX_GAP_S = 2 * 60
#: Heart-rate limits, beats per minute (ACC/AHA/HRS 2018 and 2015).
BRADYCARDIA_BPM = 50.0
TACHYCARDIA_BPM = 100.0
HR_SUSTAINED_S = 10 * 60
HR_MAX_GAP_S = 5 * 60
#: Resting heart rate: night readings, local hours [0, 6), at least 12 of them.
NIGHT_HOURS = (0, 6)
MIN_NIGHT_READINGS = 12
#: IDSA 2008 fever definitions for older adults, degrees Celsius.
FEVER_SINGLE_C = 37.8
FEVER_REPEATED_C = 37.2
FEVER_RISE_C = 1.1


@dataclass(frozen=True, slots=True)
class Spo2Summary:
    """Per-patient sustained-low-SpO2 summary and the runs themselves."""

    runs: RunTable
    n_episodes: IntArray
    longest_min: FloatArray
    lowest_pct: FloatArray
    percent_readings_below_floor: FloatArray
    status: NDArray[np.int8]


def spo2_low(
    spo2_pct: PatientSeries,
    *,
    floor_pct: ArrayLike = SPO2_FLOOR_PCT,
    sustained_s: int = SPO2_SUSTAINED_S,
    max_gap_s: int = SPO2_MAX_GAP_S,
) -> Spo2Summary:
    """Sustained runs of SpO2 below each patient's floor (scalar or per patient)."""
    spo2_pct = prepare(spo2_pct, "spo2")
    n_p = spo2_pct.n_patients
    floor = np.broadcast_to(np.asarray(floor_pct, dtype=np.float64), (n_p,))
    runs = sustained_runs(
        spo2_pct, threshold=floor, side="below", min_duration_s=sustained_s, max_gap_s=max_gap_s
    )
    n_ep = np.bincount(runs.patient, minlength=n_p).astype(np.int64)
    longest = np.zeros(n_p)
    np.maximum.at(longest, runs.patient, runs.duration_s / 60.0)
    lowest = np.full(n_p, np.inf)
    np.minimum.at(lowest, runs.patient, runs.extreme)
    lowest[n_ep == 0] = np.nan
    counts = np.diff(spo2_pct.offsets)
    low = spo2_pct.values < floor[spo2_pct.owner]
    n_low = np.bincount(spo2_pct.owner[low], minlength=n_p)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(counts > 0, 100.0 * n_low / counts, np.nan)
    status = np.where(counts > 0, Status.OK, Status.NO_DATA).astype(np.int8)
    return Spo2Summary(runs, n_ep, np.where(n_ep > 0, longest, np.nan), lowest, pct, status)


@dataclass(frozen=True, slots=True)
class HeartRateEpisodes:
    """Bradycardia and tachycardia runs and their per-patient counts."""

    bradycardia: RunTable
    tachycardia: RunTable
    n_bradycardia: IntArray
    n_tachycardia: IntArray


def heart_rate_episodes(
    hr_bpm: PatientSeries,
    *,
    brady_bpm: ArrayLike = BRADYCARDIA_BPM,
    tachy_bpm: ArrayLike = TACHYCARDIA_BPM,
    sustained_s: int = HR_SUSTAINED_S,
    max_gap_s: int = HR_MAX_GAP_S,
) -> HeartRateEpisodes:
    """Sustained heart rate below ``brady_bpm`` or above ``tachy_bpm``."""
    hr_bpm = prepare(hr_bpm, "heart_rate")
    n_p = hr_bpm.n_patients
    brady = sustained_runs(
        hr_bpm, threshold=brady_bpm, side="below", min_duration_s=sustained_s, max_gap_s=max_gap_s
    )
    tachy = sustained_runs(
        hr_bpm, threshold=tachy_bpm, side="above", min_duration_s=sustained_s, max_gap_s=max_gap_s
    )
    return HeartRateEpisodes(
        brady,
        tachy,
        np.bincount(brady.patient, minlength=n_p).astype(np.int64),
        np.bincount(tachy.patient, minlength=n_p).astype(np.int64),
    )


@dataclass(frozen=True, slots=True)
class RestingHeartRate:
    """Daily resting heart rate (night median) and its trend, per week."""

    daily: DailyTable
    trend_per_week: TrendResult


def resting_heart_rate(
    hr_bpm: PatientSeries, *, utc_offset_s: ArrayLike = CHINA_UTC_OFFSET_S
) -> RestingHeartRate:
    """Night-median heart rate per local day and its Theil-Sen / Mann-Kendall trend."""
    hr_bpm = prepare(hr_bpm, "heart_rate")
    n_p = hr_bpm.n_patients
    off = per_patient_offset(utc_offset_s, n_p)
    hour = ((hr_bpm.time_s + off[hr_bpm.owner]) % 86_400) // 3600
    night = (hour >= NIGHT_HOURS[0]) & (hour < NIGHT_HOURS[1])
    owner = hr_bpm.owner[night]
    counts = np.bincount(owner, minlength=n_p).astype(np.int64)
    sub = PatientSeries(
        np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
        hr_bpm.time_s[night],
        hr_bpm.values[night],
    )
    table = daily(sub, "median", utc_offset_s=off)
    vals = np.where(table.count >= MIN_NIGHT_READINGS, table.values, np.nan)
    table = DailyTable(vals, table.count, table.first_day)
    ok = np.isfinite(vals)
    rows, cols = np.nonzero(ok)
    day_counts = ok.sum(axis=1).astype(np.int64)
    day_series = PatientSeries(
        np.concatenate(([0], np.cumsum(day_counts))).astype(np.int64),
        ((table.first_day + cols) * 86_400 + 3 * 3600 - off[rows]).astype(np.int64),
        vals[rows, cols],
    )
    return RestingHeartRate(table, trend(day_series, time_unit_s=7 * 86_400))


@dataclass(frozen=True, slots=True)
class FeverAssessment:
    """IDSA 2008 fever criteria over ``[now - window, now]``, per patient."""

    max_c: FloatArray
    baseline_c: FloatArray
    single_above_37_8: BoolArray
    repeated_above_37_2: BoolArray
    rise_above_baseline: BoolArray
    fever: BoolArray
    status: NDArray[np.int8]


def fever(temperature_c: PatientSeries, *, now_s: int, window_s: int = 86_400) -> FeverAssessment:
    """Whether each patient meets any IDSA fever criterion in the last ``window_s``."""
    temperature_c = prepare(temperature_c, "body_temperature")
    n_p = temperature_c.n_patients
    t, x, owner = temperature_c.time_s, temperature_c.values, temperature_c.owner
    recent = (t > now_s - window_s) & (t <= now_s)
    base = (t > now_s - 30 * 86_400) & (t <= now_s - window_s)
    n_recent = np.bincount(owner[recent], minlength=n_p)
    mx = np.full(n_p, -np.inf)
    np.maximum.at(mx, owner[recent], x[recent])
    mx[n_recent == 0] = np.nan
    single = above(mx, FEVER_SINGLE_C) & (n_recent > 0)
    rep = np.bincount(owner[recent & above(x, FEVER_REPEATED_C)], minlength=n_p) >= 2
    # baseline median per patient from the sorted (patient, value) order
    bo, bv = owner[base], x[base]
    order = np.lexsort((bv, bo))
    bo, bv = bo[order], bv[order]
    n_base = np.bincount(bo, minlength=n_p)
    start = np.concatenate(([0], np.cumsum(n_base)))[:-1]
    med = np.full(n_p, np.nan)
    has = n_base >= 3
    lo = start + (n_base - 1) // 2
    hi = start + n_base // 2
    med[has] = (bv[lo[has]] + bv[hi[has]]) / 2.0
    with np.errstate(invalid="ignore"):
        rise = np.isfinite(med) & np.isfinite(mx) & above(mx - med, FEVER_RISE_C)
    status = np.full(n_p, Status.OK, dtype=np.int8)
    status[~has & (n_recent > 0)] = Status.INSUFFICIENT  # rise criterion not assessable
    status[n_recent == 0] = Status.NO_DATA
    return FeverAssessment(mx, med, single, rep, rise, single | rep | rise, status)
