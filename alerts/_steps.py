"""Database logic written once, run by a synchronous or an asynchronous connection.

The alert lifecycle is needed from the evaluator (a thread with a synchronous psycopg connection)
and from the HTTP API (asyncio, the async pool). Rather than keep two copies of the logic in step,
each operation is a generator that *yields* :class:`Query` objects and is *sent* the rows each
returns (psycopg itself shares its sync/async logic through generators in the same way). The two
drivers below only execute; they hold no logic, so the twins cannot drift apart.

Each driver wraps the whole operation in ``transaction()``. Inside a transaction the caller opened
with ``transaction()`` it is a savepoint, and everything commits (or rolls back) with the caller's
transaction; on an idle connection (autocommit or not) it is a transaction of its own that commits
at the end of the operation. Either way the row locks taken by the operation last until its
writes, events and NOTIFY commit together.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row

T = TypeVar("T")
Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Query:
    """One SQL statement with named parameters."""

    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)


Steps = Generator[Query, list[Row], T]


def run_sync(conn: psycopg.Connection[Any], steps: Steps[T]) -> T:
    """Run ``steps`` on a synchronous connection, in a transaction (or savepoint)."""
    with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        try:
            query = next(steps)
            while True:
                cur.execute(query.sql, query.params)
                rows = cur.fetchall() if cur.description is not None else []
                query = steps.send(rows)
        except StopIteration as done:
            result: T = done.value
            return result


async def run_async(conn: psycopg.AsyncConnection[Any], steps: Steps[T]) -> T:
    """Run ``steps`` on an asynchronous connection, in a transaction (or savepoint)."""
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        try:
            query = next(steps)
            while True:
                await cur.execute(query.sql, query.params)
                rows = await cur.fetchall() if cur.description is not None else []
                query = steps.send(rows)
        except StopIteration as done:
            result: T = done.value
            return result
