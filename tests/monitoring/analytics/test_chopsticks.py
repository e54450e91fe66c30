"""Smart chopsticks: salt per day against 5 g, reused oil above 25 % TPM, meals."""

from __future__ import annotations

import pytest

from monitoring.analytics.chopsticks import daily_salt, meals, reused_oil
from monitoring.analytics.series import PatientSeries

NOON = 1_740_787_200 - 8 * 3600 + 12 * 3600
DAY = 86_400


def test_salt_is_sodium_times_2_54_summed_per_day() -> None:
    t = [NOON, NOON + 60, NOON + DAY]
    r = daily_salt(PatientSeries.from_lists([(t, [1500.0, 800.0, 1000.0])]))
    assert r.daily_salt_g.values[0].tolist() == pytest.approx(
        [2300 * 2.54 / 1000, 1000 * 2.54 / 1000]
    )
    assert r.days_over_limit.tolist() == [1]
    assert r.days.tolist() == [2]


def test_oil_above_25_percent_tpm_should_be_discarded() -> None:
    s = PatientSeries.from_lists([([NOON, NOON + DAY], [18.0, 26.5]), ([NOON], [25.0])])
    r = reused_oil(s)
    assert r.discard_now.tolist() == [True, False]
    assert r.n_over_limit.tolist() == [1, 0]
    assert r.max_pct.tolist() == [26.5, 25.0]


def test_bites_within_20_minutes_form_a_meal_and_late_meals_are_counted() -> None:
    lunch = [NOON + i * 60 for i in range(10)]
    late = [NOON + 9 * 3600 + 30 * 60 + i * 120 for i in range(6)]  # 21:30
    snack = [NOON + DAY + 3 * 3600 + i * 60 for i in range(3)]  # too few bites
    t = lunch + late + snack
    r = meals(PatientSeries.from_lists([(t, [1.0] * len(t))]))
    assert r.n_bites.tolist() == [10, 6]
    assert r.meals_per_day[0] == 2.0
    assert r.late_meal_percent[0] == 50.0
