r"""Desaturation episodes: a stretch of time in which SpO2 falls to a nadir and recovers.

::

    SpO2
     baseline ------.                             .--------- baseline
                     \  onset_s                  /  recovery_s
                      \_________________________/
     nadir_pct         (held at the nadir)
                    ^ start_s                    ^ start_s + duration_s

The fall starts at ``start_s``, reaches ``nadir_pct`` at ``start_s + onset_s``, stays there, and the
recovery starts at ``start_s + duration_s`` and is complete ``recovery_s`` later. Both slopes are
S-shaped (raised cosine): an oximeter trace is never a sharp corner, because the device averages
over several seconds and blood needs 10-30 s from the lungs to the finger or wrist.

Defaults (onset 60 s, recovery 60 s) describe an episode of hypoventilation or exertion in chronic
lung disease, where saturation falls within the first minute(s) and recovers within minutes of
rest (ATS statement on the six-minute walk test, Am J Respir Crit Care Med 2002;166:111-117,
doi:10.1164/ajrccm.166.1.at1102). They are modelling choices, not clinical thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from firmware_sim.errors import ParameterError
from firmware_sim.signals._noise import FloatArray, raised_cosine

# Pulse oximeters are specified over 70-100 % (ISO 80601-2-61:2017); the catalog treats values
# below 50 % as probe faults. An episode may aim anywhere in between.
MIN_NADIR_PCT = 50.0


@dataclass(frozen=True, slots=True)
class Desaturation:
    """One episode, in absolute time (``start_s``: seconds since the Unix epoch).

    ``duration_s`` runs from the start of the fall to the start of the recovery and must be at
    least ``onset_s``. ``nadir_pct`` is the SpO2 the patient's true saturation reaches; a nadir
    above the patient's baseline produces no dip at all.
    """

    start_s: float
    duration_s: float
    nadir_pct: float
    onset_s: float = 60.0
    recovery_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("start_s", "duration_s", "nadir_pct", "onset_s", "recovery_s"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ParameterError(name, value, "must be finite")
        if self.onset_s <= 0.0:
            raise ParameterError("onset_s", self.onset_s, "must be > 0 s")
        if self.recovery_s <= 0.0:
            raise ParameterError("recovery_s", self.recovery_s, "must be > 0 s")
        if self.duration_s < self.onset_s:
            raise ParameterError(
                "duration_s", self.duration_s, f"must be at least onset_s ({self.onset_s} s)"
            )
        if not MIN_NADIR_PCT <= self.nadir_pct <= 100.0:
            raise ParameterError("nadir_pct", self.nadir_pct, "must be within 50-100 %")

    @property
    def end_s(self) -> float:
        """When the recovery is complete (epoch seconds)."""
        return self.start_s + self.duration_s + self.recovery_s

    def shape(self, t_s: FloatArray) -> FloatArray:
        """Fraction of the full dip at each instant: 0 outside, 1 at the nadir."""
        x = t_s - self.start_s
        fall = raised_cosine(x / self.onset_s)
        rise = raised_cosine((x - self.duration_s) / self.recovery_s)
        out: FloatArray = fall * (1.0 - rise)
        return out


def desaturation_deficit_pct(
    t_s: FloatArray, episodes: Iterable[Desaturation], *, baseline_pct: float
) -> FloatArray:
    """How far below ``baseline_pct`` the true SpO2 is pushed at each instant (points, ≥ 0).

    Overlapping episodes do not add up: the deepest one wins (a patient cannot be "twice" at a
    nadir). With no episodes the result is all zeros.
    """
    out = np.zeros_like(t_s)
    for ep in episodes:
        depth = max(baseline_pct - ep.nadir_pct, 0.0)
        if depth > 0.0:
            out = np.maximum(out, depth * ep.shape(t_s))
    return out
