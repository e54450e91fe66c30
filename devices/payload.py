"""The ``homeward.readings/1`` batch payload and the ``homeward.ack/1`` acknowledgement.

The written contract is ``docs/payload-schema.md``. In short::

    {"schema": "homeward.readings/1", "gateway_id": "gw-7f3a", "batch_id": "…", "batch_seq": 17,
     "sent_at": "2026-11-23T02:00:05Z",
     "readings": [{"device_id": "ox-0042", "metric": "spo2", "value": 94, "unit": "%",
                   "ts": "2026-11-23T02:00:00Z", "seq": 1234, "flags": []}]}

:func:`parse_batch` separates two kinds of problems. A document that is not a batch at all
(bad JSON, unknown schema, missing envelope fields) raises :class:`PayloadError`: the whole
message goes to dead letters. A batch whose *individual* readings are bad (unknown metric, wrong
unit, impossible timestamp) is accepted; each bad reading is returned in ``Batch.rejected`` with its
reason so the ingest dead-letters exactly those and stores the rest. A value outside the plausible
range is not a rejection: the reading is kept with the ``implausible`` flag.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from devices.errors import PayloadError, UnitError, UnknownMetricError
from devices.reading import DEVICE_ID_RE, FLAG_RE, VALUELESS, Reading, make_reading

SCHEMA = "homeward.readings/1"
ACK_SCHEMA = "homeward.ack/1"

MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
MAX_READINGS_PER_BATCH = 10_000

# Readings stamped before this are a device whose clock was never set (many reset to 2000-01-01
# or the Unix epoch); the gateway should have corrected them, so they are refused here.
EARLIEST_TS = datetime(2000, 1, 1, tzinfo=UTC)
# The gateway corrects device clocks; more than this ahead of the receiving server's clock is a
# clock fault, not a measurement.
MAX_FUTURE_SKEW = timedelta(minutes=10)

_BATCH_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_SEQ_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class RejectedReading:
    """A reading inside an otherwise valid batch that cannot be stored.

    ``index`` is its position in the batch's ``readings`` array, ``reason`` a stable code, and
    ``raw`` the JSON object as received (kept verbatim in the dead letter).
    """

    index: int
    reason: str
    detail: str
    raw: Any


@dataclass(frozen=True, slots=True)
class Batch:
    """A validated batch. ``readings[i]`` came from ``indexes[i]`` in the original array."""

    gateway_id: str
    batch_id: str
    batch_seq: int
    sent_at: datetime
    readings: tuple[Reading, ...]
    indexes: tuple[int, ...]
    rejected: tuple[RejectedReading, ...]


@dataclass(frozen=True, slots=True)
class Ack:
    """The ingest's application-level acknowledgement, sent only after the database commit.

    ``stored`` counts readings newly written, ``duplicates`` readings already present (a
    redelivery), ``rejected`` readings sent to dead letters. ``dead_lettered`` is true when the
    whole batch was refused; the gateway may still delete it because the raw bytes are kept.
    """

    batch_id: str
    batch_seq: int
    stored: int
    duplicates: int
    rejected: int
    dead_lettered: bool = False


def format_ts(ts: datetime) -> str:
    """RFC 3339 UTC with microseconds only when present (``2026-11-23T02:00:00Z``)."""
    ts = ts.astimezone(UTC)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if ts.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return ts.strftime(fmt)


def parse_ts(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset; returns aware UTC.

    Raises ``ValueError`` for naive timestamps (no ``Z`` or offset): their meaning would depend on
    a time zone nobody stated.
    """
    if not isinstance(text, str) or len(text) > 40:
        raise ValueError("timestamp must be an RFC 3339 string")
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("timestamp has no UTC offset")
    return ts.astimezone(UTC)


