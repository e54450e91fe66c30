"""The patient's day: local time, bedtime and waking time.

Sleep lowers SpO2 a little and stops walking; heart rate follows the body clock. All of that needs
the local time of day, which is ``t_s + utc_offset_s``. A fixed offset is exact for Asia/Shanghai
(the architecture's default zone, no daylight saving) and within an hour elsewhere, which is all a
simulator needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmware_sim.errors import ParameterError
from firmware_sim.signals._noise import FloatArray, raised_cosine

SHANGHAI_UTC_OFFSET_S = 8 * 3600.0


@dataclass(frozen=True, slots=True)
class DailyRoutine:
    """When the patient sleeps, in local hours (0-24, fractions allowed).

    ``bed_hour_local`` 21.5 and ``wake_hour_local`` 6.5 are a typical retired older adult's
    9 hours in bed (modelling default). Falling asleep and waking take ``transition_h`` hours
    (a smooth ramp inside the window). ``utc_offset_s`` turns UTC into local time.
    """

    bed_hour_local: float = 21.5
    wake_hour_local: float = 6.5
    transition_h: float = 0.5
    utc_offset_s: float = SHANGHAI_UTC_OFFSET_S

    def __post_init__(self) -> None:
        for name in ("bed_hour_local", "wake_hour_local"):
            value = getattr(self, name)
            if not 0.0 <= value < 24.0:
                raise ParameterError(name, value, "must be a local hour in [0, 24)")
        if not 0.0 < self.transition_h <= 2.0:
            raise ParameterError("transition_h", self.transition_h, "must be in (0, 2] hours")
        if self.sleep_hours <= 2.0 * self.transition_h:
            raise ParameterError(
                "wake_hour_local", self.wake_hour_local, "sleep must outlast two transitions"
            )
        if abs(self.utc_offset_s) > 14 * 3600:
            raise ParameterError("utc_offset_s", self.utc_offset_s, "must be within ±14 h")

    @property
    def sleep_hours(self) -> float:
        """Hours from bedtime to waking (the window may span midnight)."""
        return (self.wake_hour_local - self.bed_hour_local) % 24.0

    def local_hour(self, t_s: FloatArray) -> FloatArray:
        """Local hour of day in [0, 24) for epoch seconds ``t_s``."""
        out: FloatArray = np.mod((t_s + self.utc_offset_s) / 3600.0, 24.0)
        return out

    def asleep(self, t_s: FloatArray) -> FloatArray:
        """How asleep the patient is at each instant: 0 awake, 1 asleep, smooth in between."""
        since_bed = np.mod(self.local_hour(t_s) - self.bed_hour_local, 24.0)
        w = self.transition_h
        falling = raised_cosine(since_bed / w)
        waking = raised_cosine((since_bed - (self.sleep_hours - w)) / w)
        out: FloatArray = np.where(since_bed < self.sleep_hours, falling * (1.0 - waking), 0.0)
        return out
