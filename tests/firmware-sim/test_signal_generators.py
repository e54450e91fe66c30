"""The signal generators: reproducible, time-addressable, physiologically plausible."""

from __future__ import annotations

import time

import numpy as np
import pytest

from firmware_sim.errors import ParameterError
from firmware_sim.scenario import DesaturationEvent, Scenario
from firmware_sim.signals import (
    ActivityProfile,
    DailyRoutine,
    Desaturation,
    HeartRateProfile,
    Physiology,
    SpO2Profile,
    desaturation_deficit_pct,
    heart_rate_per_min,
    spo2_pct,
    steps_in_intervals,
    time_grid,
    walking_bouts,
)

# 2026-09-21 00:00 Asia/Shanghai (16:00 UTC the day before): days start at local midnight.
LOCAL_MIDNIGHT_S = 1_790_000_000.0 - (1_790_000_000.0 + 8 * 3600) % 86400
DAY_S = 86400.0


def day_grid(days: float = 1.0, interval_s: float = 10.0) -> np.ndarray:
    return time_grid(LOCAL_MIDNIGHT_S, LOCAL_MIDNIGHT_S + days * DAY_S, interval_s)


def test_same_seed_gives_identical_signals_and_another_seed_differs() -> None:
    t = day_grid()
    a, b, c = Physiology(seed=11), Physiology(seed=11), Physiology(seed=12)
    assert np.array_equal(a.spo2_pct(t), b.spo2_pct(t))
    assert np.array_equal(a.heart_rate_per_min(t), b.heart_rate_per_min(t))
    assert np.array_equal(a.steps(t), b.steps(t))
    assert not np.array_equal(a.spo2_pct(t), c.spo2_pct(t))
    assert not np.array_equal(a.heart_rate_per_min(t), c.heart_rate_per_min(t))


def test_values_do_not_depend_on_how_time_is_chunked() -> None:
    patient = Physiology(
        seed=3, episodes=(Desaturation(LOCAL_MIDNIGHT_S + 10 * 3600, 900, nadir_pct=84),)
    )
    t = day_grid()
    whole_spo2 = patient.spo2_pct(t)
    whole_hr = patient.heart_rate_per_min(t)
    for cut in (1, 777, 4321, 8000):
        assert np.array_equal(
            np.concatenate([patient.spo2_pct(t[:cut]), patient.spo2_pct(t[cut:])]), whole_spo2
        )
        assert np.array_equal(
            np.concatenate(
                [patient.heart_rate_per_min(t[:cut]), patient.heart_rate_per_min(t[cut:])]
            ),
            whole_hr,
        )
    # One sample at a time, as a wearable takes them, gives the same numbers.
    for i in range(3000, 3050):
        assert patient.spo2_pct(t[i : i + 1])[0] == whole_spo2[i]
        assert patient.heart_rate_per_min(t[i : i + 1])[0] == whole_hr[i]


def test_step_counts_add_up_exactly_across_chunks() -> None:
    patient = Physiology(seed=5)
    edges = day_grid(interval_s=60.0)
    whole = patient.steps(edges)
    first, second = patient.steps(edges[:700]), patient.steps(edges[699:])
    assert np.array_equal(np.concatenate([first, second]), whole)
    hourly = patient.steps(edges[::60])
    assert hourly.sum() == whole[: (len(edges[::60]) - 1) * 60].sum()


def test_healthy_older_adult_spo2_is_whole_percent_mostly_94_to_98() -> None:
    values = spo2_pct(day_grid(), seed=21)
    assert np.array_equal(values, np.round(values))
    assert values.max() <= 100
    assert 95 <= np.median(values) <= 97
    assert np.mean((values >= 93) & (values <= 99)) > 0.95


def test_copd_patient_has_a_lower_baseline() -> None:
    values = spo2_pct(day_grid(), seed=21, profile=SpO2Profile.copd())
    assert 90 <= np.median(values) <= 93


def test_saturation_is_a_little_lower_asleep_than_awake() -> None:
    t = day_grid(days=3)
    values = spo2_pct(t, seed=8, quantise=False)
    asleep = DailyRoutine().asleep(t)
    assert values[asleep > 0.99].mean() < values[asleep < 0.01].mean() - 0.4


def test_desaturation_episode_appears_where_scheduled_with_gradual_slopes() -> None:
    start = LOCAL_MIDNIGHT_S + 11 * 3600
    episode = Desaturation(start_s=start, duration_s=600, nadir_pct=84, onset_s=60, recovery_s=60)
    t = day_grid()
    values = spo2_pct(t, seed=4, episodes=[episode])
    before = values[(t >= start - 1800) & (t < start)]
    at_nadir = values[(t >= start + 60) & (t < start + 600)]
    after = values[(t >= episode.end_s + 300) & (t < episode.end_s + 1800)]
    assert before.min() >= 90
    assert abs(np.median(at_nadir) - 84) <= 1.5
    assert after.min() >= 90
    # The fall and the recovery are S-shaped ramps, not steps.
    deficit = desaturation_deficit_pct(
        np.array([start, start + 15, start + 30, start + 45, start + 60]),
        [episode],
        baseline_pct=96.0,
    )
    assert deficit[0] == 0
    assert deficit[-1] == pytest.approx(12.0)
    assert deficit[2] == pytest.approx(6.0)
    assert np.all(np.diff(deficit) > 0)


def test_overlapping_episodes_take_the_deepest_not_the_sum() -> None:
    t = np.array([LOCAL_MIDNIGHT_S + 500.0])
    episodes = [
        Desaturation(LOCAL_MIDNIGHT_S, 1000, nadir_pct=88),
        Desaturation(LOCAL_MIDNIGHT_S + 100, 1000, nadir_pct=85),
    ]
    assert desaturation_deficit_pct(t, episodes, baseline_pct=96.0)[0] == pytest.approx(11.0)


