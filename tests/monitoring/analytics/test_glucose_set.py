"""The full metric set: order, repetition and units never change a result; bad input is
marked, never a crash."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import GLUCOSE_MG_DL_PER_MMOL_L
from monitoring.analytics.glucose import (
    CGM_METRICS,
    CgmConfig,
    CgmMetricSet,
    cgm_metric_set,
    iter_cgm_metric_sets,
)
from monitoring.analytics.series import PatientSeries
from monitoring.analytics.status import Status
from tests.monitoring.analytics._data import MIDNIGHT_CST, every_5_min, series

CFG = CgmConfig(keep_agp=True)


@st.composite
def cgm_patients(draw: st.DrawFn) -> PatientSeries:
    """1-3 patients, up to two days of 5-minute readings with jitter, gaps and excursions."""
    n_p = draw(st.integers(1, 3))
    per: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(n_p):
        n = draw(st.integers(0, 600))
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        t = MIDNIGHT_CST + 300 * np.arange(n) + rng.integers(-20, 21, n)
        x = 140 + np.cumsum(rng.normal(0, 6, n))
        x = np.clip(np.rint(x), 40, 400)
        keep = rng.random(n) > 0.05
        if n > 50 and draw(st.booleans()):
            a = int(rng.integers(0, n - 20))
            keep[a : a + int(rng.integers(10, 20))] = False  # a gap of 50-100 minutes
        per.append((t[keep], x[keep]))
    return PatientSeries.from_lists(per)


def _assert_same(a: CgmMetricSet, b: CgmMetricSet, rtol: float = 1e-9) -> None:
    for k in a.values:
        np.testing.assert_allclose(
            a.values[k], b.values[k], rtol=rtol, atol=1e-9, equal_nan=True, err_msg=k
        )
        assert a.status[k].tolist() == b.status[k].tolist(), k
    assert a.targets_most_adults.tolist() == b.targets_most_adults.tolist()
    for name in a.events:
        assert a.events[name].start_s.tolist() == b.events[name].start_s.tolist(), name
    assert a.agp is not None
    assert b.agp is not None
    np.testing.assert_allclose(a.agp.values_mg_dl, b.agp.values_mg_dl, rtol=rtol, equal_nan=True)


@settings(max_examples=25, deadline=None)
@given(cgm_patients(), st.randoms(use_true_random=False))
def test_permuting_readings_changes_nothing(s: PatientSeries, rnd) -> None:  # type: ignore[no-untyped-def]
    order = list(range(s.n_readings))
    rnd.shuffle(order)
    owner = s.owner[order]
    shuffled = PatientSeries.from_arrays(owner, s.time_s[order], s.values[order], s.n_patients)
    _assert_same(cgm_metric_set(s, config=CFG), cgm_metric_set(shuffled, config=CFG))


@settings(max_examples=25, deadline=None)
@given(cgm_patients(), st.data())
def test_duplicating_readings_changes_nothing(s: PatientSeries, data: st.DataObject) -> None:
    if s.n_readings == 0:
        return
    dup = data.draw(st.lists(st.integers(0, s.n_readings - 1), max_size=50))
    idx = np.concatenate((np.arange(s.n_readings), np.asarray(dup, dtype=np.int64)))
    doubled = PatientSeries.from_arrays(s.owner[idx], s.time_s[idx], s.values[idx], s.n_patients)
    r = cgm_metric_set(doubled, config=CFG)
    _assert_same(cgm_metric_set(s, config=CFG), r)
    assert int(r.quality.n_duplicates.sum()) == len(dup)
    assert int(r.quality.n_conflicting.sum()) == 0


@settings(max_examples=25, deadline=None)
@given(cgm_patients())
def test_converting_units_changes_nothing(s: PatientSeries) -> None:
    mmol = s.values / GLUCOSE_MG_DL_PER_MMOL_L
    back = PatientSeries(s.offsets, s.time_s, mmol * GLUCOSE_MG_DL_PER_MMOL_L)
    _assert_same(cgm_metric_set(s, config=CFG), cgm_metric_set(back, config=CFG), rtol=1e-12)


@settings(max_examples=15, deadline=None)
@given(cgm_patients())
def test_blocks_give_the_same_result_as_one_call(s: PatientSeries) -> None:
    whole = cgm_metric_set(s, config=CFG, block_patients=1024)
    parts = cgm_metric_set(s, config=CFG, block_patients=1)
    _assert_same(whole, parts, rtol=0.0)
    streamed = list(
        iter_cgm_metric_sets([s.block(i, i + 1) for i in range(s.n_patients)], config=CFG)
    )
    for i, r in enumerate(streamed):
        assert r.values["mean_mg_dl"].tolist() == pytest.approx(
            [whole.values["mean_mg_dl"][i]], nan_ok=True
        )


def test_every_metric_key_is_documented() -> None:
    r = cgm_metric_set(series(every_5_min([120.0] * 10)))
    documented = {m.key for m in CGM_METRICS}
    assert set(r.values) - documented == {"conga_1h_mg_dl", "conga_24h_mg_dl"}


def test_patient_without_readings_is_no_data_everywhere() -> None:
    s = PatientSeries.from_lists([([], []), ([MIDNIGHT_CST], [120.0])])
    r = cgm_metric_set(s)
    for k, st_ in r.status.items():
        assert st_[0] == Status.NO_DATA, k
        assert np.isnan(r.values[k][0]) or k.endswith("_events") or k == "n_readings", k


def test_single_reading_is_marked_insufficient_not_a_crash() -> None:
    r = cgm_metric_set(series([(0, 120.0)]))
    assert r.values["mean_mg_dl"][0] == 120.0
    assert r.status["mean_mg_dl"][0] == Status.INSUFFICIENT
    assert r.status["sd_mg_dl"][0] == Status.INSUFFICIENT
    assert np.isnan(r.values["modd_mg_dl"][0])
    assert r.status["mage_mg_dl"][0] == Status.INSUFFICIENT


def test_all_nan_values_are_dropped_and_the_patient_has_no_data() -> None:
    r = cgm_metric_set(series(every_5_min([np.nan] * 300)))
    assert r.quality.n_nonfinite[0] == 300
    assert r.status["mean_mg_dl"][0] == Status.NO_DATA


def test_a_day_of_nan_is_a_gap_not_a_number() -> None:
    day = [120.0] * 288
    values = day + [np.nan] * 288 + day
    r = cgm_metric_set(series(every_5_min(values)))
    assert r.values["mean_mg_dl"][0] == 120.0
    assert r.values["n_readings"][0] == 576
    # days 1 and 3 are 48 h apart: no pair of values 24 h apart exists
    assert np.isnan(r.values["modd_mg_dl"][0])
    assert r.status["modd_mg_dl"][0] == Status.INSUFFICIENT
    assert r.values["hypo_level1_events"][0] == 0


def test_implausible_values_never_reach_a_metric() -> None:
    values = [120.0] * 20 + [2.0, 5000.0]  # a mmol/L value in a mg/dL series, a fault
    r = cgm_metric_set(series(every_5_min(values)))
    assert r.quality.n_implausible[0] == 2
    assert r.values["mean_mg_dl"][0] == 120.0


def test_two_full_weeks_are_sufficient_and_ok() -> None:
    rng = np.random.default_rng(7)
    values = np.clip(
        np.rint(130 + 30 * np.sin(np.arange(14 * 288) / 40) + rng.normal(0, 5, 14 * 288)), 40, 400
    )
    r = cgm_metric_set(series(every_5_min(values.tolist())))
    assert r.sufficiency.sufficient.tolist() == [True]
    for k in ("mean_mg_dl", "sd_mg_dl", "gmi_percent", "mage_mg_dl", "modd_mg_dl", "adrr"):
        assert r.status[k][0] == Status.OK, k


def test_window_days_limits_the_analysis_and_counts_missing_time() -> None:
    values = [200.0] * 288 + [100.0] * (10 * 288)  # 11 days; the last 10 are 100 mg/dL
    r = cgm_metric_set(series(every_5_min(values)), config=CgmConfig(window_days=14))
    assert r.values["mean_mg_dl"][0] == pytest.approx((288 * 200 + 2880 * 100) / 3168)
    assert r.values["days"][0] == pytest.approx(14.0)
    assert r.values["active_percent"][0] == pytest.approx(100 * 11 / 14, abs=0.05)
    r10 = cgm_metric_set(series(every_5_min(values)), config=CgmConfig(window_days=10))
    assert r10.values["mean_mg_dl"][0] == 100.0


def test_two_workers_give_the_same_result_in_the_same_order() -> None:
    rng = np.random.default_rng(11)
    per = [
        (MIDNIGHT_CST + 300 * np.arange(400), np.rint(120 + 40 * rng.random(400))) for _ in range(7)
    ]
    s = PatientSeries.from_lists(per)
    one = cgm_metric_set(s, block_patients=2)
    two = cgm_metric_set(s, block_patients=2, workers=2)
    _assert_same(one, two, rtol=0.0)
