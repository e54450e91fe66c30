"""The alert lifecycle: open -> acknowledged -> resolved, with updates and escalation.

::

               request (rule)                 acknowledge (user)         resolve (user, note)
    (none) ─────────────────▶ open ─────────────────────────▶ acknowledged ──────────────▶ resolved
                               ▲ │ request: extend evidence            │                      ▲
                               │ └─ 'updated' / 'escalated'            │                      │
                               └──── 'escalated' (back to open) ◀──────┘                      │
                               open ──────────────────────── resolve ─────────────────────────┘

* At most one *active* (open or acknowledged) alert per patient and rule: a request for a patient
  who already has one updates it (evidence window widened, severity raised, never lowered). The
  partial unique index ``alerts_one_active`` guarantees it; two evaluators racing to open the same
  alert both ``INSERT ... ON CONFLICT DO NOTHING`` and the loser updates the winner's row.
* An escalation of an *acknowledged* alert puts it back to ``open``: the doctor acknowledged a
  lesser condition, so the worse one must be seen and acknowledged again.
* A resolved alert stays resolved. A new alert for the same patient and rule opens only from
  evidence that starts after the resolution; older evidence is reported as ``stale`` and ignored.
* Every transition writes an ``alert_events`` row and ``NOTIFY alerts_changed`` with the JSON
  payload ``{"alert_id": ..., "site_id": ..., "action": ...}`` in the same transaction, so a
  listener woken by the notification always finds the committed change.

Each operation exists as a synchronous function (the evaluator) and an ``*_async`` twin (the
HTTP API), both driving the same generator (see :mod:`alerts._steps`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg

from alerts._steps import Query, Row, Steps, run_async, run_sync
from alerts.errors import AlertNotFoundError, AlertStateError
from alerts.request import AlertRequest, Severity

CHANNEL = "alerts_changed"

# Attempts to find-or-insert the active alert; a second attempt happens only when another
# transaction inserted it between our look-up and our insert, a third never should.
_OPEN_ATTEMPTS = 3

Action = Literal["opened", "updated", "escalated", "acknowledged", "resolved"]
Outcome = Literal[
    "opened", "updated", "escalated", "acknowledged", "resolved", "unchanged", "stale"
]


@dataclass(frozen=True, slots=True)
class AlertChange:
    """What an operation did to which alert.

    ``outcome`` is the action recorded in ``alert_events``, or ``unchanged`` (the request added
    nothing; acknowledging an already acknowledged alert) or ``stale`` (the request's evidence is
    not newer than the last resolution: ``alert_id`` is then None and nothing was written).
    """

    alert_id: int | None
    outcome: Outcome
    state: str | None = None
    severity: Severity | None = None


def _notify(alert_id: int, site_id: int, action: Action) -> Query:
    payload = json.dumps({"alert_id": alert_id, "site_id": site_id, "action": action})
    return Query(
        "SELECT pg_notify(%(channel)s, %(payload)s)", {"channel": CHANNEL, "payload": payload}
    )


def _event(
    alert_id: int,
    action: Action,
    *,
    actor_user_id: int | None = None,
    note: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Query:
    return Query(
        "INSERT INTO alert_events (alert_id, actor_user_id, action, note, detail)"
        " VALUES (%(alert)s, %(actor)s, %(action)s, %(note)s, %(detail)s::jsonb)",
        {
            "alert": alert_id,
            "actor": actor_user_id,
            "action": action,
            "note": note,
            "detail": json.dumps(detail or {}),
        },
    )


def _open_or_update(request: AlertRequest, site_id: int) -> Steps[AlertChange]:
    key = {"patient": request.patient_id, "rule": request.rule}
    for _ in range(_OPEN_ATTEMPTS):
        active = yield Query(
            "SELECT id, site_id, state, severity, evidence_start, evidence_end FROM alerts"
            " WHERE patient_id = %(patient)s AND rule = %(rule)s AND state <> 'resolved'"
            " FOR UPDATE",
            key,
        )
        # Read after the lock: if a doctor resolved the active alert while we waited for it, this
        # statement already sees that resolution.
        resolved = yield Query(
            "SELECT max(resolved_at) AS at FROM alerts"
            " WHERE patient_id = %(patient)s AND rule = %(rule)s AND state = 'resolved'",
            key,
        )
        last_resolved: datetime | None = resolved[0]["at"]
        if last_resolved is not None and request.evidence_start <= last_resolved:
            # Evidence from before (or straddling) the last resolution: the doctor has seen it.
            return AlertChange(None, "stale")
        if active:
            change: AlertChange = yield from _update(active[0], request)
            return change
        inserted = yield Query(
            "INSERT INTO alerts (patient_id, site_id, rule, severity, title, detail,"
            " evidence_start, evidence_end)"
            " VALUES (%(patient)s, %(site)s, %(rule)s, %(severity)s, %(title)s,"
            " %(detail)s::jsonb, %(start)s, %(end)s)"
            " ON CONFLICT (patient_id, rule) WHERE state <> 'resolved' DO NOTHING"
            " RETURNING id",
            {
                **key,
                "site": site_id,
                "severity": request.severity.value,
                "title": request.title,
                "detail": json.dumps(dict(request.detail)),
                "start": request.evidence_start,
                "end": request.evidence_end,
            },
        )
        if inserted:
            alert_id = int(inserted[0]["id"])
            yield _event(
                alert_id,
                "opened",
                detail={
                    "severity": request.severity.value,
                    "evidence_start": request.evidence_start.isoformat(),
                    "evidence_end": request.evidence_end.isoformat(),
                },
            )
            yield _notify(alert_id, site_id, "opened")
            return AlertChange(alert_id, "opened", "open", request.severity)
        # Another transaction opened it since our SELECT: go round and update theirs.
    raise RuntimeError(
        f"could not open or find the active {request.rule} alert of patient {request.patient_id}"
    )


def _update(row: Row, request: AlertRequest) -> Steps[AlertChange]:
    alert_id = int(row["id"])
    old_severity = Severity(row["severity"])
    severity = max(old_severity, request.severity, key=lambda s: s.rank)
    start = min(row["evidence_start"], request.evidence_start)
    end = max(row["evidence_end"], request.evidence_end)
    escalated = severity.rank > old_severity.rank
    if not escalated and start == row["evidence_start"] and end == row["evidence_end"]:
        return AlertChange(alert_id, "unchanged", row["state"], old_severity)
    # The latest episode describes the alert; an older one found late only widens the window.
    latest = request.evidence_end >= row["evidence_end"]
    reopen = escalated and row["state"] == "acknowledged"
    updated = yield Query(
        "UPDATE alerts SET severity = %(severity)s, evidence_start = %(start)s,"
        " evidence_end = %(end)s, updated_at = now(),"
        " title = CASE WHEN %(latest)s THEN %(title)s ELSE title END,"
        " detail = CASE WHEN %(latest)s THEN %(detail)s::jsonb ELSE detail END,"
        " state = CASE WHEN %(reopen)s THEN 'open' ELSE state END,"
        " acknowledged_at = CASE WHEN %(reopen)s THEN NULL ELSE acknowledged_at END,"
        " acknowledged_by = CASE WHEN %(reopen)s THEN NULL ELSE acknowledged_by END"
        " WHERE id = %(id)s RETURNING state",
        {
            "id": alert_id,
            "severity": severity.value,
            "start": start,
            "end": end,
            "latest": latest,
            "title": request.title,
            "detail": json.dumps(dict(request.detail)),
            "reopen": reopen,
        },
    )
    action: Action = "escalated" if escalated else "updated"
    detail: dict[str, Any] = {
        "evidence_start": start.isoformat(),
        "evidence_end": end.isoformat(),
        "previous_evidence_end": row["evidence_end"].isoformat(),
    }
    if escalated:
        detail |= {"from": old_severity.value, "to": severity.value, "reopened": reopen}
    yield _event(alert_id, action, detail=detail)
    yield _notify(alert_id, int(row["site_id"]), action)
    return AlertChange(alert_id, action, str(updated[0]["state"]), severity)


def _lock(alert_id: int) -> Steps[Row]:
    rows = yield Query(
        "SELECT id, site_id, state, severity FROM alerts WHERE id = %(id)s FOR UPDATE",
        {"id": alert_id},
    )
    if not rows:
        raise AlertNotFoundError(alert_id)
    return rows[0]


def _acknowledge(alert_id: int, user_id: int) -> Steps[AlertChange]:
    row = yield from _lock(alert_id)
    severity = Severity(row["severity"])
    if row["state"] == "acknowledged":
        # Two doctors pressing the button at once: the second press changes nothing.
        return AlertChange(alert_id, "unchanged", "acknowledged", severity)
    if row["state"] != "open":
        raise AlertStateError(alert_id, row["state"], "acknowledge")
    yield Query(
        "UPDATE alerts SET state = 'acknowledged', acknowledged_at = now(),"
        " acknowledged_by = %(user)s, updated_at = now() WHERE id = %(id)s",
        {"id": alert_id, "user": user_id},
    )
    yield _event(alert_id, "acknowledged", actor_user_id=user_id)
    yield _notify(alert_id, int(row["site_id"]), "acknowledged")
    return AlertChange(alert_id, "acknowledged", "acknowledged", severity)


def _resolve(alert_id: int, user_id: int, note: str) -> Steps[AlertChange]:
    note = note.strip()
    if not note:
        raise ValueError("a resolution needs a note")
    row = yield from _lock(alert_id)
    if row["state"] == "resolved":
        raise AlertStateError(alert_id, "resolved", "resolve")
    yield Query(
        "UPDATE alerts SET state = 'resolved', resolved_at = now(), resolved_by = %(user)s,"
        " resolution_note = %(note)s, updated_at = now() WHERE id = %(id)s",
        {"id": alert_id, "user": user_id, "note": note},
    )
    yield _event(alert_id, "resolved", actor_user_id=user_id, note=note)
    yield _notify(alert_id, int(row["site_id"]), "resolved")
    return AlertChange(alert_id, "resolved", "resolved", Severity(row["severity"]))


def _last_resolved(patient_ids: list[int], rule: str) -> Steps[dict[int, datetime]]:
    rows = yield Query(
        "SELECT patient_id, max(resolved_at) AS at FROM alerts"
        " WHERE patient_id = ANY(%(ids)s) AND rule = %(rule)s AND state = 'resolved'"
        " GROUP BY patient_id",
        {"ids": patient_ids, "rule": rule},
    )
    return {int(r["patient_id"]): r["at"] for r in rows}


# --- synchronous ------------------------------------------------------------------------------


def open_or_update(
    conn: psycopg.Connection[Any], request: AlertRequest, *, site_id: int
) -> AlertChange:
    """Open an alert for ``request``, or update the patient's active alert of that rule.

    ``site_id`` is the patient's site (stored on the alert for the site-wide panel). Returns
    ``opened``, ``updated`` (evidence widened), ``escalated`` (severity raised), ``unchanged``
    (nothing new) or ``stale`` (evidence not after the last resolution; nothing written).
    """
    return run_sync(conn, _open_or_update(request, site_id))


def acknowledge(conn: psycopg.Connection[Any], alert_id: int, *, user_id: int) -> AlertChange:
    """Acknowledge an open alert. Idempotent on an acknowledged one (outcome ``unchanged``).

    Raises :class:`AlertNotFoundError` for an unknown id and :class:`AlertStateError` for a
    resolved alert.
    """
    return run_sync(conn, _acknowledge(alert_id, user_id))


def resolve(
    conn: psycopg.Connection[Any], alert_id: int, *, user_id: int, note: str
) -> AlertChange:
    """Resolve an open or acknowledged alert with a note (required, stripped of blanks).

    Raises :class:`AlertNotFoundError`, :class:`AlertStateError` (already resolved) or
    ``ValueError`` (blank note).
    """
    return run_sync(conn, _resolve(alert_id, user_id, note))


def last_resolved(
    conn: psycopg.Connection[Any], patient_ids: Iterable[int], rule: str
) -> dict[int, datetime]:
    """When each patient's latest ``rule`` alert was resolved; patients with none are absent."""
    return run_sync(conn, _last_resolved(list(patient_ids), rule))


# --- asynchronous twins (HTTP API) ------------------------------------------------------------


async def acknowledge_async(
    conn: psycopg.AsyncConnection[Any], alert_id: int, *, user_id: int
) -> AlertChange:
    """:func:`acknowledge` on an asynchronous connection."""
    return await run_async(conn, _acknowledge(alert_id, user_id))


async def resolve_async(
    conn: psycopg.AsyncConnection[Any], alert_id: int, *, user_id: int, note: str
) -> AlertChange:
    """:func:`resolve` on an asynchronous connection."""
    return await run_async(conn, _resolve(alert_id, user_id, note))


async def open_or_update_async(
    conn: psycopg.AsyncConnection[Any], request: AlertRequest, *, site_id: int
) -> AlertChange:
    """:func:`open_or_update` on an asynchronous connection."""
    return await run_async(conn, _open_or_update(request, site_id))
