"""Heart rate (/min) of an older adult at rest, through the day, while walking and while hypoxic.

Model, for each instant ``t``::

    true(t)     = resting + circadian(t) + walking(t) + hypoxia_gain·deficit(t) + drift(t)
    reported(t) = clip(round(true(t) + noise(t)), 30, 220)

* **Resting rate.** Mean resting pulse of US adults aged 60 and over is about 70 /min (Ostchega et
  al., "Resting pulse rate reference data for children, adolescents, and adults: United States,
  1999-2008", Natl Health Stat Report 2011;(41):1-16). Default 70.
* **Circadian rhythm.** Heart rate has a profound nocturnal nadir around 03:00 and a day-night
  amplitude near 20 % of the 24-hour mean in young men (Degaute et al., Hypertension
  1991;18:199-210, doi:10.1161/01.HYP.18.2.199); the rhythm is blunted with age. Default: a cosine
  of ±5 /min with its minimum at 03:00 local time.
* **Walking.** Heart rate rises with walking intensity; at 100 steps/min (≈ 3 METs, moderate
  intensity; Tudor-Locke et al. 2011, see :mod:`.activity`) the default steady rise is 25 /min
  (modelling choice for older adults). The rise follows each bout with first-order kinetics:
  on-time constant 30 s, recovery time constant 90 s (a fall of at least 12 /min in the first minute
  after exercise is normal: Cole et al., N Engl J Med 1999;341:1351-1357,
  doi:10.1056/NEJM199910283411804).
* **Hypoxia.** Acute isocapnic hypoxia raises heart rate linearly with the fall in saturation:
  0.98 /min per 1 % (range 0.62-1.46) (Slutsky & Rebuck, Am J Physiol 1978;234:H129-H132,
  doi:10.1152/ajpheart.1978.234.2.H129). Default gain 1.0 /min per percentage point of the
  desaturation deficit (see :func:`~firmware_sim.signals.desaturation.desaturation_deficit_pct`).
* **Drift and noise** are modelling defaults (±3 /min slow wander, 1.5 /min scatter).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from firmware_sim.errors import ParameterError
from firmware_sim.signals._noise import (
    STREAM_HR_DRIFT,
    STREAM_HR_NOISE,
    FloatArray,
    as_times,
    check_seed,
    check_within,
    normal_at,
    slow_drift,
)
from firmware_sim.signals.activity import ActivityProfile, WalkingBouts, walking_bouts
from firmware_sim.signals.routine import DailyRoutine

# A bout's heart-rate tail is cut to exactly zero after this many recovery time constants
# (e^-20 ≈ 2e-9 /min), so the answer never depends on how far back the bouts were generated.
_TAIL_TAUS = 20.0
# Largest recovery time constant for which the 2 h margin of walking_bouts() covers every tail:
# a bout begun before the margin ends within 1 h (bout_max_s ≤ 3600) and its tail within 20·180 s.
MAX_TAU_OFF_S = 180.0
# Bound on the temporary (instants x bouts) matrix, in elements.
_CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True, slots=True)
class HeartRateProfile:
    """A patient's heart-rate pattern (rates in /min, times in s); sources: module docstring."""

    resting_per_min: float = 70.0
    circadian_amplitude_per_min: float = 5.0
    circadian_nadir_hour_local: float = 3.0
    walking_gain_per_min: float = 25.0
    tau_on_s: float = 30.0
    tau_off_s: float = 90.0
    hypoxia_gain_per_min_per_pct: float = 1.0
    drift_sd_per_min: float = 3.0
    noise_sd_per_min: float = 1.5

    def __post_init__(self) -> None:
        checks: tuple[tuple[str, float, float], ...] = (
            ("resting_per_min", 30.0, 150.0),
            ("circadian_amplitude_per_min", 0.0, 30.0),
            ("circadian_nadir_hour_local", 0.0, 24.0),
            ("walking_gain_per_min", 0.0, 100.0),
            ("tau_on_s", 1.0, 600.0),
            ("tau_off_s", 1.0, MAX_TAU_OFF_S),
            ("hypoxia_gain_per_min_per_pct", 0.0, 5.0),
            ("drift_sd_per_min", 0.0, 20.0),
            ("noise_sd_per_min", 0.0, 20.0),
        )
        check_within(self, checks)


