"""The metric set against the reference implementation's recorded output (see iglu_reference).

Each metric is compared subject by subject with a relative tolerance of 1e-12: the definitions
are identical, only the order of floating-point additions differs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from monitoring.analytics.cleaning import clean_series
from monitoring.analytics.glucose import CgmConfig, CgmMetricSet, cgm_metric_set
from monitoring.analytics.mage import mage
from monitoring.analytics.resample import resample
from monitoring.analytics.units import PLAUSIBLE_MAX_MG_DL, PLAUSIBLE_MIN_MG_DL
from monitoring.analytics.variability import conga
from tests.monitoring.analytics import iglu_reference as ref
from tests.monitoring.analytics._data import five_subjects

RTOL = 1e-12


@lru_cache(maxsize=1)
def metric_set() -> CgmMetricSet:
    _, s = five_subjects()
    return cgm_metric_set(s, config=CgmConfig(conga_hours=(24.0,)))


def test_dataset_is_read_as_five_subjects_in_file_order() -> None:
    ids, s = five_subjects()
    assert ids == list(ref.SUBJECTS)
    assert s.n_readings == 13_866


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("mean_mg_dl", ref.MEAN),
        ("sd_mg_dl", ref.SD),
        ("cv_percent", ref.CV),
        ("gmi_percent", ref.GMI),
        ("ea1c_percent", ref.EA1C),
        ("percent_below_54_mg_dl", ref.BELOW_54),
        ("percent_below_70_mg_dl", ref.BELOW_70),
        ("percent_70_180_mg_dl", ref.IN_70_180),
        ("percent_above_180_mg_dl", ref.ABOVE_180),
        ("percent_above_250_mg_dl", ref.ABOVE_250),
        ("active_percent", ref.ACTIVE_PERCENT),
        ("lbgi", ref.LBGI),
        ("hbgi", ref.HBGI),
        ("adrr", ref.ADRR),
        ("j_index", ref.J_INDEX),
        ("gri", ref.GRI),
        ("modd_mg_dl", ref.MODD),
        ("conga_24h_mg_dl", ref.CONGA_24H),
        ("mage_mg_dl", ref.MAGE),
        ("hyper_level1_per_day", ref.HYPER_L1_PER_DAY),
    ],
)
def test_metric_matches_reference_for_every_subject(key: str, expected: tuple[float, ...]) -> None:
    got = metric_set().values[key]
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-15)


def test_conga_96h_and_mage_3_35_match_reference() -> None:
    _, s = five_subjects()
    clean, _ = clean_series(s, plausible_min=PLAUSIBLE_MIN_MG_DL, plausible_max=PLAUSIBLE_MAX_MG_DL)
    grid = resample(clean)
    np.testing.assert_allclose(conga(grid, 96.0).value, ref.CONGA_96H, rtol=RTOL)
    np.testing.assert_allclose(
        mage(grid, short_ma=3, long_ma=35).mage_mg_dl, ref.MAGE_3_35, rtol=RTOL
    )


def test_grid_values_are_bit_identical_to_reference_interpolation() -> None:
    _, s = five_subjects()
    clean, _ = clean_series(s, plausible_min=PLAUSIBLE_MIN_MG_DL, plausible_max=PLAUSIBLE_MAX_MG_DL)
    grid = resample(clean)
    day3 = grid.values[0, 2 * 288 + 1 : 3 * 288 + 1]  # iglu's row 3 starts at 00:05
    assert tuple(day3[:12].tolist()) == ref.GRID_SUBJECT1_DAY3_FROM_0005
    start = int(np.flatnonzero(day3 == ref.GRID_SUBJECT1_DAY3_STRETCH[0])[0])
    assert np.isnan(day3[start - 1])
    stretch = tuple(day3[start : start + 6].tolist())
    assert stretch == ref.GRID_SUBJECT1_DAY3_STRETCH


@pytest.mark.parametrize("subject", range(5))
def test_event_counts_durations_and_means_match_reference(subject: int) -> None:
    r = metric_set()
    expected = ref.EPISODES[ref.SUBJECTS[subject]]
    names = ("hypo_level1", "hypo_level2", "hypo_extended", "hyper_level1", "hyper_level2")
    for name, (count, duration, mean_gl) in zip(names, expected[:5], strict=True):
        tab = r.events[name]
        sel = tab.patient == subject
        assert int(sel.sum()) == count, name
        assert r.values[f"{name}_events"][subject] == count
        if count:
            assert tab.duration_min[sel].mean() == pytest.approx(duration, rel=RTOL)
            assert tab.mean_mg_dl[sel].mean() == pytest.approx(mean_gl, rel=RTOL)
        else:
            assert np.isnan(r.values[f"{name}_mean_duration_min"][subject])
    assert r.values["hypo_level1_exclusive_events"][subject] == expected[5][0]
    assert r.values["hyper_level1_exclusive_events"][subject] == expected[6][0]


def test_no_subject_meets_the_consensus_data_sufficiency() -> None:
    # 12.7, 16.7, 5.8, 12.9 and 10.6 days; subject 2 is active only 59 % of the time.
    r = metric_set()
    assert not r.sufficiency.sufficient.any()
    assert (r.status["mean_mg_dl"] == 2).all()
