"""Blood Pressure Service 0x1810: Measurement 0x2A35, Intermediate Cuff Pressure 0x2A36, Feature.

Blood Pressure Feature is 0x2A49. Layout (Blood Pressure Service v1.0; GSS "Blood
Pressure Measurement"; byte by byte in ``docs/devices/blood-pressure-measurement.md``)::

    flags            uint8    bit 0 unit: 0 = mmHg, 1 = kPa
                              bit 1 Time Stamp present
                              bit 2 Pulse Rate present
                              bit 3 User ID present
                              bit 4 Measurement Status present
                              bits 5-7 reserved
    systolic         SFLOAT   (cuff pressure in the Intermediate Cuff Pressure)
    diastolic        SFLOAT   (unused in the Intermediate Cuff Pressure: NaN)
    mean arterial    SFLOAT   (unused in the Intermediate Cuff Pressure: NaN)
    time stamp       Date Time, device-local, if bit 1
    pulse rate       SFLOAT   beats per minute, if bit 2
    user id          uint8    0 ... 254, 255 = unknown user, if bit 3
    measurement status uint16 if bit 4:
                              bit 0 body movement during measurement
                              bit 1 cuff too loose
                              bit 2 irregular pulse detected
                              bits 3-4 pulse rate range: 0 within, 1 above the upper limit,
                                       2 below the lower limit, 3 reserved
                              bit 5 improper measurement position
                              bits 6-15 reserved

Readings: body movement, loose cuff and improper position flag every value
``measurement_issue``; an irregular pulse flags them ``irregular_pulse`` (screening for atrial
fibrillation matters in this population); the pulse rate range puts ``pos_inf`` / ``neg_inf`` on
the pulse rate. Intermediate Cuff Pressure is the cuff's live pressure while it inflates: it is
decoded for display and for the simulator, and never becomes a reading.

A cuff shared by two people sends a User ID; which user belongs to which patient is enrolment
(gateway) business, not the codec's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, IntFlag

from devices.gatt._convert import DeviceClock, numeric_reading, reading_time
from devices.gatt._wire import U16, check_uint, flags_of, truncated
from devices.gatt.current_time import DATE_TIME_SIZE, date_time_from_bytes, date_time_to_bytes
from devices.gatt.sfloat import Numeric, Special, decode_sfloat, encode_sfloat
from devices.reading import Quality, Reading

__all__ = [
    "UNKNOWN_USER",
    "BloodPressureFeature",
    "BloodPressureMeasurement",
    "BloodPressureStatus",
    "BloodPressureUnit",
    "IntermediateCuffPressure",
    "blood_pressure_status_flags",
    "blood_pressure_to_readings",
    "decode_blood_pressure_feature",
    "decode_blood_pressure_measurement",
    "decode_intermediate_cuff_pressure",
    "encode_blood_pressure_feature",
    "encode_blood_pressure_measurement",
    "encode_intermediate_cuff_pressure",
]

UNKNOWN_USER = 0xFF  # GSS "Blood Pressure Measurement", User ID: 255 = unknown user


class BloodPressureUnit(IntEnum):
    """Flags bit 0: the unit of systolic, diastolic and mean arterial pressure."""

    MMHG = 0
    KPA = 1


class BloodPressureStatus(IntFlag):
    """Measurement Status bits; the 2-bit pulse rate range is bits 3 (above) and 4 (below)."""

    NONE = 0
    BODY_MOVEMENT = 1 << 0
    CUFF_TOO_LOOSE = 1 << 1
    IRREGULAR_PULSE = 1 << 2
    PULSE_RATE_ABOVE_UPPER_LIMIT = 1 << 3  # range field value 1
    PULSE_RATE_BELOW_LOWER_LIMIT = 1 << 4  # range field value 2 (3 is reserved)
    IMPROPER_MEASUREMENT_POSITION = 1 << 5


class BloodPressureFeature(IntFlag):
    """Blood Pressure Feature 0x2A49 (uint16; bits 6-15 reserved, kept as received)."""

    NONE = 0
    BODY_MOVEMENT_DETECTION = 1 << 0
    CUFF_FIT_DETECTION = 1 << 1
    IRREGULAR_PULSE_DETECTION = 1 << 2
    PULSE_RATE_RANGE_DETECTION = 1 << 3
    MEASUREMENT_POSITION_DETECTION = 1 << 4
    MULTIPLE_BOND = 1 << 5


_F_KPA = 0x01
_F_TIME = 0x02
_F_PULSE = 0x04
_F_USER = 0x08
_F_STATUS = 0x10


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """One Blood Pressure Measurement (indicated when the cuff finishes).

    Pressures are in ``unit`` (mmHg or kPa) as sent, or a :class:`Special`. ``timestamp`` is
    naive device-local time (``None`` when absent or not known), ``pulse_rate_bpm`` in beats per
    minute, ``user_id`` 0 ... 255 (:data:`UNKNOWN_USER`), optional fields ``None`` when absent.
    """

    systolic: Numeric
    diastolic: Numeric
    mean_arterial: Numeric
    unit: BloodPressureUnit = BloodPressureUnit.MMHG
    timestamp: datetime | None = None
    pulse_rate_bpm: Numeric | None = None
    user_id: int | None = None
    status: BloodPressureStatus | None = None


@dataclass(frozen=True, slots=True)
class IntermediateCuffPressure:
    """One Intermediate Cuff Pressure notification: the cuff's pressure while measuring."""

    cuff_pressure: Numeric
    unit: BloodPressureUnit = BloodPressureUnit.MMHG
    timestamp: datetime | None = None
    pulse_rate_bpm: Numeric | None = None
    user_id: int | None = None
    status: BloodPressureStatus | None = None


