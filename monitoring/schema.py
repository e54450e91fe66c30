"""Versioned schema migrations.

Migrations are SQL files in ``monitoring/migrations`` named ``NNNN_name.sql``, or
``NNNN_name.native.sql`` + ``NNNN_name.timescaledb.sql`` where the two storage variants differ.
:func:`migrate` applies the pending ones in order, each in its own transaction, and records
version, variant and checksum in ``schema_migrations``. Running it again changes nothing; a file
edited after it was applied is refused (write a new migration instead). Concurrent callers
serialise on an advisory lock, so two services starting at once cannot both apply a migration.

The storage variant is chosen once, when the readings table is created, and recorded: ``auto``
uses TimescaleDB when ``CREATE EXTENSION timescaledb`` succeeds (the extension must also be in
``shared_preload_libraries``), native range partitions otherwise.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import psycopg
from psycopg import sql

from monitoring.errors import MigrationChangedError, MigrationError

Variant = Literal["native", "timescaledb"]
StorageChoice = Literal["auto", "native", "timescaledb"]

_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+?)(?:\.(native|timescaledb))?\.sql$")
_LOCK_KEY = 0x486F6D6577617264  # "Homeward" as a 64-bit advisory lock key


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    # Variant-specific SQL, or the same text under both keys for a common migration.
    texts: dict[str, str]
    common: bool

    def text_for(self, variant: Variant) -> str:
        return self.texts[variant]

    def checksum(self, variant: Variant) -> str:
        return hashlib.sha256(self.text_for(variant).encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """All migrations shipped with the package, in version order."""
    found: dict[int, dict[str, Any]] = {}
    for entry in resources.files("monitoring.migrations").iterdir():
        m = _NAME_RE.match(entry.name)
        if not m:
            continue
        version, name, variant = int(m[1]), m[2], m[3]
        slot = found.setdefault(version, {"name": name, "texts": {}})
        if slot["name"] != name:
            raise MigrationError(version, f"two names for one version: {slot['name']}, {name}")
        text = entry.read_text(encoding="utf-8")
        if variant is None:
            slot["texts"]["native"] = slot["texts"]["timescaledb"] = text
            slot["common"] = True
        else:
            slot["texts"][variant] = text
            slot.setdefault("common", False)
    out = []
    for version in sorted(found):
        slot = found[version]
        if set(slot["texts"]) != {"native", "timescaledb"}:
            raise MigrationError(version, "a variant migration needs both .native and .timescaledb")
        out.append(Migration(version, slot["name"], slot["texts"], slot["common"]))
    return out


def _ensure_table(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version     integer PRIMARY KEY,
            name        text NOT NULL,
            variant     text NOT NULL,
            checksum    text NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def _timescaledb_loads(conn: psycopg.Connection[Any]) -> bool:
    available = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    if not available:
        return False
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error:
        return False
    return True


def storage_variant(conn: psycopg.Connection[Any]) -> Variant | None:
    """The variant recorded by an earlier migration, or None on an empty database."""
    _ensure_table(conn)
    row = conn.execute(
        "SELECT variant FROM schema_migrations WHERE variant <> 'common' ORDER BY version LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    v = row[0]
    assert v in ("native", "timescaledb")
    return v  # type: ignore[no-any-return]


def _choose_variant(conn: psycopg.Connection[Any], choice: StorageChoice) -> Variant:
    recorded = storage_variant(conn)
    if recorded is not None:
        if choice != "auto" and choice != recorded:
            raise MigrationError(
                0, f"database uses {recorded} storage; cannot switch to {choice} in place"
            )
        return recorded
    if choice == "native":
        return "native"
    loads = _timescaledb_loads(conn)
    if choice == "timescaledb" and not loads:
        raise MigrationError(0, "storage=timescaledb but the extension cannot be loaded")
    return "timescaledb" if loads else "native"


def migrate(url: str, *, storage: StorageChoice = "auto") -> list[int]:
    """Apply pending migrations to the database at ``url``; return the versions applied.

    Idempotent: a second call returns ``[]`` and changes nothing. Raises
    :class:`MigrationChangedError` if an applied migration's file was edited.
    """
    migrations = load_migrations()
    applied_now: list[int] = []
    with psycopg.connect(url, autocommit=True, application_name="homeward-migrate") as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            _ensure_table(conn)
            variant = _choose_variant(conn, storage)
            applied = {
                row[0]: (row[1], row[2])
                for row in conn.execute("SELECT version, variant, checksum FROM schema_migrations")
            }
            for mig in migrations:
                if mig.version in applied:
                    rec_variant, rec_sum = applied[mig.version]
                    check_variant: Variant = variant if rec_variant == "common" else rec_variant
                    if rec_sum != mig.checksum(check_variant):
                        raise MigrationChangedError(
                            mig.version, f"{mig.name} was changed after it was applied"
                        )
                    continue
                with conn.transaction():
                    conn.execute(sql.SQL(mig.text_for(variant)))
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, variant, checksum)"
                        " VALUES (%s, %s, %s, %s)",
                        (
                            mig.version,
                            mig.name,
                            "common" if mig.common else variant,
                            mig.checksum(variant),
                        ),
                    )
                applied_now.append(mig.version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The highest applied migration version (0 on an empty database)."""
    _ensure_table(conn)
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0
