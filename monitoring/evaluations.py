"""The durable queue of series that changed and must be re-evaluated.

The ingest calls :func:`mark_changed` in the same transaction that stores readings; evaluators
(alert rules, analytics) call :func:`claim_changed` inside their own transaction and commit only
after recording their result. A crashed evaluator rolls back, so the claim returns to the queue;
two evaluators never claim the same row (``FOR UPDATE SKIP LOCKED``). ``NOTIFY`` on
:data:`CHANNEL` only wakes listeners; the rows are the truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

CHANNEL = "readings_changed"


@dataclass(frozen=True, slots=True)
class ChangedSeries:
    """Readings of ``metric`` for ``patient_id`` changed at or after ``since_ts`` (UTC)."""

    patient_id: int
    metric: str
    since_ts: datetime


def mark_changed(conn: psycopg.Connection[Any], changes: Iterable[ChangedSeries]) -> None:
    """Queue series for evaluation and wake listeners at commit.

    Repeated marks of one series merge: the earliest ``since_ts`` wins, so late data re-opens
    older windows instead of being skipped.
    """
    rows = [(c.patient_id, c.metric, c.since_ts) for c in changes]
    if not rows:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO pending_evaluations (patient_id, metric, since_ts) VALUES (%s, %s, %s)"
            " ON CONFLICT (patient_id, metric) DO UPDATE"
            " SET since_ts = least(pending_evaluations.since_ts, excluded.since_ts),"
            " queued_at = now()",
            rows,
        )
        cur.execute(f"NOTIFY {CHANNEL}")


def claim_changed(
    conn: psycopg.Connection[Any], *, metrics: Iterable[str] | None = None, limit: int = 500
) -> list[ChangedSeries]:
    """Claim and remove up to ``limit`` queued series (optionally only of ``metrics``).

    Must run inside a transaction the caller commits after acting on the result; rows locked by
    another evaluator are skipped, not waited for.
    """
    wanted = list(metrics) if metrics is not None else None
    cur = conn.cursor(row_factory=tuple_row)
    rows = cur.execute(
        """
        DELETE FROM pending_evaluations p
        USING (
            SELECT patient_id, metric FROM pending_evaluations
            WHERE %(all)s OR metric = ANY(%(metrics)s)
            ORDER BY queued_at
            LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
        ) c
        WHERE p.patient_id = c.patient_id AND p.metric = c.metric
        RETURNING p.patient_id, p.metric, p.since_ts
        """,
        {"all": wanted is None, "metrics": wanted or [], "limit": limit},
    ).fetchall()
    return [ChangedSeries(int(r[0]), str(r[1]), r[2]) for r in rows]
