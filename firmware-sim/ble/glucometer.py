"""An emulated blood glucose meter: Glucose Service 0x1808 with stored records read by RACP.

What a real meter does, over real ATT PDUs:

* it keeps every fingerstick as a **record** with a 16-bit sequence number, stamped with its own
  (possibly wrong) clock at the moment of the test: a clock corrected later does not change the
  stamps already taken;
* the collector subscribes to Glucose Measurement (notify), Glucose Measurement Context (notify)
  and the Record Access Control Point (indicate), all over an **encrypted, bonded** link (the
  service's security requirement, Glucose Service v1.0 §2.3): the CCCDs themselves require
  encryption;
* a RACP write (Glucose Service v1.0 §3.4) starts a procedure: "report stored records" notifies
  each selected record (and its context) and then indicates a Response Code (``06 00 01 01``,
  or ``06 00 01 06`` when none matched); "report number of stored records" indicates the count;
  "delete" removes; "abort" stops the report in progress. A second request while one runs is
  refused with the ATT error *Procedure Already In Progress* (0xFE), a write while RACP
  indications are off with *Client Characteristic Configuration Descriptor Improperly Configured*
  (0xFD) (GATT Specification Supplement, RACP behaviour; Core Spec Supplement Part B, 1.2);
* the Current Time Service 0x1805 exposes its clock; writable only if the meter allows it.

Values come from :func:`firmware_sim.signals.glucose_mmol_l`, four fingersticks a day (fasting
06:45, 2 h after breakfast 09:15, before dinner 17:15, bedtime 21:00 local time), sent in mol/L
with 0.1 mmol/L resolution as meters sold in China display it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bumble import att, gatt
from bumble.device import Connection
from bumble.link import LocalLink

from devices.gatt import (
    AbortOperation,
    DeleteStoredRecords,
    GlucoseConcentrationUnit,
    GlucoseFeature,
    GlucoseMeasurement,
    GlucoseMeasurementContext,
    GlucoseSensorStatus,
    GlucoseType,
    Meal,
    NumberOfStoredRecords,
    RacpRequestError,
    RacpResponse,
    RecordAccessResponse,
    ReportNumberOfStoredRecords,
    ReportStoredRecords,
    ResponseCode,
    SampleLocation,
    Special,
    decode_racp_request,
    encode_glucose_feature,
    encode_glucose_measurement,
    encode_glucose_measurement_context,
    encode_racp_response,
    refusal_for,
    select_records,
    uuids,
)
from devices.gatt.racp import OpCode
from firmware_sim.ble._peripheral import Peripheral, Properties, uuid16
from firmware_sim.ble.clock import DeviceClock
from firmware_sim.ble.faults import LOW_BATTERY_PCT, Faults
from firmware_sim.errors import ParameterError
from firmware_sim.signals import DailyRoutine, GlucoseProfile, glucose_mmol_l
from firmware_sim.signals.glucose import METER_MAX_MMOL_L, METER_MIN_MMOL_L

log = logging.getLogger(__name__)

# Fingerstick times of one day (local hour) and the meal context each is taken in.
SCHEDULE: tuple[tuple[float, Meal], ...] = (
    (6.75, Meal.FASTING),
    (9.25, Meal.POSTPRANDIAL),
    (17.25, Meal.PREPRANDIAL),
    (21.0, Meal.BEDTIME),
)
# Sequence numbers are uint16 (Glucose Measurement, GSS): the meter counts 1 … 65535.
MAX_SEQUENCE = 0xFFFF
_DAY_S = 86400.0
# mol/L with exponent -4: 0.1 mmol/L steps, what a mmol/L meter shows.
_MOL_PER_L_EXPONENT = -4


@dataclass(frozen=True, slots=True)
class GlucoseRecord:
    """One stored test: ``sequence_number``, the true instant ``taken_s`` (epoch s), the meter's
    clock reading then (``device_time``, naive local), the value in mmol/L and its meal."""

    sequence_number: int
    taken_s: float
    device_time: datetime
    mmol_l: float
    meal: Meal

    def measurement(self) -> GlucoseMeasurement:
        # Outside its range a meter shows HI / LO: +INF / -INF with the matching annunciation.
        status: GlucoseSensorStatus | None = None
        concentration: float | Special = round(self.mmol_l / 1000.0, 7)
        if self.mmol_l >= METER_MAX_MMOL_L:
            status, concentration = GlucoseSensorStatus.RESULT_TOO_HIGH, Special.POS_INF
        elif self.mmol_l <= METER_MIN_MMOL_L:
            status, concentration = GlucoseSensorStatus.RESULT_TOO_LOW, Special.NEG_INF
        return GlucoseMeasurement(
            sequence_number=self.sequence_number,
            base_time=self.device_time,
            time_offset_min=0,
            concentration=concentration,
            unit=GlucoseConcentrationUnit.MOL_PER_L,
            type=GlucoseType.CAPILLARY_WHOLE_BLOOD,
            sample_location=SampleLocation.FINGER,
            sensor_status=status,
            context_follows=True,
        )

    def context(self) -> GlucoseMeasurementContext:
        return GlucoseMeasurementContext(sequence_number=self.sequence_number, meal=self.meal)


class Glucometer(Peripheral):
    """A glucose meter holding ``records`` fingersticks at start, values from ``seed``.

    ``first_day_s`` is the local midnight (epoch s) of the day of the first record; by default far
    enough back that 400 more records (``add_records``) still lie in the past. ``record_interval_s``
    paces a transfer (seconds between records; 0: as fast as the link takes them).
    """

    advertised_services = (uuids.GLUCOSE_SERVICE,)
    requires_bond = True
    has_current_time = True

    def __init__(
        self,
        link: LocalLink,
        *,
        address: str,
        name: str = "Glucometer",
        seed: int = 1,
        records: int = 0,
        profile: GlucoseProfile | None = None,
        routine: DailyRoutine | None = None,
        first_day_s: float | None = None,
        record_interval_s: float = 0.0,
        faults: Faults | None = None,
        clock: DeviceClock | None = None,
        keystore_path: Path | None = None,
    ) -> None:
        super().__init__(
            link,
            address=address,
            name=name,
            faults=faults,
            clock=clock,
            keystore_path=keystore_path,
        )
        if records < 0 or records > MAX_SEQUENCE:
            raise ParameterError("records", records, f"must be within 0-{MAX_SEQUENCE}")
        if not (math.isfinite(record_interval_s) and record_interval_s >= 0.0):
            raise ParameterError("record_interval_s", record_interval_s, "must be ≥ 0 s")
        self.seed = seed
        self.profile = profile or GlucoseProfile()
        self.routine = routine or DailyRoutine()
        self.record_interval_s = record_interval_s
        if first_day_s is None:
            now_local = self.clock.wall() + self.routine.utc_offset_s
            days_back = math.ceil((records + 400) / len(SCHEDULE)) + 1
            first_day_s = (now_local // _DAY_S - days_back) * _DAY_S - self.routine.utc_offset_s
        self.first_day_s = first_day_s
        self.records: list[GlucoseRecord] = []
        self.requests: list[bytes] = []
        self.responses: list[RacpResponse] = []
        self._slot = 0
        self._procedure: asyncio.Task[None] | None = None
        # A procedure is over once its final indication is on the air: the collector may
        # write the next request before this side has processed the confirmation.
        self._busy = False
        self._abort = asyncio.Event()
        self.add_records(records)

    # -- records ---------------------------------------------------------------------------

    def add_records(self, count: int) -> list[GlucoseRecord]:
        """Take the next ``count`` scheduled fingersticks (while no gateway is looking)."""
        slots = range(self._slot, self._slot + count)
        self._slot += count
        times = [
            self.first_day_s + (k // len(SCHEDULE)) * _DAY_S + SCHEDULE[k % len(SCHEDULE)][0] * 3600
            for k in slots
        ]
        values = glucose_mmol_l(times, seed=self.seed, profile=self.profile, routine=self.routine)
        added = []
        for k, taken_s, value in zip(slots, times, values.tolist(), strict=True):
            added.append(self._store(taken_s, float(value), SCHEDULE[k % len(SCHEDULE)][1]))
        return added

    def measure_now(self, meal: Meal = Meal.CASUAL) -> GlucoseRecord:
        """A fingerstick taken now (true time from the clock's wall)."""
        taken_s = self.clock.wall()
        value = float(glucose_mmol_l([taken_s], seed=self.seed, profile=self.profile)[0])
        return self._store(taken_s, value, meal)

    def record(self, taken_s: float, mmol_l: float, meal: Meal = Meal.CASUAL) -> GlucoseRecord:
        """A fingerstick with a value chosen by the caller (a scripted hypo, say), taken at
        ``taken_s`` (true epoch s). At or below the meter's range (``METER_MIN_MMOL_L``) it is
        stored, and later sent, as "LO"; at or above ``METER_MAX_MMOL_L`` as "HI"."""
        if not math.isfinite(taken_s) or not math.isfinite(mmol_l) or mmol_l < 0.0:
            raise ParameterError("mmol_l", mmol_l, "must be a finite, non-negative value")
        return self._store(taken_s, mmol_l, meal)

    def _store(self, taken_s: float, mmol_l: float, meal: Meal) -> GlucoseRecord:
        seq = self.records[-1].sequence_number + 1 if self.records else 1
        if seq > MAX_SEQUENCE:
            raise ParameterError("records", seq, "the meter's 16-bit sequence number is exhausted")
        record = GlucoseRecord(
            sequence_number=seq,
            taken_s=taken_s,
            device_time=self.clock.local_at(taken_s).replace(microsecond=0),
            mmol_l=mmol_l,
            meal=meal,
        )
        self.records.append(record)
        return record

    # -- GATT ------------------------------------------------------------------------------

    def _services(self) -> Sequence[gatt.Service]:
        self.measurement_char = self._characteristic(
            uuids.GLUCOSE_MEASUREMENT, Properties.NOTIFY, value=b""
        )
        self.context_char = self._characteristic(
            uuids.GLUCOSE_MEASUREMENT_CONTEXT, Properties.NOTIFY, value=b""
        )
        feature = (
            GlucoseFeature.LOW_BATTERY_DETECTION | GlucoseFeature.SENSOR_RESULT_HIGH_LOW_DETECTION
        )
        self.feature_char = self._characteristic(
            uuids.GLUCOSE_FEATURE, Properties.READ, value=encode_glucose_feature(feature)
        )
        self.racp_char = self._characteristic(
            uuids.RECORD_ACCESS_CONTROL_POINT,
            Properties.WRITE | Properties.INDICATE,
            write=self._on_racp_write,
        )
        return [
            gatt.Service(
                uuid16(uuids.GLUCOSE_SERVICE),
                [self.measurement_char, self.context_char, self.feature_char, self.racp_char],
            ),
        ]

    # -- RACP server -----------------------------------------------------------------------

    def _indications_on(self, connection: Connection) -> bool:
        cccd = self.device.gatt_server.read_cccd(connection, self.racp_char)
        return len(cccd) == 2 and bool(cccd[0] & 0x02)

    def _on_racp_write(self, connection: Connection | None, value: bytes) -> None:
        if connection is None:
            return
        data = bytes(value)
        self.requests.append(data)
        if not self._indications_on(connection):
            raise att.ATT_Error(error_code=0xFD)  # CCCD Improperly Configured
        try:
            request = decode_racp_request(data)
        except RacpRequestError as error:
            refusal = refusal_for(error)
            if refusal is not None:
                self._spawn(self._indicate(connection, refusal))
            return
        busy = self._busy
        if isinstance(request, AbortOperation):
            self._spawn(self._abort_procedure(connection))
            return
        if busy:
            raise att.ATT_Error(error_code=0xFE)  # Procedure Already In Progress
        self._abort.clear()
        self._busy = True
        # Runs after this write's response has gone out (the task starts on the next loop turn).
        self._procedure = asyncio.get_running_loop().create_task(
            self._run_procedure(connection, request)
        )
        self._procedure.add_done_callback(self._done)

    async def _run_procedure(
        self,
        connection: Connection,
        request: ReportStoredRecords | DeleteStoredRecords | ReportNumberOfStoredRecords,
    ) -> None:
        selected = select_records(
            request.filter,
            self.records,
            sequence_number=lambda r: r.sequence_number,
            user_facing_time=lambda r: r.device_time,
        )
        if isinstance(request, ReportNumberOfStoredRecords):
            await self._finish(connection, NumberOfStoredRecords(len(selected)))
            return
        op = (
            OpCode.REPORT_STORED_RECORDS
            if isinstance(request, ReportStoredRecords)
            else OpCode.DELETE_STORED_RECORDS
        )
        if not selected:
            await self._finish(connection, RecordAccessResponse(op, ResponseCode.NO_RECORDS_FOUND))
            return
        if isinstance(request, DeleteStoredRecords):
            gone = {r.sequence_number for r in selected}
            self.records = [r for r in self.records if r.sequence_number not in gone]
            await self._finish(connection, RecordAccessResponse(op, ResponseCode.SUCCESS))
            return
        for record in selected:
            if self._abort.is_set():
                self._busy = False
                return
            if not await self._send_record(connection, record):
                return
            await asyncio.sleep(self.record_interval_s)
        await self._finish(connection, RecordAccessResponse(op, ResponseCode.SUCCESS))

    async def _send_record(self, connection: Connection, record: GlucoseRecord) -> bool:
        measurement = record.measurement()
        if self.battery_pct <= LOW_BATTERY_PCT:
            status = (measurement.sensor_status or GlucoseSensorStatus.NONE) | (
                GlucoseSensorStatus.DEVICE_BATTERY_LOW
            )
            measurement = dataclasses.replace(measurement, sensor_status=status)
        value = encode_glucose_measurement(measurement, concentration_exponent=_MOL_PER_L_EXPONENT)
        sent = await self._send_measurement(
            connection, self.measurement_char, value, count=record.sequence_number
        )
        if not sent:
            return False
        if self._connection is not connection:
            return False
        await self.device.notify_subscriber(
            connection, self.context_char, encode_glucose_measurement_context(record.context())
        )
        self.stats.notifications += 1
        return True

    async def _abort_procedure(self, connection: Connection) -> None:
        procedure = self._procedure
        if procedure is not None and not procedure.done():
            self._abort.set()
            await asyncio.wait([procedure])
        await self._indicate(
            connection, RecordAccessResponse(OpCode.ABORT_OPERATION, ResponseCode.SUCCESS)
        )

    async def _finish(self, connection: Connection, response: RacpResponse) -> None:
        """Indicate a procedure's final response; the procedure is over from now on."""
        self._busy = False
        await self._indicate(connection, response)

    async def _indicate(self, connection: Connection, response: RacpResponse) -> None:
        if self._connection is not connection:
            return
        self.responses.append(response)
        try:
            await self.device.indicate_subscriber(
                connection, self.racp_char, encode_racp_response(response)
            )
            self.stats.indications += 1
        except TimeoutError:
            log.info("%s: RACP indication not confirmed", self.name)

    def on_disconnected(self, connection: Connection) -> None:
        self._busy = False
        procedure = self._procedure
        if procedure is not None and not procedure.done():
            procedure.cancel()
