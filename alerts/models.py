"""Shapes of the alerts API, one per use (full-stack-fastapi-template habit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from alerts.request import Severity

AlertState = Literal["open", "acknowledged", "resolved"]
StateFilter = Literal["active", "open", "acknowledged", "resolved", "all"]


class PatientRef(BaseModel):
    id: int
    display_name: str


class UserRef(BaseModel):
    id: int
    display_name: str


class Evidence(BaseModel):
    """The readings that justify the alert."""

    start: datetime = Field(description="First reading of the evidence (UTC)")
    end: datetime = Field(description="Last reading of the evidence (UTC)")
    summary: str = Field(description="One line for people, e.g. 'SpO2 86 % for 7 min, ...'")
    detail: dict[str, Any] = Field(
        description="Rule-specific values (canonical units; durations in seconds)"
    )


class AlertPublic(BaseModel):
    id: int
    patient: PatientRef
    rule: str
    severity: Severity
    state: AlertState
    title: str
    evidence: Evidence
    opened_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: UserRef | None
    resolved_at: datetime | None
    resolved_by: UserRef | None
    resolution_note: str | None


class AlertEvent(BaseModel):
    at: datetime
    action: Literal["opened", "updated", "escalated", "acknowledged", "resolved"]
    actor: UserRef | None = Field(description="None for the evaluator (a rule)")
    note: str | None
    detail: dict[str, Any]


class AlertWithEvents(AlertPublic):
    events: list[AlertEvent]


class AlertList(BaseModel):
    state: StateFilter
    items: list[AlertPublic] = Field(description="Most severe first, then newest first")


class ResolveRequest(BaseModel):
    note: str = Field(
        min_length=1, max_length=2000, description="Why the alert is closed (required)"
    )

    @field_validator("note")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("the note must not be blank")
        return v
