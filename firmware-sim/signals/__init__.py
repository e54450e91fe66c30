"""Physiological signal generators: seeded, reproducible, vectorised over any time grid.

Every function takes instants as seconds since the Unix epoch (UTC) and returns NumPy arrays. The
value at an instant depends only on the seed and the instant, so any stretch of time can be
produced in one call, in chunks, or one sample at a time, with identical results.
"""

from firmware_sim.signals.activity import (
    ActivityProfile,
    WalkingBouts,
    cadence_per_min,
    steps_in_intervals,
    walking_bouts,
)
from firmware_sim.signals.blood_pressure import BloodPressure, BloodPressureProfile, blood_pressure
from firmware_sim.signals.desaturation import Desaturation, desaturation_deficit_pct
from firmware_sim.signals.glucose import GlucoseProfile, glucose_mmol_l
from firmware_sim.signals.heart_rate import HeartRateProfile, heart_rate_per_min
from firmware_sim.signals.physiology import Physiology, time_grid
from firmware_sim.signals.routine import SHANGHAI_UTC_OFFSET_S, DailyRoutine
from firmware_sim.signals.spo2 import SpO2Profile, spo2_pct
from firmware_sim.signals.temperature import Fever, TemperatureProfile, body_temperature_c
from firmware_sim.signals.weight import FluidGain, WeightProfile, body_weight_kg

__all__ = [
    "SHANGHAI_UTC_OFFSET_S",
    "ActivityProfile",
    "BloodPressure",
    "BloodPressureProfile",
    "DailyRoutine",
    "Desaturation",
    "Fever",
    "FluidGain",
    "GlucoseProfile",
    "HeartRateProfile",
    "Physiology",
    "SpO2Profile",
    "TemperatureProfile",
    "WalkingBouts",
    "WeightProfile",
    "blood_pressure",
    "body_temperature_c",
    "body_weight_kg",
    "cadence_per_min",
    "desaturation_deficit_pct",
    "glucose_mmol_l",
    "heart_rate_per_min",
    "spo2_pct",
    "steps_in_intervals",
    "time_grid",
    "walking_bouts",
]