_Fields = tuple[
    int,
    Numeric,
    Numeric,
    Numeric,
    datetime | None,
    Numeric | None,
    int | None,
    BloodPressureStatus | None,
]


def _decode(data: bytes, name: str) -> _Fields:
    n = len(data)
    if n < 7:
        raise truncated(data, name, 0, 7)
    flags = data[0]
    a, b, c = (decode_sfloat(U16.unpack_from(data, k)[0]) for k in (1, 3, 5))
    i = 7
    timestamp: datetime | None = None
    if flags & _F_TIME:
        timestamp = date_time_from_bytes(data, i)
        i += DATE_TIME_SIZE
    pulse: Numeric | None = None
    if flags & _F_PULSE:
        if n < i + 2:
            raise truncated(data, "Pulse Rate", i, 2)
        pulse = decode_sfloat(U16.unpack_from(data, i)[0])
        i += 2
    user: int | None = None
    if flags & _F_USER:
        if n < i + 1:
            raise truncated(data, "User ID", i, 1)
        user = data[i]
        i += 1
    status: BloodPressureStatus | None = None
    if flags & _F_STATUS:
        if n < i + 2:
            raise truncated(data, "Measurement Status", i, 2)
        status = flags_of(BloodPressureStatus, U16.unpack_from(data, i)[0])
    return flags, a, b, c, timestamp, pulse, user, status


def _encode(
    pressures: tuple[Numeric, Numeric, Numeric],
    unit: BloodPressureUnit,
    timestamp: datetime | None,
    pulse: Numeric | None,
    user: int | None,
    status: BloodPressureStatus | None,
    exponent: int | None,
) -> bytes:
    flags = _F_KPA if unit == BloodPressureUnit.KPA else 0
    out = bytearray(1)
    for p in pressures:
        out += U16.pack(encode_sfloat(p, exponent=None if isinstance(p, Special) else exponent))
    if timestamp is not None:
        flags |= _F_TIME
        out += date_time_to_bytes(timestamp)
    if pulse is not None:
        flags |= _F_PULSE
        out += U16.pack(encode_sfloat(pulse))
    if user is not None:
        flags |= _F_USER
        out.append(check_uint("User ID", user, 8))
    if status is not None:
        flags |= _F_STATUS
        out += U16.pack(check_uint("Measurement Status", int(status), 16))
    out[0] = flags
    return bytes(out)


def decode_blood_pressure_measurement(data: bytes) -> BloodPressureMeasurement:
    """Decode a Blood Pressure Measurement 0x2A35 value (7 ... 19 bytes)."""
    flags, sys_, dia, mean, ts, pulse, user, status = _decode(
        bytes(data), "Blood Pressure Measurement"
    )
    return BloodPressureMeasurement(
        systolic=sys_,
        diastolic=dia,
        mean_arterial=mean,
        unit=BloodPressureUnit.KPA if flags & _F_KPA else BloodPressureUnit.MMHG,
        timestamp=ts,
        pulse_rate_bpm=pulse,
        user_id=user,
        status=status,
    )


def encode_blood_pressure_measurement(
    m: BloodPressureMeasurement, *, pressure_exponent: int | None = None
) -> bytes:
    """Encode a Blood Pressure Measurement 0x2A35 value.

    ``pressure_exponent`` fixes the SFLOAT resolution of the three pressures (cuffs send whole
    mmHg: exponent 0; kPa with one decimal: -1).
    """
    return _encode(
        (m.systolic, m.diastolic, m.mean_arterial),
        m.unit,
        m.timestamp,
        m.pulse_rate_bpm,
        m.user_id,
        m.status,
        pressure_exponent,
    )


