"""Trend (Theil-Sen, Mann-Kendall), change points (EWMA, CUSUM) and the Hampel filter."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from monitoring.analytics.change import cusum_chart, ewma_chart
from monitoring.analytics.outliers import hampel
from monitoring.analytics.series import PatientSeries
from monitoring.analytics.status import Status
from monitoring.analytics.trend import trend

T0 = 1_740_787_200
DAY = 86_400


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sets(st.integers(0, 60), min_size=4, max_size=25), st.integers(0, 2**32 - 1)),
        min_size=1,
        max_size=5,
    )
)
def test_trend_equals_scipy_theilslopes_and_kendalltau(patients) -> None:  # type: ignore[no-untyped-def]
    per = []
    for days, seed in patients:
        rng = np.random.default_rng(seed)
        d = np.array(sorted(days))
        x = np.round(rng.normal(140, 8, d.size) + 0.2 * d)  # whole mmHg: ties happen
        per.append((T0 + d * DAY, x))
    r = trend(PatientSeries.from_lists(per))
    for k, (t, x) in enumerate(per):
        td = (t - t[0]) / DAY
        ts = stats.theilslopes(x, td, 0.95)
        kt = stats.kendalltau(td, x, method="asymptotic")
        got = [r.slope[k], r.intercept[k], r.slope_low[k], r.slope_high[k]]
        np.testing.assert_allclose(
            got, [ts.slope, ts.intercept, ts.low_slope, ts.high_slope], rtol=1e-12, atol=1e-12
        )
        np.testing.assert_allclose(
            [r.tau_b[k], r.p_value[k]],
            [kt.statistic, kt.pvalue],
            rtol=1e-9,
            atol=1e-12,
            equal_nan=True,
        )


def test_short_series_has_no_trend() -> None:
    r = trend(PatientSeries.from_lists([([T0, T0 + DAY, T0 + 2 * DAY], [1.0, 2.0, 3.0]), ([], [])]))
    assert r.status.tolist() == [Status.INSUFFICIENT, Status.NO_DATA]
    assert np.isnan(r.slope).all()


def _daily(values: list[float]) -> PatientSeries:
    return PatientSeries.from_lists([([T0 + i * DAY for i in range(len(values))], values)])


def test_patient_with_a_high_usual_value_is_judged_against_it() -> None:
    rng = np.random.default_rng(5)
    stable = list(150 + rng.normal(0, 4, 40))  # usual 150: no change
    shifted = list(150 + rng.normal(0, 4, 14)) + list(162 + rng.normal(0, 4, 26))
    for chart in (ewma_chart, cusum_chart):
        r_stable = chart(_daily(stable))
        r_shift = chart(_daily(shifted))
        assert r_stable.signalled.tolist() == [False], chart.__name__
        assert r_shift.signalled.tolist() == [True], chart.__name__
        assert r_shift.direction.tolist() == [1]
        assert r_shift.first_signal_s[0] > T0 + 14 * DAY


def test_given_baseline_replaces_the_estimated_one() -> None:
    r = cusum_chart(_daily([130.0] * 20), baseline_n=5, baseline_mean=[150.0], baseline_sd=[5.0])
    assert r.signalled.tolist() == [True]
    assert r.direction.tolist() == [-1]


def test_charts_need_more_than_the_baseline() -> None:
    r = ewma_chart(_daily([140.0, 141.0]), baseline_n=14)
    assert r.status.tolist() == [Status.INSUFFICIENT]
    assert r.signalled.tolist() == [False]


def test_hampel_replaces_a_cuff_error_by_the_window_median() -> None:
    v = [140.0, 142.0, 139.0, 141.0, 250.0, 140.0, 143.0, 138.0, 141.0]
    r = hampel(_daily(v))
    assert r.outlier.tolist() == [False] * 4 + [True] + [False] * 4
    assert r.filtered.values[4] == pytest.approx(141.0)
    assert r.filtered.values[:4].tolist() == v[:4]


def test_hampel_leaves_a_flat_series_alone() -> None:
    r = hampel(_daily([120.0] * 10 + [121.0]))
    assert not r.outlier.any()
