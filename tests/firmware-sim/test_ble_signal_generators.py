"""The signal generators behind the emulated BLE devices: glucose with meals and dawn phenomenon,
blood pressure with its circadian rhythm and morning surge, weight with fluid gain, temperature."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_sim.errors import ParameterError
from firmware_sim.signals import (
    BloodPressureProfile,
    Fever,
    FluidGain,
    GlucoseProfile,
    TemperatureProfile,
    WeightProfile,
    blood_pressure,
    body_temperature_c,
    body_weight_kg,
    glucose_mmol_l,
    time_grid,
)

# 2026-09-21 00:00 Asia/Shanghai: days start at local midnight.
LOCAL_MIDNIGHT_S = 1_790_000_000.0 - (1_790_000_000.0 + 8 * 3600) % 86400
DAY_S = 86400.0
H = 3600.0


def at_local_hours(hours: list[float], days: int = 30) -> np.ndarray:
    """The same local hours on each of ``days`` days: shape (days, len(hours))."""
    day0 = LOCAL_MIDNIGHT_S + DAY_S * np.arange(days)[:, None]
    return day0 + H * np.asarray(hours)[None, :]


def test_every_generator_is_reproducible_and_chunk_independent() -> None:
    t = time_grid(LOCAL_MIDNIGHT_S, LOCAL_MIDNIGHT_S + 2 * DAY_S, 600.0)
    for f in (glucose_mmol_l, body_weight_kg, body_temperature_c):
        whole = f(t, seed=5)
        assert np.array_equal(whole, f(t, seed=5))
        assert np.array_equal(whole[50:70], f(t[50:70], seed=5))
        assert not np.array_equal(whole, f(t, seed=6))
    bp = blood_pressure(t, seed=5)
    part = blood_pressure(t[10:20], seed=5)
    assert np.array_equal(bp.systolic_mmhg[10:20], part.systolic_mmhg)
    assert np.array_equal(bp.diastolic_mmhg[10:20], part.diastolic_mmhg)


def test_glucose_rises_after_meals_and_at_dawn_like_type_2_diabetes() -> None:
    t = at_local_hours([3.0, 6.9, 8.25, 11.4, 12.75, 17.4, 18.75], days=60)
    g = glucose_mmol_l(t, seed=1)
    nadir, before_breakfast, after_breakfast, before_lunch, after_lunch, pre_dinner, post = g.T
    # Dawn phenomenon: about +1.1 mmol/L from 03:00 to just before breakfast (Monnier 2013).
    assert 0.6 < float(np.mean(before_breakfast - nadir)) < 1.6
    # 75 minutes after each meal glucose is 2-4.5 mmol/L higher than just before.
    for before, after in ((before_breakfast, after_breakfast), (before_lunch, after_lunch)):
        assert 2.0 < float(np.mean(after - before)) < 4.5
    assert 2.0 < float(np.mean(post - pre_dinner)) < 4.5
    assert 6.0 < float(np.mean(nadir)) < 8.0
    # A meter shows one decimal, within its 0.6-33.3 mmol/L range.
    assert np.array_equal(g, np.round(g, 1))
    assert g.min() >= 0.6
    assert g.max() <= 33.3


def test_well_controlled_profile_stays_near_normal() -> None:
    t = time_grid(LOCAL_MIDNIGHT_S, LOCAL_MIDNIGHT_S + 14 * DAY_S, 900.0)
    g = glucose_mmol_l(t, seed=2, profile=GlucoseProfile.well_controlled())
    assert float(np.percentile(g, 95)) < 10.0
    assert float(np.percentile(g, 5)) > 4.0


def test_blood_pressure_dips_at_night_and_surges_after_waking() -> None:
    t = at_local_hours([3.0, 7.5, 14.0], days=60)
    bp = blood_pressure(t, seed=3)
    night, morning, afternoon = bp.systolic_mmhg.T
    # A normal dipper: night systolic 10-20 % below the day (ESC/ESH 2018).
    dip = 1.0 - float(np.mean(night)) / float(np.mean(afternoon))
    assert 0.08 < dip < 0.2
    # Morning surge: the hour after waking is above the afternoon level.
    assert float(np.mean(morning)) > float(np.mean(afternoon)) + 4.0
    assert np.all(bp.diastolic_mmhg < bp.systolic_mmhg)
    expected_map = np.rint(bp.diastolic_mmhg + (bp.systolic_mmhg - bp.diastolic_mmhg) / 3.0)
    assert np.array_equal(bp.mean_mmhg, expected_map)
    assert np.all((bp.pulse_per_min >= 30) & (bp.pulse_per_min <= 220))


def test_fluid_gain_adds_its_kilograms_over_its_ramp_and_morning_weight_is_lowest() -> None:
    mornings = at_local_hours([6.5], days=20)[:, 0]
    gain = FluidGain(start_s=LOCAL_MIDNIGHT_S + 10 * DAY_S, gain_kg=2.5, ramp_s=3 * DAY_S)
    plain = body_weight_kg(mornings, seed=4, profile=WeightProfile(drift_sd_kg=0.0))
    gained = body_weight_kg(mornings, seed=4, profile=WeightProfile(drift_sd_kg=0.0), gains=[gain])
    diff = gained - plain
    assert np.allclose(diff[:10], 0.0, atol=0.051)
    assert np.allclose(diff[14:], 2.5, atol=0.051)
    evenings = at_local_hours([18.5], days=20)[:, 0]
    evening = body_weight_kg(evenings, seed=4, profile=WeightProfile(drift_sd_kg=0.0))
    assert float(np.mean(evening - plain)) > 0.5
    assert np.allclose(np.rint(gained / 0.05) * 0.05, gained)


def test_temperature_is_lowest_before_dawn_and_fever_raises_it() -> None:
    t = at_local_hours([4.5, 16.5], days=30)
    temp = body_temperature_c(t, seed=8)
    assert float(np.mean(temp[:, 1] - temp[:, 0])) == pytest.approx(0.5, abs=0.15)
    fever = Fever(start_s=LOCAL_MIDNIGHT_S + 2 * DAY_S, duration_s=DAY_S, rise_c=2.0)
    during = body_temperature_c(np.array([LOCAL_MIDNIGHT_S + 2.5 * DAY_S]), seed=8, fevers=[fever])
    assert float(during[0]) > 38.0


def test_generators_refuse_out_of_range_parameters() -> None:
    with pytest.raises(ParameterError) as info:
        GlucoseProfile(fasting_mmol_l=40.0)
    assert info.value.name == "fasting_mmol_l"
    with pytest.raises(ParameterError):
        BloodPressureProfile(systolic_mmhg=80.0, diastolic_mmhg=90.0)
    with pytest.raises(ParameterError):
        FluidGain(start_s=0.0, gain_kg=0.0)
    with pytest.raises(ParameterError):
        TemperatureProfile(mean_c=45.0)
    with pytest.raises(ParameterError):
        glucose_mmol_l([0.0], seed=-1)


def test_empty_input_gives_empty_output() -> None:
    assert glucose_mmol_l([], seed=1).shape == (0,)
    assert body_weight_kg([], seed=1).shape == (0,)
    assert body_temperature_c([], seed=1).shape == (0,)
    assert blood_pressure([], seed=1).systolic_mmhg.shape == (0,)
