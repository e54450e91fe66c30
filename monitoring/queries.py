"""Read-only queries other parts use to read stored data, so they need not know the tables.

Plain functions over a synchronous connection; the caller owns the transaction. Series come back
as NumPy arrays ready for vectorised rules and analytics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg.rows import tuple_row

from devices import UNTRUSTED

_UNTRUSTED_FLAGS = sorted(UNTRUSTED)


@dataclass(frozen=True, slots=True)
class Series:
    """One patient's readings of one metric, sorted by time.

    ``ts_us`` holds int64 microseconds since the Unix epoch (UTC, exact); ``value`` the value in
    the metric's canonical unit, NaN where the reading has none; ``trusted`` is False for readings
    whose quality flags are in :data:`devices.UNTRUSTED` or that have no value. Readings of several
    devices are merged; two readings at one instant both appear. ``flagged`` holds, for each flag
    the caller asked :func:`series` about, whether each reading carries it (rules that must act on
    a valueless reading, such as a glucometer's "LO", read it there).
    """

    patient_id: int
    metric: str
    ts_us: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]
    trusted: npt.NDArray[np.bool_]
    flagged: Mapping[str, npt.NDArray[np.bool_]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.ts_us.size)


def series(
    conn: psycopg.Connection[Any],
    patient_id: int,
    metric: str,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    flags: Sequence[str] = (),
) -> Series:
    """Readings of ``metric`` for ``patient_id`` with ``since <= ts < until`` (None: unbounded).

    ``flags``: quality flags to report per reading in :attr:`Series.flagged`. Uses the
    ``(patient_id, metric, ts)`` index; empty arrays when there are none.
    """
    wanted = list(dict.fromkeys(flags))
    rows = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            """
            SELECT (extract(epoch FROM ts) * 1000000)::bigint,
                   value,
                   value IS NOT NULL AND NOT (flags && %(untrusted)s::text[]),
                   ARRAY(SELECT w.f = ANY(readings.flags)
                         FROM unnest(%(wanted)s::text[]) WITH ORDINALITY AS w (f, i)
                         ORDER BY w.i)
            FROM readings
            WHERE patient_id = %(patient)s AND metric = %(metric)s
              AND (%(since)s::timestamptz IS NULL OR ts >= %(since)s)
              AND (%(until)s::timestamptz IS NULL OR ts < %(until)s)
            ORDER BY ts
            """,
            {
                "untrusted": _UNTRUSTED_FLAGS,
                "wanted": wanted,
                "patient": patient_id,
                "metric": metric,
                "since": since,
                "until": until,
            },
        )
        .fetchall()
    )
    n = len(rows)
    return Series(
        patient_id=patient_id,
        metric=metric,
        ts_us=np.fromiter((r[0] for r in rows), dtype=np.int64, count=n),
        value=np.fromiter(
            (np.nan if r[1] is None else r[1] for r in rows), dtype=np.float64, count=n
        ),
        trusted=np.fromiter((r[2] for r in rows), dtype=np.bool_, count=n),
        flagged={
            f: np.fromiter((r[3][k] for r in rows), dtype=np.bool_, count=n)
            for k, f in enumerate(wanted)
        },
    )


@dataclass(frozen=True, slots=True)
class Target:
    """A patient's target range for a metric, canonical unit; either bound may be missing."""

    low: float | None
    high: float | None


def targets(
    conn: psycopg.Connection[Any], patient_ids: Iterable[int], metric: str
) -> dict[int, Target]:
    """Targets of ``metric`` for the given patients; patients without one are absent."""
    ids = list(patient_ids)
    if not ids:
        return {}
    rows = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "SELECT patient_id, low, high FROM patient_targets"
            " WHERE patient_id = ANY(%s) AND metric = %s",
            (ids, metric),
        )
        .fetchall()
    )
    return {int(r[0]): Target(low=r[1], high=r[2]) for r in rows}


def patient_sites(conn: psycopg.Connection[Any], patient_ids: Iterable[int]) -> dict[int, int]:
    """The site id of each given patient; unknown ids are absent."""
    ids = list(patient_ids)
    if not ids:
        return {}
    rows = (
        conn.cursor(row_factory=tuple_row)
        .execute("SELECT id, site_id FROM patients WHERE id = ANY(%s)", (ids,))
        .fetchall()
    )
    return {int(r[0]): int(r[1]) for r in rows}
