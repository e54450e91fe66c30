"""Glucometer readings: fasting / post-meal averages and extreme counts over 7 and 30 days."""

from __future__ import annotations

import numpy as np
import pytest

from devices import GLUCOSE_MG_DL_PER_MMOL_L
from monitoring.analytics.fingerstick import MealContext, fingerstick_summary
from monitoring.analytics.series import PatientSeries

F = GLUCOSE_MG_DL_PER_MMOL_L
NOW = 1_740_787_200
DAY = 86_400


def test_windows_classify_by_meal_context_and_count_extremes() -> None:
    t = [NOW - 1 * DAY, NOW - 2 * DAY, NOW - 3 * DAY, NOW - 10 * DAY, NOW - 40 * DAY]
    mmol = [6.0, 3.9, 16.7, 9.0, 20.0]
    ctx = [
        MealContext.FASTING,
        MealContext.POSTPRANDIAL,
        MealContext.POSTPRANDIAL,
        MealContext.FASTING,
        MealContext.CASUAL,
    ]
    s = PatientSeries.from_lists([(t, np.array(mmol) * F)])
    (w7, w30), q = fingerstick_summary(s, ctx, now_s=NOW)
    assert w7.n.tolist() == [3]
    assert w7.fasting_mean_mg_dl[0] == pytest.approx(6.0 * F)
    assert w7.post_meal_mean_mg_dl[0] == pytest.approx((3.9 + 16.7) / 2 * F)
    assert w7.n_at_or_below_3_9_mmol_l.tolist() == [1]
    assert w7.n_at_or_above_16_7_mmol_l.tolist() == [1]
    assert w7.fasting_in_target_percent[0] == 100.0
    assert w7.post_meal_in_target_percent[0] == 50.0
    assert w30.n.tolist() == [4]
    assert w30.fasting_mean_mg_dl[0] == pytest.approx(7.5 * F)
    assert q.n_input.tolist() == [5]


def test_empty_window_has_no_mean_and_zero_counts() -> None:
    s = PatientSeries.from_lists([([NOW - 60 * DAY], [100.0]), ([], [])])
    (w7,), _ = fingerstick_summary(s, [MealContext.FASTING], now_s=NOW, windows_days=(7,))
    assert w7.n.tolist() == [0, 0]
    assert np.isnan(w7.mean_mg_dl).all()
    assert w7.n_at_or_below_3_9_mmol_l.tolist() == [0, 0]


def test_repeated_reading_counts_once() -> None:
    s = PatientSeries.from_lists([([NOW - DAY, NOW - DAY], [60.0, 60.0])])
    (w7,), q = fingerstick_summary(s, [MealContext.FASTING] * 2, now_s=NOW, windows_days=(7,))
    assert w7.n.tolist() == [1]
    assert q.n_duplicates.tolist() == [1]
