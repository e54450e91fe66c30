"""The database side of MQTT messages: validate, resolve, store or dead-letter, in one commit.

:func:`store_messages` is everything the ingest does with a group of messages except talking to
the broker; :func:`store_batch` is the same for one message. Both are synchronous, hold no state
besides the process-wide partition cache and the per-connection staging table, and are
idempotent: storing the same message again stores its readings once and its dead letters once,
and returns counts that say so. That is what lets the worker acknowledge a message only after the
commit and simply do the work again when the broker redelivers it after a crash.

Where every reading of a message ends up (nothing is silently dropped)::

    message ─┬─ topic is not .../{site}/{gateway}/readings ─────────▶ dead letter, whole message
             ├─ not a homeward.readings/1 batch (PayloadError) ───────▶ dead letter, whole message
             ├─ payload gateway_id ≠ the topic's gateway ─────────────▶ dead letter, whole message
             └─ batch ─┬─ reading refused by the validator ───────────▶ dead letter, that reading
                       ├─ device unknown / of another site /
                       │  not assigned to a patient at the reading's ts ─▶ dead letter, that reading
                       └─ resolved to a patient ─┬─ new key ──────────▶ readings (stored)
                                                 └─ key already there ─▶ nothing (duplicate)

Dead letters are keyed by ``(sha256 of the message bytes, index of the reading or NULL)``, so a
redelivered message adds none. The reason codes are listed in ``docs/payload-schema.md``; the
write path and its measurements in ``docs/decisions/0002-ingest-write-path.md``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from devices import Ack, PayloadError, parse_topic
from devices import topic as make_topic
from monitoring.evaluations import ChangedSeries, mark_changed
from monitoring.ingest._decode import Decoded, decode_batch
from monitoring.partitions import DEFAULT_KEEPER, PartitionKeeper

log = logging.getLogger("monitoring.ingest")

# Reason codes the ingest adds to the validator's (devices.payload); see docs/payload-schema.md.
INVALID_TOPIC = "invalid_topic"
GATEWAY_MISMATCH = "gateway_mismatch"
UNKNOWN_DEVICE = "unknown_device"
DEVICE_OF_OTHER_SITE = "device_of_other_site"
DEVICE_NOT_ASSIGNED = "device_not_assigned"
STORAGE_REFUSED = "storage_refused"

# The validator's rule for batch ids (devices/payload.py), repeated here only to decide whether a
# refused message still names a batch the gateway could match an ack to.
_BATCH_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_SEQ_MAX = 2**63 - 1

_STAGING = "_homeward_ingest_staging"
# One temporary table per connection, emptied at every commit: COPY needs a table, and creating
# and dropping one per transaction would churn the system catalogs at thousands of messages a
# minute. Temporary rather than UNLOGGED: local buffers, no shared-buffer traffic, no WAL, and no
# other session ever sees it (measured in docs/decisions/0002). ``msg`` numbers the messages of
# one transaction; ``flags`` is the sorted flags joined by "," (NULL for none).
_CREATE_STAGING = f"""
CREATE TEMP TABLE IF NOT EXISTS {_STAGING} (
    msg         integer NOT NULL,
    idx         integer NOT NULL,
    device_id   text NOT NULL,
    metric      text NOT NULL,
    seq         bigint NOT NULL,
    ts          timestamptz NOT NULL,
    value       double precision,
    unit        text NOT NULL,
    flags       text
) ON COMMIT DELETE ROWS
"""
_COPY_STAGING = f"COPY {_STAGING} FROM STDIN (FORMAT BINARY)"
_COPY_TYPES = ["int4", "int4", "text", "text", "int8", "timestamptz", "float8", "text", "text"]

# Everything after the COPY, in one statement (one round trip, one plan, prepared):
#
# * ``m``: the messages of the transaction (site, gateway, received_at), passed as arrays.
# * ``asg``: the assignment periods of the distinct devices of each message, for devices
#   registered with the site whose topic carried the message. A batch names few devices, so this
#   is a handful of index lookups rather than one per reading.
# * ``res``: every staged reading with the patient whose period [valid_from, valid_to) holds its
#   ts (periods of one device never overlap, so at most one).
# * ``ins``: the insert. ``ORDER BY msg, idx``: of two readings with one key in a transaction,
#   the first one sent is the one kept (DO NOTHING skips the later one, also within the same
#   statement).
# * The result: per (message, patient, metric) the readings written and the earliest ts written
#   ('w'); per message the readings resolved ('r'); and every unresolved reading with what is
#   known of its device ('u'). When nothing was a duplicate (every resolved reading was
#   written), 'w' is read off ``res`` directly; otherwise the written keys are matched to the
#   first occurrence of each key to tell which message wrote them. The one-time filters mean
#   only one of the two 'w' branches runs.
_STORE = f"""
WITH m AS (
    SELECT * FROM unnest(
        %(msg)s::int4[], %(site)s::text[], %(gateway)s::text[], %(received)s::timestamptz[]
    ) AS m (msg, site, gateway_id, received_at)
),
asg AS (
    SELECT dev.msg, dev.device_id, a.patient_id, a.valid_from, a.valid_to
    FROM (SELECT DISTINCT msg, device_id FROM {_STAGING}) dev
    JOIN m ON m.msg = dev.msg
    JOIN devices d ON d.id = dev.device_id
    JOIN sites si ON si.id = d.site_id AND si.code = m.site
    JOIN device_assignments a ON a.device_id = dev.device_id
),
res AS MATERIALIZED (
    SELECT s.msg, s.idx, s.device_id, s.metric, s.seq, s.ts, s.value, s.unit, s.flags,
           asg.patient_id
    FROM {_STAGING} s
    LEFT JOIN asg ON asg.msg = s.msg AND asg.device_id = s.device_id
        AND asg.valid_from <= s.ts AND (asg.valid_to IS NULL OR s.ts < asg.valid_to)
),
ins AS (
    INSERT INTO readings
        (ts, device_id, metric, seq, patient_id, value, unit, flags, gateway_id, received_at)
    SELECT r.ts, r.device_id, r.metric, r.seq, r.patient_id, r.value, r.unit,
           coalesce(string_to_array(r.flags, ','), '{{}}'), m.gateway_id, m.received_at
    FROM res r JOIN m ON m.msg = r.msg
    WHERE r.patient_id IS NOT NULL
    ORDER BY r.msg, r.idx
    ON CONFLICT (device_id, metric, seq, ts) DO NOTHING
    RETURNING device_id, metric, seq, ts, patient_id
),
resolved AS (
    SELECT msg, count(*)::int AS n FROM res WHERE patient_id IS NOT NULL GROUP BY msg
),
firsts AS (
    SELECT DISTINCT ON (device_id COLLATE "C", metric COLLATE "C", seq, ts)
           msg, device_id, metric, seq, ts
    FROM res WHERE patient_id IS NOT NULL
    ORDER BY device_id COLLATE "C", metric COLLATE "C", seq, ts, msg, idx
)
SELECT 'w' AS kind, msg, NULL::int AS idx, patient_id, metric, min(ts) AS ts, count(*)::int AS n,
       NULL::text AS device_id, NULL::boolean AS known, NULL::text AS device_site
