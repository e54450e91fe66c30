"""Randomness that is a pure function of (seed, time): noise and slow drift.

Every generator in :mod:`firmware_sim.signals` is *time-addressable*: the value at instant ``t``
depends only on the seed and ``t``, never on which other instants were asked for in one call. A
simulator can therefore produce any stretch of time, in any order and in chunks of any size, and
always get the same numbers: a wearable that samples one point every 10 s sees exactly the values
a test computes for a whole day at once.

* White measurement noise comes from a counter-based hash (SplitMix64, Steele, Lea & Flood 2014,
  "Fast splittable pseudorandom number generators", doi:10.1145/2714064.2660195) of the seed and the
  instant in whole milliseconds, turned into a standard normal by Box-Muller. Two instants in the
  same millisecond share their noise.
* Slow physiological drift is a sum of sinusoids whose periods and phases are drawn once per seed
  from a NumPy :class:`numpy.random.Generator`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from firmware_sim.errors import ParameterError

FloatArray = npt.NDArray[np.float64]

# SplitMix64 constants (the increment is the 64-bit golden ratio).
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LANE2 = np.uint64(0xD1B54A32D192ED03)
_TWO_PI = 2.0 * np.pi

# Stream numbers keep the components of one patient independent of each other.
STREAM_SPO2_DRIFT = 1
STREAM_SPO2_NOISE = 2
STREAM_HR_DRIFT = 3
STREAM_HR_NOISE = 4
STREAM_ACTIVITY = 5
STREAM_GLUCOSE_DRIFT = 6
STREAM_GLUCOSE_NOISE = 7
STREAM_GLUCOSE_MEALS = 8
STREAM_BP_DRIFT = 9
STREAM_BP_NOISE = 10
STREAM_WEIGHT_DRIFT = 11
STREAM_WEIGHT_NOISE = 12
STREAM_TEMPERATURE_DRIFT = 13
STREAM_TEMPERATURE_NOISE = 14


def check_seed(seed: int) -> int:
    """``seed`` if it is a non-negative int (what :class:`numpy.random.SeedSequence` takes)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError("seed", seed, "must be a non-negative integer")
    return int(seed)


def check_within(owner: object, bounds: tuple[tuple[str, float, float], ...]) -> None:
    """Raise :class:`ParameterError` for the first attribute of ``owner`` named in ``bounds``
    that is not finite or lies outside its ``[low, high]`` (both inclusive)."""
    for name, low, high in bounds:
        value = getattr(owner, name)
        if not (math.isfinite(value) and low <= value <= high):
            raise ParameterError(name, value, f"must be within [{low}, {high}]")


def as_times(t_s: npt.ArrayLike) -> FloatArray:
    """``t_s`` as a float64 array of finite seconds since the Unix epoch (any shape)."""
    t = np.asarray(t_s, dtype=np.float64)
    if not np.all(np.isfinite(t)):
        raise ParameterError("t_s", "non-finite", "times must be finite seconds since the epoch")
    return t


def stream_key(seed: int, stream: int) -> np.uint64:
    """A 64-bit key for one random stream of one seed."""
    state = np.random.SeedSequence([check_seed(seed), stream]).generate_state(1, dtype=np.uint64)
    return np.uint64(state[0])


def _splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        z = x + _GAMMA
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def normal_at(seed: int, stream: int, t_s: FloatArray) -> FloatArray:
    """Standard normal noise at each instant; a pure function of ``(seed, stream, t_s)``."""
    key = stream_key(seed, stream)
    ms = np.rint(t_s * 1000.0).astype(np.int64).astype(np.uint64)
    h1 = _splitmix64(ms ^ key)
    h2 = _splitmix64(h1 ^ _LANE2)
    u1 = ((h1 >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53  # (0, 1): log is finite
    u2 = (h2 >> np.uint64(11)).astype(np.float64) * 2.0**-53
    out: FloatArray = np.sqrt(-2.0 * np.log(u1)) * np.cos(_TWO_PI * u2)
    return out


def slow_drift(
    seed: int,
    stream: int,
    t_s: FloatArray,
    *,
    sd: float,
    min_period_s: float = 120.0,
    max_period_s: float = 7200.0,
    components: int = 8,
) -> FloatArray:
    """Zero-mean slow wander with standard deviation ``sd`` (same unit as ``sd``).

    A sum of ``components`` sinusoids with log-uniform periods in ``[min_period_s, max_period_s]``
    and uniform phases, drawn from ``numpy.random.default_rng([seed, stream])``. Each sinusoid of
    amplitude ``a`` has variance ``a²/2``; ``a = sd·√(2/components)`` gives a total variance
    of ``sd²``.
    ``sd == 0`` returns zeros.
    """
    if sd == 0.0:
        return np.zeros_like(t_s)
    rng = np.random.default_rng([check_seed(seed), stream])
    periods = np.exp(rng.uniform(np.log(min_period_s), np.log(max_period_s), components))
    phases = rng.uniform(0.0, _TWO_PI, components)
    amplitude = sd * np.sqrt(2.0 / components)
    out = np.zeros_like(t_s)
    for period, phase in zip(periods, phases, strict=True):
        out += np.sin(_TWO_PI * (t_s / period) + phase)
    result: FloatArray = amplitude * out
    return result


def raised_cosine(x: FloatArray) -> FloatArray:
    """S-shaped ramp from 0 (x ≤ 0) to 1 (x ≥ 1): ``(1 - cos πx)/2`` in between."""
    c = np.clip(x, 0.0, 1.0)
    out: FloatArray = 0.5 - 0.5 * np.cos(np.pi * c)
    return out
