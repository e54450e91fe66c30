"""Capillary blood glucose (mmol/L) of an older adult with type 2 diabetes, as a meter reads it.

Model, for each instant ``t``::

    true(t)     = fasting + dawn(t) + Σ_meals meal_k(t - t_k) + drift(t)
    reported(t) = clip(round(true(t) · (1 + cv·noise(t)), 0.1), 0.6, 33.3)

* **Fasting level.** The Chinese Diabetes Society targets 4.4-7.0 mmol/L fasting in type 2
  diabetes (CDS guideline 2020, Chin J Diabetes Mellit 2021;13:315-409,
  doi:10.3760/cma.j.cn115791-20210221-00095); an older patient on treatment often sits at the top
  of it. Default 7.0 mmol/L.
* **Dawn phenomenon.** An early-morning rise without food, about 1.1 mmol/L (20 mg/dL) in type 2
  diabetes, from the nocturnal nadir (~03:00) to breakfast (Monnier et al., Diabetes Care
  2013;36:4057-4062, doi:10.2337/dc12-2127). Default 1.1 mmol/L: a raised-cosine ramp from 03:00 to
  its peak at 07:00, fading by 10:00 (the rise is "masked" by breakfast in real traces).
* **Meals.** Breakfast 07:00, lunch 11:30, dinner 17:30 local time (modelling choice for retired
  adults in China). Each meal adds ``A·(τ/τp)·exp(1 - τ/τp)`` for ``τ = t - t_meal ≥ 0``: a rise
  peaking ``τp`` after the meal with height ``A``. Oral glucose appears in plasma with a peak at
  60-90 min in type 2 diabetes (Dalla Man, Rizza & Cobelli, IEEE Trans Biomed Eng
  2007;54:1740-1749, doi:10.1109/TBME.2007.893506). Defaults: τp 75 min, A 3.5 mmol/L (so the
  2-hour value lands near the CDS < 10.0 mmol/L postprandial target), each meal's height scaled
  by a per-day factor drawn from the seed (uniform 0.7-1.3: meals differ).
* **Meter error.** ISO 15197:2013 requires 95 % of readings within ±0.83 mmol/L below
  5.55 mmol/L and ±15 % above; a multiplicative scatter with ``cv`` 5 % (default) meets it.
  Meters show one decimal in mmol/L and "LO"/"HI" outside 0.6-33.3 mmol/L (typical meter range).
* **Drift**: slow wander (±0.4 mmol/L), modelling default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from firmware_sim.errors import ParameterError
from firmware_sim.signals._noise import (
    STREAM_GLUCOSE_DRIFT,
    STREAM_GLUCOSE_MEALS,
    STREAM_GLUCOSE_NOISE,
    FloatArray,
    as_times,
    check_seed,
    check_within,
    normal_at,
    raised_cosine,
    slow_drift,
)
from firmware_sim.signals.routine import DailyRoutine

# The meter's display range (mmol/L); outside it the meter shows LO / HI.
METER_MIN_MMOL_L = 0.6
METER_MAX_MMOL_L = 33.3
_DAY_S = 86400.0
# A meal's response is cut to exactly zero 10 peak-times after the meal (e^-9 of the peak).
_MEAL_TAIL_PEAKS = 10.0


@dataclass(frozen=True, slots=True)
class GlucoseProfile:
    """A patient's glucose pattern (mmol/L, local hours, minutes); sources: module docstring."""

    fasting_mmol_l: float = 7.0
    dawn_rise_mmol_l: float = 1.1
    dawn_start_hour_local: float = 3.0
    dawn_peak_hour_local: float = 7.0
    dawn_end_hour_local: float = 10.0
    meal_hours_local: tuple[float, ...] = (7.0, 11.5, 17.5)
    meal_rise_mmol_l: float = 3.5
    meal_peak_min: float = 75.0
    meal_variation: float = 0.3
    drift_sd_mmol_l: float = 0.4
    meter_cv: float = 0.05

    def __post_init__(self) -> None:
        checks: tuple[tuple[str, float, float], ...] = (
            ("fasting_mmol_l", 2.0, 25.0),
            ("dawn_rise_mmol_l", 0.0, 5.0),
            ("meal_rise_mmol_l", 0.0, 15.0),
            ("meal_peak_min", 10.0, 240.0),
            ("meal_variation", 0.0, 0.9),
            ("drift_sd_mmol_l", 0.0, 3.0),
            ("meter_cv", 0.0, 0.3),
        )
        check_within(self, checks)
        if not (
            0.0
            <= self.dawn_start_hour_local
            < self.dawn_peak_hour_local
            < self.dawn_end_hour_local
            <= 24.0
        ):
            raise ParameterError(
                "dawn_peak_hour_local", self.dawn_peak_hour_local, "must lie between start and end"
            )
        if any(not 0.0 <= h < 24.0 for h in self.meal_hours_local):
            raise ParameterError("meal_hours_local", self.meal_hours_local, "hours in [0, 24)")

    @classmethod
    def well_controlled(cls) -> GlucoseProfile:
        """Near-normal values: fasting 5.5 mmol/L, smaller excursions."""
        return cls(fasting_mmol_l=5.5, dawn_rise_mmol_l=0.6, meal_rise_mmol_l=2.2)