FROM res
WHERE patient_id IS NOT NULL
  AND (SELECT count(*) FROM ins) = (SELECT coalesce(sum(n), 0) FROM resolved)
GROUP BY msg, patient_id, metric
UNION ALL
SELECT 'w', f.msg, NULL, i.patient_id, i.metric, min(i.ts), count(*)::int, NULL, NULL, NULL
FROM ins i JOIN firsts f USING (device_id, metric, seq, ts)
WHERE (SELECT count(*) FROM ins) < (SELECT coalesce(sum(n), 0) FROM resolved)
GROUP BY f.msg, i.patient_id, i.metric
UNION ALL
SELECT 'r', msg, NULL, NULL, NULL, NULL, n, NULL, NULL, NULL FROM resolved
UNION ALL
SELECT 'u', r.msg, r.idx, NULL, NULL, r.ts, NULL, r.device_id, d.id IS NOT NULL, si.code
FROM res r
LEFT JOIN devices d ON d.id = r.device_id
LEFT JOIN sites si ON si.id = d.site_id
WHERE r.patient_id IS NULL
"""
_INSERT_DEAD_LETTER = """
INSERT INTO dead_letters
    (received_at, topic, gateway_id, batch_id, reading_index, reason, detail, raw, message_sha256)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (message_sha256, reading_index) DO NOTHING