def reading_to_json(r: Reading) -> dict[str, Any]:
    """One reading as its JSON object in the batch."""
    value: float | int | None = r.value
    if r.value is not None and r.value.is_integer() and abs(r.value) < 2**53:
        value = int(r.value)
    return {
        "device_id": r.device_id,
        "metric": r.metric,
        "value": value,
        "unit": r.unit,
        "ts": format_ts(r.ts),
        "seq": r.seq,
        "flags": sorted(r.flags),
    }


def encode_batch(
    *,
    gateway_id: str,
    batch_id: str,
    batch_seq: int,
    readings: Iterable[Reading],
    sent_at: datetime,
) -> bytes:
    """Serialise readings as a ``homeward.readings/1`` batch (UTF-8 JSON bytes)."""
    doc = {
        "schema": SCHEMA,
        "gateway_id": gateway_id,
        "batch_id": batch_id,
        "batch_seq": batch_seq,
        "sent_at": format_ts(sent_at),
        "readings": [reading_to_json(r) for r in readings],
    }
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _load(raw: bytes) -> Any:
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise PayloadError("payload_too_large", f"{len(raw)} bytes, limit is {MAX_PAYLOAD_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("malformed_json", f"not UTF-8: {exc}") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise PayloadError("malformed_json", str(exc)) from None


def _field(doc: Mapping[str, Any], name: str, kind: type | tuple[type, ...], path: str) -> Any:
    if name not in doc:
        raise PayloadError("missing_field", f"field {name!r} is required", f"{path}/{name}")
    value = doc[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise PayloadError("invalid_field", f"field {name!r} has the wrong type", f"{path}/{name}")
    return value


def parse_batch(raw: bytes, *, now: datetime | None = None) -> Batch:
    """Validate a batch payload.

    ``now`` (aware, default: the current UTC time) is the receiver's clock, used to refuse
    readings stamped more than :data:`MAX_FUTURE_SKEW` ahead of it.

    Raises :class:`PayloadError` when the document as a whole is unusable. Problems with single
    readings are returned in ``Batch.rejected`` instead; see the module docstring.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    doc = _load(raw)
    if not isinstance(doc, dict):
        raise PayloadError("not_an_object", "a batch is a JSON object")
    schema = doc.get("schema")
    if schema != SCHEMA:
        raise PayloadError(
            "unknown_schema",
            f"schema {schema!r} is not supported; expected {SCHEMA!r}",
            "/schema",
        )
    gateway_id = _field(doc, "gateway_id", str, "")
    if not DEVICE_ID_RE.match(gateway_id):
        raise PayloadError("invalid_field", "gateway_id has invalid characters", "/gateway_id")
    batch_id = _field(doc, "batch_id", str, "")
    if not _BATCH_ID_RE.match(batch_id):
        raise PayloadError("invalid_field", "batch_id has invalid characters", "/batch_id")
    batch_seq = _field(doc, "batch_seq", int, "")
    if not 0 <= batch_seq <= _SEQ_MAX:
        raise PayloadError("invalid_field", "batch_seq out of range", "/batch_seq")
    try:
        sent_at = parse_ts(_field(doc, "sent_at", str, ""))
    except ValueError as exc:
        raise PayloadError("invalid_field", f"sent_at: {exc}", "/sent_at") from None
    items = _field(doc, "readings", list, "")
    if not items:
        raise PayloadError("empty_batch", "a batch holds at least one reading", "/readings")
    if len(items) > MAX_READINGS_PER_BATCH:
        raise PayloadError(
            "too_many_readings",
            f"{len(items)} readings, limit is {MAX_READINGS_PER_BATCH}",
            "/readings",
        )

    readings: list[Reading] = []
    indexes: list[int] = []
    rejected: list[RejectedReading] = []
    for i, item in enumerate(items):
        try:
            readings.append(_parse_reading(item, now))
            indexes.append(i)
        except _RejectError as rej:
            rejected.append(RejectedReading(i, rej.reason, rej.detail, item))
    return Batch(
        gateway_id=gateway_id,
        batch_id=batch_id,
        batch_seq=batch_seq,
        sent_at=sent_at,
        readings=tuple(readings),
        indexes=tuple(indexes),
        rejected=tuple(rejected),
    )


class _RejectError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail


def _get(item: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in item:
        raise _RejectError("missing_field", f"field {name!r} is required")
    value = item[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise _RejectError("invalid_field", f"field {name!r} has the wrong type")
    return value


def _parse_reading(item: Any, now: datetime) -> Reading:
    if not isinstance(item, dict):
        raise _RejectError("not_an_object", "a reading is a JSON object")
    device_id = _get(item, "device_id", str)
    if not DEVICE_ID_RE.match(device_id):
        raise _RejectError(
            "invalid_device_id", f"device id {device_id[:80]!r} has invalid characters"
        )
    metric = _get(item, "metric", str)
    unit = _get(item, "unit", str)
    seq = _get(item, "seq", int)
    if not 0 <= seq <= _SEQ_MAX:
        raise _RejectError("invalid_seq", f"sequence number {seq} out of range")
    try:
        ts = parse_ts(_get(item, "ts", str))
    except ValueError as exc:
        raise _RejectError("invalid_timestamp", str(exc)) from None
    if ts < EARLIEST_TS:
        raise _RejectError("timestamp_before_2000", f"{format_ts(ts)} is before 2000-01-01")
    if ts > now + MAX_FUTURE_SKEW:
        raise _RejectError(
            "timestamp_in_future",
            f"{format_ts(ts)} is {ts - now} ahead of the server clock {format_ts(now)}",
        )
    flags_raw = item.get("flags", [])
    if not isinstance(flags_raw, list) or not all(
        isinstance(f, str) and FLAG_RE.match(f) for f in flags_raw
    ):
        raise _RejectError("invalid_flags", "flags must be a list of lower-case names")
    flags = frozenset(flags_raw)
    if "value" not in item:
        raise _RejectError("missing_field", "field 'value' is required")
    value = item["value"]
    if value is None:
        if not flags & VALUELESS:
            raise _RejectError("invalid_value", "value is null but no special-value flag says why")
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise _RejectError("invalid_value", "value must be a number or null")
    elif not math.isfinite(value):
        raise _RejectError("invalid_value", "value must be finite")
    try:
        return make_reading(
            device_id=device_id,
            metric=metric,
            value=None if value is None else float(value),
            unit=unit,
            ts=ts,
            seq=seq,
            flags=flags,
        )
    except UnknownMetricError as exc:
        raise _RejectError("unknown_metric", str(exc)) from None
    except UnitError as exc:
        raise _RejectError("invalid_unit", str(exc)) from None
    except (ValueError, OverflowError) as exc:
        raise _RejectError("invalid_value", str(exc)) from None


def encode_ack(ack: Ack) -> bytes:
    """Serialise an :class:`Ack` as ``homeward.ack/1`` JSON."""
    return json.dumps(
        {
            "schema": ACK_SCHEMA,
            "batch_id": ack.batch_id,
            "batch_seq": ack.batch_seq,
            "stored": ack.stored,
            "duplicates": ack.duplicates,
            "rejected": ack.rejected,
            "dead_lettered": ack.dead_lettered,
        },
        separators=(",", ":"),
    ).encode()


def parse_ack(raw: bytes) -> Ack:
    """Parse a ``homeward.ack/1`` message; raises :class:`PayloadError` if it is not one."""
    doc = _load(raw)
    if not isinstance(doc, dict) or doc.get("schema") != ACK_SCHEMA:
        raise PayloadError("unknown_schema", f"expected {ACK_SCHEMA!r}", "/schema")
    counts: Sequence[str] = ("stored", "duplicates", "rejected")
    return Ack(
        batch_id=_field(doc, "batch_id", str, ""),
        batch_seq=_field(doc, "batch_seq", int, ""),
        stored=_field(doc, counts[0], int, ""),
        duplicates=_field(doc, counts[1], int, ""),
        rejected=_field(doc, counts[2], int, ""),
        dead_lettered=bool(doc.get("dead_lettered", False)),
    )
