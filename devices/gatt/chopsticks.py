"""Homeward smart chopsticks: our vendor GATT profile (no SIG profile exists for food sensing).

The full specification, byte by byte with worked examples, is ``docs/devices/chopsticks.md``;
this module is its one implementation. It follows the SIG's conventions: a flags byte announces
optional fields, numbers are IEEE 11073 SFLOAT, times are Date Time (device-local), every record
has a uint16 sequence number, stored records are fetched through a Record Access Control Point
(0x2A52, same procedures as the Glucose Service), the battery is the standard Battery Service.

Service ``b1fd0001-4491-4d38-b3be-7a6a39df4b90``:

==============  =====================================  ===========================
characteristic  UUID                                   properties
==============  =====================================  ===========================
Bite            ``b1fd0002-4491-4d38-b3be-7a6a39df4b90``  indicate
Meal Event      ``b1fd0003-4491-4d38-b3be-7a6a39df4b90``  indicate
Feature         ``b1fd0004-4491-4d38-b3be-7a6a39df4b90``  read
RACP            0x2A52                                 write, indicate
==============  =====================================  ===========================

**Bite Measurement** (3 ... 20 bytes), one per bite the tip touched::

    flags           uint8   bit 0 Time Stamp present
                            bit 1 Oil TPM present
                            bit 2 Food Temperature present
                            bit 3 pH present
                            bit 4 Sodium present
                            bit 5 Sensor Status present
                            bits 6-7 reserved
    sequence number uint16  one counter for bites and meal events
    time stamp      Date Time (device-local), if bit 0
    oil TPM         SFLOAT  total polar material of the cooking oil, percent, if bit 1
    food temp       SFLOAT  degrees Celsius, if bit 2
    pH              SFLOAT  pH units, if bit 3
    sodium          SFLOAT  milligrams of sodium in the bite (salt = sodium x 2.54), if bit 4
    sensor status   uint16  if bit 5: bit 0 tip not in food, bit 1 probe needs cleaning,
                            bit 2 outside the temperature-compensation range, bit 3 TPM sensor
                            fault, bit 4 pH sensor fault, bit 5 conductivity (sodium) sensor
                            fault, bit 6 battery low, bit 7 device clock not set; 8-15 reserved

**Meal Event** (4 ... 15 bytes)::

    flags           uint8   bit 0 Time Stamp present, bit 1 Meal Summary present, 2-7 reserved
    sequence number uint16  same counter as the bites
    event           uint8   1 meal started, 2 meal ended; 0 and 3-255 reserved
    time stamp      Date Time, if bit 0
    meal summary    if bit 1 (sent with "meal ended"): bite count uint16,
                    total sodium SFLOAT milligrams

**Chopsticks Feature** (uint16): bit 0 oil TPM, 1 food temperature, 2 pH, 3 sodium sensors,
4 time stamps, 5 stored records (RACP), 6 meal events; 7-15 reserved.

Like the SIG codecs: fields the flags announce but the bytes lack are a ``DecodeError``;
reserved bits are ignored or kept, trailing bytes ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, IntFlag

from devices.gatt._convert import DeviceClock, numeric_reading, reading_time
from devices.gatt._wire import U16, check_uint, enum_or_int, flags_of, truncated
from devices.gatt.current_time import DATE_TIME_SIZE, date_time_from_bytes, date_time_to_bytes
from devices.gatt.sfloat import Numeric, decode_sfloat, encode_sfloat
from devices.reading import Quality, Reading

__all__ = [
    "BiteMeasurement",
    "ChopsticksFeature",
    "ChopsticksSensorStatus",
    "MealEvent",
    "MealEventType",
    "MealSummary",
    "bite_to_readings",
    "chopsticks_status_flags",
    "decode_bite_measurement",
    "decode_chopsticks_feature",
    "decode_meal_event",
    "encode_bite_measurement",
    "encode_chopsticks_feature",
    "encode_meal_event",
    "meal_event_to_readings",
]


class ChopsticksSensorStatus(IntFlag):
    """Bite Measurement sensor status (bits 8-15 reserved, kept as received)."""

    NONE = 0
    TIP_NOT_IN_FOOD = 1 << 0
    PROBE_NEEDS_CLEANING = 1 << 1
    OUTSIDE_COMPENSATION_RANGE = 1 << 2
    TPM_SENSOR_FAULT = 1 << 3
    PH_SENSOR_FAULT = 1 << 4
    CONDUCTIVITY_SENSOR_FAULT = 1 << 5
    BATTERY_LOW = 1 << 6
    DEVICE_CLOCK_NOT_SET = 1 << 7


class MealEventType(IntEnum):
    """Meal Event ``event`` byte (0 and 3-255 reserved)."""

    MEAL_STARTED = 1
    MEAL_ENDED = 2


class ChopsticksFeature(IntFlag):
    """Chopsticks Feature (uint16; bits 7-15 reserved, kept as received)."""

    NONE = 0
    OIL_TPM = 1 << 0
    FOOD_TEMPERATURE = 1 << 1
    PH = 1 << 2
    SODIUM = 1 << 3
    TIME_STAMP = 1 << 4
    STORED_RECORDS = 1 << 5
    MEAL_EVENTS = 1 << 6


@dataclass(frozen=True, slots=True)
class BiteMeasurement:
    """One bite: whichever quantities the tip measured (``None`` when not measured).

    ``oil_tpm_pct`` percent total polar material, ``food_temperature_c`` degrees Celsius,
    ``ph`` pH units, ``sodium_mg`` milligrams, each an SFLOAT value or :class:`Special`.
    ``timestamp`` is naive device-local time.
    """

    sequence_number: int
    timestamp: datetime | None = None
    oil_tpm_pct: Numeric | None = None
    food_temperature_c: Numeric | None = None
    ph: Numeric | None = None
    sodium_mg: Numeric | None = None
    sensor_status: ChopsticksSensorStatus | None = None


@dataclass(frozen=True, slots=True)
class MealSummary:
    """Sent with a meal's end: bites taken and total sodium (milligrams)."""

    bite_count: int
    total_sodium_mg: Numeric


