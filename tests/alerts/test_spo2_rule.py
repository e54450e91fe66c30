"""The sustained-low SpO2 rule on hand-worked examples, and against a plain-loop reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.errors import RuleInputError
from alerts.request import Severity
from alerts.rules import describe_evidence
from alerts.rules.spo2 import (
    RULE,
    SpO2RuleConfig,
    SpO2Snapshot,
    evaluate_spo2,
    to_epoch_us,
)

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
US = 1_000_000


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def snap(
    readings: list[tuple[float, float] | tuple[float, float, bool]],
    *,
    floor: float | None = None,
    not_before: datetime | None = None,
    window_start: datetime | None = None,
) -> SpO2Snapshot:
    """Readings as (seconds after T0, SpO2 %, trusted=True)."""
    ts = np.array([to_epoch_us(at(r[0])) for r in readings], dtype=np.int64)
    values = np.array([r[1] for r in readings], dtype=np.float64)
    trusted = np.array([r[2] if len(r) == 3 else True for r in readings], dtype=np.bool_)
    return SpO2Snapshot(
        patient_id=7,
        ts_us=ts,
        value_pct=values,
        trusted=trusted,
        floor_pct=floor,
        not_before=not_before,
        window_start=window_start,
    )


def every_minute(first_min: int, last_min: int, value: float) -> list[tuple[float, float]]:
    return [(m * 60.0, value) for m in range(first_min, last_min + 1)]


def test_low_for_exactly_the_sustained_duration_opens() -> None:
    # 88 % at minutes 0..5: first-to-last = 300 s = SUSTAINED exactly.
    [req] = evaluate_spo2(snap(every_minute(0, 5, 88.0)))
    assert req.rule == RULE
    assert req.patient_id == 7
    assert req.severity is Severity.HIGH
    assert req.evidence_start == at(0)
    assert req.evidence_end == at(300)
    assert req.detail["duration_s"] == 300.0
    assert req.detail["readings"] == 6
    assert req.detail["floor_pct"] == 90.0
    assert req.detail["floor_source"] == "default"
    assert req.title == "SpO2 below 90 % for 5 min"


def test_low_one_second_short_of_the_sustained_duration_does_not_open() -> None:
    readings = [*every_minute(0, 4, 88.0), (299.0, 88.0)]
    assert evaluate_spo2(snap(readings)) == []


def test_a_gap_just_over_the_max_gap_breaks_the_run() -> None:
    # Low at minutes 0-3, nothing for 120.001 s, low again for 3 min: 8 min in all, but two
    # 3-min runs. With the second part 1 ms earlier (gap = MAX_GAP) it is one 8-min run.
    def readings(gap_s: float) -> list[tuple[float, float]]:
        return [*every_minute(0, 3, 87.0), *[(180.0 + gap_s + 60.0 * k, 87.0) for k in range(4)]]

    assert evaluate_spo2(snap(readings(120.001))) == []
    [req] = evaluate_spo2(snap(readings(120.0)))
    assert req.detail["duration_s"] == 480.0


def test_a_gap_of_exactly_the_max_gap_keeps_the_run() -> None:
    # Low at 0, 60, 180 (gap 120 s = MAX_GAP), 240, 300: one 5-min run.
    readings = [(0.0, 87.0), (60.0, 87.0), (180.0, 87.0), (240.0, 87.0), (300.0, 87.0)]
    [req] = evaluate_spo2(snap(readings))
    assert req.evidence_start == at(0)
    assert req.evidence_end == at(300)


def test_a_single_good_reading_breaks_the_run() -> None:
    # Ten minutes low, but one reading at the floor (90 % is not below 90 %) at minute 4.
    readings = [*every_minute(0, 3, 86.0), (240.0, 90.0), *every_minute(5, 8, 86.0)]
    assert evaluate_spo2(snap(readings)) == []


def test_untrusted_readings_neither_count_nor_break_the_run() -> None:
    readings: list[tuple[float, float] | tuple[float, float, bool]] = [
        *every_minute(0, 6, 87.0),
        (150.0, 99.0, False),  # an untrusted "good" value does not break the run
    ]
    [req] = evaluate_spo2(snap(readings))
    assert req.evidence_end == at(360)
    assert req.detail["readings"] == 7
    only_untrusted_low: list[tuple[float, float] | tuple[float, float, bool]] = [
        (m * 60.0, 80.0, False) for m in range(10)
    ]
    assert evaluate_spo2(snap(only_untrusted_low)) == []


def test_nan_values_are_ignored_like_untrusted_ones() -> None:
    readings = [*every_minute(0, 5, 88.0), (90.0, float("nan"))]
    [req] = evaluate_spo2(snap(readings))
    assert req.detail["readings"] == 6


def test_unsorted_input_gives_the_same_result_as_sorted() -> None:
    readings = [*every_minute(0, 7, 87.0), (480.0, 95.0), *every_minute(9, 20, 84.0)]
    shuffled = list(readings)
    np.random.default_rng(1).shuffle(shuffled)  # type: ignore[arg-type]
    assert evaluate_spo2(snap(shuffled)) == evaluate_spo2(snap(readings))
    assert len(evaluate_spo2(snap(readings))) == 2


def test_empty_input_requests_nothing() -> None:
    assert evaluate_spo2(snap([])) == []


def test_evidence_at_or_before_the_last_resolution_does_not_count() -> None:
    readings = every_minute(0, 10, 87.0)
    # Resolved at minute 6: minutes 7-10 remain, 3 min, not enough.
    assert evaluate_spo2(snap(readings, not_before=at(360))) == []
    # Resolved at minute 4: minutes 5-10 remain, exactly 5 min.
    [req] = evaluate_spo2(snap(readings, not_before=at(240)))
    assert req.evidence_start == at(300)


def test_the_patients_own_floor_wins_over_the_default() -> None:
    copd = every_minute(0, 10, 89.0)
    assert len(evaluate_spo2(snap(copd))) == 1  # below the default 90 %
    assert evaluate_spo2(snap(copd, floor=88.0)) == []
    [req] = evaluate_spo2(snap(every_minute(0, 10, 87.0), floor=88.0))
    assert req.detail["floor_source"] == "patient_target"
    assert req.title == "SpO2 below 88 % for 10 min"


def test_critical_when_the_median_is_more_than_five_points_below_the_floor() -> None:
    # Floor 90: critical below 85. Median of [84, 84, 84, 86, 86, 86] = 85.0 -> high.
    values = [84.0, 86.0, 84.0, 86.0, 84.0, 86.0]
    [req] = evaluate_spo2(snap([(60.0 * i, v) for i, v in enumerate(values)]))
    assert req.detail["median_pct"] == 85.0
    assert req.detail["nadir_pct"] == 84.0
    assert req.severity is Severity.HIGH
    # One more 84 moves the median to 84 -> critical.
    [req] = evaluate_spo2(snap([(60.0 * i, v) for i, v in enumerate([*values, 84.0])]))
    assert req.detail["median_pct"] == 84.0
    assert req.severity is Severity.CRITICAL
    # A single deep artefact does not make an otherwise mild episode critical.
    [req] = evaluate_spo2(snap([*every_minute(0, 6, 88.0), (30.0, 60.0)]))
    assert req.severity is Severity.HIGH
    assert req.detail["nadir_pct"] == 60.0


def test_duration_is_marked_as_a_lower_bound_when_the_run_touches_the_window_start() -> None:
    [req] = evaluate_spo2(snap(every_minute(0, 7, 87.0), window_start=at(-30)))
    assert req.detail["duration_is_lower_bound"] is True
    assert req.title == "SpO2 below 90 % for ≥ 7 min"
    [req] = evaluate_spo2(snap(every_minute(5, 12, 87.0), window_start=at(0)))
    assert req.detail["duration_is_lower_bound"] is False


def test_two_separate_episodes_give_two_requests_oldest_first() -> None:
    readings = [*every_minute(0, 6, 87.0), *every_minute(7, 7, 95.0), *every_minute(8, 20, 83.0)]
    first, second = evaluate_spo2(snap(readings))
    assert first.evidence_start < second.evidence_start
    assert (first.severity, second.severity) == (Severity.HIGH, Severity.CRITICAL)


def test_bad_snapshots_are_refused() -> None:
    bad = SpO2Snapshot(
        patient_id=1,
        ts_us=np.zeros(2, dtype=np.int64),
        value_pct=np.zeros(3),
        trusted=np.ones(2, dtype=np.bool_),
    )
    with pytest.raises(RuleInputError, match="lengths differ"):
        evaluate_spo2(bad)
    with pytest.raises(RuleInputError, match="floor"):
        evaluate_spo2(snap(every_minute(0, 5, 80.0), floor=0.0))
    with pytest.raises(RuleInputError):
        SpO2RuleConfig(max_gap=timedelta(0))


# --- against a plain per-reading reference --------------------------------------------------


def reference_runs(
    readings: list[tuple[int, float, bool]], floor: float, sustained_us: int, max_gap_us: int
) -> list[tuple[int, int, int, float]]:
    """Straightforward loop: (first_us, last_us, count, nadir) of qualifying runs."""
    ordered = sorted((t, v) for t, v, ok in readings if ok and v == v)
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for t, v in ordered:
        if v < floor and current and t - current[-1][0] <= max_gap_us:
            current.append((t, v))
        elif v < floor:
            if current:
                runs.append(current)
            current = [(t, v)]
        else:
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [
        (r[0][0], r[-1][0], len(r), min(v for _, v in r))
        for r in runs
        if r[-1][0] - r[0][0] >= sustained_us
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=40 * 60).map(lambda s: s * US),
            st.sampled_from([80.0, 85.0, 88.0, 89.9, 90.0, 93.0, 97.0]),
            st.booleans(),
        ),
        max_size=80,
        unique_by=lambda r: r[0],
    )
)
def test_matches_the_reference_loop(readings: list[tuple[int, float, bool]]) -> None:
    cfg = SpO2RuleConfig()
    s = SpO2Snapshot(
        patient_id=1,
        ts_us=np.array([r[0] for r in readings], dtype=np.int64) + to_epoch_us(T0),
        value_pct=np.array([r[1] for r in readings], dtype=np.float64),
        trusted=np.array([r[2] for r in readings], dtype=np.bool_),
    )
    got = [
        (
            to_epoch_us(r.evidence_start) - to_epoch_us(T0),
            to_epoch_us(r.evidence_end) - to_epoch_us(T0),
            r.detail["readings"],
            r.detail["nadir_pct"],
        )
        for r in evaluate_spo2(s, cfg)
    ]
    want = reference_runs(readings, 90.0, 300 * US, 120 * US)
    assert got == want


def test_the_evidence_line_a_doctor_reads() -> None:
    values = [87.0, 86.0, 84.0, 86.0, 86.0, 85.0, 86.0, 87.0]  # median 86, nadir 84, 7 min
    [req] = evaluate_spo2(snap([(60.0 * i, v) for i, v in enumerate(values)]))
    assert describe_evidence(RULE, req.detail) == "SpO2 86 % for 7 min, nadir 84 % (floor 90 %)"
    long = {**req.detail, "duration_s": 3725.0, "duration_is_lower_bound": True}
    assert describe_evidence(RULE, long) == "SpO2 86 % for ≥ 1 h 2 min, nadir 84 % (floor 90 %)"
