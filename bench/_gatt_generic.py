"""The decode benchmark's baseline: a generic, table-driven GATT field interpreter.

This is how a first implementation often looks (and how GATT-XML-driven parsers work): each
characteristic is a list of fields, each optionally conditioned on a flags bit; one loop reads
them with ``int.from_bytes`` and returns a dict. SFLOAT/FLOAT are ``mantissa * 10 ** exponent``.
It does no validation beyond "enough bytes", builds no typed objects and maps no enumerations,
so it does less work than ``devices.gatt``; it is the yardstick for what that work costs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_SFLOAT_SPECIAL = {0x07FF: "nan", 0x0800: "nres", 0x07FE: "+inf", 0x0802: "-inf", 0x0801: "rfu"}
_FLOAT_SPECIAL = {
    0x007FFFFF: "nan",
    0x00800000: "nres",
    0x007FFFFE: "+inf",
    0x00800002: "-inf",
    0x00800001: "rfu",
}


def _sfloat(b: bytes) -> Any:
    raw = int.from_bytes(b, "little")
    if raw in _SFLOAT_SPECIAL:
        return _SFLOAT_SPECIAL[raw]
    mantissa = raw & 0x0FFF
    if mantissa & 0x0800:
        mantissa -= 0x1000
    exponent = raw >> 12
    if exponent & 0x8:
        exponent -= 0x10
    return mantissa * 10**exponent


def _float(b: bytes) -> Any:
    raw = int.from_bytes(b, "little")
    if raw in _FLOAT_SPECIAL:
        return _FLOAT_SPECIAL[raw]
    mantissa = raw & 0xFFFFFF
    if mantissa & 0x800000:
        mantissa -= 0x1000000
    exponent = raw >> 24
    if exponent & 0x80:
        exponent -= 0x100
    return mantissa * 10**exponent


def _date_time(b: bytes) -> Any:
    year = int.from_bytes(b[0:2], "little")
    if year == 0 or b[2] == 0 or b[3] == 0:
        return None
    return datetime(year, b[2], b[3], b[4], b[5], b[6])


KINDS: dict[str, tuple[int, Callable[[bytes], Any]]] = {
    "u8": (1, lambda b: b[0]),
    "u16": (2, lambda b: int.from_bytes(b, "little")),
    "s16": (2, lambda b: int.from_bytes(b, "little", signed=True)),
    "u24": (3, lambda b: int.from_bytes(b, "little")),
    "u32": (4, lambda b: int.from_bytes(b, "little")),
    "sfloat": (2, _sfloat),
    "float": (4, _float),
    "datetime": (7, _date_time),
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    when: int = 0  # flags mask that must be set; 0 = always present
    unless: int = 0  # flags mask that must be clear
    repeat: bool = False  # this field repeats to the end of the value


SPECS: dict[str, list[Field]] = {
    "glucose_measurement": [
        Field("flags", "u8"),
        Field("sequence_number", "u16"),
        Field("base_time", "datetime"),
        Field("time_offset", "s16", when=0x01),
        Field("concentration", "sfloat", when=0x02),
        Field("type_location", "u8", when=0x02),
        Field("sensor_status", "u16", when=0x08),
    ],
    "glucose_measurement_context": [
        Field("flags", "u8"),
        Field("sequence_number", "u16"),
        Field("extended_flags", "u8", when=0x80),
        Field("carbohydrate_id", "u8", when=0x01),
        Field("carbohydrate", "sfloat", when=0x01),
        Field("meal", "u8", when=0x02),
        Field("tester_health", "u8", when=0x04),
        Field("exercise_duration", "u16", when=0x08),
        Field("exercise_intensity", "u8", when=0x08),
        Field("medication_id", "u8", when=0x10),
        Field("medication", "sfloat", when=0x10),
        Field("hba1c", "sfloat", when=0x40),
    ],
    "current_time": [
        Field("date_time", "datetime"),
        Field("day_of_week", "u8"),
        Field("fractions256", "u8"),
        Field("adjust_reason", "u8"),
    ],
    "heart_rate_measurement": [
        Field("flags", "u8"),
        Field("heart_rate", "u8", unless=0x01),
        Field("heart_rate", "u16", when=0x01),
        Field("energy_expended", "u16", when=0x08),
        Field("rr_intervals", "u16", when=0x10, repeat=True),
    ],
    "blood_pressure_measurement": [
        Field("flags", "u8"),
        Field("systolic", "sfloat"),
        Field("diastolic", "sfloat"),
        Field("mean_arterial", "sfloat"),
        Field("timestamp", "datetime", when=0x02),
        Field("pulse_rate", "sfloat", when=0x04),
        Field("user_id", "u8", when=0x08),
        Field("status", "u16", when=0x10),
    ],
    "plx_spot_check_measurement": [
        Field("flags", "u8"),
        Field("spo2", "sfloat"),
        Field("pulse_rate", "sfloat"),
        Field("timestamp", "datetime", when=0x01),
        Field("measurement_status", "u16", when=0x02),
        Field("device_sensor_status", "u24", when=0x04),
        Field("pulse_amplitude_index", "sfloat", when=0x08),
    ],
    "plx_continuous_measurement": [
        Field("flags", "u8"),
        Field("spo2", "sfloat"),
        Field("pulse_rate", "sfloat"),
        Field("spo2_fast", "sfloat", when=0x01),
        Field("pulse_rate_fast", "sfloat", when=0x01),
        Field("spo2_slow", "sfloat", when=0x02),
        Field("pulse_rate_slow", "sfloat", when=0x02),
        Field("measurement_status", "u16", when=0x04),
        Field("device_sensor_status", "u24", when=0x08),
        Field("pulse_amplitude_index", "sfloat", when=0x10),
    ],
    "weight_measurement": [
        Field("flags", "u8"),
        Field("weight", "u16"),
        Field("timestamp", "datetime", when=0x02),
        Field("user_id", "u8", when=0x04),
        Field("bmi", "u16", when=0x08),
        Field("height", "u16", when=0x08),
    ],
    "temperature_measurement": [
        Field("flags", "u8"),
        Field("temperature", "float"),
        Field("timestamp", "datetime", when=0x02),
        Field("temperature_type", "u8", when=0x04),
    ],
    "chopsticks_bite": [
        Field("flags", "u8"),
        Field("sequence_number", "u16"),
        Field("timestamp", "datetime", when=0x01),
        Field("oil_tpm", "sfloat", when=0x02),
        Field("food_temperature", "sfloat", when=0x04),
        Field("ph", "sfloat", when=0x08),
        Field("sodium", "sfloat", when=0x10),
        Field("sensor_status", "u16", when=0x20),
    ],
    "chopsticks_meal_event": [
        Field("flags", "u8"),
        Field("sequence_number", "u16"),
        Field("event", "u8"),
        Field("timestamp", "datetime", when=0x01),
        Field("bite_count", "u16", when=0x02),
        Field("total_sodium", "sfloat", when=0x02),
    ],
    "racp_response": [
        Field("op_code", "u8"),
        Field("operator", "u8"),
        Field("operand_1", "u8"),
        Field("operand_2", "u8"),
    ],
}


def parse(spec: list[Field], data: bytes) -> dict[str, Any]:
    """Interpret ``data`` field by field; ``ValueError`` when it runs out of bytes."""
    out: dict[str, Any] = {}
    flags = -1
    i = 0
    for f in spec:
        if flags >= 0 and ((f.when and not flags & f.when) or (f.unless and flags & f.unless)):
            continue
        size, read = KINDS[f.kind]
        if f.repeat:
            values = []
            while i + size <= len(data):
                values.append(read(data[i : i + size]))
                i += size
            out[f.name] = values
            continue
        if i + size > len(data):
            raise ValueError(f"{f.name}: truncated")
        out[f.name] = read(data[i : i + size])
        i += size
        if f.name == "flags":
            flags = out["flags"]
    return out
