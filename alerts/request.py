"""What a rule asks for: an :class:`AlertRequest`, with a :class:`Severity`.

Rules are pure functions over a snapshot; they never touch the database. They return requests,
and :mod:`alerts.lifecycle` turns each request into a new alert or an update of the patient's one
active alert for that rule (nightscout's ``sbx`` + ``requestNotify`` split, STYLE.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """Alert severity, ordered: ``low < medium < high < critical``.

    The rank matches the ``alerts.severity_rank`` column the panel sorts by.
    """

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK: Mapping[Severity, int] = {
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


@dataclass(frozen=True, slots=True)
class AlertRequest:
    """A rule's request that ``patient_id`` have an active alert of ``rule``.

    ``evidence_start`` and ``evidence_end`` (timezone-aware UTC) bound the readings that justify
    it, both inclusive. ``detail`` is JSON-serialisable and rule-specific (values in the metric's
    canonical unit, durations in seconds); ``title`` is one short line for the panel.
    """

    patient_id: int
    rule: str
    severity: Severity
    title: str
    evidence_start: datetime
    evidence_end: datetime
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.evidence_start.tzinfo is None or self.evidence_end.tzinfo is None:
            raise ValueError("evidence times must be timezone-aware")
        if self.evidence_end < self.evidence_start:
            raise ValueError("evidence_end is before evidence_start")
