"""Body weight (kg) on a home scale, and the fluid gain that announces heart failure worsening.

Model, for each instant ``t``::

    true(t)     = baseline + diurnal(t) + Σ fluid_gain_k(t) + drift(t)
    reported(t) = round(true(t) + noise(t), to 0.05 kg)

* **Fluid gain.** Decompensating heart failure retains fluid: the ESC 2021 heart failure guideline
  tells patients to act on an unexpected gain of more than 2 kg in 3 days (McDonagh et al., Eur
  Heart J 2021;42:3599-3726, doi:10.1093/eurheartj/ehab368). A :class:`FluidGain` ramps weight up
  by ``gain_kg`` over ``ramp_s`` (raised cosine) and holds it (until diuretics; the caller ends it
  with ``end_s``, after which it falls back over another ``ramp_s``).
* **Diurnal variation.** Adults are lightest in the morning after voiding and heavier by about
  0.5-1 kg through the day (food and fluid; modelling default amplitude ±0.4 kg, lowest at 06:30).
  Daily weighing is done in the morning for that reason.
* **Scale.** Home scales show 0.05 or 0.1 kg; the Weight Scale profile allows 0.005-0.5 kg
  resolution (WSS v1.0, Weight Scale Feature). Default 0.05 kg, scatter SD 0.1 kg.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from firmware_sim.errors import ParameterError
from firmware_sim.signals._noise import (
    STREAM_WEIGHT_DRIFT,
    STREAM_WEIGHT_NOISE,
    FloatArray,
    as_times,
    check_seed,
    check_within,
    normal_at,
    raised_cosine,
    slow_drift,
)
from firmware_sim.signals.routine import DailyRoutine


@dataclass(frozen=True, slots=True)
class FluidGain:
    """Fluid retained from ``start_s`` (epoch s): +``gain_kg`` reached ``ramp_s`` later, held until
    ``end_s`` (None: still retained), then lost again over ``ramp_s``."""

    start_s: float
    gain_kg: float
    ramp_s: float = 3 * 86400.0
    end_s: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and math.isfinite(self.gain_kg)):
            raise ParameterError("start_s", self.start_s, "start and gain must be finite")
        if not 0.0 < abs(self.gain_kg) <= 30.0:
            raise ParameterError("gain_kg", self.gain_kg, "must be within ±30 kg and not 0")
        if not self.ramp_s > 0.0:
            raise ParameterError("ramp_s", self.ramp_s, "must be > 0 s")
        if self.end_s is not None and self.end_s < self.start_s + self.ramp_s:
            raise ParameterError("end_s", self.end_s, "must be after the ramp is complete")

    def kg(self, t: FloatArray) -> FloatArray:
        """The gain at each instant (kg)."""
        up = raised_cosine((t - self.start_s) / self.ramp_s)
        if self.end_s is None:
            out: FloatArray = self.gain_kg * up
            return out
        down = raised_cosine((t - self.end_s) / self.ramp_s)
        out = self.gain_kg * up * (1.0 - down)
        return out


@dataclass(frozen=True, slots=True)
class WeightProfile:
    """A patient's weight pattern (kg, local hours); sources in the module docstring."""

    baseline_kg: float = 68.0
    diurnal_amplitude_kg: float = 0.4
    lightest_hour_local: float = 6.5
    drift_sd_kg: float = 0.3
    noise_sd_kg: float = 0.1
    resolution_kg: float = 0.05

    def __post_init__(self) -> None:
        checks: tuple[tuple[str, float, float], ...] = (
            ("baseline_kg", 20.0, 300.0),
            ("diurnal_amplitude_kg", 0.0, 3.0),
            ("lightest_hour_local", 0.0, 24.0),
            ("drift_sd_kg", 0.0, 5.0),
            ("noise_sd_kg", 0.0, 2.0),
            ("resolution_kg", 0.005, 0.5),
        )
        check_within(self, checks)


def body_weight_kg(
    t_s: npt.ArrayLike,
    *,
    seed: int,
    profile: WeightProfile = WeightProfile(),
    gains: Iterable[FluidGain] = (),
    routine: DailyRoutine = DailyRoutine(),  # noqa: B008 - frozen dataclass, immutable
    quantise: bool = True,
) -> FloatArray:
    """Weight in kg at each instant of ``t_s`` (epoch seconds, any shape); on the scale's
    resolution when ``quantise``. Pure in ``(seed, t)``."""
    check_seed(seed)
    t = as_times(t_s)
    flat = t.reshape(-1)
    diurnal = -profile.diurnal_amplitude_kg * np.cos(
        2.0 * np.pi * (routine.local_hour(flat) - profile.lightest_hour_local) / 24.0
    )
    fluid = np.zeros_like(flat)
    for gain in gains:
        fluid += gain.kg(flat)
    value = (
        profile.baseline_kg
        + diurnal
        + fluid
        + slow_drift(
            seed,
            STREAM_WEIGHT_DRIFT,
            flat,
            sd=profile.drift_sd_kg,
            min_period_s=86400.0,
            max_period_s=60 * 86400.0,
        )
        + profile.noise_sd_kg * normal_at(seed, STREAM_WEIGHT_NOISE, flat)
    ).reshape(t.shape)
    if not quantise:
        return value
    step = profile.resolution_kg
    out: FloatArray = np.round(np.rint(value / step) * step, 3)
    return out
