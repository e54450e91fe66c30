"""Walking: bouts of steps through the waking day, and the step counts a wearable reports.

Older adults walk in many short bouts rather than long walks, mostly in the morning:

* **Daily total.** Healthy older adults take 2,000-9,000 steps/day, people with chronic illness
  1,200-8,800 (Tudor-Locke et al., "How many steps/day are enough? For older adults and special
  populations", Int J Behav Nutr Phys Act 2011;8:80, doi:10.1186/1479-5868-8-80). Default 5,000.
* **Cadence.** 100 steps/min marks moderate intensity (≈ 3 METs) in adults (same review); older
  adults' everyday cadence is lower. Default 90 ± 10 steps/min per bout.
* **Bout length.** In free-living adults 60 % of walking bouts last 30 s or less and 2-minute bouts
  are 1 % of all (Orendurff et al., J Rehabil Res Dev 2008;45(7):1077-1090). Bout durations are
  log-normal: default median 40 s, sigma = 1.0, capped at 30 minutes.
* **Time of day.** No walking while asleep (see :class:`~firmware_sim.signals.routine.DailyRoutine`)
  apart from a rare night-time bout (``night_fraction``), most in the morning (modelling choice: a
  cosine peaking at ``peak_hour_local``).

Bouts are generated hour by hour from ``numpy.random.default_rng([seed, stream, hour])``, so the
bouts of any hour are the same whichever stretch of time is asked for. A bout is cut short where the
next one starts; bouts never overlap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from firmware_sim.errors import ParameterError
from firmware_sim.signals._noise import (
    STREAM_ACTIVITY,
    FloatArray,
    as_times,
    check_seed,
    check_within,
)
from firmware_sim.signals.routine import DailyRoutine

IntArray = npt.NDArray[np.int64]

_HOUR_S = 3600.0
# Hours are numbered from the epoch; this offset keeps SeedSequence entropy non-negative for
# instants before 1970 as well.
_HOUR_INDEX_OFFSET = 1 << 40


@dataclass(frozen=True, slots=True)
class ActivityProfile:
    """How much and how a patient walks (see the module docstring for the sources)."""

    daily_steps: float = 5000.0
    cadence_mean_per_min: float = 90.0
    cadence_sd_per_min: float = 10.0
    bout_median_s: float = 40.0
    bout_sigma: float = 1.0
    bout_max_s: float = 1800.0
    peak_hour_local: float = 10.0
    night_fraction: float = 0.03

    def __post_init__(self) -> None:
        checks: tuple[tuple[str, float, float], ...] = (
            ("daily_steps", 0.0, 50_000.0),
            ("cadence_mean_per_min", 30.0, 160.0),
            ("cadence_sd_per_min", 0.0, 40.0),
            ("bout_median_s", 1.0, 3600.0),
            ("bout_sigma", 0.0, 3.0),
            ("bout_max_s", 1.0, 3600.0),
            ("peak_hour_local", 0.0, 24.0),
            ("night_fraction", 0.0, 1.0),
        )
        check_within(self, checks)

    @property
    def mean_bout_s(self) -> float:
        """Mean of the (uncapped) log-normal bout duration, in seconds."""
        return self.bout_median_s * math.exp(self.bout_sigma**2 / 2.0)

    @property
    def bouts_per_day(self) -> float:
        """Expected number of bouts per day that yields ``daily_steps``."""
        steps_per_bout = self.cadence_mean_per_min * self.mean_bout_s / 60.0
        return self.daily_steps / steps_per_bout if steps_per_bout > 0 else 0.0


@dataclass(frozen=True, slots=True)
class WalkingBouts:
    """Non-overlapping walking bouts sorted by start (epoch seconds; cadence in steps/min)."""

    start_s: FloatArray
    end_s: FloatArray
    cadence_per_min: FloatArray

    def __len__(self) -> int:
        return int(self.start_s.shape[0])


def _hourly_rates(profile: ActivityProfile, routine: DailyRoutine, hours: IntArray) -> FloatArray:
    """Expected bouts in each epoch hour of ``hours``."""
    mid = hours.astype(np.float64) * _HOUR_S + _HOUR_S / 2.0
    awake = 1.0 - routine.asleep(mid)
    local = routine.local_hour(mid)
    diurnal = 1.0 + 0.6 * np.cos(2.0 * np.pi * (local - profile.peak_hour_local) / 24.0)
    weight = (awake + profile.night_fraction * (1.0 - awake)) * diurnal
    # Normalise over one whole day of the same routine so the day's total is bouts_per_day.
    day = np.arange(24, dtype=np.float64) * _HOUR_S + _HOUR_S / 2.0
    day_awake = 1.0 - routine.asleep(day)
    day_local = routine.local_hour(day)
    day_weight = (day_awake + profile.night_fraction * (1.0 - day_awake)) * (
        1.0 + 0.6 * np.cos(2.0 * np.pi * (day_local - profile.peak_hour_local) / 24.0)
    )
    total = float(day_weight.sum())
    out: FloatArray = profile.bouts_per_day * weight / total if total > 0 else np.zeros_like(mid)
    return out


def walking_bouts(
    start_s: float,
    end_s: float,
    *,
    seed: int,
    profile: ActivityProfile = ActivityProfile(),
    routine: DailyRoutine = DailyRoutine(),  # noqa: B008 - frozen dataclass, immutable
) -> WalkingBouts:
    """Every bout that starts in the epoch hours covering ``[start_s - 2 h, end_s + 1 h]``.

    The margin makes the answer complete for the interval: a bout started before ``start_s`` that
    is still going, or whose heart-rate tail is still decaying, is included, and so is the next
    bout that decides where the last one is cut short.
    """
    check_seed(seed)
    if not (math.isfinite(start_s) and math.isfinite(end_s)) or end_s < start_s:
        raise ParameterError("end_s", end_s, "must be finite and not before start_s")
    first = math.floor(start_s / _HOUR_S) - 2
    last = math.floor(end_s / _HOUR_S) + 1
    hours = np.arange(first, last + 1, dtype=np.int64)
    rates = _hourly_rates(profile, routine, hours)
    starts: list[FloatArray] = []
    durations: list[FloatArray] = []
    cadences: list[FloatArray] = []
    for hour, rate in zip(hours.tolist(), rates.tolist(), strict=True):
        rng = np.random.default_rng([seed, STREAM_ACTIVITY, hour + _HOUR_INDEX_OFFSET])
        n = int(rng.poisson(rate))
        starts.append(hour * _HOUR_S + np.sort(rng.uniform(0.0, _HOUR_S, n)))
        durations.append(
            np.minimum(
                rng.lognormal(math.log(profile.bout_median_s), profile.bout_sigma, n),
                profile.bout_max_s,
            )
        )
        cadences.append(
            np.clip(
                rng.normal(profile.cadence_mean_per_min, profile.cadence_sd_per_min, n), 30.0, 160.0
            )
        )
    s = np.concatenate(starts) if starts else np.zeros(0)
    d = np.concatenate(durations) if durations else np.zeros(0)
    c = np.concatenate(cadences) if cadences else np.zeros(0)
    next_start = np.append(s[1:], np.inf)
    e = np.minimum(s + d, next_start)
    return WalkingBouts(start_s=s, end_s=e, cadence_per_min=c)


def _bouts_for(
    t: FloatArray, seed: int, profile: ActivityProfile, routine: DailyRoutine
) -> WalkingBouts:
    if t.size == 0:
        return WalkingBouts(np.zeros(0), np.zeros(0), np.zeros(0))
    return walking_bouts(
        float(t.min()), float(t.max()), seed=seed, profile=profile, routine=routine
    )


def cadence_per_min(
    t_s: npt.ArrayLike,
    *,
    seed: int,
    profile: ActivityProfile = ActivityProfile(),
    routine: DailyRoutine = DailyRoutine(),  # noqa: B008 - frozen dataclass, immutable
) -> FloatArray:
    """Walking cadence in steps/min at each instant (0 when not walking); same shape as ``t_s``."""
    t = as_times(t_s)
    bouts = _bouts_for(t, seed, profile, routine)
    if len(bouts) == 0:
        return np.zeros_like(t)
    k = np.searchsorted(bouts.start_s, t, side="right") - 1
    kk = np.clip(k, 0, None)
    walking = (k >= 0) & (t < bouts.end_s[kk])
    out: FloatArray = np.where(walking, bouts.cadence_per_min[kk], 0.0)
    return out


def steps_in_intervals(
    edges_s: npt.ArrayLike,
    *,
    seed: int,
    profile: ActivityProfile = ActivityProfile(),
    routine: DailyRoutine = DailyRoutine(),  # noqa: B008 - frozen dataclass, immutable
) -> IntArray:
    """Steps taken in each interval ``[edges_s[i], edges_s[i+1])`` (int64, one per interval).

    ``edges_s`` is a 1-D, non-decreasing array of epoch seconds. Counts are whole steps: each bout
    contributes ``floor(cadence/60 · time walked so far)`` to a running count, so adjacent
    intervals add up exactly to the count of their union, however the time is chunked. Fewer
    than two edges give an empty result.
    """
    edges = as_times(edges_s)
    if edges.ndim != 1:
        raise ParameterError("edges_s", edges.shape, "must be one-dimensional")
    if edges.size < 2:
        return np.zeros(0, dtype=np.int64)
    if np.any(np.diff(edges) < 0):
        raise ParameterError("edges_s", "decreasing", "edges must be non-decreasing")
    bouts = _bouts_for(edges, seed, profile, routine)
    if len(bouts) == 0:
        return np.zeros(edges.size - 1, dtype=np.int64)
    rate = bouts.cadence_per_min / 60.0
    dur = bouts.end_s - bouts.start_s
    full = np.floor(rate * dur).astype(np.int64)
    before = np.concatenate(([0], np.cumsum(full)))  # steps of all bouts before bout k
    k = np.searchsorted(bouts.start_s, edges, side="right") - 1
    kk = np.clip(k, 0, None)
    walked = np.clip(edges - bouts.start_s[kk], 0.0, dur[kk])
    partial = np.floor(rate[kk] * walked).astype(np.int64)
    count = np.where(k >= 0, before[kk] + partial, 0)
    out: IntArray = np.diff(count)
    return out
