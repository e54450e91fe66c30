"""The thinning plan: high-rate samples go first, oldest first, clinical readings never."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway._thinning import thinning_plan


def test_the_older_half_loses_every_second_sample_of_each_series() -> None:
    series = ["hr", "spo2"] * 10  # 20 readings, oldest first
    drop, flag = thinning_plan(series, need=1)
    # Older half = positions 0-9: hr at 0,2,4,6,8 and spo2 at 1,3,5,7,9.
    assert drop == {2, 6, 3, 7}
    assert flag == {0, 4, 8, 1, 5, 9}


def test_clinical_readings_are_never_planned() -> None:
    series = [None] * 10 + ["hr"] * 10
    drop, flag = thinning_plan(series, need=3)
    assert drop
    assert all(i >= 10 for i in drop | flag)
    assert thinning_plan([None] * 50, need=1) == (set(), set())


def test_nothing_is_planned_when_nothing_is_needed() -> None:
    assert thinning_plan(["hr"] * 10, need=0) == (set(), set())


@given(
    series=st.lists(st.sampled_from([None, "hr", "spo2", "steps"]), max_size=300),
    need=st.integers(min_value=0, max_value=300),
)
def test_a_plan_frees_what_it_can_and_keeps_every_series_alive(
    series: list[str | None], need: int
) -> None:
    drop, flag = thinning_plan(series, need)
    assert not drop & flag
    assert all(series[i] is not None for i in drop | flag)
    thinnable = [i for i, s in enumerate(series) if s is not None]
    if need > 0 and len(drop) < need:
        # Falling short means every series is down to one sample.
        left = [series[i] for i in thinnable if i not in drop]
        assert len(left) == len(set(left))
    for key in {s for s in series if s is not None}:
        kept = [i for i, s in enumerate(series) if s == key and i not in drop]
        assert kept  # a series is thinned, never emptied
        # The newest sample of each series always survives.
        assert max(i for i, s in enumerate(series) if s == key) in kept
