"""Home gateways' status documents (``homeward.gateway-status/1``): checked, ordered, stored.

A gateway publishes its status retained on ``homeward/v1/{site}/{gateway_id}/status``
(docs/gateway-status-schema.md): a heartbeat (``"state": "online"``) on every connect, every
``heartbeat_interval_s`` and at once after an event, and ``"offline"`` as the broker's last will
(``sent_at`` null) or on a clean stop (``sent_at`` set). This module reads that contract from its
written schema (it does not import the gateway package) and keeps the latest status of each
registered gateway in ``gateway_status`` (migration 0006):

* :func:`parse_status_document` checks one message against the schema;
* :func:`supersedes` decides whether it is newer than what is stored;
* :func:`next_status` computes the row that replaces the stored one;
* :func:`store_status` is the whole database side of one message, in the caller's transaction,
  ending with ``NOTIFY gateways_changed`` when something a panel shows changed.

Which document is newer
    Delivery is at least once and several consumers may store at the same time, so a document
    that is not newer than the stored one changes nothing (it is ``unchanged``):

    1. Within one *uplink run* (same ``boot_id``, and the same ``sent_at - uptime_s`` to within
       :data:`RUN_TOLERANCE_S`: wall clock minus monotonic uptime is constant while the gateway
       process runs), the higher heartbeat ``seq`` is newer; an equal one is a duplicate.
       ``seq`` restarts at 1 when the gateway process restarts without a reboot, which is why the
       run, not the boot alone, scopes it.
    2. A last will (``offline`` without ``sent_at``) cannot be placed in time. It is taken as the
       newest word unless the stored status already says this boot is offline: the broker
       publishes it after everything that connection sent, and if it ever arrives late the
       gateway's next heartbeat (a higher ``seq`` of the same run, or a later ``sent_at``)
       replaces it within one interval.
    3. Otherwise (another boot or run, a clean ``offline``), the later ``sent_at`` is newer; an
       equal one is a duplicate.

Times
    ``reported_at`` is the gateway's clock, ``received_at``/``last_heard_at``/``offline_since``
    ours. A retained copy received when the consumer (re)subscribes may be old, so its heard time
    is estimated from its ``sent_at`` corrected by the gateway's known clock error, never later
    than its arrival; a copy received twice is a duplicate and does not refresh anything, so a
    gateway that stopped reporting does not look alive because a consumer restarted. The
    gateway's clock error (``clock_offset_s``) is measured only on heartbeats delivered live.

Messages that are not stored have an outcome code: ``empty`` (a cleared retained status),
``invalid_topic``, ``malformed``, ``unknown_schema``, ``gateway_mismatch`` (the document names
another gateway than its topic), ``unknown_gateway`` (not registered), ``other_site`` (registered
at another site than the topic names).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from devices import DEVICE_ID_RE, format_ts, parse_topic, parse_ts
from monitoring.errors import StatusDocumentError

STATUS_SCHEMA = "homeward.gateway-status/1"
STATE_ONLINE = "online"
STATE_OFFLINE = "offline"
#: Channel notified (payload ``{"gateway_id": …, "site_id": …}``) when a panel-visible part of a
#: gateway's status changed.
CHANNEL = "gateways_changed"

# A heartbeat lists at most 64 devices and a handful of problems: a few KiB. Anything near this
# is not a gateway's status.
MAX_STATUS_BYTES = 256 * 1024
MAX_PROBLEMS = 100
MAX_DEVICES = 256
MAX_BOOT_ID_CHARS = 128
MAX_CODE_CHARS = 64

#: Seconds by which ``sent_at - uptime_s`` of two heartbeats of one uplink run may differ: the
#: two clocks are read microseconds apart and uptime is rounded to 1 ms; a process restart, the
#: thing this separates, takes longer than this between two runs' first heartbeats.
RUN_TOLERANCE_S = 1.0
#: The heartbeat interval assumed when a gateway has not reported one (the gateway's default).
DEFAULT_HEARTBEAT_INTERVAL_S = 60.0
#: A connected gateway is *silent* after this many of its own heartbeat intervals without one
#: (docs/gateway-status-schema.md: "older than about twice this ... stuck"; three leaves room for
#: one late heartbeat), and never before :data:`MIN_SILENT_S`, which covers the broker's and this
#: consumer's own delays for gateways with sub-second test intervals.
SILENT_AFTER_INTERVALS = 3.0
MIN_SILENT_S = 10.0
#: An outbox holding at least this fraction of its bound is about to refuse or thin readings.
OUTBOX_NEARLY_FULL = 0.9
#: A gateway clock off by more than this, in seconds, is reported. The gateway corrects its
#: devices' clocks against its own (docs/gateway.md), so its error moves every reading's time;
#: an NTP-synchronised clock is within a second, network delay of a live heartbeat is far below
#: this, and two minutes is where a five-minute alert window starts to shift visibly.
CLOCK_OFF_S = 120.0

# Outcomes of store_status.
STORED = "stored"
UNCHANGED = "unchanged"
EMPTY = "empty"
INVALID_TOPIC = "invalid_topic"
MALFORMED = "malformed"
UNKNOWN_SCHEMA = "unknown_schema"
GATEWAY_MISMATCH = "gateway_mismatch"
UNKNOWN_GATEWAY = "unknown_gateway"
OTHER_SITE = "other_site"
#: A Wi-Fi device that speaks MQTT itself publishes its own retained plain ``online`` /
#: ``offline`` under the same topic shape (firmware_sim.wearable); it is not a gateway, so the
#: message is counted and passed over quietly rather than warned about as a malformed document.
DEVICE_STATUS = "device_status"
DEVICE_STATUS_PAYLOADS = frozenset({b"online", b"offline"})
#: Outcomes of messages that were refused (logged and counted, never stored).
REFUSED_OUTCOMES = frozenset(
    {EMPTY, INVALID_TOPIC, MALFORMED, UNKNOWN_SCHEMA, GATEWAY_MISMATCH, UNKNOWN_GATEWAY, OTHER_SITE}
)

_OUTBOX_COUNTS = (
    "readings",
    "unbatched",
    "batches",
    "max_readings",
    "thinned_readings",
    "refused_readings",
    "refused_clinical_readings",
    "refused_puts",
    "corruption_events",
)
_OUTBOX_AGES = ("oldest_unsent_age_s", "oldest_unbatched_age_s")


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One checked status document.

    ``sent_at`` is the gateway's UTC clock (None for the last will); ``seq``, ``uptime_s``
    (seconds) and ``heartbeat_interval_s`` (seconds; None when not reported) are set for
    heartbeats only. ``problems`` are the document's problem objects, each with a string
    ``code``; ``document`` is the whole JSON object.
    """

    state: str
    gateway_id: str
    boot_id: str
    sent_at: datetime | None
    seq: int | None
    uptime_s: float | None
    heartbeat_interval_s: float | None
    problems: tuple[Mapping[str, Any], ...]
    document: Mapping[str, Any]

    @property
    def run_started_at(self) -> datetime | None:
        """When the uplink run that sent this heartbeat started, on the gateway's clock."""
        if self.sent_at is None or self.uptime_s is None:
            return None
        return self.sent_at - timedelta(seconds=self.uptime_s)

    @property
    def last_will(self) -> bool:
        """True for the broker-published ``offline`` (no ``sent_at``)."""
        return self.state == STATE_OFFLINE and self.sent_at is None