"""

# Connections whose session has the staging table (created by a committed transaction).
_STAGED: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One refusal: ``index`` is the reading's position in the batch, or None for the whole
    message; ``reason`` a stable code, ``detail`` the human-readable why."""

    index: int | None
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What :func:`store_batch` committed for one message.

    ``stored`` readings were newly written; ``duplicates`` were already present (a redelivery, or
    a key repeated inside the batch); ``rejected`` readings went to dead letters (for a refused
    whole message: how many readings it appeared to hold, 0 if that cannot be told).
    ``stored + duplicates + rejected`` is the length of the batch's ``readings`` array whenever
    the message was a batch at all.

    ``ack`` is the ``homeward.ack/1`` to publish on ``ack_topic`` after the commit; both are None
    when the message names no batch or no gateway an ack could be addressed to (the raw bytes are
    in dead letters all the same). ``changed`` lists the series queued for evaluation, each with
    the earliest timestamp written. ``dead_letters_added`` counts the dead-letter rows this call
    created: fewer than ``len(dead_letters)`` (usually 0) on a redelivery.
    """

    topic: str
    message_sha256: bytes
    stored: int
    duplicates: int
    rejected: int
    dead_lettered: bool
    dead_letters: tuple[DeadLetter, ...]
    dead_letters_added: int
    changed: tuple[ChangedSeries, ...]
    ack: Ack | None
    ack_topic: str | None


def _safe_text(text: str) -> str:
    """Text PostgreSQL can store: no NUL, no lone surrogates (which UTF-8 cannot encode)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _reading_json(item: Any) -> bytes:
    # ASCII escapes: a reading may hold lone surrogates ("\ud800" is valid JSON) that UTF-8
    # cannot encode; escaped, they survive into the dead letter verbatim.
    return json.dumps(item, ensure_ascii=True, separators=(",", ":")).encode("ascii")


@dataclass(frozen=True, slots=True)
class _Envelope:
    """What can still be read from a refused message, to address an ack to its sender."""

    batch_id: str | None
    batch_seq: int | None
    readings: int


def _envelope_hint(raw: bytes, max_bytes: int = 4 * 1024 * 1024) -> _Envelope:
    if len(raw) > max_bytes:
        return _Envelope(None, None, 0)
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return _Envelope(None, None, 0)
    if not isinstance(doc, dict):
        return _Envelope(None, None, 0)
    batch_id = doc.get("batch_id")
    batch_seq = doc.get("batch_seq")
    items = doc.get("readings")
    ok_id = isinstance(batch_id, str) and bool(_BATCH_ID_RE.match(batch_id))
    ok_seq = (
        isinstance(batch_seq, int)
        and not isinstance(batch_seq, bool)
        and 0 <= batch_seq <= _SEQ_MAX
    )
    return _Envelope(
        batch_id if ok_id else None,
        batch_seq if ok_seq else None,
        len(items) if isinstance(items, list) else 0,
    )


def _require_idle(conn: psycopg.Connection[Any]) -> None:
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise ValueError(
            "store_batch owns its transactions: pass a connection outside any transaction"
        )


