"""The shared 5-minute grid: interpolation, the 45-minute gap rule, days and time zones."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.analytics.resample import SLOTS_PER_DAY, resample
from monitoring.analytics.series import PatientSeries
from tests.monitoring.analytics._data import MIDNIGHT_CST, series


def test_slot_on_a_reading_takes_its_value_and_slots_between_are_linear() -> None:
    g = resample(series([(0, 100.0), (10, 120.0)]))
    assert g.n_days.tolist() == [1]
    assert g.origin_s.tolist() == [MIDNIGHT_CST]
    assert g.values[0, :3].tolist() == [100.0, 110.0, 120.0]
    assert np.isnan(g.values[0, 3:]).all()


def test_readings_off_the_grid_are_interpolated_at_grid_times() -> None:
    # readings at 00:02 and 00:12; slots 00:05 and 00:10 lie between them
    g = resample(series([(2, 100.0), (12, 200.0)]))
    assert np.isnan(g.values[0, 0])
    assert g.values[0, 1] == pytest.approx(130.0)
    assert g.values[0, 2] == pytest.approx(180.0)
    assert np.isnan(g.values[0, 3])


def test_gap_of_exactly_45_minutes_is_interpolated() -> None:
    g = resample(series([(0, 100.0), (45, 190.0)]))
    assert np.isfinite(g.values[0, :10]).all()
    assert g.values[0, 1] == pytest.approx(110.0)


def test_gap_longer_than_45_minutes_is_not_interpolated() -> None:
    p = [(0, 100.0), (45 + 1 / 60, 190.0)]  # 45 min 1 s
    g = resample(series(p))
    assert g.values[0, 0] == 100.0
    assert np.isnan(g.values[0, 1:10]).all()


def test_gap_of_50_minutes_keeps_the_readings_on_the_grid_but_nothing_between() -> None:
    g = resample(series([(0, 100.0), (50, 150.0), (55, 155.0)]))
    assert g.values[0, 0] == 100.0
    assert np.isnan(g.values[0, 1:10]).all()
    assert g.values[0, 10:12].tolist() == [150.0, 155.0]


def test_days_are_local_calendar_days_from_midnight_of_the_first() -> None:
    # 23:50 on day 1 to 00:10 on day 2 (China time): two rows, slot 0 is local midnight
    g = resample(series([(23 * 60 + 50, 100.0), (24 * 60 + 10, 140.0)]))
    assert g.n_days.tolist() == [2]
    assert g.values.shape == (1, 2 * SLOTS_PER_DAY)
    assert g.values[0, SLOTS_PER_DAY] == pytest.approx(120.0)  # 00:00 on day 2


def test_utc_offset_moves_the_day_boundary() -> None:
    s = series([(0, 100.0), (5, 110.0)])  # 00:00 China time is 16:00 UTC the day before
    g = resample(s, utc_offset_s=0)
    assert g.origin_s[0] == MIDNIGHT_CST - 16 * 3600
    assert g.values[0, 16 * 12] == 100.0  # 16:00 UTC


def test_empty_patient_has_no_day_and_an_all_nan_row() -> None:
    s = PatientSeries.from_lists([(np.array([MIDNIGHT_CST]), np.array([90.0])), ([], [])])
    g = resample(s)
    assert g.n_days.tolist() == [1, 0]
    assert np.isnan(g.values[1]).all()
    assert g.values[0, 0] == 90.0


def test_no_patient_at_all_gives_an_empty_grid() -> None:
    g = resample(PatientSeries.empty(0))
    assert g.values.shape == (0, 0)


def test_single_reading_off_grid_leaves_the_row_empty() -> None:
    g = resample(series([(3, 100.0)]))
    assert np.isnan(g.values).all()


def test_patients_do_not_interpolate_into_each_other() -> None:
    g = resample(series([(0, 100.0)], [(5, 200.0)]))
    assert g.values[0, 0] == 100.0
    assert np.isnan(g.values[0, 1])
    assert g.values[1, 1] == 200.0
    assert np.isnan(g.values[1, 0])
