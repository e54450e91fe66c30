"""Body temperature (°C) as a home thermometer reads it, with fever episodes.

Model, for each instant ``t``::

    true(t)     = mean + circadian(t) + Σ fever_k(t) + drift(t)
    reported(t) = round(true(t) + noise(t), 0.1)

* **Mean.** Mean oral temperature of adults is 36.6 °C, lower in older people (Geneva et al.,
  "Normal body temperature: a systematic review", Open Forum Infect Dis 2019;6:ofz032,
  doi:10.1093/ofid/ofz032). Default 36.5 °C.
* **Circadian rhythm.** Core temperature is lowest around 04:00-05:00 and highest in the late
  afternoon, peak-to-trough about 0.5 °C (Refinetti & Menaker, Physiol Behav 1992;51:613-637,
  doi:10.1016/0031-9384(92)90188-8). Default a cosine of ±0.25 °C with its minimum at 04:30.
* **Fever.** A :class:`Fever` raises temperature by ``rise_c`` with a raised-cosine onset and
  defervescence (modelling shape).
* **Thermometer.** Clinical thermometers display 0.1 °C and must be within ±0.1 °C of a reference
  over 35.5-42.0 °C in the lab (ISO 80601-2-56:2017); in use scatter is larger: default SD 0.1 °C.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from firmware_sim.errors import ParameterError
from firmware_sim.signals._noise import (
    STREAM_TEMPERATURE_DRIFT,
    STREAM_TEMPERATURE_NOISE,
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
class Fever:
    """A fever from ``start_s`` (epoch s): +``rise_c`` reached ``onset_s`` later, held until
    ``start_s + duration_s``, gone ``offset_s`` after that."""

    start_s: float
    duration_s: float
    rise_c: float
    onset_s: float = 2 * 3600.0
    offset_s: float = 3 * 3600.0

    def __post_init__(self) -> None:
        for name in ("start_s", "duration_s", "rise_c", "onset_s", "offset_s"):
            if not math.isfinite(getattr(self, name)):
                raise ParameterError(name, getattr(self, name), "must be finite")
        if not 0.0 < self.rise_c <= 6.0:
            raise ParameterError("rise_c", self.rise_c, "must be within (0, 6] °C")
        if self.onset_s <= 0.0 or self.offset_s <= 0.0:
            raise ParameterError("onset_s", self.onset_s, "onset and offset must be > 0 s")
        if self.duration_s < self.onset_s:
            raise ParameterError("duration_s", self.duration_s, "must be at least onset_s")

    def rise(self, t: FloatArray) -> FloatArray:
        up = raised_cosine((t - self.start_s) / self.onset_s)
        down = raised_cosine((t - self.start_s - self.duration_s) / self.offset_s)
        out: FloatArray = self.rise_c * up * (1.0 - down)
        return out


@dataclass(frozen=True, slots=True)
class TemperatureProfile:
    """A patient's temperature pattern (°C, local hours); sources in the module docstring."""

    mean_c: float = 36.5
    circadian_amplitude_c: float = 0.25
    nadir_hour_local: float = 4.5
    drift_sd_c: float = 0.1
    noise_sd_c: float = 0.1

    def __post_init__(self) -> None:
        checks: tuple[tuple[str, float, float], ...] = (
            ("mean_c", 34.0, 38.5),
            ("circadian_amplitude_c", 0.0, 1.5),
            ("nadir_hour_local", 0.0, 24.0),
            ("drift_sd_c", 0.0, 1.0),
            ("noise_sd_c", 0.0, 1.0),
        )
        check_within(self, checks)


def body_temperature_c(
    t_s: npt.ArrayLike,
    *,
    seed: int,
    profile: TemperatureProfile = TemperatureProfile(),
    fevers: Iterable[Fever] = (),
    routine: DailyRoutine = DailyRoutine(),  # noqa: B008 - frozen dataclass, immutable
    quantise: bool = True,
) -> FloatArray:
    """Temperature in °C at each instant of ``t_s`` (epoch seconds, any shape); one decimal when
    ``quantise``. Pure in ``(seed, t)``."""
    check_seed(seed)
    t = as_times(t_s)
    flat = t.reshape(-1)
    circadian = -profile.circadian_amplitude_c * np.cos(
        2.0 * np.pi * (routine.local_hour(flat) - profile.nadir_hour_local) / 24.0
    )
    fever = np.zeros_like(flat)
    for episode in fevers:
        fever += episode.rise(flat)
    value = (
        profile.mean_c
        + circadian
        + fever
        + slow_drift(seed, STREAM_TEMPERATURE_DRIFT, flat, sd=profile.drift_sd_c)
        + profile.noise_sd_c * normal_at(seed, STREAM_TEMPERATURE_NOISE, flat)
    ).reshape(t.shape)
    if not quantise:
        return value
    out: FloatArray = np.round(value, 1)
    return out
