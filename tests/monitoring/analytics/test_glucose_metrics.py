"""Reading-based CGM metrics from hand-worked examples and their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from devices import GLUCOSE_MG_DL_PER_MMOL_L
from monitoring.analytics.a1c import ea1c_percent, gmi_percent
from monitoring.analytics.consensus import (
    mmol_thresholds_in_mg_dl,
    range_percents,
    summary_stats,
    targets_most_adults,
    targets_older_high_risk,
)
from monitoring.analytics.gri import gri
from monitoring.analytics.risk import risk_indices, symmetrized
from monitoring.analytics.series import PatientSeries
from monitoring.analytics.sufficiency import sufficiency
from monitoring.analytics.units import detect_unit
from monitoring.analytics.variability import j_index
from tests.monitoring.analytics._data import every_5_min, series


def test_mean_sd_cv_use_the_sample_sd() -> None:
    st = summary_stats(series(every_5_min([100, 110, 120, 130])))
    assert st.mean_mg_dl[0] == 115.0
    assert st.sd_mg_dl[0] == pytest.approx(math.sqrt(500 / 3))
    assert st.cv_percent[0] == pytest.approx(100 * math.sqrt(500 / 3) / 115)


def test_single_reading_has_a_mean_but_no_sd() -> None:
    st = summary_stats(series([(0, 100.0)]))
    assert st.mean_mg_dl[0] == 100.0
    assert np.isnan(st.sd_mg_dl[0])
    assert np.isnan(st.cv_percent[0])


def test_ranges_are_strict_below_inclusive_in_range_strict_above() -> None:
    values = [53.9, 54, 69.9, 70, 180, 180.1, 250, 250.1]
    r = range_percents(series(every_5_min(values)))
    assert r.below_l2[0] == pytest.approx(100 * 1 / 8)
    assert r.below_l1[0] == pytest.approx(100 * 3 / 8)
    assert r.in_range[0] == pytest.approx(100 * 2 / 8)
    assert r.above_l1[0] == pytest.approx(100 * 3 / 8)
    assert r.above_l2[0] == pytest.approx(100 * 1 / 8)
    assert r.low[0] == pytest.approx(100 * 2 / 8)
    assert r.high[0] == pytest.approx(100 * 2 / 8)


def test_mmol_convention_puts_70_1_mg_dl_below_3_9_mmol_l() -> None:
    s = series(every_5_min([70.1, 100.0]))
    assert range_percents(s).in_range[0] == 100.0
    assert range_percents(s, mmol_thresholds_in_mg_dl()).below_l1[0] == 50.0


def test_reading_exactly_at_3_9_mmol_l_survives_the_unit_round_trip_in_range() -> None:
    x = 3.9 * GLUCOSE_MG_DL_PER_MMOL_L
    x_round_trip = (x / GLUCOSE_MG_DL_PER_MMOL_L) * GLUCOSE_MG_DL_PER_MMOL_L
    for v in (x, x_round_trip, np.nextafter(x, 0.0)):
        r = range_percents(series([(0, float(v))]), mmol_thresholds_in_mg_dl())
        assert r.in_range[0] == 100.0


def test_gmi_and_ea1c_formulas() -> None:
    assert gmi_percent(np.array([154.0]))[0] == pytest.approx(3.31 + 0.02392 * 154)
    assert ea1c_percent(np.array([154.0]))[0] == pytest.approx((154 + 46.7) / 28.7)


def test_j_index_formula() -> None:
    assert j_index(np.array([150.0]), np.array([50.0]))[0] == pytest.approx(40.0)


def test_kovatchev_transform_is_zero_near_112_5_mg_dl() -> None:
    assert abs(symmetrized(np.array([112.5]))[0]) < 1e-3
    # table path (integers) and formula path give identical values
    x = np.array([40.0, 112.0, 300.0])
    assert symmetrized(x).tolist() == symmetrized(x + 0.0 * np.pi).tolist()
    assert symmetrized(np.array([40.5]))[0] == pytest.approx(math.log(40.5) ** 1.084 - 5.381)


def test_lbgi_counts_only_low_readings_and_hbgi_only_high() -> None:
    r = risk_indices(series(every_5_min([50.0, 300.0])))
    g_lo = math.log(50.0) ** 1.084 - 5.381
    g_hi = math.log(300.0) ** 1.084 - 5.381
    assert r.lbgi[0] == pytest.approx(22.77 * g_lo**2 / 2)
    assert r.hbgi[0] == pytest.approx(22.77 * g_hi**2 / 2)
    assert r.adrr[0] == pytest.approx(22.77 * g_lo**2 + 22.77 * g_hi**2)


def test_adrr_averages_daily_risk_ranges_over_local_days() -> None:
    day = 24 * 60
    r = risk_indices(series([(0, 50.0), (60, 300.0), (day + 60, 112.5)]))
    g_lo = math.log(50.0) ** 1.084 - 5.381
    g_hi = math.log(300.0) ** 1.084 - 5.381
    g_mid = math.log(112.5) ** 1.084 - 5.381
    day1 = 22.77 * g_lo**2 + 22.77 * g_hi**2
    day2 = 22.77 * g_mid**2  # one reading: it is the day's max and min
    assert r.adrr[0] == pytest.approx((day1 + day2) / 2)


def test_gri_weights_the_partitioned_ranges() -> None:
    values = [50] * 10 + [60] * 10 + [100] * 60 + [200] * 10 + [300] * 10
    g = gri(range_percents(series(every_5_min(values))))
    assert g.gri[0] == pytest.approx(3.0 * 10 + 2.4 * 10 + 1.6 * 10 + 0.8 * 10)
    assert g.hypo_component[0] == pytest.approx(10 + 0.8 * 10)
    assert g.hyper_component[0] == pytest.approx(10 + 0.5 * 10)
    assert g.zone.tolist() == ["D"]


def test_gri_is_capped_at_100() -> None:
    g = gri(range_percents(series(every_5_min([40.0] * 5))))
    assert g.gri[0] == 100.0


def test_targets_for_most_adults_and_for_older_adults() -> None:
    values = [100] * 96 + [65] * 2 + [200] * 2  # TIR 96 %, <70 2 %, >180 2 %
    s = series(every_5_min(values))
    r = range_percents(s)
    cv = summary_stats(s).cv_percent
    assert targets_most_adults(r, cv).all_met.tolist() == [True]
    older = targets_older_high_risk(r, cv)
    assert older.below_l1.tolist() == [False]  # 2 % below 70 exceeds the 1 % target
    assert older.all_met.tolist() == [False]


def test_sufficiency_needs_14_days_and_70_percent() -> None:
    two_weeks = every_5_min([120.0] * (14 * 288))
    s = sufficiency(series(two_weeks))
    assert s.days[0] == pytest.approx(14.0)
    assert s.active_percent[0] == 100.0
    assert s.sufficient.tolist() == [True]
    half = [r for i, r in enumerate(two_weeks) if (i // 288) % 2 == 0]  # every other day
    s2 = sufficiency(series(half))
    assert s2.active_percent[0] < 70.0
    assert s2.sufficient.tolist() == [False]


def test_sufficiency_with_a_window_counts_missing_days_before_the_first_reading() -> None:
    ten_days = every_5_min([120.0] * (10 * 288), start_min=4 * 1440)
    end = ten_days[-1][0] + 5
    s = series(ten_days)
    from tests.monitoring.analytics._data import MIDNIGHT_CST

    suff = sufficiency(
        s,
        window_start_s=np.array([MIDNIGHT_CST]),
        window_end_s=np.array([MIDNIGHT_CST + int(end * 60)]),
    )
    assert suff.days[0] == pytest.approx(14.0)
    assert suff.active_percent[0] == pytest.approx(100 * 10 / 14)


def test_sufficiency_of_15_minute_sensor_is_full() -> None:
    s = sufficiency(series([(15 * i, 120.0) for i in range(14 * 96)]))
    assert s.interval_min[0] == 15.0
    assert s.active_percent[0] == 100.0


def test_unit_detection_refuses_to_guess_a_mixture() -> None:
    assert detect_unit(np.array([5.6, 7.8, 10.2, 4.4])) == "mmol/L"
    assert detect_unit(np.array([101.0, 140.0, 180.0, 65.0])) == "mg/dL"
    assert detect_unit(np.array([5.6, 7.8, 140.0, 180.0, 101.0])) is None
    assert detect_unit(np.array([np.nan])) is None


def test_empty_patients_give_nan_everywhere() -> None:
    s = PatientSeries.empty(2)
    assert np.isnan(summary_stats(s).mean_mg_dl).all()
    assert np.isnan(range_percents(s).in_range).all()
    assert np.isnan(risk_indices(s).adrr).all()
    assert np.isnan(sufficiency(s).active_percent).all()
