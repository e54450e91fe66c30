"""Hypo/hyperglycaemia events: 15 minutes to start, 15 minutes back to end, gaps end them."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.analytics.cleaning import clean_series
from monitoring.analytics.events import (
    HYPER_LEVEL1,
    HYPO_EXTENDED,
    HYPO_LEVEL1,
    HYPO_LEVEL2,
    EventTable,
    exclusive_of,
    find_all_events,
    find_events,
    summarize_events,
)
from monitoring.analytics.resample import resample
from monitoring.analytics.series import PatientSeries
from tests.monitoring.analytics._data import MIDNIGHT_CST, every_5_min, series


def _events(s: PatientSeries, d=HYPO_LEVEL1) -> EventTable:  # type: ignore[no-untyped-def]
    c, _ = clean_series(s, plausible_min=10.0, plausible_max=1000.0)
    return find_events(resample(c), d, c)


def test_three_readings_below_70_are_a_15_minute_event() -> None:
    ev = _events(series(every_5_min([100, 100, 65, 62, 66, 100, 100, 100, 100])))
    assert len(ev) == 1
    assert ev.start_s[0] == MIDNIGHT_CST + 10 * 60
    assert ev.duration_min[0] == 15.0
    assert ev.end_s[0] == MIDNIGHT_CST + 25 * 60
    assert ev.extreme_mg_dl[0] == 62.0
    assert ev.extreme_time_s[0] == MIDNIGHT_CST + 15 * 60
    assert bool(ev.recovered[0])


def test_two_readings_below_70_are_not_an_event() -> None:
    assert len(_events(series(every_5_min([100, 65, 62, 100, 100, 100])))) == 0


def test_exactly_70_is_not_below_70() -> None:
    assert len(_events(series(every_5_min([100, 70, 70, 70, 70, 100, 100, 100])))) == 0


def test_a_return_shorter_than_15_minutes_does_not_end_the_event() -> None:
    values = [100, 60, 60, 60, 80, 80, 60, 60, 100, 100, 100]
    ev = _events(series(every_5_min(values)))
    assert len(ev) == 1
    assert ev.duration_min[0] == 35.0  # 60 60 60 80 80 60 60


def test_a_15_minute_return_ends_it_and_a_new_one_can_start() -> None:
    values = [60, 60, 60, 80, 80, 80, 60, 60, 60, 100, 100, 100]
    ev = _events(series(every_5_min(values)))
    assert len(ev) == 2
    assert ev.duration_min.tolist() == [15.0, 15.0]


def test_event_that_runs_into_a_gap_ends_there_unrecovered() -> None:
    p = [*every_5_min([100, 60, 60, 60, 60]), (20 + 60, 100.0), (85, 100.0), (90, 100.0)]
    ev = _events(series(p))
    assert len(ev) == 1
    assert ev.duration_min[0] == 20.0
    assert not ev.recovered[0]


def test_event_at_the_end_of_the_data_is_unrecovered() -> None:
    ev = _events(series(every_5_min([100, 60, 60, 60])))
    assert len(ev) == 1
    assert not ev.recovered[0]


def test_extended_hypo_needs_more_than_120_minutes() -> None:
    below_24 = [100] + [60] * 24 + [100] * 3  # 120 minutes below
    below_25 = [100] + [60] * 25 + [100] * 3  # 125 minutes below
    assert len(_events(series(every_5_min(below_24)), HYPO_EXTENDED)) == 0
    assert len(_events(series(every_5_min(below_25)), HYPO_EXTENDED)) == 1


def test_hyper_events_use_strictly_above_180() -> None:
    ev = _events(series(every_5_min([150, 181, 200, 190, 150, 150, 150])), HYPER_LEVEL1)
    assert len(ev) == 1
    assert ev.extreme_mg_dl[0] == 200.0
    assert len(_events(series(every_5_min([180, 180, 180, 180])), HYPER_LEVEL1)) == 0


def test_nadir_is_the_lowest_reading_even_between_grid_slots() -> None:
    # readings 2 minutes off the grid: the 52 at 00:17 is lower than any grid value
    p = [
        (2, 100.0),
        (7, 66.0),
        (12, 60.0),
        (17, 52.0),
        (22, 61.0),
        (27, 100.0),
        (32, 100.0),
        (37, 100.0),
        (42, 100.0),
    ]
    ev = _events(series(p))
    assert len(ev) == 1
    assert ev.extreme_mg_dl[0] == 52.0
    assert ev.extreme_time_s[0] == MIDNIGHT_CST + 17 * 60


def test_level1_events_containing_level2_are_not_exclusive() -> None:
    s = series(every_5_min([60, 50, 50, 50, 60, 80, 80, 80, 60, 60, 60, 80, 80, 80]))
    c, _ = clean_series(s, plausible_min=10.0, plausible_max=1000.0)
    found = find_all_events(resample(c), (HYPO_LEVEL1, HYPO_LEVEL2), c)
    assert len(found["hypo_level1"]) == 2
    assert exclusive_of(found["hypo_level1"], found["hypo_level2"]).tolist() == [False, True]


def test_events_of_different_patients_stay_apart() -> None:
    s = series(every_5_min([60, 60]), every_5_min([60, 60, 60]))
    c, _ = clean_series(s, plausible_min=10.0, plausible_max=1000.0)
    g = resample(c)
    ev = find_events(g, HYPO_LEVEL1, c)
    assert ev.patient.tolist() == [1]
    summary = summarize_events(ev, g)
    assert summary.n_events.tolist() == [0, 1]
    assert np.isnan(summary.mean_duration_min[0])
    assert summary.events_per_day[1] == pytest.approx(1 / (3 * 5 / 1440))


def test_no_readings_no_events() -> None:
    ev = _events(PatientSeries.empty(2))
    assert len(ev) == 0