def _ack_address(topic: str) -> tuple[str | None, str | None, str | None]:
    """(site, gateway, ack topic) of a readings topic; Nones when it is not one."""
    try:
        t = parse_topic(topic)
    except ValueError:
        return None, None, None
    if t.kind != "readings":
        return t.site, t.gateway_id, None
    return t.site, t.gateway_id, make_topic(t.site, t.gateway_id, "ack")


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT message as received: the concrete ``topic``, the payload bytes ``raw``, and the
    moment ``received_at`` (timezone-aware) the ingest received it."""

    topic: str
    raw: bytes
    received_at: datetime


@dataclass(slots=True)
class _Pending:
    """One message on its way through :func:`store_messages`."""

    message: Message
    sha: bytes
    site: str | None = None
    ack_topic: str | None = None
    decoded: Decoded | None = None
    # A whole-message refusal: (reason, detail).
    refusal: tuple[str, str] | None = None


def dead_letter_message(
    conn: psycopg.Connection[Any],
    *,
    topic: str,
    raw: bytes,
    received_at: datetime,
    reason: str,
    detail: str,
) -> StoreResult:
    """Keep a whole message in dead letters (``reading_index`` NULL) in its own transaction.

    :func:`store_messages` does the same, inside its transaction, for messages that are not a
    valid batch; the worker calls this for a message the database refuses for a reason no retry
    can fix (``storage_refused``), so that one bad message cannot stop the stream. Idempotent:
    the same bytes are kept once. The returned ack has ``dead_lettered`` true and, when the
    message still names its batch, lets the gateway drop it from its outbox (the bytes are safe
    here).
    """
    _require_idle(conn)
    if received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    message = Message(topic, raw, received_at)
    p = _Pending(message, hashlib.sha256(raw).digest())
    with conn.transaction():
        result = _refuse(conn.cursor(row_factory=tuple_row), p, reason, detail)
    _log_result(result, p)
    return result


def _refuse(cur: psycopg.Cursor[Any], p: _Pending, reason: str, detail: str) -> StoreResult:
    """Insert the whole-message dead letter of ``p`` in the caller's transaction."""
    message = p.message
    _site, gateway, ack_topic = _ack_address(message.topic)
    hint = _envelope_hint(message.raw)
    cur.execute(
        _INSERT_DEAD_LETTER,
        (
            message.received_at,
            _safe_text(message.topic),
            gateway,
            hint.batch_id,
            None,
            reason,
            _safe_text(detail),
            message.raw,
            p.sha,
        ),
    )
    added = cur.rowcount
    ack = None
    if ack_topic is not None and hint.batch_id is not None and hint.batch_seq is not None:
        ack = Ack(
            batch_id=hint.batch_id,
            batch_seq=hint.batch_seq,
            stored=0,
            duplicates=0,
            rejected=hint.readings,
            dead_lettered=True,
        )
    return StoreResult(
        topic=message.topic,
        message_sha256=p.sha,
        stored=0,
        duplicates=0,
        rejected=hint.readings,
        dead_lettered=True,
        dead_letters=(DeadLetter(None, reason, detail),),
        dead_letters_added=added,
        changed=(),
        ack=ack,
        ack_topic=ack_topic if ack is not None else None,
    )


def store_batch(
    conn: psycopg.Connection[Any],
    *,
    topic: str,
    raw: bytes,
    received_at: datetime,
    partitions: PartitionKeeper | None = None,
) -> StoreResult:
    """Store one MQTT message in one transaction; :func:`store_messages` with one message.

    ``topic`` is the concrete topic the message arrived on (``homeward/v1/{site}/{gateway}/
    readings``), ``raw`` its payload bytes, ``received_at`` (timezone-aware) the moment the ingest
    received it: it is stored with the rows and is the "now" against which future timestamps are
    judged (more than ten minutes ahead is refused, ``devices.payload.MAX_FUTURE_SKEW``).
    """
    [result] = store_messages(conn, [Message(topic, raw, received_at)], partitions=partitions)
    return result


def store_messages(
    conn: psycopg.Connection[Any],
    messages: Sequence[Message],
    *,
    partitions: PartitionKeeper | None = None,
) -> list[StoreResult]:
    """Store several MQTT messages in one transaction; one :class:`StoreResult` per message, in
    order.

    ``conn`` must not be inside a transaction: missing daily partitions are first created in a
    short transaction of their own (``partitions``, default the process-wide keeper), then
    everything else commits together: the readings of every message (one binary COPY into the
    staging table, then one ``INSERT ... ON CONFLICT DO NOTHING``), dead letters, and
    ``pending_evaluations`` via :func:`monitoring.evaluations.mark_changed`. On any exception the
    transaction is rolled back and nothing of any message is stored, so the caller may retry; a
    ``psycopg.OperationalError`` means the database could not be reached or gave up (retry
    later), other ``psycopg.Error``\\ s mean it refused something in the group (store the messages
    one by one to find which). A message stored again, alone or in another group, is counted as
    duplicates and adds no dead letters; a reading key repeated across the group is stored once,
    from the first message that carries it.

    A caller that acknowledges the messages after this returns must make sure the commit is
    durable (``synchronous_commit`` not ``off`` for its session); :class:`IngestWorker` does.
    """
    _require_idle(conn)
    for message in messages:
        if message.received_at.utcoffset() is None:
            raise ValueError("received_at must be timezone-aware")
    if not messages:
        return []
    pending = [_prepare(message) for message in messages]
    keeper = partitions or DEFAULT_KEEPER
    days = {d for p in pending if p.decoded is not None for d in p.decoded.days}
    created = keeper.ensure_days(conn, days)
    if created:
        # Normally the days ahead exist already; many new ones point at a device clock fault.
        log.log(
            logging.WARNING if created > 31 else logging.INFO,
            "created %d reading partitions for %d messages (days %s .. %s)",
            created,
            len(pending),
            min(days),
            max(days),
        )
    try:
        results = _write_group(conn, pending)
    except psycopg.errors.CheckViolation as exc:
        if not _is_missing_partition(exc):
            raise
        # The cache said the day's partition exists but it does not (dropped by retention or an
        # operator since): forget, create, and try once more.
        log.warning("partition missing for a cached day; recreating (%s)", exc.diag.message_primary)
        keeper.forget(conn, days)
        keeper.ensure_days(conn, days)
        results = _write_group(conn, pending)
    for p, result in zip(pending, results, strict=True):
        _log_result(result, p)
    return results