@dataclass(frozen=True, slots=True)
class MealEvent:
    """A meal started or ended. ``event`` is a :class:`MealEventType` or a reserved integer."""

    sequence_number: int
    event: MealEventType | int
    timestamp: datetime | None = None
    summary: MealSummary | None = None


_B_TIME = 0x01
_B_TPM = 0x02
_B_TEMP = 0x04
_B_PH = 0x08
_B_SODIUM = 0x10
_B_STATUS = 0x20

_M_TIME = 0x01
_M_SUMMARY = 0x02

_BITE_VALUES = (
    (_B_TPM, "Oil TPM"),
    (_B_TEMP, "Food Temperature"),
    (_B_PH, "pH"),
    (_B_SODIUM, "Sodium"),
)


def decode_bite_measurement(data: bytes) -> BiteMeasurement:
    """Decode a Bite Measurement value."""
    data = bytes(data)
    n = len(data)
    if n < 3:
        raise truncated(data, "Bite Measurement", 0, 3)
    flags = data[0]
    seq = U16.unpack_from(data, 1)[0]
    i = 3
    timestamp: datetime | None = None
    if flags & _B_TIME:
        timestamp = date_time_from_bytes(data, i)
        i += DATE_TIME_SIZE
    values: list[Numeric | None] = []
    for bit, name in _BITE_VALUES:
        if flags & bit:
            if n < i + 2:
                raise truncated(data, name, i, 2)
            values.append(decode_sfloat(U16.unpack_from(data, i)[0]))
            i += 2
        else:
            values.append(None)
    status: ChopsticksSensorStatus | None = None
    if flags & _B_STATUS:
        if n < i + 2:
            raise truncated(data, "Sensor Status", i, 2)
        status = flags_of(ChopsticksSensorStatus, U16.unpack_from(data, i)[0])
    tpm, temp, ph, sodium = values
    return BiteMeasurement(seq, timestamp, tpm, temp, ph, sodium, status)


