"""Bad input gets one defined meaning: dropped, sorted or merged, and counted."""

from __future__ import annotations

import numpy as np

from monitoring.analytics.cleaning import clean_labelled_series, clean_series
from monitoring.analytics.series import PatientSeries


def _clean(s: PatientSeries) -> tuple[PatientSeries, object]:
    return clean_series(s, plausible_min=10.0, plausible_max=1000.0)


def test_nan_and_infinite_values_are_dropped_and_counted() -> None:
    s = PatientSeries.from_lists([([1, 2, 3, 4], [100.0, np.nan, np.inf, 120.0])])
    c, q = clean_series(s, plausible_min=10.0, plausible_max=1000.0)
    assert c.values.tolist() == [100.0, 120.0]
    assert q.n_nonfinite.tolist() == [2]
    assert q.n_used.tolist() == [2]


def test_implausible_values_are_dropped_and_counted() -> None:
    s = PatientSeries.from_lists([([1, 2, 3], [5.0, 100.0, 5000.0])])
    c, q = clean_series(s, plausible_min=10.0, plausible_max=1000.0)
    assert c.values.tolist() == [100.0]
    assert q.n_implausible.tolist() == [2]


def test_unsorted_readings_are_sorted_and_flagged() -> None:
    s = PatientSeries.from_lists([([3, 1, 2], [30.0, 10.0, 20.0]), ([1, 2], [11.0, 12.0])])
    c, q = clean_series(s, plausible_min=1.0, plausible_max=1000.0)
    assert c.time_s.tolist() == [1, 2, 3, 1, 2]
    assert c.values.tolist() == [10.0, 20.0, 30.0, 11.0, 12.0]
    assert q.unsorted.tolist() == [True, False]


def test_duplicated_timestamps_are_merged_to_their_mean() -> None:
    s = PatientSeries.from_lists([([1, 1, 2, 2, 2], [100.0, 100.0, 90.0, 100.0, 110.0])])
    c, q = clean_series(s, plausible_min=1.0, plausible_max=1000.0)
    assert c.time_s.tolist() == [1, 2]
    assert c.values.tolist() == [100.0, 100.0]
    assert q.n_duplicates.tolist() == [3]
    assert q.n_conflicting.tolist() == [1]


def test_labels_of_merged_duplicates_survive_only_when_they_agree() -> None:
    s = PatientSeries.from_lists([([1, 1, 2, 2], [100.0, 100.0, 90.0, 90.0])])
    c, lab, _ = clean_labelled_series(
        s, np.array([3, 3, 2, 1]), plausible_min=1.0, plausible_max=1000.0
    )
    assert c.values.tolist() == [100.0, 90.0]
    assert lab is not None
    assert lab.tolist() == [3, 0]


def test_empty_input_stays_empty() -> None:
    c, q = clean_series(PatientSeries.empty(3), plausible_min=1.0, plausible_max=10.0)
    assert c.n_patients == 3
    assert c.n_readings == 0
    assert q.n_input.tolist() == [0, 0, 0]
