"""Every public routine gives a defined result for empty, NaN, duplicated and unsorted input."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import monitoring.analytics as a

NOW = 1_740_787_200
T = [NOW - 3000, NOW - 2000, NOW - 1000]

ROUTINES: dict[str, Callable[[a.PatientSeries], Any]] = {
    "home_bp": lambda s: a.home_bp(s, np.full(s.n_readings, 80.0)),
    "weight_gain": a.weight_gain,
    "spo2_low": a.spo2_low,
    "heart_rate_episodes": a.heart_rate_episodes,
    "resting_heart_rate": a.resting_heart_rate,
    "fever": lambda s: a.fever(s, now_s=NOW),
    "daily_salt": a.daily_salt,
    "reused_oil": a.reused_oil,
    "meals": a.meals,
    "trend": a.trend,
    "ewma_chart": a.ewma_chart,
    "cusum_chart": a.cusum_chart,
    "hampel": a.hampel,
    "adherence": lambda s: a.adherence(s, a.POLICIES["body_weight"], now_s=NOW),
    "cgm_metric_set": a.cgm_metric_set,
    "daily": a.daily,
    "fingerstick_summary": lambda s: a.fingerstick_summary(
        s, np.zeros(s.n_readings, int), now_s=NOW
    ),
}

INPUTS = {
    "no patients": a.PatientSeries.empty(0),
    "patients without readings": a.PatientSeries.empty(3),
    "only NaN": a.PatientSeries.from_lists([(T, [np.nan] * 3)]),
    "single reading": a.PatientSeries.from_lists([([NOW], [40.0])]),
    "duplicated and unsorted": a.PatientSeries.from_lists([(T[::-1] + T, [40.0] * 6)]),
}


@pytest.mark.parametrize("routine", sorted(ROUTINES))
@pytest.mark.parametrize("case", sorted(INPUTS))
def test_routine_gives_a_defined_result_without_warnings(routine: str, case: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ROUTINES[routine](INPUTS[case])


def test_a_nan_reading_never_hides_a_fever() -> None:
    s = a.PatientSeries.from_lists([([NOW - 60, NOW - 30], [np.nan, 38.5])])
    assert a.fever(s, now_s=NOW).single_above_37_8.tolist() == [True]


def test_a_nan_reading_never_hides_an_oil_reading() -> None:
    s = a.PatientSeries.from_lists([([NOW - 60, NOW - 30], [np.nan, 30.0])])
    assert a.reused_oil(s).max_pct.tolist() == [30.0]


def test_an_implausible_weight_is_not_a_gain() -> None:
    day = 86_400
    s = a.PatientSeries.from_lists([([NOW, NOW + day], [70.0, 700.0])])
    r = a.weight_gain(s)
    assert r.alert_days.tolist() == [0]


def test_bp_pairs_with_an_implausible_diastolic_are_dropped() -> None:
    s = a.PatientSeries.from_lists([(T, [130.0, 132.0, 134.0])])
    r = a.home_bp(s, [80.0, 0.0, np.nan])
    assert r.n_readings.tolist() == [0]  # the first day is discarded, the others are dropped
