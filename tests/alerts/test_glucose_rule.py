"""The glucose rules as pure functions: thresholds at their edges, LO/HI readings, exclusions."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from alerts.errors import RuleInputError
from alerts.request import AlertRequest, Severity
from alerts.rules import describe_evidence
from alerts.rules.glucose import (
    RULE_HIGH,
    RULE_LOW,
    GlucoseRuleConfig,
    GlucoseSnapshot,
    evaluate_glucose,
)
from alerts.rules.spo2 import to_epoch_us

T0 = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)


def snapshot(
    values: list[float | None],
    *,
    lo: Collection[int] = (),
    hi: Collection[int] = (),
    untrusted: Collection[int] = (),
    disqualified: Collection[int] = (),
    not_before_low: datetime | None = None,
    not_before_high: datetime | None = None,
) -> GlucoseSnapshot:
    """Readings one hour apart from T0; a None value is a valueless (flagged) reading."""
    n = len(values)
    idx = range(n)
    value = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return GlucoseSnapshot(
        patient_id=7,
        ts_us=np.array([to_epoch_us(T0 + timedelta(hours=i)) for i in idx], dtype=np.int64),
        value_mmol_l=value,
        trusted=np.array(
            [values[i] is not None and i not in untrusted and i not in disqualified for i in idx]
        ),
        below_range=np.array([i in lo for i in idx], dtype=np.bool_),
        above_range=np.array([i in hi for i in idx], dtype=np.bool_),
        disqualified=np.array([i in disqualified for i in idx], dtype=np.bool_),
        not_before_low=not_before_low,
        not_before_high=not_before_high,
    )


def by_rule(s: GlucoseSnapshot) -> dict[str, AlertRequest]:
    return {r.rule: r for r in evaluate_glucose(s)}


def test_normal_readings_raise_nothing() -> None:
    assert evaluate_glucose(snapshot([5.6, 7.8, 4.0, 16.6])) == []


def test_empty_input_raises_nothing() -> None:
    assert evaluate_glucose(snapshot([])) == []


def test_one_reading_at_exactly_3_9_is_level_1_hypoglycaemia() -> None:
    [r] = evaluate_glucose(snapshot([6.1, 3.9, 5.0]))
    assert r.rule == RULE_LOW
    assert r.severity is Severity.HIGH
    assert r.evidence_start == r.evidence_end == T0 + timedelta(hours=1)
    assert r.detail["extreme_mmol_l"] == 3.9
    assert r.detail["extreme_mg_dl"] == 70


def test_below_3_0_is_critical_and_3_0_itself_is_not() -> None:
    [at] = evaluate_glucose(snapshot([3.0]))
    assert at.severity is Severity.HIGH
    [below] = evaluate_glucose(snapshot([3.5, 2.9]))
    assert below.severity is Severity.CRITICAL
    assert below.detail["readings"] == 2
    assert below.detail["extreme_mmol_l"] == 2.9
    assert below.evidence_start == T0
    assert below.evidence_end == T0 + timedelta(hours=1)


def test_meter_lo_is_critical_hypoglycaemia_although_it_has_no_value() -> None:
    [r] = evaluate_glucose(snapshot([6.0, None], lo={1}))
    assert r.rule == RULE_LOW
    assert r.severity is Severity.CRITICAL
    assert r.detail["out_of_range_readings"] == 1
    assert "LO" in r.title
    assert describe_evidence(RULE_LOW, r.detail) == (
        "meter showed LO (below its range), 1 reading <= 3.9 mmol/L"
    )


def test_lo_on_control_solution_or_a_faulty_strip_is_not_the_patients_glucose() -> None:
    assert evaluate_glucose(snapshot([None, None], lo={0, 1}, disqualified={0, 1})) == []


def test_untrusted_values_never_alert() -> None:
    # An implausible or test-data value is stored but not evaluated as a number.
    assert evaluate_glucose(snapshot([2.0, 40.0], untrusted={0, 1})) == []


def test_high_thresholds_and_meter_hi() -> None:
    rules = by_rule(snapshot([16.7]))
    assert rules[RULE_HIGH].severity is Severity.HIGH
    rules = by_rule(snapshot([20.0, 33.3]))
    assert rules[RULE_HIGH].severity is Severity.CRITICAL
    assert rules[RULE_HIGH].detail["extreme_mmol_l"] == 33.3
    [hi] = evaluate_glucose(snapshot([None], hi={0}))
    assert hi.rule == RULE_HIGH
    assert hi.severity is Severity.CRITICAL
    assert "HI" in hi.title


def test_a_swing_from_high_to_low_raises_both_rules() -> None:
    rules = by_rule(snapshot([18.2, 3.4]))
    assert set(rules) == {RULE_LOW, RULE_HIGH}
    assert [r.rule for r in evaluate_glucose(snapshot([18.2, 3.4]))] == [RULE_LOW, RULE_HIGH]


def test_evidence_the_doctor_resolved_does_not_count_again_per_rule() -> None:
    s = snapshot([3.2, 18.0, 3.5], not_before_low=T0 + timedelta(hours=1))
    rules = by_rule(s)
    low = rules[RULE_LOW]
    assert low.evidence_start == T0 + timedelta(hours=2)
    assert low.detail["readings"] == 1
    assert RULE_HIGH in rules  # resolving the low alert says nothing about highs
    assert by_rule(snapshot([3.2], not_before_low=T0)) == {}  # "at or before" is dropped


def test_result_does_not_depend_on_input_order() -> None:
    s = snapshot([3.1, 2.5, 3.8, None], lo={3})
    order = np.array([3, 1, 0, 2])
    shuffled = GlucoseSnapshot(
        patient_id=s.patient_id,
        ts_us=s.ts_us[order],
        value_mmol_l=s.value_mmol_l[order],
        trusted=s.trusted[order],
        below_range=s.below_range[order],
        above_range=s.above_range[order],
        disqualified=s.disqualified[order],
    )
    assert evaluate_glucose(s) == evaluate_glucose(shuffled)


def test_mismatched_arrays_and_bad_thresholds_are_refused() -> None:
    s = snapshot([5.0, 6.0])
    bad = GlucoseSnapshot(
        patient_id=1,
        ts_us=s.ts_us,
        value_mmol_l=s.value_mmol_l[:1],
        trusted=s.trusted,
        below_range=s.below_range,
        above_range=s.above_range,
        disqualified=s.disqualified,
    )
    with pytest.raises(RuleInputError, match="value_mmol_l"):
        evaluate_glucose(bad)
    with pytest.raises(RuleInputError):
        GlucoseRuleConfig(level1_mmol_l=3.0, level2_mmol_l=3.9)
    with pytest.raises(RuleInputError):
        GlucoseRuleConfig(high_mmol_l=3.0)


def test_describe_gives_the_lowest_value_in_both_units() -> None:
    [r] = evaluate_glucose(snapshot([3.4, 2.6]))
    assert describe_evidence(RULE_LOW, r.detail) == (
        "lowest glucose 2.6 mmol/L (47 mg/dL), 2 readings <= 3.9 mmol/L"
    )