@dataclass(frozen=True, slots=True)
class StoredStatus:
    """A ``gateway_status`` row (see the migration for each column's meaning)."""

    site_id: int
    state: str
    boot_id: str
    seq: int | None
    run_started_at: datetime | None
    reported_at: datetime | None
    received_at: datetime
    last_heard_at: datetime | None
    offline_since: datetime | None
    heartbeat_interval_s: float | None
    clock_offset_s: float | None
    problems: list[dict[str, Any]]
    problem_since: dict[str, dict[str, str]]
    last_heartbeat: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredStatus:
        return cls(**{name: row[name] for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What :func:`store_status` did with one message: ``outcome`` (``stored``, ``unchanged`` or
    a refusal code), the gateway and site it concerned when known, whether a notification was
    sent, and a ``detail`` for the log when refused."""

    outcome: str
    gateway_id: str | None = None
    site_id: int | None = None
    notified: bool = False
    detail: str = ""


# --- parsing ---------------------------------------------------------------------------------


def _fail(reason: str, detail: str) -> NoReturn:
    raise StatusDocumentError(reason, detail)


def _reject_constant(name: str) -> Any:
    # json accepts NaN and Infinity, which are not JSON and which jsonb refuses.
    raise ValueError(f"{name} is not a JSON value")


def _has_nul(value: Any) -> bool:
    """True when a string (or key) anywhere in ``value`` holds U+0000, which jsonb refuses."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _timestamp(doc: Mapping[str, Any], name: str, *, nullable: bool) -> datetime | None:
    value = doc.get(name)
    if value is None:
        if nullable:
            return None
        _fail("malformed", f"{name} missing")
    try:
        return parse_ts(value)
    except (TypeError, ValueError) as exc:
        _fail("malformed", f"{name}: {exc}")


def _number(
    doc: Mapping[str, Any], name: str, *, integer: bool, minimum: float, nullable: bool
) -> float | None:
    value = doc.get(name)
    if value is None:
        if nullable:
            return None
        _fail("malformed", f"{name} missing")
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not isinstance(value, int))
    ):
        _fail("malformed", f"{name} must be a{'n integer' if integer else ' number'}")
    if not math.isfinite(value) or value < minimum:
        _fail("malformed", f"{name} must be ≥ {minimum:g}")
    return float(value)


