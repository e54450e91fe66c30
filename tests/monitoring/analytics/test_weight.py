"""Heart-failure weight gain: more than 2 kg in 3 days, from irregular daily weights."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.analytics.series import PatientSeries
from monitoring.analytics.status import Status
from monitoring.analytics.weight import weight_gain

MORNING = 1_740_787_200 - 8 * 3600 + 7 * 3600  # 07:00 China time
DAY = 86_400


def _s(*patients: list[tuple[int, float]]) -> PatientSeries:
    return PatientSeries.from_lists(
        [([MORNING + d * DAY for d, _ in p], [w for _, w in p]) for p in patients]
    )


def test_gain_over_2_kg_within_3_days_alerts() -> None:
    r = weight_gain(_s([(0, 70.0), (1, 70.5), (3, 72.1)]))
    assert r.latest_gain_kg[0] == pytest.approx(2.1)
    assert r.latest_alert.tolist() == [True]
    assert r.alert_days.tolist() == [1]


def test_exactly_2_kg_does_not_alert() -> None:
    r = weight_gain(_s([(0, 70.0), (3, 72.0)]))
    assert r.latest_gain_kg[0] == pytest.approx(2.0)
    assert r.latest_alert.tolist() == [False]


def test_a_weight_older_than_3_days_is_not_compared() -> None:
    r = weight_gain(_s([(0, 70.0), (4, 75.0)]))
    assert np.isnan(r.latest_gain_kg[0])
    assert r.status.tolist() == [Status.INSUFFICIENT]


def test_the_first_weight_of_the_day_counts() -> None:
    s = PatientSeries.from_lists(
        [([MORNING, MORNING + DAY, MORNING + DAY + 3600], [70.0, 70.5, 73.0])]
    )
    assert weight_gain(s).latest_gain_kg[0] == pytest.approx(0.5)


def test_patients_without_weights_have_no_data() -> None:
    r = weight_gain(_s([(0, 70.0), (1, 72.5)], []))
    assert r.status.tolist() == [Status.OK, Status.NO_DATA]
    assert r.max_gain_kg[0] == pytest.approx(2.5)
