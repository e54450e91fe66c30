"""Home BP by the 7-day protocol: first day discarded, morning/evening, age-based targets."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.analytics.bp import home_bp, home_equivalent_mmhg, home_target_mmhg
from monitoring.analytics.series import PatientSeries
from monitoring.analytics.status import Status

MIDNIGHT = 1_740_787_200 - 8 * 3600  # 2025-03-01 00:00 China time
DAY = 86_400


def _week(
    first_day_sbp: float = 200.0, morning: float = 140.0, evening: float = 126.0, days: int = 7
) -> tuple[list[int], list[float], list[float]]:
    t, s, d = [], [], []
    for day in range(days):
        for hour, value in ((7, morning), (21, evening)):
            for dup in range(2):  # duplicate readings one minute apart
                t.append(MIDNIGHT + day * DAY + hour * 3600 + dup * 60)
                s.append(first_day_sbp if day == 0 else value)
                d.append(95.0 if day == 0 else 80.0)
    return t, s, d


def test_first_day_is_discarded_and_the_rest_averaged() -> None:
    t, s, d = _week()
    r = home_bp(PatientSeries.from_lists([(t, s)]), d, age_years=[70])
    assert r.n_days.tolist() == [6]
    assert r.n_readings.tolist() == [24]
    assert r.sbp_mmhg[0] == pytest.approx(133.0)
    assert r.dbp_mmhg[0] == 80.0
    assert r.morning_sbp_mmhg[0] == 140.0
    assert r.evening_sbp_mmhg[0] == 126.0
    assert r.morning_evening_difference_mmhg[0] == 14.0
    assert r.morning_hypertension.tolist() == [True]
    assert r.status.tolist() == [Status.OK]


def test_control_depends_on_the_age_band_target() -> None:
    t, s, d = _week()  # home average 133/80
    young = home_bp(PatientSeries.from_lists([(t, s)]), d, age_years=[50])
    old = home_bp(PatientSeries.from_lists([(t, s)]), d, age_years=[70])
    assert young.target_sbp_mmhg[0] == 130.0
    assert young.controlled.tolist() == [False]
    assert old.target_sbp_mmhg[0] == 135.0
    assert old.controlled.tolist() == [True]


def test_a_doctor_set_target_wins_over_the_guideline() -> None:
    t, s, d = _week()
    r = home_bp(PatientSeries.from_lists([(t, s)]), d, age_years=[70], target_sbp_mmhg=[130.0])
    assert r.target_sbp_mmhg[0] == 130.0
    assert r.controlled.tolist() == [False]


def test_fewer_than_three_days_after_the_first_is_insufficient() -> None:
    t, s, d = _week(days=3)
    r = home_bp(PatientSeries.from_lists([(t, s), ([], [])]), d, age_years=[70, 70])
    assert r.status.tolist() == [Status.INSUFFICIENT, Status.NO_DATA]
    assert r.controlled.tolist() == [False, False]


def test_only_the_last_seven_days_count() -> None:
    t, s, d = _week(days=10)
    r = home_bp(PatientSeries.from_lists([(t, s)]), d)
    assert r.n_days.tolist() == [6]


def test_office_home_correspondence_and_guideline_targets() -> None:
    sbp, dbp = home_equivalent_mmhg([120, 130, 140, 150, 160], [80, 80, 90, 90, 100])
    assert sbp.tolist() == [120.0, 130.0, 135.0, 140.0, 145.0]
    assert dbp.tolist() == [80.0, 80.0, 85.0, 85.0, 90.0]
    s, d = home_target_mmhg(np.array([50, 70, 85]), "china_2018")
    assert s.tolist() == [135.0, 140.0, 140.0]
    s, d = home_target_mmhg(np.array([50, 70]), "esc_esh_2018")
    assert (s.tolist(), d.tolist()) == ([130.0, 135.0], [80.0, 80.0])