def _check_outbox(doc: Mapping[str, Any]) -> None:
    outbox = doc.get("outbox")
    if outbox is None:
        return
    if not isinstance(outbox, dict):
        _fail("malformed", "outbox must be an object")
    for name in _OUTBOX_COUNTS:
        _number(outbox, name, integer=True, minimum=0, nullable=True)
    for name in _OUTBOX_AGES:
        _number(outbox, name, integer=False, minimum=0, nullable=True)


def _problems(doc: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    problems = doc.get("problems")
    if problems is None:
        return ()
    if not isinstance(problems, list) or len(problems) > MAX_PROBLEMS:
        _fail("malformed", f"problems must be a list of at most {MAX_PROBLEMS}")
    for i, problem in enumerate(problems):
        code = problem.get("code") if isinstance(problem, dict) else None
        if not isinstance(code, str) or not code.strip() or len(code) > MAX_CODE_CHARS:
            _fail("malformed", f"problems[{i}] needs a code (a string of 1-{MAX_CODE_CHARS})")
    return tuple(problems)


def _check_devices(doc: Mapping[str, Any]) -> None:
    devices = doc.get("devices")
    if devices is None:
        return
    if not isinstance(devices, list) or len(devices) > MAX_DEVICES:
        _fail("malformed", f"devices must be a list of at most {MAX_DEVICES}")
    for i, device in enumerate(devices):
        if not isinstance(device, dict) or not isinstance(device.get("device_id"), str):
            _fail("malformed", f"devices[{i}] must be an object with a device_id")


def parse_status_document(raw: bytes, *, gateway_id: str | None = None) -> StatusReport:
    """Check ``raw`` (UTF-8 JSON) against ``homeward.gateway-status/1``.

    ``gateway_id``, when given, is the id the topic names; the document must name the same.
    Fields the schema does not list are kept and ignored. Raises
    :class:`~monitoring.errors.StatusDocumentError` with ``reason`` ``malformed`` (not JSON, not
    an object, a field of the wrong type, larger than :data:`MAX_STATUS_BYTES`), ``unknown_schema``
    (a ``schema`` other than ``homeward.gateway-status/1``) or ``gateway_mismatch``.
    """
    if len(raw) > MAX_STATUS_BYTES:
        _fail("malformed", f"{len(raw)} bytes, larger than {MAX_STATUS_BYTES}")
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        _fail("malformed", f"not JSON: {exc}")
    if not isinstance(doc, dict):
        _fail("malformed", f"a JSON {type(doc).__name__}, not an object")
    schema = doc.get("schema")
    if not isinstance(schema, str):
        _fail("malformed", "no schema")
    if schema != STATUS_SCHEMA:
        _fail("unknown_schema", f"schema {schema[:80]!r}, expected {STATUS_SCHEMA!r}")
    if _has_nul(doc):
        _fail("malformed", "a string holds U+0000")
    state = doc.get("state")
    if state not in (STATE_ONLINE, STATE_OFFLINE):
        _fail("malformed", f"unknown state {str(state)[:40]!r}")
    named = doc.get("gateway_id")
    if not isinstance(named, str) or not DEVICE_ID_RE.match(named):
        _fail("malformed", "gateway_id must be a gateway id")
    if gateway_id is not None and named != gateway_id:
        _fail("gateway_mismatch", f"document names {named!r}, topic {gateway_id!r}")
    boot_id = doc.get("boot_id")
    if not isinstance(boot_id, str) or not boot_id.strip() or len(boot_id) > MAX_BOOT_ID_CHARS:
        _fail("malformed", f"boot_id must be a string of 1-{MAX_BOOT_ID_CHARS}")
    if state == STATE_OFFLINE:
        return StatusReport(
            state=state,
            gateway_id=named,
            boot_id=boot_id,
            sent_at=_timestamp(doc, "sent_at", nullable=True),
            seq=None,
            uptime_s=None,
            heartbeat_interval_s=None,
            problems=(),
            document=doc,
        )
    seq = _number(doc, "seq", integer=True, minimum=0, nullable=False)
    assert seq is not None
    interval = _number(doc, "heartbeat_interval_s", integer=False, minimum=0, nullable=True)
    if interval is not None and interval <= 0:
        _fail("malformed", "heartbeat_interval_s must be > 0")
    _check_outbox(doc)
    _check_devices(doc)
    return StatusReport(
        state=state,
        gateway_id=named,
        boot_id=boot_id,
        sent_at=_timestamp(doc, "sent_at", nullable=False),
        seq=int(seq),
        uptime_s=_number(doc, "uptime_s", integer=False, minimum=0, nullable=False),
        heartbeat_interval_s=interval,
        problems=_problems(doc),
        document=doc,
    )


# --- ordering and the next row -----------------------------------------------------------------


def supersedes(report: StatusReport, stored: StoredStatus | None) -> bool:
    """True when ``report`` is newer than ``stored`` (the rules are in the module docstring)."""
    if stored is None:
        return True
    same_boot = report.boot_id == stored.boot_id
    run = report.run_started_at
    if (
        report.state == STATE_ONLINE
        and same_boot
        and report.seq is not None
        and run is not None
        and stored.seq is not None
        and stored.run_started_at is not None
        and abs((run - stored.run_started_at).total_seconds()) <= RUN_TOLERANCE_S
    ):
        return report.seq > stored.seq
    if report.sent_at is None:
        return not (same_boot and stored.state == STATE_OFFLINE)
    if stored.reported_at is None:
        return True
    return report.sent_at > stored.reported_at


def silent_after_s(heartbeat_interval_s: float | None) -> float:
    """Seconds without a heartbeat after which a connected gateway counts as silent."""
    interval = heartbeat_interval_s or DEFAULT_HEARTBEAT_INTERVAL_S
    return max(SILENT_AFTER_INTERVALS * interval, MIN_SILENT_S)


def outbox_fill(heartbeat: Mapping[str, Any] | None) -> float | None:
    """The fraction of its bound the outbox of ``heartbeat`` holds (None when not reported)."""
    outbox = heartbeat.get("outbox") if heartbeat else None
    if not isinstance(outbox, dict):
        return None
    readings, bound = outbox.get("readings"), outbox.get("max_readings")
    if not isinstance(readings, int) or not isinstance(bound, int) or bound <= 0:
        return None
    return readings / bound


def _heard_at(
    report: StatusReport, received_at: datetime, retained: bool, clock_offset_s: float | None
) -> datetime:
    if not retained or report.sent_at is None:
        return received_at
    # A retained copy may have waited at the broker: its sent_at, on our clock, says when.
    estimate = report.sent_at - timedelta(seconds=clock_offset_s or 0.0)
    return min(received_at, estimate)


def _by_code(problems: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for problem in problems:
        grouped.setdefault(str(problem["code"]), []).append(problem)
    return {code: json.dumps(items, sort_keys=True) for code, items in grouped.items()}


def _earliest_at(problems: Sequence[Mapping[str, Any]], code: str) -> datetime | None:
    times = []
    for problem in problems:
        if problem.get("code") == code and isinstance(problem.get("at"), str):
            try:
                times.append(parse_ts(problem["at"]))
            except ValueError:
                continue
    return min(times, default=None)


def carry_problem_since(
    previous: Mapping[str, Mapping[str, str]],
    previous_problems: Sequence[Mapping[str, Any]],
    problems: Sequence[Mapping[str, Any]],
    at: datetime,
) -> dict[str, dict[str, str]]:
    """``{code: {"since", "changed_at"}}`` for the problems of a new heartbeat heard ``at``.

    ``since``: when the code first appeared while it stayed present (the earliest ``at`` its
    problems carry, else ``at``); ``changed_at``: the last heartbeat in which the problems of
    that code changed (counters grew, a new event). A code that disappears is forgotten.
    """
    before = _by_code(previous_problems)
    out: dict[str, dict[str, str]] = {}
    for code, content in _by_code(problems).items():
        known = previous.get(code)
        if known is None or code not in before:
            reported = _earliest_at(problems, code)
            since = at if reported is None else min(reported, at)
            out[code] = {"since": format_ts(since), "changed_at": format_ts(at)}
        else:
            changed = known["changed_at"] if before[code] == content else format_ts(at)
            out[code] = {"since": known["since"], "changed_at": changed}
    return out


def next_status(
    stored: StoredStatus | None,
    report: StatusReport,
    *,
    site_id: int,
    received_at: datetime,
    retained: bool,
) -> dict[str, Any]:
    """The ``gateway_status`` column values after ``report`` (received at ``received_at`` on our
    clock, ``retained`` when it was a retained copy) replaces ``stored``."""
    offset = stored.clock_offset_s if stored is not None else None
    heard = _heard_at(report, received_at, retained, offset)
    row: dict[str, Any] = {"site_id": site_id, "received_at": received_at, "raw": report.document}
    if report.state == STATE_ONLINE:
        assert report.sent_at is not None
        if not retained:
            offset = round((report.sent_at - received_at).total_seconds(), 3)
        problems = [dict(p) for p in report.problems]
        row.update(
            state=STATE_ONLINE,
            boot_id=report.boot_id,
            seq=report.seq,
            run_started_at=report.run_started_at,
            reported_at=report.sent_at,
            last_heard_at=heard,
            offline_since=None,
            heartbeat_interval_s=report.heartbeat_interval_s,
            clock_offset_s=offset,
            problems=problems,
            problem_since=carry_problem_since(
                stored.problem_since if stored else {},
                stored.problems if stored else [],
                problems,
                heard,
            ),
            last_heartbeat=report.document,
        )
        return row
    same_boot = stored is not None and stored.boot_id == report.boot_id
    reported = report.sent_at or (stored.reported_at if stored is not None else None)
    row.update(
        state=STATE_OFFLINE,
        boot_id=report.boot_id,
        seq=stored.seq if stored is not None and same_boot else None,
        run_started_at=stored.run_started_at if stored is not None and same_boot else None,
        reported_at=reported,
        last_heard_at=stored.last_heard_at if stored is not None else None,
        offline_since=heard,
        heartbeat_interval_s=stored.heartbeat_interval_s if stored is not None else None,
        clock_offset_s=offset,
        problems=stored.problems if stored is not None else [],
        problem_since=stored.problem_since if stored is not None else {},
        last_heartbeat=stored.last_heartbeat if stored is not None else None,
    )
    return row


def _panel_view(
    state: str,
    boot_id: str,
    problems: Sequence[Mapping[str, Any]],
    last_heartbeat: Mapping[str, Any] | None,
    clock_offset_s: float | None,
) -> str:
    """What a panel shows of a status, apart from counters that move with every heartbeat."""
    fill = outbox_fill(last_heartbeat)
    return json.dumps(
        [
            state,
            boot_id,
            list(problems),
            fill is not None and fill >= OUTBOX_NEARLY_FULL,
            clock_offset_s is not None and abs(clock_offset_s) > CLOCK_OFF_S,
        ],
        sort_keys=True,
        default=str,
    )


def panel_changed(stored: StoredStatus | None, row: Mapping[str, Any]) -> bool:
    """True when replacing ``stored`` with ``row`` changes what a panel shows (state, boot,
    problems, outbox nearly full, clock off) or ends a silence; routine heartbeats do not."""
    if stored is None:
        return True
    if (
        stored.state == STATE_ONLINE
        and stored.last_heard_at is not None
        and row["state"] == STATE_ONLINE
        and (row["last_heard_at"] - stored.last_heard_at).total_seconds()
        > silent_after_s(stored.heartbeat_interval_s)
    ):
        return True
    before = _panel_view(
        stored.state,
        stored.boot_id,
        stored.problems,
        stored.last_heartbeat,
        stored.clock_offset_s,
    )
    after = _panel_view(
        row["state"],
        row["boot_id"],
        row["problems"],
        row["last_heartbeat"],
        row["clock_offset_s"],
    )
    return before != after


# --- the database side ---------------------------------------------------------------------------

_COLUMNS = (
    "site_id",
    "state",
    "boot_id",
    "seq",
    "run_started_at",
    "reported_at",
    "received_at",
    "last_heard_at",
    "offline_since",
    "heartbeat_interval_s",
    "clock_offset_s",
    "problems",
    "problem_since",
    "last_heartbeat",
    "raw",
)
_JSON_COLUMNS = frozenset({"problems", "problem_since", "last_heartbeat", "raw"})

_INSERT = sql.SQL(
    "INSERT INTO gateway_status (gateway_id, {columns}) VALUES ({values})"
    " ON CONFLICT (gateway_id) DO NOTHING RETURNING gateway_id"
).format(
    columns=sql.SQL(", ").join(sql.Identifier(c) for c in _COLUMNS),
    values=sql.SQL(", ").join(sql.Placeholder() for _ in range(len(_COLUMNS) + 1)),
)
_UPDATE = sql.SQL(
    "UPDATE gateway_status SET {sets}, updated_at = now() WHERE gateway_id = %s"
).format(
    sets=sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder()) for c in _COLUMNS
    )
)
_SELECT_LOCKED = sql.SQL(
    "SELECT {columns} FROM gateway_status WHERE gateway_id = %s FOR UPDATE"
).format(columns=sql.SQL(", ").join(sql.Identifier(c) for c in StoredStatus.__slots__))


