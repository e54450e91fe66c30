"""Reading a glucometer's stored records with the Record Access Control Point, without loss or
duplicates.

The cursor is the highest sequence number the outbox holds for the device
(:meth:`gateway.Outbox.cursor`): it moves only in the transaction that stores the records, so it
never runs ahead of what is durable. Each session asks for records ``>= cursor + 1``
(``01 03 01 <N u16>``, Glucose Service v1.0 §3.4.1) and the meter notifies them in sequence order,
then indicates the Response Code (``06 00 01 01`` done, ``06 00 01 06`` none).

**Stored only as a gap-free prefix.** Records are stored in groups (``flush_every``) but never past
a damaged notification: a record whose bytes did not decode has an unknown sequence number, and
storing what follows it would move the cursor past it for good. Records after a damage wait in
memory; when the report completes, the gap is asked for again with "within range"
(``01 04 01 <low u16> <high u16>``). A record damaged in flight arrives intact the second time
(recovered); one that is damaged again is damaged in the meter's memory: it is counted as lost,
reported, and the records after it are stored. If the link drops, the gap-free prefix received so
far is stored and the rest is read again next time, from the new cursor: a transfer cut after
record 250 resumes at 251.

**Timestamps.** Every record is corrected with the one :class:`~gateway.clock.ClockCorrection`
measured at the start of the session, so a record read twice gets the same UTC time and the same
idempotency key.

**Outbox full.** :class:`~gateway.errors.OutboxFullError` from ``put()`` means nothing of that
call was stored and the cursor did not move: the session aborts the transfer (RACP Abort) and the
meter keeps the records for the next sync.

Sequence numbers are 16-bit; a cursor at 65535 (a meter that wrapped) makes the session ask for
all records, which the outbox deduplicates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError

from devices import Quality, Reading
from devices.errors import DecodeError
from devices.gatt import (
    AbortOperation,
    GlucoseMeasurement,
    GlucoseMeasurementContext,
    RacpResponse,
    RecordAccessResponse,
    RecordFilter,
    ReportStoredRecords,
    ResponseCode,
    decode_glucose_measurement,
    decode_glucose_measurement_context,
    decode_racp_response,
    encode_racp_request,
    glucose_to_readings,
    uuids,
)
from devices.gatt.racp import OpCode
from gateway.ble.errors import RacpError, SyncError
from gateway.ble.report import SyncReport
from gateway.clock import ClockCorrection
from gateway.errors import OutboxFullError
from gateway.outbox import Outbox

log = logging.getLogger(__name__)

MAX_SEQUENCE = 0xFFFF
MEASUREMENT = uuids.full_uuid(uuids.GLUCOSE_MEASUREMENT)
CONTEXT = uuids.full_uuid(uuids.GLUCOSE_MEASUREMENT_CONTEXT)
RACP = uuids.full_uuid(uuids.RECORD_ACCESS_CONTROL_POINT)


@dataclass(slots=True)
class _Record:
    measurement: GlucoseMeasurement
    context: GlucoseMeasurementContext | None = None


@dataclass(slots=True)
class _Gap:
    """Damaged notifications between the good records ``after`` and ``before`` (None: unknown)."""

    after: int | None
    before: int | None = None
    damaged: int = 1


@dataclass(slots=True)
class _Transfer:
    """The records of one report request, in arrival order, with the gaps among them."""

    records: list[_Record] = field(default_factory=list)
    gaps: list[_Gap] = field(default_factory=list)
    open_gap: _Gap | None = None
    last_seq: int | None = None


class GlucoseRecordSync:
    """One RACP session with a connected, encrypted glucometer (see module docstring).

    ``correction`` is the clock correction measured for this session. ``idle_timeout_s`` is how
    long the meter may stay silent (no record, no response) before the session gives up;
    ``flush_every`` how many records are stored per outbox commit; ``disconnected`` is set by
    the caller's bleak disconnected-callback (the session stops waiting at once).
    """

    def __init__(
        self,
        client: BleakClient,
        *,
        device_id: str,
        outbox: Outbox,
        correction: ClockCorrection,
        report: SyncReport,
        idle_timeout_s: float = 10.0,
        flush_every: int = 100,
        disconnected: asyncio.Event | None = None,
    ) -> None:
        self.client = client
        self.device_id = device_id
        self.outbox = outbox
        self.correction = correction
        self.report = report
        self.idle_timeout_s = idle_timeout_s
        self.flush_every = flush_every
        self._transfer = _Transfer()
        self._pending: _Record | None = None
        self._responses: asyncio.Queue[RacpResponse] = asyncio.Queue()
        self._activity = asyncio.Event()
        self._disconnected = disconnected or asyncio.Event()
        self._stored_upto: int | None = None
        self._flushed = 0  # records of the current transfer looked at by _flush
        self._refused = False  # the outbox refused a group: store nothing after it
        self._flush_lock = asyncio.Lock()

    # -- notifications (called by bleak on the event loop) ---------------------------------

    def _on_measurement(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        self._activity.set()
        try:
            measurement = decode_glucose_measurement(bytes(data))
        except DecodeError as exc:
            self.report.decode_errors += 1
            log.warning("%s: damaged glucose measurement skipped: %s", self.device_id, exc)
            self._close_pending()
            t = self._transfer
            if t.open_gap is None:
                t.open_gap = _Gap(after=t.last_seq)
                t.gaps.append(t.open_gap)
            else:
                t.open_gap.damaged += 1
            return
        self._close_pending()
        self.report.received += 1
        t = self._transfer
        if t.open_gap is not None:
            t.open_gap.before = measurement.sequence_number
            t.open_gap = None
        t.last_seq = measurement.sequence_number
        record = _Record(measurement)
        if measurement.context_follows:
            self._pending = record
        else:
            t.records.append(record)

    def _on_context(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        self._activity.set()
        try:
            context = decode_glucose_measurement_context(bytes(data))
        except DecodeError as exc:
            # The measurement itself is intact: keep it without its context.
            self.report.decode_errors += 1
            log.warning("%s: damaged glucose context skipped: %s", self.device_id, exc)
            self._close_pending()
            return
        pending = self._pending
        if pending is not None and pending.measurement.sequence_number == context.sequence_number:
            pending.context = context
            self._close_pending()

    def _close_pending(self) -> None:
        if self._pending is not None:
            self._transfer.records.append(self._pending)
            self._pending = None

    def _on_racp(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        self._activity.set()
        try:
            response = decode_racp_response(bytes(data))
        except DecodeError as exc:
            self.report.decode_errors += 1
            log.warning("%s: damaged RACP response skipped: %s", self.device_id, exc)
            return
        self._close_pending()
        self._responses.put_nowait(response)

    # -- the session -----------------------------------------------------------------------

    async def run(self) -> SyncReport:
        """Read every record after the cursor; the report says what happened.

        Raises :class:`~gateway.ble.errors.RacpError` when the meter refuses the request,
        :class:`~gateway.ble.errors.SyncError` when it stays silent past ``idle_timeout_s``;
        bleak errors (the link dropped) propagate after the gap-free prefix has been stored.
        """
        report = self.report
        cursor = self.outbox.cursor(self.device_id)
        report.cursor_before = cursor
        self._stored_upto = cursor
        await self.client.start_notify(MEASUREMENT, self._on_measurement)
        if self.client.services.get_characteristic(CONTEXT) is not None:
            await self.client.start_notify(CONTEXT, self._on_context)
        await self.client.start_notify(RACP, self._on_racp)
        try:
            if cursor is None or cursor >= MAX_SEQUENCE:
                wanted = RecordFilter.all_records()
            else:
                wanted = RecordFilter.seq_at_least(cursor + 1)
            await self._report(wanted)
            await self._recover_gaps()
            await self._flush(final=True)
            report.complete = True
        except OutboxFullError:
            report.reason = "outbox full: records left on the meter"
            self._refused = True
            await self._abort()
        finally:
            if not report.complete and not self._refused:
                # Whatever arrived intact before the first damage is durable now: the next
                # session resumes right after it. A measurement whose context never came is
                # intact too: it is stored without its meal.
                self._close_pending()
                await self._flush(final=False)
            report.cursor_after = self.outbox.cursor(self.device_id)
        return report

    async def _report(self, wanted: RecordFilter) -> RecordAccessResponse:
        await self.client.write_gatt_char(
            RACP, encode_racp_request(ReportStoredRecords(wanted)), response=True
        )
        while True:
            response = await self._next_response()
            if isinstance(response, RecordAccessResponse):
                if response.request_op_code != OpCode.REPORT_STORED_RECORDS:
                    continue
                if response.response_code not in (
                    ResponseCode.SUCCESS,
                    ResponseCode.NO_RECORDS_FOUND,
                ):
                    raise RacpError(
                        self.device_id,
                        int(response.request_op_code),
                        int(response.response_code),
                    )
                self._close_pending()
                return response

    async def _next_response(self) -> RacpResponse:
        """The next RACP indication; flushes full groups while records stream in."""
        while True:
            if not self._responses.empty():
                return self._responses.get_nowait()
            if len(self._transfer.records) - self._flushed >= self.flush_every:
                before = self._flushed
                await self._flush(final=False)
                if self._flushed != before:
                    continue  # responses may have come in during the commit
                # Nothing flushed: held back behind a gap until the report completes.
            if self._disconnected.is_set() or not self.client.is_connected:
                raise BleakError(f"{self.device_id}: disconnected during the transfer")
            self._activity.clear()
            woken = [
                asyncio.ensure_future(self._activity.wait()),
                asyncio.ensure_future(self._disconnected.wait()),
            ]
            done, pending = await asyncio.wait(
                woken, timeout=self.idle_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in pending:
                waiter.cancel()
            if not done:
                raise SyncError(self.device_id, f"meter silent for {self.idle_timeout_s:g} s")

    async def _recover_gaps(self) -> None:
        transfer = self._transfer
        for gap in list(transfer.gaps):
            low = (gap.after + 1) if gap.after is not None else self._first_wanted()
            high = (gap.before - 1) if gap.before is not None else None
            if high is not None and high < low:
                continue  # damaged contexts only, or duplicates: no record is missing
            again = _Transfer()
            self._transfer, saved = again, transfer
            try:
                wanted = (
                    RecordFilter.seq_at_least(low)
                    if high is None
                    else RecordFilter.seq_between(low, high)
                )
                await self._report(wanted)
            finally:
                self._transfer = saved
            good = [r for r in again.records if r.measurement.sequence_number >= low]
            self.report.recovered += len(good)
            if again.gaps:
                known = {r.measurement.sequence_number for r in good}
                if high is not None:
                    missing = [s for s in range(low, high + 1) if s not in known]
                    self.report.lost_sequences.extend(missing)
                    self.report.lost += len(missing)
                else:
                    self.report.lost += sum(g.damaged for g in again.gaps)
                log.error(
                    "%s: %d record(s) damaged in the meter's memory, skipped",
                    self.device_id,
                    self.report.lost,
                )
            transfer.records.extend(good)
            transfer.gaps.remove(gap)
        transfer.records.sort(key=lambda r: r.measurement.sequence_number)

    def _first_wanted(self) -> int:
        cursor = self.report.cursor_before
        return 1 if cursor is None or cursor >= MAX_SEQUENCE else cursor + 1

    async def _flush(self, *, final: bool) -> None:
        """Store the records not yet stored: all of them when ``final`` (gaps resolved), else
        the next ``flush_every`` at most, and only those before the first gap.

        Groups of a fixed size make what an outbox near its bound accepts independent of how
        many indications happened to arrive during the previous commit."""
        async with self._flush_lock:
            transfer = self._transfer
            upto = self._stored_upto
            taken: list[_Record] = []
            if final:
                batch = [
                    r
                    for r in transfer.records
                    if upto is None or r.measurement.sequence_number > upto
                ]
            else:
                limit: int | None = None
                if transfer.gaps:
                    first = transfer.gaps[0]
                    limit = first.after if first.after is not None else -1
                for r in transfer.records[self._flushed : self._flushed + self.flush_every]:
                    if limit is not None and r.measurement.sequence_number > limit:
                        break
                    taken.append(r)
                batch = [r for r in taken if upto is None or r.measurement.sequence_number > upto]
            if not batch:
                self._flushed += len(taken)
                return
            readings: list[Reading] = []
            for record in batch:
                readings.extend(self._readings(record))
            # OutboxFullError propagates with nothing stored and nothing marked as flushed.
            stored = await asyncio.to_thread(
                self.outbox.put, readings, clock=self.correction, clinical=True
            )
            self._flushed += len(taken)
            self.report.stored += stored
            seqs = [r.measurement.sequence_number for r in batch]
            self._stored_upto = max(seqs) if upto is None else max(upto, *seqs)
            if self.report.first_seq is None or min(seqs) < self.report.first_seq:
                self.report.first_seq = min(seqs)
            self.report.last_seq = self._stored_upto

    def _readings(self, record: _Record) -> list[Reading]:
        m = record.measurement
        flags = (Quality.CLOCK_ESTIMATED,) if self.correction.estimated else ()
        return glucose_to_readings(
            m,
            device_id=self.device_id,
            ts_fallback=self.correction.gateway_utc,
            clock=lambda device_time: self.correction.correct(device_time)[0],
            context=record.context,
            flags=flags,
        )

    async def _abort(self) -> None:
        if not self.client.is_connected:
            return
        try:
            await self.client.write_gatt_char(
                RACP, encode_racp_request(AbortOperation()), response=True
            )
            deadline = time.monotonic() + self.idle_timeout_s
            while time.monotonic() < deadline:
                response = await asyncio.wait_for(
                    self._responses.get(), max(0.0, deadline - time.monotonic())
                )
                if (
                    isinstance(response, RecordAccessResponse)
                    and response.request_op_code == OpCode.ABORT_OPERATION
                ):
                    return
        except (BleakError, TimeoutError):
            log.info("%s: RACP abort not confirmed", self.device_id)
