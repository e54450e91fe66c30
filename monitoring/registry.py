"""Sites, patients, gateways, devices and assignments: the relational facts readings hang on.

Plain functions over a connection, keyword-only arguments; the caller owns the transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from devices import DEVICE_ID_RE


def _returning_id(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...]) -> int:
    # A tuple cursor, whatever row factory the caller's connection uses.
    row = conn.cursor(row_factory=tuple_row).execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


def create_site(
    conn: psycopg.Connection[Any], *, code: str, name: str, timezone: str = "Asia/Shanghai"
) -> int:
    """Create a site (a community hospital running programmes); returns its id."""
    return _returning_id(
        conn,
        "INSERT INTO sites (code, name, timezone) VALUES (%s, %s, %s) RETURNING id",
        (code, name, timezone),
    )


def create_panel(conn: psycopg.Connection[Any], *, site_id: int, name: str) -> int:
    """Create a doctor's panel (a list of patients a care team follows); returns its id."""
    return _returning_id(
        conn, "INSERT INTO panels (site_id, name) VALUES (%s, %s) RETURNING id", (site_id, name)
    )


def add_panel_member(conn: psycopg.Connection[Any], *, panel_id: int, user_id: int) -> None:
    """Let a user see the patients of a panel."""
    conn.execute(
        "INSERT INTO panel_members (panel_id, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (panel_id, user_id),
    )


def create_patient(
    conn: psycopg.Connection[Any],
    *,
    site_id: int,
    mrn: str,
    display_name: str,
    panel_id: int | None = None,
    birth_date: date | None = None,
    sex: str | None = None,
    conditions: list[str] | None = None,
) -> int:
    """Create a patient; returns the id. ``mrn`` must be unique within the site."""
    return _returning_id(
        conn,
        "INSERT INTO patients (site_id, panel_id, mrn, display_name, birth_date, sex, conditions)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (site_id, panel_id, mrn, display_name, birth_date, sex, conditions or []),
    )


def set_target(
    conn: psycopg.Connection[Any],
    *,
    patient_id: int,
    metric: str,
    low: float | None = None,
    high: float | None = None,
    note: str | None = None,
) -> None:
    """Set a patient-specific target for ``metric`` (canonical unit), replacing any earlier one."""
    conn.execute(
        "INSERT INTO patient_targets (patient_id, metric, low, high, note) VALUES (%s,%s,%s,%s,%s)"
        " ON CONFLICT (patient_id, metric) DO UPDATE SET low = excluded.low,"
        " high = excluded.high, note = excluded.note, updated_at = now()",
        (patient_id, metric, low, high, note),
    )


def register_gateway(
    conn: psycopg.Connection[Any], *, gateway_id: str, site_id: int, label: str | None = None
) -> None:
    """Register a home gateway with its site (idempotent)."""
    if not DEVICE_ID_RE.match(gateway_id):
        raise ValueError(f"invalid gateway id {gateway_id!r}")
    conn.execute(
        "INSERT INTO gateways (id, site_id, label) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (gateway_id, site_id, label),
    )


def register_device(
    conn: psycopg.Connection[Any],
    *,
    device_id: str,
    site_id: int,
    kind: str,
    model: str | None = None,
    gateway_id: str | None = None,
) -> None:
    """Register a device with its site (idempotent)."""
    if not DEVICE_ID_RE.match(device_id):
        raise ValueError(f"invalid device id {device_id!r}")
    conn.execute(
        "INSERT INTO devices (id, site_id, kind, model, gateway_id) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO NOTHING",
        (device_id, site_id, kind, model, gateway_id),
    )


def assign_device(
    conn: psycopg.Connection[Any],
    *,
    device_id: str,
    patient_id: int,
    valid_from: datetime,
    valid_to: datetime | None = None,
) -> int:
    """Give a device to a patient over ``[valid_from, valid_to)`` (open-ended when None).

    Raises ``psycopg.errors.ExclusionViolation`` when the device already belongs to someone
    during any part of that period.
    """
    return _returning_id(
        conn,
        "INSERT INTO device_assignments (device_id, patient_id, valid_from, valid_to)"
        " VALUES (%s, %s, %s, %s) RETURNING id",
        (device_id, patient_id, valid_from, valid_to),
    )


def end_assignment(conn: psycopg.Connection[Any], *, device_id: str, valid_to: datetime) -> int:
    """Close the device's open-ended assignment at ``valid_to``; returns rows changed (0 or 1)."""
    cur = conn.execute(
        "UPDATE device_assignments SET valid_to = %s"
        " WHERE device_id = %s AND valid_to IS NULL AND valid_from < %s",
        (valid_to, device_id, valid_to),
    )
    return cur.rowcount
