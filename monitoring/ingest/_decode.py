"""From message bytes to rows ready for COPY: a fast path for ordinary batches, the validator for
everything else.

:func:`decode_batch` gives exactly what :func:`devices.parse_batch` decides, in the shape the
write path needs (one tuple per reading, in the staging table's column order). Most messages are
ordinary: every reading a plain number in a unit the catalog accepts, a timestamp with an offset,
a few or no flags. For those the fast path parses with orjson and checks each reading in one
tight loop without building :class:`devices.Reading` objects, about three times cheaper per
reading than the validator (docs/decisions/0002, "Decoding"). The moment anything is not
ordinary (a reading the validator would refuse, a ``null`` value, JSON orjson reads differently
from the standard library, such as integers beyond 64 bits or lone surrogates) the fast path
gives up on the whole message and the validator decides, so the fast path never has to know a
refusal reason. ``tests/monitoring/test_ingest_decode.py`` checks the two agree on generated
batches.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from devices import Batch, RejectedReading, UnknownMetricError, get_metric, parse_batch
from devices.payload import (
    EARLIEST_TS,
    MAX_FUTURE_SKEW,
    MAX_PAYLOAD_BYTES,
    MAX_READINGS_PER_BATCH,
    SCHEMA,
    parse_ts,
)
from devices.reading import DEVICE_ID_RE, FLAG_RE

# The validator's batch id rule (devices/payload.py keeps its own copy private).
_BATCH_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_SEQ_MAX = 2**63 - 1
_IMPLAUSIBLE = "implausible"
_FLOAT_OF_INT_MAX = 2.0**63

# (idx, device_id, metric, seq, ts, value, unit, flags): the staging table's columns after
# ``msg``. ``value`` is canonical; ``flags`` is the sorted flags joined by "," (flag names cannot
# hold a comma) or None for none: a text column is cheaper to COPY than a text[] one.
Row = tuple[int, str, str, int, datetime, float | None, str, str | None]


@dataclass(frozen=True, slots=True)
class Decoded:
    """A valid batch as rows. ``rows[i][0]`` is the reading's index in the ``readings`` array;
    ``rejected`` are the readings the validator refused; ``days`` the UTC days of ``rows``
    (the partitions they need)."""

    gateway_id: str
    batch_id: str
    batch_seq: int
    rows: list[Row]
    rejected: tuple[RejectedReading, ...]
    days: frozenset[date]
    fast: bool


@dataclass(frozen=True, slots=True)
class _Unit:
    """What the loop needs of a (metric, unit) pair the catalog accepts: the conversion to the
    canonical unit (``canonical = value * scale + offset``) and the plausible range in it."""

    scale: float
    offset: float
    canonical: str
    low: float
    high: float


# (metric, unit) -> _Unit, or None when the catalog does not accept the pair. Bounded by what
# publishers send: a message with an unknown pair falls back without being cached.
_UNITS: dict[tuple[str, str], _Unit] = {}


def _unit(metric: str, unit: str) -> _Unit | None:
    key = (metric, unit)
    found = _UNITS.get(key)
    if found is not None:
        return found
    try:
        m = get_metric(metric)
    except UnknownMetricError:
        return None
    conv = m.units.get(unit)
    if conv is None:
        return None
    found = _Unit(conv.scale, conv.offset, m.unit, m.plausible_min, m.plausible_max)
    _UNITS[key] = found
    return found


def _flags_text(flags: frozenset[str] | set[str]) -> str | None:
    return ",".join(sorted(flags)) if flags else None


def rows_of(batch: Batch) -> list[Row]:
    """The rows of a batch the validator accepted (the fallback path)."""
    return [
        (idx, r.device_id, r.metric, r.seq, r.ts, r.value, r.unit, _flags_text(r.flags))
        for idx, r in zip(batch.indexes, batch.readings, strict=True)
    ]


def decode_batch(raw: bytes, *, now: datetime) -> Decoded:
    """Validate ``raw`` as a ``homeward.readings/1`` batch received at ``now`` (aware).

    Raises :class:`devices.PayloadError` exactly when :func:`devices.parse_batch` does; otherwise
    returns its readings as rows and its refusals unchanged.
    """
    fast = _fast(raw, now.astimezone(UTC))
    if fast is not None:
        return fast
    batch = parse_batch(raw, now=now)
    rows = rows_of(batch)
    return Decoded(
        gateway_id=batch.gateway_id,
        batch_id=batch.batch_id,
        batch_seq=batch.batch_seq,
        rows=rows,
        rejected=batch.rejected,
        days=frozenset(r[4].date() for r in rows),
        fast=False,
    )


def _fast(raw: bytes, now: datetime) -> Decoded | None:
    """The ordinary case, or None to let the validator decide."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        return None
    try:
        doc: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(doc) is not dict or doc.get("schema") != SCHEMA:
        return None
    gateway_id = doc.get("gateway_id")
    batch_id = doc.get("batch_id")
    batch_seq = doc.get("batch_seq")
    sent_at = doc.get("sent_at")
    items = doc.get("readings")
    if (
        type(gateway_id) is not str
        or not DEVICE_ID_RE.match(gateway_id)
        or type(batch_id) is not str
        or not _BATCH_ID_RE.match(batch_id)
        or type(batch_seq) is not int
        or not 0 <= batch_seq <= _SEQ_MAX
        or type(sent_at) is not str
        or type(items) is not list
        or not 0 < len(items) <= MAX_READINGS_PER_BATCH
    ):
        return None
    try:
        parse_ts(sent_at)
    except ValueError:
        return None

    latest = now + MAX_FUTURE_SKEW
    # Locals, not globals, in the loop below: it runs once per reading (~2 µs each).
    earliest = EARLIEST_TS
    utc = UTC
    seq_max = _SEQ_MAX
    float_max = _FLOAT_OF_INT_MAX
    implausible = _IMPLAUSIBLE
    units = _UNITS
    fromiso = datetime.fromisoformat
    device_ok = DEVICE_ID_RE.match
    flag_ok = FLAG_RE.match
    isfinite = math.isfinite
    seen_devices: set[str] = set()
    days: set[date] = set()
    # The UTC day of the previous reading, [day_start, day_end): a batch rarely spans two, so
    # two comparisons replace a date() and a set insertion per reading.
    one_day = timedelta(days=1)
    day_start = day_end = earliest
    rows: list[Row] = []
    append = rows.append
    try:
        for idx, item in enumerate(items):
            if type(item) is not dict:
                return None
            # Subscripts rather than .get(): a missing field raises KeyError, caught below,
            # and the validator decides (as it would for the None that .get() gives).
            device_id = item["device_id"]
            metric = item["metric"]
            unit = item["unit"]
            seq = item["seq"]
            ts_text = item["ts"]
            value = item["value"]
            if (
                type(device_id) is not str
                or type(metric) is not str
                or type(unit) is not str
                or type(seq) is not int
                or type(ts_text) is not str
                or not 0 <= seq <= seq_max
                or len(ts_text) > 40
            ):
                return None
            if type(value) is int:
                value = float(value)
            elif type(value) is not float or not -float_max < value < float_max:
                # null (special values), booleans, strings; and numbers past 64-bit integers,
                # which orjson may have read as floats where the validator has ints.
                return None
            if device_id not in seen_devices:
                if not device_ok(device_id):
                    return None
                seen_devices.add(device_id)
            u = units.get((metric, unit)) or _unit(metric, unit)
            if u is None:
                return None
            try:
                ts = fromiso(ts_text)
            except ValueError:
                return None
            # "Z" and "+00:00" parse to the UTC singleton: already aware and in UTC, so the
            # offset check and the conversion (a third of this loop's time) have nothing to do.
            if ts.tzinfo is not utc:
                if ts.tzinfo is None or ts.utcoffset() is None:
                    return None
                ts = ts.astimezone(utc)
            if ts < earliest or ts > latest:
                return None
            # Conversion.to_canonical, inlined: the same float operations give the same value.
            canonical = value * u.scale + u.offset
            if not isfinite(canonical):
                return None
            flags_raw = item.get("flags", ())
            if flags_raw:
                if type(flags_raw) is not list:
                    return None
                for f in flags_raw:
                    if type(f) is not str or not flag_ok(f):
                        return None
                flag_set = set(flags_raw)
                if not u.low <= canonical <= u.high:
                    flag_set.add(implausible)
                flags = _flags_text(flag_set)
            elif type(flags_raw) is not list and flags_raw != ():
                return None  # an empty string, 0, {}: the validator refuses those
            else:
                flags = None if u.low <= canonical <= u.high else implausible
            if not day_start <= ts < day_end:
                day = ts.date()
                days.add(day)
                day_start = datetime(day.year, day.month, day.day, tzinfo=utc)
                day_end = day_start + one_day
            append((idx, device_id, metric, seq, ts, canonical, u.canonical, flags))
    except KeyError:
        return None
    return Decoded(
        gateway_id=gateway_id,
        batch_id=batch_id,
        batch_seq=batch_seq,
        rows=rows,
        rejected=(),
        days=frozenset(days),
        fast=True,
    )
