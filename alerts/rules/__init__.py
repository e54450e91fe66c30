"""Alert rules: pure functions from a snapshot to :class:`~alerts.request.AlertRequest` objects.

One module per rule, named after what it watches; each module's docstring gives the definition,
the thresholds and their clinical sources. :func:`describe_evidence` turns a stored alert's
``detail`` into the one line of evidence the panel shows.
"""

from collections.abc import Callable, Mapping
from typing import Any

from alerts.rules import glucose as _glucose
from alerts.rules import spo2 as _spo2
from alerts.rules.glucose import RULE_HIGH as GLUCOSE_HIGH_RULE
from alerts.rules.glucose import RULE_LOW as GLUCOSE_LOW_RULE
from alerts.rules.glucose import (
    GlucoseRuleConfig,
    GlucoseSnapshot,
    evaluate_glucose,
)
from alerts.rules.spo2 import (
    CRITICAL_DEPTH_PCT,
    DEFAULT_FLOOR_PCT,
    MAX_GAP,
    SUSTAINED,
    SpO2RuleConfig,
    SpO2Snapshot,
    evaluate_spo2,
    find_low_runs,
    from_epoch_us,
    to_epoch_us,
)
from alerts.rules.spo2 import RULE as SPO2_RULE

_DESCRIBERS: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    SPO2_RULE: _spo2.describe,
    GLUCOSE_LOW_RULE: _glucose.describe,
    GLUCOSE_HIGH_RULE: _glucose.describe,
}


def describe_evidence(rule: str, detail: Mapping[str, Any]) -> str:
    """The evidence line for an alert of ``rule`` (its title's rule name when unknown)."""
    describer = _DESCRIBERS.get(rule)
    return describer(detail) if describer is not None else rule


__all__ = [
    "CRITICAL_DEPTH_PCT",
    "DEFAULT_FLOOR_PCT",
    "GLUCOSE_HIGH_RULE",
    "GLUCOSE_LOW_RULE",
    "MAX_GAP",
    "SPO2_RULE",
    "SUSTAINED",
    "GlucoseRuleConfig",
    "GlucoseSnapshot",
    "SpO2RuleConfig",
    "SpO2Snapshot",
    "describe_evidence",
    "evaluate_glucose",
    "evaluate_spo2",
    "find_low_runs",
    "from_epoch_us",
    "to_epoch_us",
]