def decode_intermediate_cuff_pressure(data: bytes) -> IntermediateCuffPressure:
    """Decode an Intermediate Cuff Pressure 0x2A36 value (diastolic and MAP are ignored)."""
    flags, cuff, _dia, _mean, ts, pulse, user, status = _decode(
        bytes(data), "Intermediate Cuff Pressure"
    )
    return IntermediateCuffPressure(
        cuff_pressure=cuff,
        unit=BloodPressureUnit(flags & _F_KPA),
        timestamp=ts,
        pulse_rate_bpm=pulse,
        user_id=user,
        status=status,
    )


def encode_intermediate_cuff_pressure(
    m: IntermediateCuffPressure, *, pressure_exponent: int | None = None
) -> bytes:
    """Encode an Intermediate Cuff Pressure 0x2A36 value (diastolic and MAP sent as NaN)."""
    return _encode(
        (m.cuff_pressure, Special.NAN, Special.NAN),
        m.unit,
        m.timestamp,
        m.pulse_rate_bpm,
        m.user_id,
        m.status,
        pressure_exponent,
    )


def decode_blood_pressure_feature(data: bytes) -> BloodPressureFeature:
    """Decode a Blood Pressure Feature 0x2A49 value (2 bytes; trailing bytes ignored)."""
    data = bytes(data)
    if len(data) < 2:
        raise truncated(data, "Blood Pressure Feature", 0, 2)
    return flags_of(BloodPressureFeature, U16.unpack_from(data, 0)[0])


def encode_blood_pressure_feature(features: BloodPressureFeature) -> bytes:
    """Encode a Blood Pressure Feature 0x2A49 value."""
    return U16.pack(check_uint("Blood Pressure Feature", int(features), 16))


def blood_pressure_status_flags(
    status: BloodPressureStatus | None,
) -> tuple[frozenset[Quality], frozenset[Quality]]:
    """``(flags for every value, extra flags for the pulse rate)`` of a Measurement Status."""
    if not status:
        return frozenset(), frozenset()
    every: set[Quality] = set()
    if status & (
        BloodPressureStatus.BODY_MOVEMENT
        | BloodPressureStatus.CUFF_TOO_LOOSE
        | BloodPressureStatus.IMPROPER_MEASUREMENT_POSITION
    ):
        every.add(Quality.MEASUREMENT_ISSUE)
    if status & BloodPressureStatus.IRREGULAR_PULSE:
        every.add(Quality.IRREGULAR_PULSE)
    pulse: set[Quality] = set()
    above = bool(status & BloodPressureStatus.PULSE_RATE_ABOVE_UPPER_LIMIT)
    below = bool(status & BloodPressureStatus.PULSE_RATE_BELOW_LOWER_LIMIT)
    if above and below:  # range value 3 is reserved: the pulse rate cannot be trusted
        pulse.add(Quality.MEASUREMENT_ISSUE)
    elif above:
        pulse.add(Quality.POS_INF)
    elif below:
        pulse.add(Quality.NEG_INF)
    return frozenset(every), frozenset(pulse)


def blood_pressure_to_readings(
    m: BloodPressureMeasurement,
    *,
    device_id: str,
    seq: int,
    ts_fallback: datetime,
    clock: DeviceClock | None = None,
    flags: Iterable[str] = (),
) -> list[Reading]:
    """``bp_systolic``, ``bp_diastolic``, ``bp_mean`` and (if sent) ``pulse_rate``.

    Pressures keep the cuff's unit on the way in (mmHg or kPa, converted to mm[Hg] by the catalog).
    Time: ``clock(m.timestamp)`` with a clock and a timestamp, else ``ts_fallback``. ``seq`` is
    the caller's (the measurement has no sequence number).
    """
    ts = reading_time(m.timestamp, ts_fallback=ts_fallback, clock=clock)
    every, pulse_only = blood_pressure_status_flags(m.status)
    common = set(flags) | every
    unit = "kPa" if m.unit == BloodPressureUnit.KPA else "mm[Hg]"
    out = [
        numeric_reading(
            device_id=device_id, metric=metric, value=v, unit=unit, ts=ts, seq=seq, flags=common
        )
        for metric, v in (
            ("bp_systolic", m.systolic),
            ("bp_diastolic", m.diastolic),
            ("bp_mean", m.mean_arterial),
        )
    ]
    if m.pulse_rate_bpm is not None:
        out.append(
            numeric_reading(
                device_id=device_id,
                metric="pulse_rate",
                value=m.pulse_rate_bpm,
                unit="/min",
                ts=ts,
                seq=seq,
                flags=common | pulse_only,
            )
        )
    return out
