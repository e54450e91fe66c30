"""SpO2 floors, brady/tachycardia episodes, resting heart-rate trend, fever in older adults."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.analytics.runs import sustained_runs
from monitoring.analytics.series import PatientSeries
from monitoring.analytics.status import Status
from monitoring.analytics.vitals import fever, heart_rate_episodes, resting_heart_rate, spo2_low

T0 = 1_740_787_200 - 8 * 3600
MIN = 60


def _every_minute(values: list[float], start: int = T0) -> tuple[list[int], list[float]]:
    return [start + i * MIN for i in range(len(values))], values


def test_spo2_below_floor_for_exactly_5_minutes_is_sustained() -> None:
    s = PatientSeries.from_lists([_every_minute([95] + [87] * 6 + [95])])
    r = spo2_low(s)
    assert r.n_episodes.tolist() == [1]
    assert r.longest_min[0] == 5.0
    assert r.lowest_pct[0] == 87.0


def test_patient_floor_of_88_for_copd_does_not_flag_89() -> None:
    s = PatientSeries.from_lists([_every_minute([89] * 10), _every_minute([89] * 10)])
    r = spo2_low(s, floor_pct=[88.0, 90.0])
    assert r.n_episodes.tolist() == [0, 1]


def test_gap_longer_than_two_minutes_breaks_a_run() -> None:
    t = [T0, T0 + 60, T0 + 120, T0 + 300, T0 + 360, T0 + 420]
    runs = sustained_runs(
        PatientSeries.from_lists([(t, [85.0] * 6)]),
        threshold=90.0,
        side="below",
        min_duration_s=120,
        max_gap_s=120,
    )
    assert runs.n_readings.tolist() == [3, 3]
    assert runs.median.tolist() == [85.0, 85.0]


def test_bradycardia_and_tachycardia_need_10_minutes() -> None:
    hr = [70] * 5 + [45] * 11 + [70] * 5 + [120] * 9 + [70]
    r = heart_rate_episodes(PatientSeries.from_lists([_every_minute(hr)]))
    assert r.n_bradycardia.tolist() == [1]
    assert r.n_tachycardia.tolist() == [0]  # 8 minutes above 100


def test_resting_heart_rate_is_the_night_median_and_its_weekly_trend() -> None:
    t, v = [], []
    for day in range(21):
        for k in range(36):  # 00:00-05:50 every 10 min
            t.append(T0 + day * 86_400 + k * 600)
            v.append(60.0 + day * 0.5 + (k % 3))
        t.append(T0 + day * 86_400 + 12 * 3600)  # a daytime reading is ignored
        v.append(110.0)
    r = resting_heart_rate(PatientSeries.from_lists([(t, v)]))
    assert r.daily.values[0, 0] == 61.0
    assert r.trend_per_week.slope[0] == pytest.approx(3.5)
    assert r.trend_per_week.p_value[0] < 1e-6


def test_fever_by_each_idsa_criterion() -> None:
    now = T0 + 40 * 86_400
    base = [(now - d * 86_400, 36.3) for d in range(2, 12)]
    single = [*base, (now - 3600, 37.9)]
    repeated = [*base, (now - 7200, 37.3), (now - 3600, 37.4)]
    rise = [*base, (now - 3600, 37.5)]
    none_ = [*base, (now - 3600, 36.9)]
    no_baseline = [(now - 3600, 37.5)]
    s = PatientSeries.from_lists(
        [
            ([t for t, _ in p], [x for _, x in p])
            for p in (single, repeated, rise, none_, no_baseline)
        ]
    )
    r = fever(s, now_s=now)
    assert r.single_above_37_8.tolist() == [True, False, False, False, False]
    assert r.repeated_above_37_2.tolist() == [False, True, False, False, False]
    # 37.4 is 1.1 above the 36.3 baseline: not more than 1.1
    assert r.rise_above_baseline.tolist() == [True, False, True, False, False]
    assert r.fever.tolist() == [True, True, True, False, False]
    assert r.status[-1] == Status.INSUFFICIENT
    assert np.isnan(r.baseline_c[-1])
