"""Home blood pressure (mmHg) of a treated hypertensive older adult, as an upper-arm cuff reads it.

Model, for each instant ``t`` (systolic; diastolic alike with its own numbers)::

    true(t)     = day_level · (1 - dip·asleep(t)) + surge(t) + drift(t)
    reported(t) = round(true(t) + noise(t))                     (whole mmHg)
    MAP         = DBP + (SBP - DBP) / 3

* **Level.** Home BP of 135/85 mmHg is the hypertension threshold of the ESC/ESH 2018 guideline
  (Williams et al., Eur Heart J 2018;39:3021-3104, doi:10.1093/eurheartj/ehy339), and a treated
  older patient often sits near it. Defaults 136/80 mmHg daytime.
* **Circadian rhythm.** Normal "dippers" fall 10-20 % at night (same guideline, ambulatory BP
  section). Default dip 12 % systolic, 14 % diastolic, following the sleep curve of
  :class:`~firmware_sim.signals.routine.DailyRoutine`.
* **Morning surge.** Beyond the return from the nocturnal dip, BP overshoots in the first hours
  after waking; a sleep-trough surge of ~ 35 mmHg is average in older hypertensives and ≥ 55 mmHg
  is the top decile with more strokes (Kario et al., Circulation 2003;107:1401-1406,
  doi:10.1161/01.CIR.0000056521.67546.AA). Default extra overshoot 10/6 mmHg peaking 1 h after
  waking, gone 3 h after (the dip's return supplies the rest of the sleep-trough surge).
* **Pulse** from :func:`~firmware_sim.signals.heart_rate.heart_rate_per_min` at rest.
* **Drift and noise** are modelling defaults (slow SD 5/3 mmHg; reading-to-reading SD 4/3 mmHg,
  what repeated home readings show; validated cuffs must be within 5 ± 8 mmHg of a reference,
  ISO 81060-2:2018).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from firmware_sim.errors import ParameterError
from firmware_sim.signals._noise import (
    STREAM_BP_DRIFT,
    STREAM_BP_NOISE,
    FloatArray,
    as_times,
    check_seed,
    check_within,
    normal_at,
    raised_cosine,
    slow_drift,
)
from firmware_sim.signals.heart_rate import HeartRateProfile, heart_rate_per_min
from firmware_sim.signals.routine import DailyRoutine

# Diastolic noise uses instants shifted by this many seconds, so SBP and DBP scatter is independent
# while staying a pure function of (seed, t).
_DBP_SHIFT_S = 0.5


@dataclass(frozen=True, slots=True)
class BloodPressureProfile:
    """A patient's BP pattern (mmHg, fractions, hours); sources in the module docstring."""

    systolic_mmhg: float = 136.0
    diastolic_mmhg: float = 80.0
    systolic_dip: float = 0.12
    diastolic_dip: float = 0.14
    surge_systolic_mmhg: float = 10.0
    surge_diastolic_mmhg: float = 6.0
    surge_peak_h: float = 1.0
    surge_end_h: float = 3.0
    drift_sd_systolic_mmhg: float = 5.0
    drift_sd_diastolic_mmhg: float = 3.0
    noise_sd_systolic_mmhg: float = 4.0
    noise_sd_diastolic_mmhg: float = 3.0

    def __post_init__(self) -> None:
        checks: tuple[tuple[str, float, float], ...] = (
            ("systolic_mmhg", 70.0, 250.0),
            ("diastolic_mmhg", 40.0, 150.0),
            ("systolic_dip", -0.2, 0.4),
            ("diastolic_dip", -0.2, 0.4),
            ("surge_systolic_mmhg", 0.0, 80.0),
            ("surge_diastolic_mmhg", 0.0, 50.0),
            ("surge_peak_h", 0.1, 4.0),
            ("surge_end_h", 0.2, 8.0),
            ("drift_sd_systolic_mmhg", 0.0, 30.0),
            ("drift_sd_diastolic_mmhg", 0.0, 30.0),
            ("noise_sd_systolic_mmhg", 0.0, 30.0),
            ("noise_sd_diastolic_mmhg", 0.0, 30.0),
        )
        check_within(self, checks)
        if self.diastolic_mmhg >= self.systolic_mmhg:
            raise ParameterError("diastolic_mmhg", self.diastolic_mmhg, "must be below systolic")
        if self.surge_end_h <= self.surge_peak_h:
            raise ParameterError("surge_end_h", self.surge_end_h, "must be after the peak")


