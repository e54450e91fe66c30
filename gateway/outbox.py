"""The gateway's durable outbox: readings wait here, on disk, until the ingest has committed them.

Everything a gateway receives from a device goes through :meth:`Outbox.put` first. The uplink
then takes readings out in batches and deletes them only when the ingest's application-level ack
for their batch arrives (see :mod:`gateway.uplink`). The durability argument, step by step:

1. **Stored before acknowledged.** ``put()`` returns only after the SQLite transaction holding the
   readings has committed, in WAL mode with ``synchronous=FULL``: the commit has been fsync'ed to
   the write-ahead log, so it survives a power cut. A caller acknowledges its source (advances a
   glucometer's record cursor, answers an MQTT-native device) only after ``put()`` returned. The
   same transaction advances the per-device high-water mark that :meth:`cursor` reports, so the
   cursor can never run ahead of what is stored.
2. **Batches are fixed once formed.** :meth:`form_batch` assigns the oldest unbatched readings (in
   outbox order, i.e. the order they were stored) to a new batch with the next value of a
   persisted batch sequence and a random ``batch_id``, in one transaction. A batch's membership,
   id, sequence number and creation time never change, so after a crash or restart
   :meth:`pending_batches` returns it exactly as before and the uplink resends the same
   ``batch_id`` with the same readings and the same ``sent_at``: the same bytes.
3. **Deleted only on the application ack.** :meth:`ack` deletes a batch and its readings in one
   transaction. The broker's PUBACK is never a reason to delete: it proves the broker has the
   message, not that the database committed it.
4. **Redelivery is harmless.** Each reading carries the idempotency key ``(device_id, metric, seq,
   ts)``; the ingest stores a key once however often it arrives. The outbox refuses a second copy
   of a key it still holds, so a device re-read after an interrupted transfer is not queued twice.

**Group commit.** Many threads may ``put()`` at once (one per BLE connection). A caller that finds
no commit running becomes the leader: it takes every request waiting at that moment and stores
them all in one transaction, each request in a savepoint of its own, and one fsync makes them all
durable. Callers arriving meanwhile wait and form the next group. Each caller still gets its own
answer (how many were new, or its own error) only after the commit that holds its readings.

**Bounded.** The outbox holds at most ``max_readings`` readings (:meth:`set_max_readings` changes
it at run time). When a ``put()`` would exceed it, high-rate samples (metrics whose catalog entry
is not ``clinical``: heart rate, continuous SpO2, steps) that are not yet in a batch are thinned
first (see :mod:`gateway._thinning`: the older half loses every second sample of each series, the
kept neighbours get the ``thinned`` flag). Clinical readings (glucose, blood pressure, weight,
temperature, pulse rate, and anything put with ``clinical=True`` such as SpO2 spot checks) are never
thinned or dropped: if thinning cannot make room the whole ``put()`` is refused with
:class:`~gateway.errors.OutboxFullError`, nothing of it is stored, no cursor moves, and the refusal
is counted for the heartbeat (:meth:`health`).

**Corruption.** At open, ``PRAGMA quick_check`` runs. A file that is not a readable outbox (bad
pages, not a database, tables missing) is moved aside under a timestamped name with its WAL
(``outbox.sqlite3.corrupt-20261123T020000123456Z``), kept for recovery, logged, recorded in the
fresh outbox (:attr:`OutboxHealth.corruption_events`, which the heartbeat reports), and a fresh
outbox is started. I/O errors and permission problems are not corruption: they raise
:class:`~gateway.errors.OutboxError` and touch nothing.

**Provenance.** Each reading keeps where its time came from (:class:`~gateway.clock.Provenance`):
the device's own time, the gateway's UTC and monotonic clocks and the boot id when the device's
clock was measured (``put(..., clock=correction)``), or when it was stored.

One outbox file has one owner: an exclusive ``flock`` on ``<file>.lock`` makes a second
:class:`Outbox` on the same file (in this or another process) fail with
:class:`~gateway.errors.OutboxLockedError`; the kernel releases it when the owner dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import sqlite3
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from devices import DEVICE_ID_RE, METRICS, Quality, Reading, encode_batch
from gateway import _outbox_schema as schema
from gateway._boot import current_boot_id
from gateway._thinning import thinning_plan
from gateway.clock import ClockCorrection, Provenance
from gateway.errors import (
    ClockError,
    ConfigError,
    OutboxClosedError,
    OutboxCorruptError,
    OutboxError,
    OutboxFullError,
    OutboxLockedError,
    OutboxSchemaError,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = schema.SCHEMA_VERSION

# One million readings is about 200 MB of SQLite on the gateway's flash (≈ 200 bytes a row with
# its indexes): six days of a 1 Hz heart-rate + SpO2 wearable, or years of spot readings. The
# cloud can change it (the retained config), e.g. for a gateway with a smaller card.
DEFAULT_MAX_READINGS = 1_000_000
# Corruption events kept in a fresh outbox and reported by the heartbeat.
_CORRUPTION_EVENTS_KEPT = 10
# SQLite primary result codes that mean "this file is damaged" (sqlite.org/rescode.html).
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_THINNED = Quality.THINNED.value

_READING_COLUMNS = "device_id, metric, value, unit, ts_us, seq, flags"
_INSERT = (
    f"INSERT INTO readings ({_READING_COLUMNS}, stored_at_us, thinnable, device_ts_us,"
    " clock_utc_us, clock_mono_us, boot_no) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (device_id, metric, seq, ts_us) DO NOTHING"
)
_META_COUNTERS = (
    "thinned_readings",
    "refused_readings",
    "refused_clinical_readings",
    "refused_puts",
    "last_refused_at_us",
)

_Row = tuple[str, str, float | None, str, int, int, str, int, int, int, int, int]


def _to_us(ts: datetime) -> int:
    return (ts.astimezone(UTC) - _EPOCH) // _US


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _opt_from_us(us: int | None) -> datetime | None:
    return None if us is None else _from_us(int(us))


def _reading(row: tuple[str, str, float | None, str, int, int, str]) -> Reading:
    device_id, metric, value, unit, ts_us, seq, flags = row
    return Reading(
        device_id=device_id,
        metric=metric,
        value=value,
        unit=unit,
        ts=_from_us(ts_us),
        seq=seq,
        flags=frozenset(flags.split(",")) if flags else frozenset(),
    )


def _is_corruption(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


@dataclass(frozen=True, slots=True)
class OutboxBatch:
    """A batch formed in the outbox: fixed membership, id, sequence number and creation time."""

    batch_id: str
    batch_seq: int
    created_at: datetime
    readings: tuple[Reading, ...]

    def encode(self, gateway_id: str) -> bytes:
        """The ``homeward.readings/1`` payload; the same bytes every time (``sent_at`` is the
        batch's creation time, not the moment of each resend)."""
        return encode_batch(
            gateway_id=gateway_id,
            batch_id=self.batch_id,
            batch_seq=self.batch_seq,
            readings=self.readings,
            sent_at=self.created_at,
        )


@dataclass(frozen=True, slots=True)
class OutboxDepth:
    """How much the outbox holds: readings in total and not yet in a batch, batches awaiting an
    ack, and when the oldest reading (and the oldest unbatched one) was stored (UTC)."""

    readings: int
    unbatched: int
    batches: int
    oldest_stored_at: datetime | None
    oldest_unbatched_at: datetime | None


@dataclass(frozen=True, slots=True)
class CorruptionEvent:
    """A corrupt outbox file found at open (``at``, UTC), moved aside to ``moved_to`` and kept;
    ``detail`` is what SQLite or ``quick_check`` said."""

    at: datetime
    moved_to: Path
    detail: str


@dataclass(frozen=True, slots=True)
class OutboxHealth:
    """Counters for the heartbeat, kept in memory (no database read).

    ``readings``: held now; ``max_readings``: the bound. ``thinned_readings``: high-rate samples
    dropped to make room, ``refused_readings`` / ``refused_clinical_readings`` / ``refused_puts``:
    readings (of them clinical) and calls refused with ``OutboxFullError``; all since the outbox
    file was created. ``last_refused_at``: the latest refusal (UTC). ``corruption_events``: the
    corrupt files this outbox replaced, oldest first (at most 10). ``put_calls`` and
    ``put_commits``: non-empty ``put()`` calls and the transactions (fsyncs) that stored them
    since this object opened the file; their ratio is the mean group-commit size.
    """

    max_readings: int
    readings: int
    thinned_readings: int
    refused_readings: int
    refused_clinical_readings: int
    refused_puts: int
    last_refused_at: datetime | None
    corruption_events: tuple[CorruptionEvent, ...]
    put_calls: int = 0
    put_commits: int = 0


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """What the outbox knows about one device: its cursor (highest ``seq`` stored), when it was
    last seen (a reading stored or :meth:`Outbox.device_seen`), its battery level in % and when it
    was read, and the clock correction of its latest sync."""

    device_id: str
    last_seq: int | None
    last_seen: datetime | None
    battery_pct: float | None
    battery_at: datetime | None
    clock: ClockCorrection | None


@dataclass(slots=True)
class _Put:
    """One ``put()`` call on its way through a group commit."""

    rows: list[_Row]
    highest: dict[str, int]
    clinical: int
    clock: ClockCorrection | None
    boot_id: str
    now_us: int
    inserted: int = 0
    error: OutboxError | None = None
    done: bool = False
    wake: threading.Event = field(default_factory=threading.Event)


@dataclass(slots=True)
class _Counters:
    thinned_readings: int = 0
    refused_readings: int = 0
    refused_clinical_readings: int = 0
    refused_puts: int = 0
    last_refused_at_us: int = 0
    events: list[CorruptionEvent] = field(default_factory=list)
    put_calls: int = 0
    put_commits: int = 0


class _RefusedError(Exception):
    """Raised inside a put's savepoint: thinning could not make room."""


class Outbox:
    """A durable, bounded queue of readings in one SQLite file at ``path`` (created when missing).

    ``clock`` gives the gateway's UTC time in epoch seconds (stored-at and batch creation times),
    ``monotonic`` its monotonic clock in seconds and ``boot_id`` the boot it belongs to
    (default: the kernel's, :func:`~gateway.current_boot_id`); both go into the provenance of
    readings put without a clock measurement. ``max_readings`` is the size bound (≥ 1).
    ``group_commit`` False makes every ``put()`` its own transaction and fsync (the baseline the
    benchmark compares with). ``recover_corrupt`` False raises
    :class:`~gateway.errors.OutboxCorruptError` instead of moving a corrupt file aside.

    All methods are thread-safe: the BLE side may ``put()`` from many threads while the uplink
    forms batches.

    Raises :class:`~gateway.errors.OutboxSchemaError` for a file written by a newer version,
    :class:`~gateway.errors.OutboxLockedError` when the file already has an owner,
    :class:`~gateway.errors.ConfigError` for a bad ``max_readings``. Later database failures
    (disk full, I/O error) raise :class:`~gateway.errors.OutboxError`; the transaction is rolled
    back and nothing is half-written.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        boot_id: str | None = None,
        max_readings: int = DEFAULT_MAX_READINGS,
        group_commit: bool = True,
        recover_corrupt: bool = True,
    ) -> None:
        _check_max_readings(max_readings)
        self._path = Path(path)
        self._clock = clock
        self._monotonic = monotonic
        self._boot_id = boot_id or current_boot_id()
        self._max_readings = max_readings
        self._group_commit = group_commit
        self._recover = recover_corrupt
        self._lock = threading.RLock()
        self._group_lock = threading.Lock()
        self._queue: list[_Put] = []
        self._committing = False
        self._closed = False
        self._boots: dict[str, int] = {}
        self._counters = _Counters()
        self._count = 0
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(f"{self._path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise OutboxLockedError(self._path) from None
        try:
            self._conn = self._open_or_recover()
            self._load_state()
        except BaseException:
            with contextlib.suppress(Exception):
                self._conn.close()
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            raise

    # -- opening ---------------------------------------------------------------------------------

    def _open_or_recover(self) -> sqlite3.Connection:
        try:
            return self._open(None)
        except OutboxCorruptError as exc:
            if not self._recover:
                raise
            at_us = self._now_us()
            moved = self._move_aside(at_us)
            log.error(
                "outbox %s is corrupt (%s): moved aside to %s and kept; starting a fresh outbox",
                self._path,
                exc.detail,
                moved,
            )
            return self._open(CorruptionEvent(_from_us(at_us), moved, exc.detail))

    def _probe(self) -> None:
        """Check an existing file on a read-only connection first. Closing the last read-write
        connection checkpoints the WAL into the database file and deletes the WAL; a read-only
        one never writes, so a corrupt file and its WAL are moved aside exactly as found."""
        if not self._path.exists():
            return
        try:
            conn = sqlite3.connect(
                f"file:{urllib.parse.quote(str(self._path))}?mode=ro",
                uri=True,
                check_same_thread=False,
                timeout=30.0,
            )
        except sqlite3.Error as exc:
            if _is_corruption(exc):
                raise OutboxCorruptError(self._path, str(exc)) from exc
            raise OutboxError(self._path, f"cannot open: {exc}") from exc
        try:
            problems = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
            if problems != ["ok"]:
                raise OutboxCorruptError(self._path, "quick_check: " + "; ".join(problems))
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise OutboxSchemaError(self._path, version, SCHEMA_VERSION)
            tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master")}
            if version == 0 and tables:
                raise OutboxCorruptError(self._path, "an SQLite database, but not an outbox")
            missing = (schema.TABLES_V1 if version == 1 else schema.TABLES) - tables
            if version and missing:
                raise OutboxCorruptError(
                    self._path, f"tables missing: {', '.join(sorted(missing))}"
                )
        except sqlite3.Error as exc:
            if _is_corruption(exc):
                raise OutboxCorruptError(self._path, str(exc)) from exc
            raise OutboxError(self._path, f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()

    def _open(self, corruption: CorruptionEvent | None) -> sqlite3.Connection:
        if corruption is None:
            self._probe()
        try:
            conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
        except sqlite3.Error as exc:
            raise OutboxError(self._path, f"cannot open: {exc}") from exc
        try:
            try:
                self._prepare(conn, corruption)
            except sqlite3.Error as exc:
                if _is_corruption(exc):
                    raise OutboxCorruptError(self._path, str(exc)) from exc
                raise OutboxError(self._path, f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection, corruption: CorruptionEvent | None) -> None:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise OutboxError(self._path, f"cannot use WAL journal mode (got {mode!r})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise OutboxSchemaError(self._path, version, SCHEMA_VERSION)
        conn.execute("BEGIN IMMEDIATE")
        if version == 0:
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise OutboxCorruptError(self._path, "an SQLite database, but not an outbox")
            schema.create(conn)
        elif version == 1:
            schema.upgrade_from_1(conn)
        missing = schema.missing_tables(conn)
        if missing:
            raise OutboxCorruptError(self._path, f"tables missing: {', '.join(sorted(missing))}")
        if corruption is not None:
            conn.execute(
                "INSERT INTO corruption_events (at_us, moved_to, detail) VALUES (?, ?, ?)",
                (_to_us(corruption.at), str(corruption.moved_to), corruption.detail),
            )
        conn.execute("COMMIT")

    def _move_aside(self, at_us: int) -> Path:
        """Rename the corrupt file and its WAL and shared-memory files; returns the new name."""
        stamp = _from_us(at_us).strftime("%Y%m%dT%H%M%S%fZ")
        target = self._path.with_name(f"{self._path.name}.corrupt-{stamp}")
        try:
            os.rename(self._path, target)
            # The WAL must travel with its database: left behind, it would be replayed into the
            # fresh file.
            for suffix in ("-wal", "-shm"):
                side = Path(f"{self._path}{suffix}")
                if side.exists():
                    os.rename(side, Path(f"{target}{suffix}"))
            dir_fd = os.open(self._path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise OutboxError(self._path, f"corrupt, and cannot be moved aside: {exc}") from exc
        return target

    def _load_state(self) -> None:
        conn = self._conn
        self._count = int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])
        meta = dict(conn.execute("SELECT key, value FROM outbox_meta").fetchall())
        c = self._counters
        c.thinned_readings = int(meta.get("thinned_readings", 0))
        c.refused_readings = int(meta.get("refused_readings", 0))
        c.refused_clinical_readings = int(meta.get("refused_clinical_readings", 0))
        c.refused_puts = int(meta.get("refused_puts", 0))
        c.last_refused_at_us = int(meta.get("last_refused_at_us", 0))
        rows = conn.execute(
            "SELECT at_us, moved_to, detail FROM corruption_events ORDER BY id DESC LIMIT ?",
            (_CORRUPTION_EVENTS_KEPT,),
        ).fetchall()
        c.events = [CorruptionEvent(_from_us(int(a)), Path(m), str(d)) for a, m, d in rows[::-1]]

    # -- plumbing --------------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def boot_id(self) -> str:
        """The boot id readings put without a clock are stamped with."""
        return self._boot_id

    @property
    def max_readings(self) -> int:
        """The size bound in readings."""
        return self._max_readings

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise OutboxClosedError(self._path)
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise OutboxError(self._path, f"{type(exc).__name__}: {exc}") from exc

    def _now_us(self) -> int:
        return round(self._clock() * 1_000_000)

    # -- storing ---------------------------------------------------------------------------------

    def put(
        self,
        readings: Iterable[Reading],
        *,
        clock: ClockCorrection | None = None,
        clinical: bool = False,
    ) -> int:
        """Store ``readings`` durably; returns how many were new.

        Returns only after the commit (fsync'ed, shared with concurrent callers: group commit).
        A reading whose idempotency key the outbox already holds is skipped, not counted. The
        per-device cursor (highest ``seq`` stored) and last-seen time advance in the same
        transaction. An empty iterable stores nothing and returns 0.

        ``clock``: the correction this sync measured and applied to the readings' timestamps
        (:meth:`ClockCorrection.correct`); it is kept as each reading's provenance and as the
        device's latest correction (:meth:`clock`). Without it the provenance is the gateway's
        clocks at this call and the reading's own ``ts``. ``clinical`` True protects every
        reading of the call from thinning, whatever its metric (an SpO2 spot check from PLX
        0x2A5E is clinical; a continuous SpO2 sample from 0x2A5F is not).

        Raises :class:`~gateway.errors.OutboxFullError` when the bound is reached and thinning
        high-rate samples cannot make room: nothing of this call is stored and no cursor moves,
        so the caller must not acknowledge these records to the device. Raises
        :class:`~gateway.errors.ClockError` when ``clock`` shifted time but a reading lacks the
        ``clock_estimated`` flag (its timestamp was not corrected by that clock).
        """
        request = self._request(readings, clock, clinical)
        if request is None:
            return 0
        if self._group_commit:
            self._submit(request)
        else:
            self._commit_group([request])
        if request.error is not None:
            raise request.error
        return request.inserted

    def _request(
        self, readings: Iterable[Reading], clock: ClockCorrection | None, clinical: bool
    ) -> _Put | None:
        now_us = self._now_us()
        if clock is None:
            boot_id = self._boot_id
            clock_utc_us, clock_mono_us, offset_us = now_us, round(self._monotonic() * 1e6), 0
        else:
            boot_id = clock.boot_id
            clock_utc_us = _to_us(clock.gateway_utc)
            clock_mono_us = round(clock.monotonic_s * 1e6)
            offset_us = clock.offset_s * 1_000_000
        rows: list[_Row] = []
        highest: dict[str, int] = {}
        protected = 0
        for r in readings:
            if offset_us and Quality.CLOCK_ESTIMATED not in r.flags:
                raise ClockError(
                    r.key, "the clock shifted time but this reading is not flagged clock_estimated"
                )
            thinnable = 0 if clinical or METRICS[r.metric].clinical else 1
            protected += 1 - thinnable
            ts_us = _to_us(r.ts)
            rows.append(
                (
                    r.device_id,
                    r.metric,
                    r.value,
                    r.unit,
                    ts_us,
                    r.seq,
                    ",".join(sorted(r.flags)),
                    now_us,
                    thinnable,
                    ts_us - offset_us,
                    clock_utc_us,
                    clock_mono_us,
                )
            )
            previous = highest.get(r.device_id)
            if previous is None or r.seq > previous:
                highest[r.device_id] = r.seq
        if not rows:
            return None
        return _Put(rows, highest, protected, clock, boot_id, now_us)

    def _submit(self, request: _Put) -> None:
        """Join the next group commit; return once a commit (or its failure) covered us.

        The first caller to find no commit running leads: it commits everything queued. Callers
        arriving meanwhile queue up and sleep on their own event (no thundering herd); the leader
        wakes each of its group when their commit is done and hands the lead to the oldest
        waiting caller, which commits the next group.
        """
        with self._group_lock:
            self._queue.append(request)
            lead = not self._committing
            self._committing = True
        if not lead:
            request.wake.wait()
            if request.done:
                return
        with self._group_lock:
            group, self._queue = self._queue, []
        try:
            self._commit_group(group)
        except BaseException as exc:
            # Never let a caller believe its readings are stored when the commit did not finish.
            for r in group:
                if r.error is None:
                    r.inserted = 0
                    r.error = OutboxError(self._path, f"commit failed: {exc!r}")
            raise
        finally:
            for r in group:
                r.done = True
                r.wake.set()
            with self._group_lock:
                if self._queue:
                    self._queue[0].wake.set()  # not done: it leads the next group
                else:
                    self._committing = False

    def _commit_group(self, group: list[_Put]) -> None:
        with self._lock:
            if self._closed:
                for r in group:
                    r.error = OutboxClosedError(self._path)
                return
            conn = self._conn
            count = self._count
            thinned = 0
            refused: list[_Put] = []
            try:
                conn.execute("BEGIN IMMEDIATE")
                if count + sum(len(r.rows) for r in group) <= self._max_readings:
                    # Room for everything whatever is new: no savepoints, one upsert per table.
                    for request in group:
                        request.inserted = self._insert(conn, request)
                        count += request.inserted
                    self._touch_devices(conn, group)
                else:
                    for request in group:
                        conn.execute("SAVEPOINT put")
                        try:
                            inserted, freed = self._apply(conn, request, count)
                        except _RefusedError:
                            conn.execute("ROLLBACK TO put")
                            conn.execute("RELEASE put")
                            self._boots.clear()  # a boot row of this savepoint may be gone
                            refused.append(request)
                            continue
                        except sqlite3.Error as exc:
                            conn.execute("ROLLBACK TO put")
                            conn.execute("RELEASE put")
                            self._boots.clear()
                            request.error = OutboxError(self._path, f"{type(exc).__name__}: {exc}")
                            continue
                        conn.execute("RELEASE put")
                        request.inserted = inserted
                        count += inserted - freed
                        thinned += freed
                if thinned or refused:
                    self._bump_counters(conn, thinned, refused)
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                self._boots.clear()  # boot rows inserted in this transaction are gone
                for request in group:
                    request.inserted = 0
                    request.error = OutboxError(self._path, f"{type(exc).__name__}: {exc}")
                return
            self._count = count
            c = self._counters
            c.put_calls += len(group)
            c.put_commits += 1
            c.thinned_readings += thinned
            for request in refused:
                request.error = OutboxFullError(
                    self._path,
                    capacity=self._max_readings,
                    readings=len(request.rows),
                    clinical=request.clinical,
                )
                c.refused_readings += len(request.rows)
                c.refused_clinical_readings += request.clinical
                c.refused_puts += 1
                c.last_refused_at_us = request.now_us
                log.error("outbox %s: %s", self._path.name, request.error)

    def _apply(self, conn: sqlite3.Connection, request: _Put, count: int) -> tuple[int, int]:
        """One put inside its savepoint: (inserted, freed by thinning); raises _RefusedError."""
        inserted = self._insert(conn, request)
        self._touch_devices(conn, [request])
        over = count + inserted - self._max_readings
        if inserted == 0 or over <= 0:
            return inserted, 0
        freed = self._thin(conn, over)
        if freed < over:
            raise _RefusedError
        return inserted, freed

    def _insert(self, conn: sqlite3.Connection, request: _Put) -> int:
        """Insert one put's rows; returns how many were new."""
        boot_no = self._boot_no(conn, request.boot_id)
        before = conn.total_changes
        conn.executemany(_INSERT, [(*row, boot_no) for row in request.rows])
        return conn.total_changes - before

    def _touch_devices(self, conn: sqlite3.Connection, requests: list[_Put]) -> None:
        """Advance cursors and last-seen times (and clocks) for the devices of ``requests``."""
        cursors: dict[str, tuple[int, int]] = {}
        seen: dict[str, int] = {}
        clocked: dict[str, tuple[Any, ...]] = {}
        for request in requests:
            now_us = request.now_us
            for device, seq in request.highest.items():
                previous = cursors.get(device)
                cursors[device] = (seq if previous is None else max(seq, previous[0]), now_us)
            clock = request.clock
            if clock is None:
                seen.update(dict.fromkeys(request.highest, now_us))
                continue
            values = (
                now_us,
                None if clock.device_time is None else _to_us(clock.device_time),
                _to_us(clock.gateway_utc),
                round(clock.monotonic_s * 1e6),
                clock.boot_id,
                clock.offset_s,
                round(clock.measured_offset_s * 1e6),
            )
            clocked.update(dict.fromkeys(request.highest, values))
        conn.executemany(
            "INSERT INTO device_cursors (device_id, last_seq, updated_at_us) VALUES (?, ?, ?)"
            " ON CONFLICT (device_id) DO UPDATE SET"
            " last_seq = max(last_seq, excluded.last_seq),"
            " updated_at_us = excluded.updated_at_us",
            [(device, seq, at) for device, (seq, at) in cursors.items()],
        )
        if seen:
            conn.executemany(
                "INSERT INTO device_status (device_id, last_seen_us) VALUES (?, ?)"
                " ON CONFLICT (device_id) DO UPDATE SET last_seen_us = excluded.last_seen_us",
                list(seen.items()),
            )
        if clocked:
            conn.executemany(
                "INSERT INTO device_status (device_id, last_seen_us, clock_device_us,"
                " clock_utc_us, clock_mono_us, clock_boot_id, clock_offset_s, clock_measured_us)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET"
                " last_seen_us = excluded.last_seen_us,"
                " clock_device_us = excluded.clock_device_us,"
                " clock_utc_us = excluded.clock_utc_us,"
                " clock_mono_us = excluded.clock_mono_us,"
                " clock_boot_id = excluded.clock_boot_id,"
                " clock_offset_s = excluded.clock_offset_s,"
                " clock_measured_us = excluded.clock_measured_us",
                [(device, *values) for device, values in clocked.items()],
            )

    def _boot_no(self, conn: sqlite3.Connection, boot_id: str) -> int:
        number = self._boots.get(boot_id)
        if number is None:
            conn.execute(
                "INSERT INTO boots (boot_id) VALUES (?) ON CONFLICT DO NOTHING", (boot_id,)
            )
            (number,) = conn.execute(
                "SELECT boot_no FROM boots WHERE boot_id = ?", (boot_id,)
            ).fetchone()
            self._boots[boot_id] = number
        return number

    def _thin(self, conn: sqlite3.Connection, need: int) -> int:
        """Thin unbatched high-rate samples to free ``need`` rows; returns how many were freed
        (0 and nothing changed when thinning cannot free enough)."""
        rows = conn.execute(
            "SELECT id, device_id, metric, thinnable, flags FROM readings"
            " WHERE batch_seq IS NULL ORDER BY id"
        ).fetchall()
        series = [(r[1], r[2]) if r[3] else None for r in rows]
        drop, flag = thinning_plan(series, need)
        if len(drop) < need:
            return 0
        conn.executemany("DELETE FROM readings WHERE id = ?", [(rows[i][0],) for i in drop])
        updates = []
        for i in flag:
            flags = set(rows[i][4].split(",")) if rows[i][4] else set()
            if _THINNED not in flags:
                updates.append((",".join(sorted(flags | {_THINNED})), rows[i][0]))
        conn.executemany("UPDATE readings SET flags = ? WHERE id = ?", updates)
        log.warning(
            "outbox %s: full at %d readings; thinned %d high-rate samples",
            self._path.name,
            self._max_readings,
            len(drop),
        )
        return len(drop)

    def _bump_counters(self, conn: sqlite3.Connection, thinned: int, refused: list[_Put]) -> None:
        add = {
            "thinned_readings": thinned,
            "refused_readings": sum(len(r.rows) for r in refused),
            "refused_clinical_readings": sum(r.clinical for r in refused),
            "refused_puts": len(refused),
        }
        conn.executemany(
            "INSERT INTO outbox_meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
            [(k, v) for k, v in add.items() if v],
        )
        if refused:
            conn.execute(
                "INSERT INTO outbox_meta (key, value) VALUES ('last_refused_at_us', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (max(r.now_us for r in refused),),
            )

    def set_max_readings(self, max_readings: int) -> None:
        """Change the size bound (≥ 1 reading). It applies from the next ``put()``: lowering it
        below what the outbox holds deletes nothing by itself."""
        _check_max_readings(max_readings)
        with self._lock:
            self._max_readings = max_readings

    def device_seen(
        self, device_id: str, *, battery_pct: float | None = None, at: datetime | None = None
    ) -> None:
        """Record that ``device_id`` was seen (connected, advertised) at ``at`` (aware; default
        now), with its battery level in % (0-100) when it was read. Durable like ``put()``."""
        if not DEVICE_ID_RE.match(device_id):
            raise ValueError(f"invalid device id {device_id!r}")
        if battery_pct is not None and not (
            math.isfinite(battery_pct) and 0.0 <= battery_pct <= 100.0
        ):
            raise ValueError(f"battery_pct must be 0-100 %, got {battery_pct!r}")
        if at is not None and (at.tzinfo is None or at.utcoffset() is None):
            raise ValueError("at must be timezone-aware")
        at_us = self._now_us() if at is None else _to_us(at)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO device_status (device_id, last_seen_us) VALUES (?, ?)"
                " ON CONFLICT (device_id) DO UPDATE SET"
                " last_seen_us = max(coalesce(last_seen_us, 0), excluded.last_seen_us)",
                (device_id, at_us),
            )
            if battery_pct is not None:
                conn.execute(
                    "UPDATE device_status SET battery_pct = ?, battery_at_us = ?"
                    " WHERE device_id = ?",
                    (float(battery_pct), at_us, device_id),
                )

    # -- reading state ---------------------------------------------------------------------------

    def cursor(self, device_id: str) -> int | None:
        """The highest record sequence number ever stored for ``device_id`` (None if none).

        It survives the deletion of acknowledged readings: a device sync resumes after it.
        """
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT last_seq FROM device_cursors WHERE device_id = ?", (device_id,)
            ).fetchone()
        return None if row is None else int(row[0])

    def clock(self, device_id: str) -> ClockCorrection | None:
        """The clock correction of ``device_id``'s latest stored sync (None if none): pass it as
        ``previous`` to :meth:`ClockCorrection.measure` so re-measuring keeps the offset."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT clock_device_us, clock_utc_us, clock_mono_us, clock_boot_id,"
                " clock_offset_s, clock_measured_us FROM device_status"
                " WHERE device_id = ? AND clock_utc_us IS NOT NULL",
                (device_id,),
            ).fetchone()
        return None if row is None else _clock_from_row(row)

    def devices(self) -> list[DeviceRecord]:
        """Every device the outbox has stored readings of or seen, by device id."""
        with self._transaction() as conn:
            cursors = dict(conn.execute("SELECT device_id, last_seq FROM device_cursors"))
            status = {
                str(r[0]): r[1:]
                for r in conn.execute(
                    "SELECT device_id, last_seen_us, battery_pct, battery_at_us, clock_device_us,"
                    " clock_utc_us, clock_mono_us, clock_boot_id, clock_offset_s,"
                    " clock_measured_us FROM device_status"
                )
            }
        records = []
        for device_id in sorted(set(cursors) | set(status)):
            s = status.get(device_id)
            last_seq = cursors.get(device_id)
            records.append(
                DeviceRecord(
                    device_id=device_id,
                    last_seq=None if last_seq is None else int(last_seq),
                    last_seen=None if s is None else _opt_from_us(s[0]),
                    battery_pct=None if s is None or s[1] is None else float(s[1]),
                    battery_at=None if s is None else _opt_from_us(s[2]),
                    clock=None if s is None or s[4] is None else _clock_from_row(s[3:]),
                )
            )
        return records

    def provenance(self, key: tuple[str, str, int, datetime]) -> Provenance | None:
        """Where the time of the reading with idempotency key ``key`` came from, while the outbox
        holds it (None once acknowledged, or for rows stored by schema version 1)."""
        device_id, metric, seq, ts = key
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT r.ts_us, r.device_ts_us, r.clock_utc_us, r.clock_mono_us, b.boot_id"
                " FROM readings r JOIN boots b ON b.boot_no = r.boot_no"
                " WHERE r.device_id = ? AND r.metric = ? AND r.seq = ? AND r.ts_us = ?",
                (device_id, metric, seq, _to_us(ts)),
            ).fetchone()
        if row is None or row[1] is None:
            return None
        ts_us, device_us, utc_us, mono_us, boot_id = row
        return Provenance(
            device_time=_from_us(int(device_us)),
            gateway_utc=_from_us(int(utc_us)),
            monotonic_s=int(mono_us) / 1e6,
            boot_id=str(boot_id),
            clock_offset_s=(int(ts_us) - int(device_us)) // 1_000_000,
        )

    def health(self) -> OutboxHealth:
        """The heartbeat's counters (in memory, cheap)."""
        with self._lock:
            c = self._counters
            return OutboxHealth(
                max_readings=self._max_readings,
                readings=self._count,
                thinned_readings=c.thinned_readings,
                refused_readings=c.refused_readings,
                refused_clinical_readings=c.refused_clinical_readings,
                refused_puts=c.refused_puts,
                last_refused_at=_from_us(c.last_refused_at_us) if c.last_refused_at_us else None,
                corruption_events=tuple(c.events),
                put_calls=c.put_calls,
                put_commits=c.put_commits,
            )

    def load_setting(self, name: str) -> str | None:
        """A value saved with :meth:`save_setting` (None if never saved)."""
        with self._transaction() as conn:
            row = conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def save_setting(self, name: str, value: str) -> None:
        """Keep a small text value across restarts (the uplink keeps the cloud's config here)."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO settings (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    # -- batches ---------------------------------------------------------------------------------

    def waiting(self, limit: int) -> tuple[int, datetime | None]:
        """How many of the oldest unbatched readings are waiting, counting at most ``limit``, and
        when the oldest of them was stored. Cheap enough to call on every uplink poll."""
        with self._transaction() as conn:
            count, oldest = conn.execute(
                "SELECT count(*), min(stored_at_us) FROM (SELECT stored_at_us FROM readings"
                " WHERE batch_seq IS NULL ORDER BY id LIMIT ?)",
                (limit,),
            ).fetchone()
        return int(count), None if oldest is None else _from_us(int(oldest))

    def form_batch(self, max_readings: int) -> OutboxBatch | None:
        """Put the oldest unbatched readings (at most ``max_readings``) into a new batch.

        Returns the batch, or None when nothing is waiting. The batch sequence number comes from
        a persisted counter and is never reused, not even after the batch is acknowledged.
        """
        if max_readings < 1:
            raise ValueError(f"max_readings must be ≥ 1, got {max_readings}")
        with self._transaction() as conn:
            ids = conn.execute(
                "SELECT id FROM readings WHERE batch_seq IS NULL ORDER BY id LIMIT ?",
                (max_readings,),
            ).fetchall()
            if not ids:
                return None
            last_id = int(ids[-1][0])
            batch_seq = int(
                conn.execute(
                    "SELECT value FROM outbox_meta WHERE key = 'next_batch_seq'"
                ).fetchone()[0]
            )
            conn.execute(
                "UPDATE outbox_meta SET value = ? WHERE key = 'next_batch_seq'", (batch_seq + 1,)
            )
            batch_id = uuid.uuid4().hex
            created_us = self._now_us()
            conn.execute(
                "INSERT INTO batches (batch_seq, batch_id, created_at_us) VALUES (?, ?, ?)",
                (batch_seq, batch_id, created_us),
            )
            conn.execute(
                "UPDATE readings SET batch_seq = ? WHERE batch_seq IS NULL AND id <= ?",
                (batch_seq, last_id),
            )
            rows = conn.execute(
                f"SELECT {_READING_COLUMNS} FROM readings WHERE batch_seq = ? ORDER BY id",
                (batch_seq,),
            ).fetchall()
        return OutboxBatch(
            batch_id=batch_id,
            batch_seq=batch_seq,
            created_at=_from_us(created_us),
            readings=tuple(_reading(r) for r in rows),
        )

    def pending_batches(self) -> list[OutboxBatch]:
        """Every formed batch still awaiting its ack, in batch sequence order."""
        with self._transaction() as conn:
            batches = conn.execute(
                "SELECT batch_seq, batch_id, created_at_us FROM batches ORDER BY batch_seq"
            ).fetchall()
            rows = conn.execute(
                f"SELECT batch_seq, {_READING_COLUMNS} FROM readings"
                " WHERE batch_seq IS NOT NULL ORDER BY batch_seq, id"
            ).fetchall()
        members: dict[int, list[Reading]] = {}
        for row in rows:
            members.setdefault(int(row[0]), []).append(_reading(row[1:]))
        return [
            OutboxBatch(
                batch_id=str(batch_id),
                batch_seq=int(seq),
                created_at=_from_us(int(created_us)),
                readings=tuple(members.get(int(seq), ())),
            )
            for seq, batch_id, created_us in batches
        ]

    def ack(self, batch_id: str) -> int:
        """Delete batch ``batch_id`` and its readings: the ingest has committed them.

        Returns the number of readings deleted; 0 for a batch the outbox does not hold (already
        acknowledged: acks may arrive twice after a resend).
        """
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT batch_seq FROM batches WHERE batch_id = ?", (batch_id,)
            ).fetchone()
            if row is None:
                return 0
            deleted = conn.execute("DELETE FROM readings WHERE batch_seq = ?", (row[0],)).rowcount
            conn.execute("DELETE FROM batches WHERE batch_seq = ?", (row[0],))
        with self._lock:
            self._count -= int(deleted)
        return int(deleted)

    def depth(self) -> OutboxDepth:
        """Counts and ages of what the outbox holds (for heartbeats and tests)."""
        with self._transaction() as conn:
            total, unbatched, oldest = conn.execute(
                "SELECT count(*), coalesce(sum(batch_seq IS NULL), 0), min(stored_at_us)"
                " FROM readings"
            ).fetchone()
            (oldest_unbatched,) = conn.execute(
                "SELECT min(stored_at_us) FROM readings WHERE batch_seq IS NULL"
            ).fetchone()
            (batches,) = conn.execute("SELECT count(*) FROM batches").fetchone()
        return OutboxDepth(
            readings=int(total),
            unbatched=int(unbatched),
            batches=int(batches),
            oldest_stored_at=None if oldest is None else _from_us(int(oldest)),
            oldest_unbatched_at=None if oldest_unbatched is None else _from_us(oldest_unbatched),
        )

    def pragma(self, name: str) -> str:
        """The value of a read-only PRAGMA such as ``journal_mode`` or ``synchronous``."""
        if name not in {"journal_mode", "synchronous", "user_version", "foreign_keys"}:
            raise ValueError(f"unsupported pragma {name!r}")
        with self._transaction() as conn:
            return str(conn.execute(f"PRAGMA {name}").fetchone()[0])

    def close(self) -> None:
        """Close the database and release the file. Safe to call more than once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._conn.close()
            finally:
                os.close(self._lock_fd)

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _check_max_readings(max_readings: int) -> None:
    if isinstance(max_readings, bool) or not isinstance(max_readings, int) or max_readings < 1:
        raise ConfigError("max_readings", max_readings, "must be an integer ≥ 1")


def _clock_from_row(row: tuple[Any, ...]) -> ClockCorrection:
    device_us, utc_us, mono_us, boot_id, offset_s, measured_us = row
    return ClockCorrection(
        device_time=None if device_us is None else _from_us(int(device_us)),
        gateway_utc=_from_us(int(utc_us)),
        monotonic_s=int(mono_us) / 1e6,
        boot_id=str(boot_id),
        offset_s=int(offset_s),
        measured_offset_s=int(measured_us) / 1e6,
    )