def _values(row: Mapping[str, Any]) -> list[Any]:
    return [
        Jsonb(row[c]) if c in _JSON_COLUMNS and row[c] is not None else row[c] for c in _COLUMNS
    ]


def _locked(cur: psycopg.Cursor[dict[str, Any]], gateway_id: str) -> StoredStatus | None:
    found = cur.execute(_SELECT_LOCKED, (gateway_id,)).fetchone()
    return None if found is None else StoredStatus.from_row(found)


def _notify(cur: psycopg.Cursor[dict[str, Any]], gateway_id: str, site_id: int) -> None:
    payload = json.dumps({"gateway_id": gateway_id, "site_id": site_id})
    cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))


def store_status(
    conn: psycopg.Connection[Any],
    *,
    topic: str,
    payload: bytes,
    received_at: datetime,
    retained: bool = False,
) -> StoreResult:
    """Store one status message if it is newer than the stored status; in the caller's
    transaction (the notification goes out when it commits).

    ``received_at`` is when it arrived (UTC, our clock); ``retained`` whether the broker
    delivered a retained copy (on subscribing) rather than a live publish. Never raises for
    the message's content: refusals come back as the outcome. Database errors propagate.
    """
    if not payload:
        return StoreResult(EMPTY, detail="empty message (a retained status was cleared)")
    try:
        where = parse_topic(topic)
        if where.kind != "status":
            raise ValueError(f"not a status topic: {topic!r}")
    except ValueError as exc:
        return StoreResult(INVALID_TOPIC, detail=str(exc))
    if payload in DEVICE_STATUS_PAYLOADS:
        return StoreResult(DEVICE_STATUS, where.gateway_id, detail="a device's own plain status")
    try:
        report = parse_status_document(payload, gateway_id=where.gateway_id)
    except StatusDocumentError as exc:
        return StoreResult(exc.reason, where.gateway_id, detail=exc.detail)
    cur = conn.cursor(row_factory=dict_row)
    registered = cur.execute(
        "SELECT g.site_id, s.code FROM gateways g JOIN sites s ON s.id = g.site_id WHERE g.id = %s",
        (where.gateway_id,),
    ).fetchone()
    if registered is None:
        return StoreResult(UNKNOWN_GATEWAY, where.gateway_id, detail="gateway not registered")
    site_id = int(registered["site_id"])
    if registered["code"] != where.site:
        return StoreResult(
            OTHER_SITE,
            where.gateway_id,
            site_id,
            detail=f"registered at site {registered['code']!r}, topic names {where.site!r}",
        )
    stored = _locked(cur, where.gateway_id)
    if stored is None:
        row = next_status(None, report, site_id=site_id, received_at=received_at, retained=retained)
        if cur.execute(_INSERT, [where.gateway_id, *_values(row)]).fetchone() is not None:
            _notify(cur, where.gateway_id, site_id)
            return StoreResult(STORED, where.gateway_id, site_id, notified=True)
        # Another consumer stored this gateway's first status in between: compare with it.
        stored = _locked(cur, where.gateway_id)
        assert stored is not None
    # A gateway moved to another site starts afresh there.
    previous = stored if stored.site_id == site_id else None
    if not supersedes(report, previous):
        return StoreResult(UNCHANGED, where.gateway_id, site_id)
    row = next_status(previous, report, site_id=site_id, received_at=received_at, retained=retained)
    cur.execute(_UPDATE, [*_values(row), where.gateway_id])
    notified = panel_changed(previous, row)
    if notified:
        _notify(cur, where.gateway_id, site_id)
    return StoreResult(STORED, where.gateway_id, site_id, notified=notified)
