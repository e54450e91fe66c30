"""Synthetic 5-minute CGM traces for the benchmarks (deterministic, vectorised).

Each patient has a base glucose (90-200 mg/dL), three meal excursions a day whose height and
timing vary from day to day, a slow AR(1) drift, sensor noise, whole-mg/dL readings clipped to
the 40-400 mg/dL range real sensors report, clock jitter of a few seconds, about 1 % of
readings missing and, for one patient in five, one 1-4 hour gap (sensor warm-up or a lost
connection).
"""

from __future__ import annotations

import numpy as np

from monitoring.analytics.series import PatientSeries

START_S = 1_735_689_600 - 8 * 3600  # 2025-01-01 00:00 China Standard Time, in UTC seconds
SLOTS_PER_DAY = 288


def synth_block(first_patient: int, n_patients: int, days: int = 14) -> PatientSeries:
    """Readings of patients ``first_patient .. first_patient + n_patients - 1`` (mg/dL)."""
    rng = np.random.default_rng(1_000_003 * (first_patient + 1))
    n_slots = days * SLOTS_PER_DAY
    slot = np.arange(n_slots)
    tod_h = (slot % SLOTS_PER_DAY) / 12.0
    day = slot // SLOTS_PER_DAY
    base = rng.uniform(90.0, 200.0, size=(n_patients, 1))
    g = np.repeat(base, n_slots, axis=1)
    for meal_h in (7.5, 12.0, 18.5):
        shift = rng.normal(0.0, 0.5, size=(n_patients, days))[:, day]
        height = rng.uniform(20.0, 120.0, size=(n_patients, days))[:, day]
        dt = tod_h[None, :] - (meal_h + shift)
        g += height * np.exp(-0.5 * (dt / 0.9) ** 2) * (dt > -1.0)
    drift = rng.normal(0.0, 1.5, size=(n_patients, n_slots))
    g += 0.1 * np.cumsum(drift, axis=1) - 0.1 * np.cumsum(drift, axis=1).mean(axis=1, keepdims=True)
    g += rng.normal(0.0, 3.0, size=(n_patients, n_slots))
    g = np.clip(np.rint(g), 40.0, 400.0)
    jitter = rng.integers(-3, 4, size=(n_patients, n_slots))
    t = START_S + 300 * slot[None, :] + 17 + jitter
    keep = rng.random((n_patients, n_slots)) > 0.01
    gap_pat = rng.random(n_patients) < 0.2
    gap_start = rng.integers(0, n_slots - 48, size=n_patients)
    gap_len = rng.integers(12, 48, size=n_patients)
    gap_end = gap_start + gap_len
    in_gap = (slot[None, :] >= gap_start[:, None]) & (slot[None, :] < gap_end[:, None])
    keep &= ~(in_gap & gap_pat[:, None])
    counts = keep.sum(axis=1)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return PatientSeries(
        offsets=offsets,
        time_s=t[keep].astype(np.int64),
        values=g[keep].astype(np.float64),
    )
