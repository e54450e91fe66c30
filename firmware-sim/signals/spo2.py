"""Peripheral oxygen saturation (SpO2, %) of an older adult, as a wrist or finger oximeter shows it.

Model, for each instant ``t``::

    true(t)     = baseline - sleep_dip·asleep(t) + drift(t) - deficit(t)
    reported(t) = clip(round(true(t) + noise(t)), 0, 100)

* **Baseline.** Healthy adults ≥ 65 years: mean SpO2 95.8 % (median 96 %, IQR 95-98 %) (BTS
  guideline for oxygen use in adults, O'Driscoll et al., Thorax 2017;72:i1-i90,
  doi:10.1136/thoraxjnl-2016-209729, table of normal values). Stable COPD sits lower; the same
  guideline targets 88-92 % for patients at risk of hypercapnic failure, and
  :meth:`SpO2Profile.copd` uses 91.5 %.
* **Sleep.** Healthy subjects over 60 spend half the night below 95.1 % (Gries & Brooks, Chest
  1996;110:1489-1492, doi:10.1378/chest.110.6.1489), about 0.7-1 point under their waking values:
  ``sleep_dip_pct`` defaults to 0.8.
* **Drift** (slow wander over minutes to hours: posture, breathing pattern) and **noise**
  (beat-to-beat measurement scatter after the device's own averaging) are modelling defaults sized
  so that a healthy patient's readings mostly stay within 94-98 %.
* **Quantisation.** Oximeters display whole percent, and never above 100 %. Their accuracy is
  specified as A_rms ≤ 4 % over 70-100 % (ISO 80601-2-61:2017); the simulated device is far more
  *precise* than that, as real ones are: the error is mostly a steady bias per patient and probe.
* **Deficit**: desaturation episodes, see :mod:`firmware_sim.signals.desaturation`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from firmware_sim.errors import ParameterError
from firmware_sim.signals._noise import (
    STREAM_SPO2_DRIFT,
    STREAM_SPO2_NOISE,
    FloatArray,
    as_times,
    check_seed,
    normal_at,
    slow_drift,
)
from firmware_sim.signals.desaturation import Desaturation, desaturation_deficit_pct
from firmware_sim.signals.routine import DailyRoutine


@dataclass(frozen=True, slots=True)
class SpO2Profile:
    """A patient's saturation pattern (all values in percentage points of SpO2)."""

    baseline_pct: float = 96.0
    drift_sd_pct: float = 0.6
    noise_sd_pct: float = 0.6
    sleep_dip_pct: float = 0.8

    def __post_init__(self) -> None:
        if not 70.0 <= self.baseline_pct <= 100.0:
            raise ParameterError("baseline_pct", self.baseline_pct, "must be within 70-100 %")
        for name in ("drift_sd_pct", "noise_sd_pct", "sleep_dip_pct"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 10.0):
                raise ParameterError(name, value, "must be within 0-10 percentage points")

    @classmethod
    def copd(cls) -> SpO2Profile:
        """Stable chronic obstructive pulmonary disease: baseline 91.5 %, more variable, deeper
        dips in sleep (nocturnal desaturation is common in COPD; BTS 2017, see module docstring)."""
        return cls(baseline_pct=91.5, drift_sd_pct=0.9, noise_sd_pct=0.7, sleep_dip_pct=2.0)


def spo2_pct(
    t_s: npt.ArrayLike,
    *,
    seed: int,
    profile: SpO2Profile = SpO2Profile(),
    episodes: Iterable[Desaturation] = (),
    routine: DailyRoutine = DailyRoutine(),  # noqa: B008 - frozen dataclass, immutable
    quantise: bool = True,
) -> FloatArray:
    """SpO2 in % at each instant of ``t_s`` (epoch seconds, any shape, any order).

    Returns float64 of the same shape: whole numbers in [0, 100] when ``quantise`` (what a device
    reports), otherwise the unrounded true-plus-noise value. Pure in ``(seed, t)``: the same seed
    and instant always give the same value, whatever else is in ``t_s``. An empty ``t_s`` gives an
    empty array; non-finite times raise :class:`~firmware_sim.errors.ParameterError`.
    """
    check_seed(seed)
    t = as_times(t_s)
    true = (
        profile.baseline_pct
        - profile.sleep_dip_pct * routine.asleep(t)
        + slow_drift(seed, STREAM_SPO2_DRIFT, t, sd=profile.drift_sd_pct)
        - desaturation_deficit_pct(t, episodes, baseline_pct=profile.baseline_pct)
    )
    value = true + profile.noise_sd_pct * normal_at(seed, STREAM_SPO2_NOISE, t)
    if not quantise:
        return value
    out: FloatArray = np.clip(np.rint(value), 0.0, 100.0)
    return out
