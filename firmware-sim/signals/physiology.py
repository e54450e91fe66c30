"""One simulated patient: every signal from one seed, coupled the way the body couples them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from firmware_sim.signals._noise import FloatArray, as_times, check_seed
from firmware_sim.signals.activity import (
    ActivityProfile,
    IntArray,
    cadence_per_min,
    steps_in_intervals,
)
from firmware_sim.signals.desaturation import Desaturation, desaturation_deficit_pct
from firmware_sim.signals.heart_rate import HeartRateProfile, heart_rate_per_min
from firmware_sim.signals.routine import DailyRoutine
from firmware_sim.signals.spo2 import SpO2Profile, spo2_pct


@dataclass(frozen=True, slots=True)
class Physiology:
    """A patient's signals as functions of time (epoch seconds).

    Coupling: heart rate rises during desaturation episodes (by the SpO2 deficit) and while the
    patient walks (the same bouts that :meth:`steps` counts). ``episodes`` are in absolute time.
    All methods are pure in ``(seed, t)`` and vectorised over any array of instants.
    """

    seed: int
    spo2: SpO2Profile = field(default_factory=SpO2Profile)
    heart_rate: HeartRateProfile = field(default_factory=HeartRateProfile)
    activity: ActivityProfile = field(default_factory=ActivityProfile)
    routine: DailyRoutine = field(default_factory=DailyRoutine)
    episodes: tuple[Desaturation, ...] = ()

    def __post_init__(self) -> None:
        check_seed(self.seed)

    def desaturation_pct(self, t_s: npt.ArrayLike) -> FloatArray:
        """SpO2 deficit below baseline caused by the episodes (percentage points, ≥ 0)."""
        return desaturation_deficit_pct(
            as_times(t_s), self.episodes, baseline_pct=self.spo2.baseline_pct
        )

    def spo2_pct(self, t_s: npt.ArrayLike, *, quantise: bool = True) -> FloatArray:
        """SpO2 in % (see :func:`~firmware_sim.signals.spo2.spo2_pct`)."""
        return spo2_pct(
            t_s,
            seed=self.seed,
            profile=self.spo2,
            episodes=self.episodes,
            routine=self.routine,
            quantise=quantise,
        )

    def heart_rate_per_min(self, t_s: npt.ArrayLike, *, quantise: bool = True) -> FloatArray:
        """Heart rate in /min (see :func:`~firmware_sim.signals.heart_rate.heart_rate_per_min`)."""
        t = as_times(t_s)
        return heart_rate_per_min(
            t,
            seed=self.seed,
            profile=self.heart_rate,
            activity=self.activity,
            routine=self.routine,
            desaturation_pct=self.desaturation_pct(t),
            quantise=quantise,
        )

    def cadence_per_min(self, t_s: npt.ArrayLike) -> FloatArray:
        """Walking cadence in steps/min (0 when not walking)."""
        return cadence_per_min(t_s, seed=self.seed, profile=self.activity, routine=self.routine)

    def steps(self, edges_s: npt.ArrayLike) -> IntArray:
        """Whole steps in each interval between consecutive ``edges_s`` (see
        :func:`~firmware_sim.signals.activity.steps_in_intervals`)."""
        return steps_in_intervals(
            edges_s, seed=self.seed, profile=self.activity, routine=self.routine
        )


def time_grid(start_s: float, stop_s: float, interval_s: float) -> FloatArray:
    """Instants ``start_s, start_s + interval_s, …`` strictly before ``stop_s`` (epoch seconds)."""
    n = max(0, int(np.ceil((stop_s - start_s) / interval_s)))
    out: FloatArray = start_s + interval_s * np.arange(n, dtype=np.float64)
    return out