def _prepare(message: Message) -> _Pending:
    """Everything that needs no database: the topic, the payload, the validator's verdict."""
    p = _Pending(message, hashlib.sha256(message.raw).digest())
    site, gateway, ack_topic = _ack_address(message.topic)
    p.site = site
    p.ack_topic = ack_topic
    if site is None or gateway is None or ack_topic is None:
        p.refusal = (
            INVALID_TOPIC,
            f"topic {message.topic[:200]!r} is not homeward/v1/{{site}}/{{gateway_id}}/readings",
        )
        return p
    try:
        decoded = decode_batch(message.raw, now=message.received_at)
    except PayloadError as exc:
        detail = f"{exc.detail} (at {exc.path})" if exc.path else exc.detail
        p.refusal = (exc.reason, detail)
        return p
    if decoded.gateway_id != gateway:
        p.refusal = (
            GATEWAY_MISMATCH,
            f"payload gateway_id {decoded.gateway_id!r} was published on the topic of "
            f"gateway {gateway!r}",
        )
        return p
    p.decoded = decoded
    return p


def _is_missing_partition(exc: psycopg.errors.CheckViolation) -> bool:
    return (exc.diag.message_primary or "").startswith("no partition of relation")


@dataclass
class _Tally:
    """What the store statement said about one message of the group."""

    resolved: int = 0
    stored: int = 0
    changed: list[ChangedSeries] = field(default_factory=list)
    unresolved: list[tuple[int, str, datetime, bool, str | None]] = field(default_factory=list)


def _write_group(conn: psycopg.Connection[Any], pending: list[_Pending]) -> list[StoreResult]:
    with conn.transaction():
        results = _write(conn, pending)
    _STAGED.add(conn)
    return results


def _write(conn: psycopg.Connection[Any], pending: list[_Pending]) -> list[StoreResult]:
    cur = conn.cursor(row_factory=tuple_row)
    tallies = [_Tally() for _ in pending]
    batches = [(i, p) for i, p in enumerate(pending) if p.decoded is not None and p.decoded.rows]
    if batches:
        if conn not in _STAGED:
            cur.execute(_CREATE_STAGING)
        with cur.copy(_COPY_STAGING) as copy:
            copy.set_types(_COPY_TYPES)
            write_row = copy.write_row
            for i, p in batches:
                assert p.decoded is not None
                for row in p.decoded.rows:
                    write_row((i, *row))
        params = {
            "msg": [i for i, _ in batches],
            "site": [p.site for _, p in batches],
            "gateway": [p.decoded.gateway_id for _, p in batches if p.decoded is not None],
            "received": [p.message.received_at for _, p in batches],
        }
        for kind, msg, idx, patient_id, metric, ts, n, device_id, known, device_site in cur.execute(
            _STORE, params, prepare=True
        ):
            tally = tallies[msg]
            if kind == "w":
                tally.stored += n
                tally.changed.append(ChangedSeries(int(patient_id), str(metric), ts))
            elif kind == "r":
                tally.resolved = n
            else:
                tally.unresolved.append((idx, device_id, ts, known, device_site))
        changed = [c for t in tallies for c in t.changed]
        if changed:
            mark_changed(conn, changed)
    return [_finish(cur, p, t) for p, t in zip(pending, tallies, strict=True)]


