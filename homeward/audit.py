"""The audit log: who touched which patient's data, when, from where.

Every route that reads or changes a patient's data writes audit rows **in the same transaction**
as the read or the change, so there is no access without its record and no record of an access
that did not happen. A failed login is written in a transaction of its own and committed before
the refusal is sent. ``audit_log`` is append-only (a trigger refuses UPDATE, DELETE, TRUNCATE).

Actions are dotted nouns: ``auth.login``, ``auth.login_failed``, ``auth.logout``, ``alert.list``,
``alert.read``, ``alert.acknowledge``, ``alert.resolve``, ``alert.stream``, ``gateway.list``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row. ``actor`` is the username (or ``anonymous``); ``object_type`` and
    ``object_id`` name what was touched (``alert``, ``"12"``); ``patient_id`` whose data it is."""

    action: str
    actor: str
    actor_user_id: int | None = None
    patient_id: int | None = None
    object_type: str | None = None
    object_id: str | None = None
    client_addr: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


async def record(conn: psycopg.AsyncConnection[Any], entries: Iterable[AuditEntry]) -> int:
    """Append ``entries`` in the caller's transaction; returns how many rows were written."""
    rows = list(entries)
    if not rows:
        return 0
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO audit_log (actor_user_id, actor, action, patient_id, object_type,"
            " object_id, client_addr, detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb)",
            [
                (
                    e.actor_user_id,
                    e.actor,
                    e.action,
                    e.patient_id,
                    e.object_type,
                    e.object_id,
                    e.client_addr,
                    json.dumps(dict(e.detail)),
                )
                for e in rows
            ],
        )
    return len(rows)