def encode_bite_measurement(m: BiteMeasurement) -> bytes:
    """Encode a Bite Measurement value."""
    flags = 0
    out = bytearray(1) + U16.pack(check_uint("Sequence Number", m.sequence_number, 16))
    if m.timestamp is not None:
        flags |= _B_TIME
        out += date_time_to_bytes(m.timestamp)
    for (bit, _name), value in zip(
        _BITE_VALUES, (m.oil_tpm_pct, m.food_temperature_c, m.ph, m.sodium_mg), strict=True
    ):
        if value is not None:
            flags |= bit
            out += U16.pack(encode_sfloat(value))
    if m.sensor_status is not None:
        flags |= _B_STATUS
        out += U16.pack(check_uint("Sensor Status", int(m.sensor_status), 16))
    out[0] = flags
    return bytes(out)


def decode_meal_event(data: bytes) -> MealEvent:
    """Decode a Meal Event value."""
    data = bytes(data)
    n = len(data)
    if n < 4:
        raise truncated(data, "Meal Event", 0, 4)
    flags = data[0]
    seq = U16.unpack_from(data, 1)[0]
    event = enum_or_int(MealEventType, data[3])
    i = 4
    timestamp: datetime | None = None
    if flags & _M_TIME:
        timestamp = date_time_from_bytes(data, i)
        i += DATE_TIME_SIZE
    summary: MealSummary | None = None
    if flags & _M_SUMMARY:
        if n < i + 4:
            raise truncated(data, "Meal Summary", i, 4)
        summary = MealSummary(
            U16.unpack_from(data, i)[0], decode_sfloat(U16.unpack_from(data, i + 2)[0])
        )
    return MealEvent(seq, event, timestamp, summary)


def encode_meal_event(m: MealEvent) -> bytes:
    """Encode a Meal Event value."""
    flags = 0
    out = bytearray(1) + U16.pack(check_uint("Sequence Number", m.sequence_number, 16))
    out.append(check_uint("Event", int(m.event), 8))
    if m.timestamp is not None:
        flags |= _M_TIME
        out += date_time_to_bytes(m.timestamp)
    if m.summary is not None:
        flags |= _M_SUMMARY
        out += U16.pack(check_uint("Bite Count", m.summary.bite_count, 16))
        out += U16.pack(encode_sfloat(m.summary.total_sodium_mg))
    out[0] = flags
    return bytes(out)


def decode_chopsticks_feature(data: bytes) -> ChopsticksFeature:
    """Decode a Chopsticks Feature value (2 bytes; trailing bytes ignored)."""
    data = bytes(data)
    if len(data) < 2:
        raise truncated(data, "Chopsticks Feature", 0, 2)
    return flags_of(ChopsticksFeature, U16.unpack_from(data, 0)[0])


def encode_chopsticks_feature(features: ChopsticksFeature) -> bytes:
    """Encode a Chopsticks Feature value."""
    return U16.pack(check_uint("Chopsticks Feature", int(features), 16))


_ALL_VALUES = ("food_oil_tpm", "food_temperature", "food_ph", "food_sodium")