def _finish(cur: psycopg.Cursor[Any], p: _Pending, tally: _Tally) -> StoreResult:
    """Write one message's dead letters and build its result."""
    message = p.message
    if p.refusal is not None:
        return _refuse(cur, p, *p.refusal)
    decoded = p.decoded
    assert decoded is not None
    assert p.ack_topic is not None
    dead: list[DeadLetter] = []
    raws: dict[int, bytes] = {}
    for rej in decoded.rejected:
        dead.append(DeadLetter(rej.index, rej.reason, rej.detail))
        raws[rej.index] = _reading_json(rej.raw)
    if tally.unresolved:
        items = _readings_array(message.raw)
        for idx, device_id, ts, known, device_site in sorted(tally.unresolved):
            dead.append(_unresolved_reason(device_id, ts, known, device_site, p.site or "", idx))
            raws[idx] = _reading_json(items[idx])
    new_dead = 0
    if dead:
        dead.sort(key=lambda d: d.index if d.index is not None else -1)
        cur.executemany(
            _INSERT_DEAD_LETTER,
            [
                (
                    message.received_at,
                    _safe_text(message.topic),
                    decoded.gateway_id,
                    decoded.batch_id,
                    d.index,
                    d.reason,
                    _safe_text(d.detail),
                    raws[d.index] if d.index is not None else message.raw,
                    p.sha,
                )
                for d in dead
            ],
        )
        # executemany's rowcount sums the statements: 0 new rows means a redelivery.
        new_dead = cur.rowcount
    ack = Ack(
        batch_id=decoded.batch_id,
        batch_seq=decoded.batch_seq,
        stored=tally.stored,
        duplicates=tally.resolved - tally.stored,
        rejected=len(dead),
    )
    return StoreResult(
        topic=message.topic,
        message_sha256=p.sha,
        stored=tally.stored,
        duplicates=tally.resolved - tally.stored,
        rejected=len(dead),
        dead_lettered=False,
        dead_letters=tuple(dead),
        dead_letters_added=new_dead,
        changed=tuple(tally.changed),
        ack=ack,
        ack_topic=p.ack_topic,
    )


def _readings_array(raw: bytes) -> Sequence[Any]:
    # The message already parsed as a batch, so this cannot fail; it is only needed to keep the
    # verbatim JSON of readings refused after validation.
    doc = json.loads(raw)
    items = doc["readings"]
    assert isinstance(items, list)
    return items


def _unresolved_reason(
    device_id: str, ts: datetime, known: bool, device_site: str | None, site: str, idx: int
) -> DeadLetter:
    if not known:
        return DeadLetter(idx, UNKNOWN_DEVICE, f"device {device_id!r} is not registered")
    if device_site != site:
        return DeadLetter(
            idx,
            DEVICE_OF_OTHER_SITE,
            f"device {device_id!r} is registered with site {device_site!r}, "
            f"not with {site!r} whose topic carried it",
        )
    return DeadLetter(
        idx,
        DEVICE_NOT_ASSIGNED,
        f"device {device_id!r} is not assigned to any patient at {ts.isoformat()}",
    )


def _log_result(result: StoreResult, p: _Pending) -> None:
    again = "" if result.dead_letters_added else " (redelivered; kept once)"
    if result.dead_lettered:
        first = result.dead_letters[0]
        log.warning(
            "dead letter: whole message refused%s, reason=%s topic=%s batch=%s sha256=%s: %s",
            again,
            first.reason,
            _safe_text(result.topic),
            result.ack.batch_id if result.ack is not None else None,
            result.message_sha256.hex()[:16],
            _safe_text(first.detail),
        )
        return
    decoded = p.decoded
    assert decoded is not None
    if result.dead_letters:
        reasons = Counter(d.reason for d in result.dead_letters)
        first = result.dead_letters[0]
        log.warning(
            "dead letter: %d of %d readings refused%s, reasons %s, topic=%s batch=%s sha256=%s;"
            " first: #%s %s",
            len(result.dead_letters),
            len(decoded.rows) + len(decoded.rejected),
            again,
            dict(sorted(reasons.items())),
            _safe_text(result.topic),
            decoded.batch_id,
            result.message_sha256.hex()[:16],
            first.index,
            _safe_text(first.detail),
        )
    log.debug(
        "stored batch %s seq %d from %s: stored=%d duplicates=%d rejected=%d",
        decoded.batch_id,
        decoded.batch_seq,
        decoded.gateway_id,
        result.stored,
        result.duplicates,
        result.rejected,
    )
