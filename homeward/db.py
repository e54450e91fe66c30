"""Database connections: one place that knows how Homeward talks to PostgreSQL."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

APPLICATION_NAME = "homeward"


def connect(
    url: str, *, autocommit: bool = False, app: str = APPLICATION_NAME
) -> psycopg.Connection[Any]:
    """A new synchronous connection to ``url``."""
    return psycopg.connect(url, autocommit=autocommit, application_name=app)


def connect_dict(url: str, *, autocommit: bool = False) -> psycopg.Connection[dict[str, Any]]:
    """A new synchronous connection whose rows are dicts."""
    return psycopg.connect(
        url, autocommit=autocommit, application_name=APPLICATION_NAME, row_factory=dict_row
    )


def make_pool(
    url: str, *, min_size: int = 1, max_size: int = 4, app: str = APPLICATION_NAME
) -> ConnectionPool:
    """An open synchronous pool. Connections are checked before being handed out, so a database
    restart costs one failed check, not a failed request."""
    pool = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"application_name": app},
        check=ConnectionPool.check_connection,
        open=False,
    )
    pool.open(wait=False)
    return pool


async def make_async_pool(
    url: str, *, min_size: int = 1, max_size: int = 8, app: str = APPLICATION_NAME
) -> AsyncConnectionPool:
    """An open asynchronous pool (used by the HTTP API)."""
    pool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"application_name": app, "row_factory": dict_row},
        check=AsyncConnectionPool.check_connection,
        open=False,
    )
    await pool.open(wait=False)
    return pool
