"""The outbox's SQLite schema, its migration from version 1, and the check that a file has it.

Tables are STRICT so a wrong type is an error, not a silent conversion. ``readings.id`` is
AUTOINCREMENT: ids are never reused after deletes, so id order is storage order forever.
``PRAGMA user_version`` is the schema version.
"""

from __future__ import annotations

import sqlite3

from devices import METRICS

SCHEMA_VERSION = 2

# Version 1 (issue 1): meta, batches, readings, device cursors.
_V1: tuple[str, ...] = (
    """CREATE TABLE outbox_meta (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) STRICT""",
    """CREATE TABLE batches (
        batch_seq     INTEGER PRIMARY KEY,
        batch_id      TEXT NOT NULL UNIQUE,
        created_at_us INTEGER NOT NULL
    ) STRICT""",
    """CREATE TABLE readings (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id    TEXT NOT NULL,
        metric       TEXT NOT NULL,
        value        REAL,
        unit         TEXT NOT NULL,
        ts_us        INTEGER NOT NULL,
        seq          INTEGER NOT NULL,
        flags        TEXT NOT NULL,
        stored_at_us INTEGER NOT NULL,
        batch_seq    INTEGER REFERENCES batches (batch_seq),
        UNIQUE (device_id, metric, seq, ts_us)
    ) STRICT""",
    "CREATE INDEX readings_unbatched ON readings (id) WHERE batch_seq IS NULL",
    "CREATE INDEX readings_by_batch ON readings (batch_seq) WHERE batch_seq IS NOT NULL",
    """CREATE TABLE device_cursors (
        device_id     TEXT PRIMARY KEY,
        last_seq      INTEGER NOT NULL,
        updated_at_us INTEGER NOT NULL
    ) STRICT""",
    "INSERT INTO outbox_meta (key, value) VALUES ('next_batch_seq', 1)",
)

# Version 2 (issue 3): thinning, provenance, device health, settings, corruption history.
# ``thinnable`` is 1 for a high-rate sample the outbox may thin when full, 0 for a clinical
# reading. Provenance columns are NULL for rows stored by version 1.
_V2: tuple[str, ...] = (
    """CREATE TABLE boots (
        boot_no INTEGER PRIMARY KEY,
        boot_id TEXT NOT NULL UNIQUE
    ) STRICT""",
    "ALTER TABLE readings ADD COLUMN thinnable INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE readings ADD COLUMN device_ts_us INTEGER",
    "ALTER TABLE readings ADD COLUMN clock_utc_us INTEGER",
    "ALTER TABLE readings ADD COLUMN clock_mono_us INTEGER",
    "ALTER TABLE readings ADD COLUMN boot_no INTEGER REFERENCES boots (boot_no)",
    """CREATE TABLE device_status (
        device_id          TEXT PRIMARY KEY,
        last_seen_us       INTEGER,
        battery_pct        REAL,
        battery_at_us      INTEGER,
        clock_device_us    INTEGER,
        clock_utc_us       INTEGER,
        clock_mono_us      INTEGER,
        clock_boot_id      TEXT,
        clock_offset_s     INTEGER,
        clock_measured_us  INTEGER
    ) STRICT""",
    """CREATE TABLE settings (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT""",
    """CREATE TABLE corruption_events (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        at_us    INTEGER NOT NULL,
        moved_to TEXT NOT NULL,
        detail   TEXT NOT NULL
    ) STRICT""",
    """INSERT INTO outbox_meta (key, value) VALUES
        ('thinned_readings', 0), ('refused_readings', 0), ('refused_clinical_readings', 0),
        ('refused_puts', 0), ('last_refused_at_us', 0)""",
)

TABLES_V1 = frozenset({"outbox_meta", "batches", "readings", "device_cursors"})
TABLES = frozenset(
    {
        "outbox_meta",
        "batches",
        "readings",
        "device_cursors",
        "boots",
        "device_status",
        "settings",
        "corruption_events",
    }
)


def create(conn: sqlite3.Connection) -> None:
    """Create the current schema in an empty database (inside the caller's transaction)."""
    for statement in _V1:
        conn.execute(statement)
    upgrade_from_1(conn)


def upgrade_from_1(conn: sqlite3.Connection) -> None:
    """Bring a version-1 outbox to version 2 (inside the caller's transaction). Rows stored by
    version 1 become thinnable when their metric is not clinical in the catalog."""
    for statement in _V2:
        conn.execute(statement)
    thinnable = sorted(code for code, metric in METRICS.items() if not metric.clinical)
    conn.execute(
        f"UPDATE readings SET thinnable = 1 WHERE metric IN ({','.join('?' * len(thinnable))})",
        thinnable,
    )
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def missing_tables(conn: sqlite3.Connection) -> set[str]:
    """Tables of the current schema that the file lacks (empty for a sound outbox)."""
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return set(TABLES) - {str(r[0]) for r in rows}