@dataclass(frozen=True, slots=True)
class BloodPressure:
    """Readings at a set of instants: systolic, diastolic, mean arterial pressure (mmHg) and
    pulse (/min), each an array of the shape of the instants."""

    systolic_mmhg: FloatArray
    diastolic_mmhg: FloatArray
    mean_mmhg: FloatArray
    pulse_per_min: FloatArray


def _surge(t: FloatArray, p: BloodPressureProfile, routine: DailyRoutine) -> FloatArray:
    since_wake_h = np.mod(routine.local_hour(t) - routine.wake_hour_local, 24.0)
    rise = raised_cosine(since_wake_h / p.surge_peak_h)
    fall = raised_cosine((since_wake_h - p.surge_peak_h) / (p.surge_end_h - p.surge_peak_h))
    out: FloatArray = rise * (1.0 - fall)
    return out


def blood_pressure(
    t_s: npt.ArrayLike,
    *,
    seed: int,
    profile: BloodPressureProfile = BloodPressureProfile(),
    routine: DailyRoutine = DailyRoutine(),  # noqa: B008 - frozen dataclass, immutable
    heart_rate: HeartRateProfile = HeartRateProfile(),  # noqa: B008 - frozen, immutable
    quantise: bool = True,
) -> BloodPressure:
    """Cuff readings at each instant of ``t_s`` (epoch seconds, any shape).

    Values are whole mmHg and whole beats/min when ``quantise``; MAP is computed from the
    (rounded) SBP and DBP and rounded the way cuffs report it. Pure in ``(seed, t)``.
    """
    check_seed(seed)
    t = as_times(t_s)
    flat = t.reshape(-1)
    asleep = routine.asleep(flat)
    surge = _surge(flat, profile, routine)
    sbp = (
        profile.systolic_mmhg * (1.0 - profile.systolic_dip * asleep)
        + profile.surge_systolic_mmhg * surge
        + slow_drift(seed, STREAM_BP_DRIFT, flat, sd=profile.drift_sd_systolic_mmhg)
        + profile.noise_sd_systolic_mmhg * normal_at(seed, STREAM_BP_NOISE, flat)
    )
    dbp = (
        profile.diastolic_mmhg * (1.0 - profile.diastolic_dip * asleep)
        + profile.surge_diastolic_mmhg * surge
        + slow_drift(seed, STREAM_BP_DRIFT, flat + _DBP_SHIFT_S, sd=profile.drift_sd_diastolic_mmhg)
        + profile.noise_sd_diastolic_mmhg * normal_at(seed, STREAM_BP_NOISE, flat + _DBP_SHIFT_S)
    )
    dbp = np.minimum(dbp, sbp - 10.0)  # pulse pressure never collapses below 10 mmHg
    pulse = heart_rate_per_min(
        flat, seed=seed, profile=heart_rate, activity=None, routine=routine, quantise=quantise
    )
    if quantise:
        sbp, dbp = np.rint(sbp), np.rint(dbp)
    mean = dbp + (sbp - dbp) / 3.0
    if quantise:
        mean = np.rint(mean)
    shape = t.shape
    return BloodPressure(
        systolic_mmhg=sbp.reshape(shape),
        diastolic_mmhg=dbp.reshape(shape),
        mean_mmhg=mean.reshape(shape),
        pulse_per_min=pulse.reshape(shape),
    )
