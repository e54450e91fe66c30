"""What happens to one simulated patient, in time relative to when their wearable starts.

A :class:`Scenario` is what a demo or a test writes down: "this patient has COPD", "this one
desaturates 2 minutes after the start, for 10 minutes, down to 85 %". The wearable turns it into a
:class:`~firmware_sim.signals.Physiology` in absolute time when it boots::

    Scenario()                                                   # healthy older adult
    Scenario.copd()                                              # baseline 91.5 %
    Scenario.desaturating(after_s=120, duration_min=10, nadir_pct=85)
    Scenario(desaturations=(DesaturationEvent(after_s=60, duration_s=300, nadir_pct=82),
                            DesaturationEvent(after_s=3600, duration_s=600, nadir_pct=86)))
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import Any

from firmware_sim.errors import ParameterError
from firmware_sim.signals import (
    ActivityProfile,
    DailyRoutine,
    Desaturation,
    HeartRateProfile,
    Physiology,
    SpO2Profile,
)


@dataclass(frozen=True, slots=True)
class DesaturationEvent:
    """A desaturation episode ``after_s`` seconds after the wearable starts.

    The fall begins at ``after_s``; SpO2 reaches ``nadir_pct`` ``onset_s`` later and stays there
    until ``after_s + duration_s``; it is back at baseline ``recovery_s`` after that. See
    :class:`~firmware_sim.signals.Desaturation` for the shape and the sources of the defaults.
    """

    after_s: float
    duration_s: float
    nadir_pct: float
    onset_s: float = 60.0
    recovery_s: float = 60.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.after_s) and self.after_s >= 0.0):
            raise ParameterError("after_s", self.after_s, "must be ≥ 0 s after the start")
        self.at(0.0)  # validates the remaining fields with Desaturation's rules

    def at(self, boot_s: float) -> Desaturation:
        """The episode in absolute time for a wearable that booted at ``boot_s`` (epoch s)."""
        return Desaturation(
            start_s=boot_s + self.after_s,
            duration_s=self.duration_s,
            nadir_pct=self.nadir_pct,
            onset_s=self.onset_s,
            recovery_s=self.recovery_s,
        )


def seed_for(device_id: str) -> int:
    """A stable 63-bit seed derived from a device id (same id, same patient, every run)."""
    return int.from_bytes(hashlib.blake2b(device_id.encode(), digest_size=8).digest()) >> 1


@dataclass(frozen=True, slots=True)
class Scenario:
    """One patient's physiology and events. ``seed`` ``None`` derives it from the device id."""

    seed: int | None = None
    spo2: SpO2Profile = field(default_factory=SpO2Profile)
    heart_rate: HeartRateProfile = field(default_factory=HeartRateProfile)
    activity: ActivityProfile = field(default_factory=ActivityProfile)
    routine: DailyRoutine = field(default_factory=DailyRoutine)
    desaturations: tuple[DesaturationEvent, ...] = ()

    def __post_init__(self) -> None:
        if self.seed is not None and (isinstance(self.seed, bool) or self.seed < 0):
            raise ParameterError("seed", self.seed, "must be a non-negative integer or None")

    @classmethod
    def copd(cls, **kwargs: Any) -> Scenario:
        """A patient with stable COPD (SpO2 baseline 91.5 %, see :meth:`SpO2Profile.copd`)."""
        return cls(spo2=SpO2Profile.copd(), **kwargs)

    @classmethod
    def desaturating(
        cls,
        *,
        after_s: float,
        duration_min: float,
        nadir_pct: float,
        onset_s: float = 60.0,
        recovery_s: float = 60.0,
        **kwargs: Any,
    ) -> Scenario:
        """A patient who desaturates ``after_s`` seconds after the start, for ``duration_min``
        minutes (fall included, recovery not), down to ``nadir_pct`` %."""
        event = DesaturationEvent(
            after_s=after_s,
            duration_s=duration_min * 60.0,
            nadir_pct=nadir_pct,
            onset_s=onset_s,
            recovery_s=recovery_s,
        )
        return cls(desaturations=(event,), **kwargs)

    def with_seed(self, seed: int) -> Scenario:
        """The same scenario with an explicit seed."""
        return replace(self, seed=seed)

    def physiology(self, *, device_id: str, boot_s: float) -> Physiology:
        """The patient's signals in absolute time for a wearable that booted at ``boot_s``."""
        return Physiology(
            seed=self.seed if self.seed is not None else seed_for(device_id),
            spo2=self.spo2,
            heart_rate=self.heart_rate,
            activity=self.activity,
            routine=self.routine,
            episodes=tuple(ev.at(boot_s) for ev in self.desaturations),
        )
