"""Health Thermometer Service 0x1809: Temperature Measurement 0x2A1C and its companions.

Layout (Health Thermometer Service v1.0; GSS "Temperature Measurement"; byte by byte
in ``docs/devices/temperature-measurement.md``)::

    flags             uint8   bit 0 unit: 0 = Celsius, 1 = Fahrenheit
                              bit 1 Time Stamp present
                              bit 2 Temperature Type present
                              bits 3-7 reserved
    temperature       FLOAT   (32-bit IEEE 11073; 36.6 degC = 6E 01 00 FF)
    time stamp        Date Time, device-local, if bit 1
    temperature type  uint8   if bit 2: 1 armpit, 2 body (general), 3 ear (usually earlobe),
                              4 finger, 5 gastro-intestinal tract, 6 mouth, 7 rectum, 8 toe,
                              9 tympanum (ear drum); 0 and 10-255 reserved

Intermediate Temperature 0x2A1E has the same layout (values while the thermometer is still
measuring: decoded for display, never stored as readings). Temperature Type 0x2A1D is the type
byte alone (for thermometers measuring at one fixed site); Measurement Interval 0x2A21 is a uint16
in seconds (0 = no periodic measurements).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from devices.gatt._convert import DeviceClock, numeric_reading, reading_time
from devices.gatt._wire import U16, U32, check_uint, enum_or_int, truncated
from devices.gatt.current_time import DATE_TIME_SIZE, date_time_from_bytes, date_time_to_bytes
from devices.gatt.sfloat import Numeric, decode_float, encode_float
from devices.reading import Reading

__all__ = [
    "TemperatureMeasurement",
    "TemperatureType",
    "TemperatureUnit",
    "decode_intermediate_temperature",
    "decode_measurement_interval",
    "decode_temperature_measurement",
    "decode_temperature_type",
    "encode_intermediate_temperature",
    "encode_measurement_interval",
    "encode_temperature_measurement",
    "encode_temperature_type",
    "temperature_to_readings",
]


class TemperatureUnit(IntEnum):
    """Flags bit 0."""

    CELSIUS = 0
    FAHRENHEIT = 1


class TemperatureType(IntEnum):
    """Where the temperature was taken (GSS "Temperature Type"; 0 and 10-255 reserved)."""

    ARMPIT = 1
    BODY = 2
    EAR = 3  # usually earlobe
    FINGER = 4
    GASTROINTESTINAL_TRACT = 5
    MOUTH = 6
    RECTUM = 7
    TOE = 8
    TYMPANUM = 9  # ear drum


_F_FAHRENHEIT = 0x01
_F_TIME = 0x02
_F_TYPE = 0x04


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    """One Temperature (or Intermediate Temperature) Measurement.

    ``temperature`` is in ``unit`` (degC or degF) as sent, or a :class:`Special`; ``timestamp``
    naive device-local time; ``temperature_type`` a :class:`TemperatureType`, the integer of a
    reserved value, or ``None`` when absent.
    """

    temperature: Numeric
    unit: TemperatureUnit = TemperatureUnit.CELSIUS
    timestamp: datetime | None = None
    temperature_type: TemperatureType | int | None = None


def decode_temperature_measurement(data: bytes) -> TemperatureMeasurement:
    """Decode a Temperature Measurement 0x2A1C value (5 ... 13 bytes)."""
    data = bytes(data)
    n = len(data)
    if n < 5:
        raise truncated(data, "Temperature Measurement", 0, 5)
    flags = data[0]
    temperature = decode_float(U32.unpack_from(data, 1)[0])
    i = 5
    timestamp: datetime | None = None
    if flags & _F_TIME:
        timestamp = date_time_from_bytes(data, i)
        i += DATE_TIME_SIZE
    ttype: TemperatureType | int | None = None
    if flags & _F_TYPE:
        if n < i + 1:
            raise truncated(data, "Temperature Type", i, 1)
        ttype = enum_or_int(TemperatureType, data[i])
    return TemperatureMeasurement(
        temperature=temperature,
        unit=TemperatureUnit.FAHRENHEIT if flags & _F_FAHRENHEIT else TemperatureUnit.CELSIUS,
        timestamp=timestamp,
        temperature_type=ttype,
    )


def encode_temperature_measurement(
    m: TemperatureMeasurement, *, exponent: int | None = None
) -> bytes:
    """Encode a Temperature Measurement 0x2A1C value.

    ``exponent`` fixes the FLOAT resolution (thermometers send -1 or -2); by default the most
    precise representation is used.
    """
    flags = _F_FAHRENHEIT if m.unit == TemperatureUnit.FAHRENHEIT else 0
    body = U32.pack(encode_float(m.temperature, exponent=exponent))
    if m.timestamp is not None:
        flags |= _F_TIME
        body += date_time_to_bytes(m.timestamp)
    if m.temperature_type is not None:
        flags |= _F_TYPE
        body += bytes((check_uint("Temperature Type", int(m.temperature_type), 8),))
    return bytes((flags,)) + body


def decode_intermediate_temperature(data: bytes) -> TemperatureMeasurement:
    """Decode an Intermediate Temperature 0x2A1E value (same layout as 0x2A1C)."""
    return decode_temperature_measurement(data)


def encode_intermediate_temperature(m: TemperatureMeasurement) -> bytes:
    """Encode an Intermediate Temperature 0x2A1E value (same layout as 0x2A1C)."""
    return encode_temperature_measurement(m)


def decode_temperature_type(data: bytes) -> TemperatureType | int:
    """Decode a Temperature Type 0x2A1D value (1 byte; trailing bytes ignored)."""
    data = bytes(data)
    if not data:
        raise truncated(data, "Temperature Type", 0, 1)
    return enum_or_int(TemperatureType, data[0])


def encode_temperature_type(value: TemperatureType | int) -> bytes:
    """Encode a Temperature Type 0x2A1D value."""
    return bytes((check_uint("Temperature Type", int(value), 8),))


def decode_measurement_interval(data: bytes) -> int:
    """Decode a Measurement Interval 0x2A21 value: seconds between measurements, 0 = none."""
    data = bytes(data)
    if len(data) < 2:
        raise truncated(data, "Measurement Interval", 0, 2)
    return int(U16.unpack_from(data, 0)[0])


def encode_measurement_interval(interval_s: int) -> bytes:
    """Encode a Measurement Interval 0x2A21 value (seconds, 0 ... 65535)."""
    return U16.pack(check_uint("Measurement Interval", interval_s, 16))


def temperature_to_readings(
    m: TemperatureMeasurement,
    *,
    device_id: str,
    seq: int,
    ts_fallback: datetime,
    clock: DeviceClock | None = None,
    flags: Iterable[str] = (),
) -> list[Reading]:
    """One ``body_temperature`` reading (Cel or [degF], converted by the catalog).

    Time: ``clock(m.timestamp)`` with a clock and a timestamp, else ``ts_fallback``.
    """
    ts = reading_time(m.timestamp, ts_fallback=ts_fallback, clock=clock)
    return [
        numeric_reading(
            device_id=device_id,
            metric="body_temperature",
            value=m.temperature,
            unit="[degF]" if m.unit == TemperatureUnit.FAHRENHEIT else "Cel",
            ts=ts,
            seq=seq,
            flags=set(flags),
        )
    ]
