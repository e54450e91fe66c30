"""Staff accounts: doctors, nurses, site administrators and operators."""

from __future__ import annotations

from typing import Any, Literal

import psycopg
from psycopg.rows import tuple_row

from homeward.passwords import hash_password

Role = Literal["doctor", "nurse", "site_admin", "operator"]


def create_user(
    conn: psycopg.Connection[Any],
    *,
    username: str,
    display_name: str,
    role: Role,
    password: str,
    site_id: int | None,
) -> int:
    """Create a staff account; returns its id. ``username`` must be unique."""
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "INSERT INTO users (site_id, username, display_name, role, password_hash)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (site_id, username, display_name, role, hash_password(password)),
        )
        .fetchone()
    )
    assert row is not None
    return int(row[0])