def chopsticks_status_flags(
    status: ChopsticksSensorStatus | None,
) -> dict[str, frozenset[Quality]]:
    """Quality flags per bite metric for a sensor status (a sensor's fault flags its value only).

    Tip not in food -> ``invalid`` (nothing was measured); probe needs cleaning and outside the
    compensation range -> ``measurement_issue``; a sensor fault -> ``device_fault`` on that
    sensor's metric; battery low -> ``low_battery``; clock not set -> ``time_fault``.
    """
    out: dict[str, set[Quality]] = {metric: set() for metric in _ALL_VALUES}
    if not status:
        return {k: frozenset(v) for k, v in out.items()}
    every: set[Quality] = set()
    if status & ChopsticksSensorStatus.TIP_NOT_IN_FOOD:
        every.add(Quality.INVALID)
    if status & (
        ChopsticksSensorStatus.PROBE_NEEDS_CLEANING
        | ChopsticksSensorStatus.OUTSIDE_COMPENSATION_RANGE
    ):
        every.add(Quality.MEASUREMENT_ISSUE)
    if status & ChopsticksSensorStatus.BATTERY_LOW:
        every.add(Quality.LOW_BATTERY)
    if status & ChopsticksSensorStatus.DEVICE_CLOCK_NOT_SET:
        every.add(Quality.TIME_FAULT)
    for metric in _ALL_VALUES:
        out[metric] |= every
    if status & ChopsticksSensorStatus.TPM_SENSOR_FAULT:
        out["food_oil_tpm"].add(Quality.DEVICE_FAULT)
    if status & ChopsticksSensorStatus.PH_SENSOR_FAULT:
        out["food_ph"].add(Quality.DEVICE_FAULT)
    if status & ChopsticksSensorStatus.CONDUCTIVITY_SENSOR_FAULT:
        out["food_sodium"].add(Quality.DEVICE_FAULT)
    return {k: frozenset(v) for k, v in out.items()}


def bite_to_readings(
    m: BiteMeasurement,
    *,
    device_id: str,
    ts_fallback: datetime,
    seq: int | None = None,
    clock: DeviceClock | None = None,
    flags: Iterable[str] = (),
) -> list[Reading]:
    """One reading per measured quantity: ``food_oil_tpm``, ``food_temperature``, ``food_ph``,
    ``food_sodium``. ``seq`` defaults to the record's sequence number; time as for glucose."""
    ts = reading_time(m.timestamp, ts_fallback=ts_fallback, clock=clock)
    per_metric = chopsticks_status_flags(m.sensor_status)
    record_seq = m.sequence_number if seq is None else seq
    common = set(flags)
    out: list[Reading] = []
    for metric, value, unit in (
        ("food_oil_tpm", m.oil_tpm_pct, "%"),
        ("food_temperature", m.food_temperature_c, "Cel"),
        ("food_ph", m.ph, "[pH]"),
        ("food_sodium", m.sodium_mg, "mg"),
    ):
        if value is not None:
            out.append(
                numeric_reading(
                    device_id=device_id,
                    metric=metric,
                    value=value,
                    unit=unit,
                    ts=ts,
                    seq=record_seq,
                    flags=common | per_metric[metric],
                )
            )
    return out


def meal_event_to_readings(
    m: MealEvent,
    *,
    device_id: str,
    ts_fallback: datetime,
    seq: int | None = None,
    clock: DeviceClock | None = None,
    flags: Iterable[str] = (),
) -> list[Reading]:
    """``meal_event`` (1 started, 2 ended) and, with a summary, ``meal_bites`` and
    ``meal_sodium``. A reserved event value is kept as its number (flagged ``implausible`` by the
    catalog's 1 ... 2 range)."""
    ts = reading_time(m.timestamp, ts_fallback=ts_fallback, clock=clock)
    record_seq = m.sequence_number if seq is None else seq
    common = set(flags)
    out = [
        numeric_reading(
            device_id=device_id,
            metric="meal_event",
            value=float(int(m.event)),
            unit="{event}",
            ts=ts,
            seq=record_seq,
            flags=common,
        )
    ]
    if m.summary is not None:
        out.append(
            numeric_reading(
                device_id=device_id,
                metric="meal_bites",
                value=float(m.summary.bite_count),
                unit="{bites}",
                ts=ts,
                seq=record_seq,
                flags=common,
            )
        )
        out.append(
            numeric_reading(
                device_id=device_id,
                metric="meal_sodium",
                value=m.summary.total_sodium_mg,
                unit="mg",
                ts=ts,
                seq=record_seq,
                flags=common,
            )
        )
    return out