def walking_response_per_min(
    t: FloatArray, bouts: WalkingBouts, profile: HeartRateProfile
) -> FloatArray:
    """Heart-rate rise caused by walking at each instant of the 1-D array ``t`` (/min, ≥ 0)."""
    out = np.zeros(t.shape[0], dtype=np.float64)
    if len(bouts) == 0 or t.size == 0:
        return out
    s = bouts.start_s[np.newaxis, :]
    e = bouts.end_s[np.newaxis, :]
    amplitude = (profile.walking_gain_per_min * bouts.cadence_per_min / 100.0)[np.newaxis, :]
    step = max(1, _CHUNK_ELEMENTS // len(bouts))
    for lo in range(0, t.shape[0], step):
        tt = t[lo : lo + step, np.newaxis]
        walked = np.clip(tt - s, 0.0, e - s)
        after = np.clip(tt - e, 0.0, None)
        rise = amplitude * (1.0 - np.exp(-walked / profile.tau_on_s))
        contrib = rise * np.exp(-after / profile.tau_off_s)
        contrib = np.where((tt >= s) & (after <= _TAIL_TAUS * profile.tau_off_s), contrib, 0.0)
        out[lo : lo + step] = contrib.sum(axis=1)
    return out


def heart_rate_per_min(
    t_s: npt.ArrayLike,
    *,
    seed: int,
    profile: HeartRateProfile = HeartRateProfile(),
    activity: ActivityProfile | None = ActivityProfile(),  # noqa: B008 - frozen, immutable
    routine: DailyRoutine = DailyRoutine(),  # noqa: B008 - frozen dataclass, immutable
    desaturation_pct: npt.ArrayLike | None = None,
    quantise: bool = True,
) -> FloatArray:
    """Heart rate in /min at each instant of ``t_s`` (epoch seconds, any shape).

    ``activity`` sets the walking that drives the heart (``None``: a patient at rest all day); it
    must be the same profile, with the same ``seed`` and ``routine``, as the one used for steps, so
    the heart rises exactly when steps are counted. ``desaturation_pct`` is the SpO2 deficit below
    baseline at each instant (same shape as ``t_s``, percentage points ≥ 0), normally
    :func:`~firmware_sim.signals.desaturation.desaturation_deficit_pct`; ``None`` means none.

    Returns float64 of the shape of ``t_s``: whole numbers in [30, 220] when ``quantise``. Pure in
    ``(seed, t)``. Empty input gives an empty array.
    """
    check_seed(seed)
    t = as_times(t_s)
    flat = t.reshape(-1)
    local = routine.local_hour(flat)
    circadian = -profile.circadian_amplitude_per_min * np.cos(
        2.0 * np.pi * (local - profile.circadian_nadir_hour_local) / 24.0
    )
    walking = np.zeros_like(flat)
    if activity is not None and flat.size:
        bouts = walking_bouts(
            float(flat.min()), float(flat.max()), seed=seed, profile=activity, routine=routine
        )
        walking = walking_response_per_min(flat, bouts, profile)
    hypoxia = np.zeros_like(flat)
    if desaturation_pct is not None:
        deficit = np.asarray(desaturation_pct, dtype=np.float64)
        if deficit.shape != t.shape:
            raise ParameterError(
                "desaturation_pct", deficit.shape, f"must have the shape of t_s {t.shape}"
            )
        hypoxia = profile.hypoxia_gain_per_min_per_pct * np.clip(deficit.reshape(-1), 0.0, None)
    true = (
        profile.resting_per_min
        + circadian
        + walking
        + hypoxia
        + slow_drift(seed, STREAM_HR_DRIFT, flat, sd=profile.drift_sd_per_min)
    )
    value = (true + profile.noise_sd_per_min * normal_at(seed, STREAM_HR_NOISE, flat)).reshape(
        t.shape
    )
    if not quantise:
        return value
    out: FloatArray = np.clip(np.rint(value), 30.0, 220.0)
    return out