def test_heart_rate_rises_about_one_per_minute_per_percent_of_desaturation() -> None:
    start = LOCAL_MIDNIGHT_S + 14 * 3600
    episode = Desaturation(start_s=start, duration_s=1200, nadir_pct=84)
    patient = Physiology(seed=9, activity=ActivityProfile(daily_steps=0), episodes=(episode,))
    t = day_grid()
    hr = patient.heart_rate_per_min(t, quantise=False)
    calm = Physiology(seed=9, activity=ActivityProfile(daily_steps=0)).heart_rate_per_min(
        t, quantise=False
    )
    window = (t >= start + 120) & (t < start + 1200)
    rise = (hr - calm)[window]
    assert rise.mean() == pytest.approx(12.0, abs=0.5)  # 96 - 84 points x 1.0 /min per point
    assert np.all((hr - calm)[t < start] == 0)


def test_heart_rate_is_lower_at_night_than_in_the_day() -> None:
    t = day_grid(days=2)
    hr = heart_rate_per_min(t, seed=13)
    local = DailyRoutine().local_hour(t)
    night = hr[(local >= 1) & (local < 5)]
    day = hr[(local >= 9) & (local < 17)]
    assert night.mean() < day.mean() - 5


def test_heart_rate_rises_while_walking_and_recovers_after() -> None:
    t = day_grid()
    walking = Physiology(seed=2)
    resting = Physiology(seed=2, activity=ActivityProfile(daily_steps=0))
    cadence = walking.cadence_per_min(t)
    extra = walking.heart_rate_per_min(t, quantise=False) - resting.heart_rate_per_min(
        t, quantise=False
    )
    assert np.all(extra >= 0)
    assert extra[cadence > 0].mean() > 5
    bouts = walking_bouts(t[0], t[-1], seed=2)
    assert np.all(bouts.start_s[1:] >= bouts.end_s[:-1])  # bouts never overlap
    long_after = np.ones_like(t, dtype=bool)
    for s, e in zip(bouts.start_s, bouts.end_s, strict=True):
        long_after &= ~((t >= s) & (t < e + 1200))
    assert np.all(extra[long_after] < 0.5)


def test_daily_steps_fall_in_the_range_reported_for_older_adults() -> None:
    edges = day_grid(days=7, interval_s=60.0)
    steps = steps_in_intervals(edges, seed=31)
    assert steps.dtype == np.int64
    assert steps.min() >= 0
    per_day = steps.sum() / 7
    assert 3000 <= per_day <= 7500  # default 5000/day; older adults take 2,000-9,000
    local = DailyRoutine().local_hour(edges[:-1])
    deep_night = (local >= 0) & (local < 5)
    assert steps[deep_night].sum() < 0.03 * steps.sum()
    fewer = steps_in_intervals(edges, seed=31, profile=ActivityProfile(daily_steps=2000)).sum()
    assert fewer < steps.sum()


def test_a_week_of_ten_second_samples_is_generated_in_seconds() -> None:
    t = day_grid(days=7)
    patient = Physiology(seed=1)
    began = time.perf_counter()
    spo2, hr = patient.spo2_pct(t), patient.heart_rate_per_min(t)
    elapsed = time.perf_counter() - began
    assert spo2.shape == hr.shape == (60480,)
    assert elapsed < 10.0  # ~1 s on a shared 2-core machine


def test_empty_time_grid_gives_empty_arrays() -> None:
    patient = Physiology(seed=1)
    assert patient.spo2_pct(np.array([])).shape == (0,)
    assert patient.heart_rate_per_min(np.array([])).shape == (0,)
    assert patient.steps(np.array([LOCAL_MIDNIGHT_S])).shape == (0,)


def test_invalid_parameters_are_refused_with_the_offending_value() -> None:
    with pytest.raises(ParameterError) as err:
        Desaturation(start_s=0, duration_s=30, nadir_pct=85, onset_s=60)
    assert err.value.name == "duration_s"
    assert err.value.value == 30
    with pytest.raises(ParameterError) as err:
        Desaturation(start_s=0, duration_s=300, nadir_pct=40)
    assert err.value.name == "nadir_pct"
    with pytest.raises(ParameterError) as err:
        spo2_pct([0.0], seed=-1)
    assert err.value.name == "seed"
    with pytest.raises(ParameterError):
        spo2_pct([float("nan")], seed=1)
    with pytest.raises(ParameterError) as err:
        HeartRateProfile(tau_off_s=1000)
    assert err.value.name == "tau_off_s"
    with pytest.raises(ParameterError):
        steps_in_intervals([10.0, 5.0], seed=1)
    with pytest.raises(ParameterError) as err:
        DesaturationEvent(after_s=-5, duration_s=300, nadir_pct=85)
    assert err.value.name == "after_s"


def test_scenario_places_the_desaturation_relative_to_the_wearables_boot() -> None:
    boot = LOCAL_MIDNIGHT_S + 9 * 3600
    scenario = Scenario.desaturating(after_s=120, duration_min=10, nadir_pct=85)
    patient = scenario.physiology(device_id="wr-0007", boot_s=boot)
    (episode,) = patient.episodes
    assert episode.start_s == boot + 120
    assert episode.duration_s == 600
    assert episode.nadir_pct == 85
    # The same device id always gets the same patient; another id another one.
    again = Scenario().physiology(device_id="wr-0007", boot_s=boot).seed
    assert patient.seed == again
    assert Scenario().physiology(device_id="wr-0008", boot_s=boot).seed != again