def _dawn(local_hour: FloatArray, p: GlucoseProfile) -> FloatArray:
    rise = raised_cosine(
        (local_hour - p.dawn_start_hour_local) / (p.dawn_peak_hour_local - p.dawn_start_hour_local)
    )
    fall = raised_cosine(
        (local_hour - p.dawn_peak_hour_local) / (p.dawn_end_hour_local - p.dawn_peak_hour_local)
    )
    out: FloatArray = p.dawn_rise_mmol_l * rise * (1.0 - fall)
    return out


def _meal_scale(seed: int, day: npt.NDArray[np.int64], meal: int, variation: float) -> FloatArray:
    # One factor per (local day, meal): a pure function of the seed, like the noise.
    u = normal_at(seed, STREAM_GLUCOSE_MEALS, (day * 16 + meal).astype(np.float64))
    out: FloatArray = 1.0 + variation * np.tanh(u / 2.0)
    return out


def _meals(t: FloatArray, seed: int, p: GlucoseProfile, routine: DailyRoutine) -> FloatArray:
    out = np.zeros_like(t)
    tp = p.meal_peak_min * 60.0
    local_s = t + routine.utc_offset_s
    today = np.floor(local_s / _DAY_S)
    for meal, hour in enumerate(p.meal_hours_local):
        # The meal of today and of yesterday can both still be digesting.
        for back in (0.0, 1.0):
            day = today - back
            meal_local_s = day * _DAY_S + hour * 3600.0
            tau = local_s - meal_local_s
            active = (tau >= 0.0) & (tau <= _MEAL_TAIL_PEAKS * tp)
            x = np.where(active, tau / tp, 0.0)
            scale = _meal_scale(seed, day.astype(np.int64), meal, p.meal_variation)
            out += np.where(active, p.meal_rise_mmol_l * scale * x * np.exp(1.0 - x), 0.0)
    return out


def glucose_mmol_l(
    t_s: npt.ArrayLike,
    *,
    seed: int,
    profile: GlucoseProfile = GlucoseProfile(),
    routine: DailyRoutine = DailyRoutine(),  # noqa: B008 - frozen dataclass, immutable
    quantise: bool = True,
) -> FloatArray:
    """Capillary glucose in mmol/L at each instant of ``t_s`` (epoch seconds, any shape).

    Returns float64 of the shape of ``t_s``: one decimal and clipped to the meter's range
    0.6-33.3 mmol/L when ``quantise`` (what a meter shows), else the unrounded value. Pure in
    ``(seed, t)``; an empty ``t_s`` gives an empty array.
    """
    check_seed(seed)
    t = as_times(t_s)
    flat = t.reshape(-1)
    local = routine.local_hour(flat)
    true = (
        profile.fasting_mmol_l
        + _dawn(local, profile)
        + _meals(flat, seed, profile, routine)
        + slow_drift(
            seed,
            STREAM_GLUCOSE_DRIFT,
            flat,
            sd=profile.drift_sd_mmol_l,
            min_period_s=3600.0,
            max_period_s=7 * _DAY_S,
        )
    )
    value = true * (1.0 + profile.meter_cv * normal_at(seed, STREAM_GLUCOSE_NOISE, flat))
    value = value.reshape(t.shape)
    if not quantise:
        return value
    out: FloatArray = np.clip(np.round(value, 1), METER_MIN_MMOL_L, METER_MAX_MMOL_L)
    return out
