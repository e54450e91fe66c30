"""Migrations: versioned, recorded, idempotent; storage variants answer alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from monitoring.errors import MigrationChangedError
from monitoring.schema import load_migrations, migrate, schema_version


@pytest.fixture
def empty_db(pg_server_url: str) -> Iterator[str]:
    name = f"homeward_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(pg_server_url)._replace(path="/" + name))
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _schema_snapshot(url: str) -> list[Any]:
    with psycopg.connect(url) as c:
        return c.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()


def test_migrations_applied_twice_change_nothing(empty_db: str) -> None:
    first = migrate(empty_db, storage="native")
    assert first == [m.version for m in load_migrations()]
    before = _schema_snapshot(empty_db)
    assert migrate(empty_db, storage="native") == []
    assert _schema_snapshot(empty_db) == before
    with psycopg.connect(empty_db) as c:
        assert schema_version(c) == first[-1]
        rows = c.execute("SELECT version, variant FROM schema_migrations ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == first
    assert ("native",) in {(r[1],) for r in rows}


def test_an_edited_migration_is_refused(empty_db: str) -> None:
    migrate(empty_db, storage="native")
    with psycopg.connect(empty_db, autocommit=True) as c:
        c.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
    with pytest.raises(MigrationChangedError) as exc:
        migrate(empty_db)
    assert exc.value.version == 1


def test_native_partitions_are_created_on_demand_and_late_rows_land_in_their_day(
    empty_db: str,
) -> None:
    migrate(empty_db, storage="native")
    with psycopg.connect(empty_db, autocommit=True) as c:
        assert c.execute(
            "SELECT homeward_ensure_reading_partitions('2024-02-28', '2024-03-01')"
        ).fetchone() == (3,)
        assert c.execute(
            "SELECT homeward_ensure_reading_partitions('2024-02-28', '2024-03-01')"
        ).fetchone() == (0,)
        c.execute(
            "INSERT INTO readings (ts, device_id, metric, seq, patient_id, value, unit, gateway_id)"
            " VALUES ('2024-02-29 23:59:59.999+00', 'd', 'spo2', 1, 1, 95, '%', 'g')"
        )
        row = c.execute("SELECT tableoid::regclass::text FROM readings").fetchone()
    assert row == ("readings_p20240229",)


def test_audit_log_cannot_be_edited_or_deleted(conn: psycopg.Connection[Any]) -> None:
    conn.execute("INSERT INTO audit_log (actor, action) VALUES ('test', 'probe')")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE audit_log SET action = 'changed'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM audit_log")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("TRUNCATE audit_log")


def test_a_device_cannot_belong_to_two_patients_at_once(make: Any, conn: Any) -> None:
    from datetime import UTC, datetime

    from monitoring import registry

    w = make.site()
    make.patient(w, "li")
    make.patient(w, "wang")
    dev = make.device(w, "li", "ox", since=datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(psycopg.errors.ExclusionViolation):
        registry.assign_device(
            conn,
            device_id=dev,
            patient_id=w.patients["wang"],
            valid_from=datetime(2026, 6, 1, tzinfo=UTC),
        )
    registry.end_assignment(conn, device_id=dev, valid_to=datetime(2026, 6, 1, tzinfo=UTC))
    registry.assign_device(
        conn,
        device_id=dev,
        patient_id=w.patients["wang"],
        valid_from=datetime(2026, 6, 1, tzinfo=UTC),
    )
