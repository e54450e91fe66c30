"""Daily partitions of the readings table, created ahead of the rows that need them.

On native storage every UTC day of readings lives in its own partition, which must exist before a
row for that day is inserted. The SQL function ``homeward_ensure_reading_partitions(from, to)``
(migration 0002) creates missing ones under an advisory lock, so several ingest workers may call
it at once. On TimescaleDB the same function is a no-op: the hypertable makes chunks on insert.

:class:`PartitionKeeper` remembers the days it has seen exist, so the ingest asks the database
only about days new to this process. ``CREATE TABLE ... PARTITION OF`` takes an ``ACCESS
EXCLUSIVE`` lock on the parent ``readings`` table: it waits for every open transaction that touched
readings and, while it waits, queues every later reader and writer behind it. The keeper therefore

* runs the DDL in a short transaction of its own, never inside a batch's write transaction, so a
  batch never holds that lock while it writes;
* bounds the wait with ``lock_timeout`` (:data:`DDL_LOCK_TIMEOUT_MS`): a long panel query holding
  the table makes the DDL fail fast with ``LockNotAvailable`` (the caller retries later) instead
  of stalling every reader queued behind it;
* is asked for today .. today + N days at start and daily, so the write path rarely needs DDL.

The cache can go stale if an operator drops an old partition (retention); the ingest then gets
"no partition of relation found for row", calls :meth:`PartitionKeeper.forget` and ensures again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import tuple_row

# How long partition DDL may wait for its lock before giving up (ms). Long enough to get past
# ordinary batch transactions, short enough that readers queued behind it barely notice.
DDL_LOCK_TIMEOUT_MS = 2000

# Key of the cache: one PostgreSQL database, as (host, port, dbname). Tests and `homeward demo`
# talk to several databases from one process; the days of one say nothing about another.
_DbKey = tuple[str, int, str]


def utc_day(ts: datetime) -> date:
    """The UTC calendar day of an aware timestamp (the partition it belongs to)."""
    offset = ts.utcoffset()
    if offset is None:
        raise ValueError("timestamp must be timezone-aware")
    return (ts.replace(tzinfo=None) - offset).date()


def day_ranges(days: Iterable[date]) -> Iterator[tuple[date, date]]:
    """Group days into inclusive ``(first, last)`` runs of consecutive days, in order.

    ``{1 Mar, 2 Mar, 5 Mar}`` gives ``(1 Mar, 2 Mar), (5 Mar, 5 Mar)``; no days give nothing.
    """
    ordered = sorted(set(days))
    if not ordered:
        return
    first = last = ordered[0]
    for d in ordered[1:]:
        if d == last + timedelta(days=1):
            last = d
            continue
        yield first, last
        first = last = d
    yield first, last


class PartitionKeeper:
    """Ensures reading partitions exist, asking the database only about days it has not seen.

    Thread-safe; one instance may serve every connection of a process. The cache holds days known
    to exist per database (``(host, port, dbname)``).
    """

    def __init__(self) -> None:
        self._known: dict[_DbKey, set[date]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(conn: psycopg.Connection[Any]) -> _DbKey:
        info = conn.info
        return (info.host, info.port, info.dbname)

    def missing(self, conn: psycopg.Connection[Any], days: Iterable[date]) -> set[date]:
        """The days among ``days`` not yet known to exist in ``conn``'s database."""
        with self._lock:
            known = self._known.get(self._key(conn), set())
            return {d for d in days if d not in known}

    def ensure_days(self, conn: psycopg.Connection[Any], days: Iterable[date]) -> int:
        """Make sure a partition exists for each UTC day in ``days``; returns how many were created.

        Runs the DDL in its own short transaction, so ``conn`` must not be inside a transaction
        (``ValueError`` otherwise: the DDL would otherwise commit or roll back with the caller's
        work). Days already known cost no round trip. Safe with concurrent workers: the SQL
        function serialises creators on an advisory lock and skips existing partitions.

        Raises ``psycopg.errors.LockNotAvailable`` when the lock is not granted within
        :data:`DDL_LOCK_TIMEOUT_MS`; nothing is cached then, and a later call tries again.
        """
        todo = self.missing(conn, days)
        if not todo:
            return 0
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise ValueError("ensure_days needs a connection outside any transaction")
        created = 0
        cur = conn.cursor(row_factory=tuple_row)
        with conn.transaction():
            # SET LOCAL: the timeout ends with this transaction, the connection keeps its own.
            cur.execute(f"SET LOCAL lock_timeout = {int(DDL_LOCK_TIMEOUT_MS)}")
            for first, last in day_ranges(todo):
                row = cur.execute(
                    "SELECT homeward_ensure_reading_partitions(%s, %s)", (first, last)
                ).fetchone()
                created += int(row[0]) if row else 0
        with self._lock:
            self._known.setdefault(self._key(conn), set()).update(todo)
        return created

    def ensure_ahead(self, conn: psycopg.Connection[Any], *, today: date, ahead_days: int) -> int:
        """Ensure partitions for ``today`` through ``today + ahead_days`` (inclusive, UTC days).

        The ingest calls this at start and once per day so the next days' rows never wait for DDL.
        Returns how many partitions were created. ``ahead_days < 0`` is treated as 0.
        """
        span = max(ahead_days, 0)
        return self.ensure_days(conn, (today + timedelta(days=i) for i in range(span + 1)))

    def forget(self, conn: psycopg.Connection[Any], days: Iterable[date] | None = None) -> None:
        """Drop ``days`` (all days when None) of ``conn``'s database from the cache, e.g. after the
        database said a partition is missing."""
        with self._lock:
            known = self._known.get(self._key(conn))
            if known is None:
                return
            if days is None:
                known.clear()
            else:
                known.difference_update(days)


# The process-wide keeper that :func:`monitoring.ingest.store_batch` uses unless given another.
DEFAULT_KEEPER = PartitionKeeper()
