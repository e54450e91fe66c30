"""Weight Scale Service 0x181D: Weight Measurement 0x2A9D and Weight Scale Feature 0x2A9E.

Layout (Weight Scale Service v1.0; GSS "Weight Measurement"; byte by byte in
``docs/devices/weight-measurement.md``)::

    flags        uint8    bit 0 units: 0 = SI (kg, m), 1 = imperial (lb, in)
                          bit 1 Time Stamp present
                          bit 2 User ID present
                          bit 3 BMI and Height present
                          bits 4-7 reserved
    weight       uint16   SI: 0.005 kg steps; imperial: 0.01 lb steps;
                          0xFFFF = "measurement unsuccessful"
    time stamp   Date Time, device-local, if bit 1
    user id      uint8    255 = unknown user, if bit 2
    BMI          uint16   0.1 kg/m2 steps, if bit 3
    height       uint16   SI: 0.001 m steps; imperial: 0.1 in steps, if bit 3

Weight Scale Feature (uint32): bit 0 time stamp supported, bit 1 multiple users supported,
bit 2 BMI supported, bits 3-6 weight resolution, bits 7-9 height resolution, bits 10-31 reserved.

An unsuccessful weighing decodes to ``weight=None`` and becomes a ``body_weight`` reading without
a value, flagged ``nan``: the attempt is recorded, no number is invented.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from devices.gatt._convert import DeviceClock, numeric_reading, reading_time
from devices.gatt._wire import U16, U32, check_uint, truncated
from devices.gatt.current_time import DATE_TIME_SIZE, date_time_from_bytes, date_time_to_bytes
from devices.gatt.errors import EncodeError
from devices.gatt.sfloat import Special
from devices.reading import Reading

__all__ = [
    "WEIGHT_MEASUREMENT_UNSUCCESSFUL",
    "WeightMeasurement",
    "WeightScaleFeature",
    "WeightUnit",
    "decode_weight_measurement",
    "decode_weight_scale_feature",
    "encode_weight_measurement",
    "encode_weight_scale_feature",
    "weight_to_readings",
]

WEIGHT_MEASUREMENT_UNSUCCESSFUL = 0xFFFF  # Weight Scale Service, Weight field: special value

# Resolutions of the raw fields (GSS "Weight Measurement"), as (numerator, denominator).
_WEIGHT_KG = (5, 1000)  # 0.005 kg
_WEIGHT_LB = (1, 100)  # 0.01 lb
_BMI = (1, 10)  # 0.1 kg/m2
_HEIGHT_M = (1, 1000)  # 0.001 m
_HEIGHT_IN = (1, 10)  # 0.1 in

_F_IMPERIAL = 0x01
_F_TIME = 0x02
_F_USER = 0x04
_F_BMI_HEIGHT = 0x08


class WeightUnit(IntEnum):
    """Flags bit 0."""

    SI = 0  # kilograms and metres
    IMPERIAL = 1  # pounds and inches


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """One Weight Measurement.

    ``weight`` is in kg (SI) or lb (imperial), ``None`` for "measurement unsuccessful".
    ``bmi`` (kg/m2) and ``height`` (m or in) travel together. ``timestamp`` is naive
    device-local time; ``user_id`` 0 ... 255 (255 unknown user). Absent fields are ``None``.
    """

    weight: float | None
    unit: WeightUnit = WeightUnit.SI
    timestamp: datetime | None = None
    user_id: int | None = None
    bmi: float | None = None
    height: float | None = None


def _scaled(raw: int, step: tuple[int, int]) -> float:
    return raw * step[0] / step[1]


def _raw(field: str, value: float, step: tuple[int, int], *, top: int = 0xFFFF) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise EncodeError(field, value, "not a non-negative number")
    raw = round(value * step[1] / step[0])
    if raw > top:
        raise EncodeError(field, value, "above the field's range")
    return raw


def decode_weight_measurement(data: bytes) -> WeightMeasurement:
    """Decode a Weight Measurement 0x2A9D value (3 ... 15 bytes)."""
    data = bytes(data)
    n = len(data)
    if n < 3:
        raise truncated(data, "Weight Measurement", 0, 3)
    flags = data[0]
    imperial = bool(flags & _F_IMPERIAL)
    raw_weight = U16.unpack_from(data, 1)[0]
    weight = (
        None
        if raw_weight == WEIGHT_MEASUREMENT_UNSUCCESSFUL
        else _scaled(raw_weight, _WEIGHT_LB if imperial else _WEIGHT_KG)
    )
    i = 3
    timestamp: datetime | None = None
    if flags & _F_TIME:
        timestamp = date_time_from_bytes(data, i)
        i += DATE_TIME_SIZE
    user: int | None = None
    if flags & _F_USER:
        if n < i + 1:
            raise truncated(data, "User ID", i, 1)
        user = data[i]
        i += 1
    bmi: float | None = None
    height: float | None = None
    if flags & _F_BMI_HEIGHT:
        if n < i + 4:
            raise truncated(data, "BMI, Height", i, 4)
        bmi = _scaled(U16.unpack_from(data, i)[0], _BMI)
        height = _scaled(U16.unpack_from(data, i + 2)[0], _HEIGHT_IN if imperial else _HEIGHT_M)
    return WeightMeasurement(
        weight=weight,
        unit=WeightUnit.IMPERIAL if imperial else WeightUnit.SI,
        timestamp=timestamp,
        user_id=user,
        bmi=bmi,
        height=height,
    )


def encode_weight_measurement(m: WeightMeasurement) -> bytes:
    """Encode a Weight Measurement 0x2A9D value (values are rounded to the field's steps)."""
    imperial = m.unit == WeightUnit.IMPERIAL
    flags = _F_IMPERIAL if imperial else 0
    raw_weight = (
        WEIGHT_MEASUREMENT_UNSUCCESSFUL
        if m.weight is None
        else _raw("Weight", m.weight, _WEIGHT_LB if imperial else _WEIGHT_KG, top=0xFFFE)
    )
    out = bytearray(1) + U16.pack(raw_weight)
    if m.timestamp is not None:
        flags |= _F_TIME
        out += date_time_to_bytes(m.timestamp)
    if m.user_id is not None:
        flags |= _F_USER
        out.append(check_uint("User ID", m.user_id, 8))
    if (m.bmi is None) != (m.height is None):
        raise EncodeError("BMI, Height", (m.bmi, m.height), "both fields or neither")
    if m.bmi is not None and m.height is not None:
        flags |= _F_BMI_HEIGHT
        out += U16.pack(_raw("BMI", m.bmi, _BMI))
        out += U16.pack(_raw("Height", m.height, _HEIGHT_IN if imperial else _HEIGHT_M))
    out[0] = flags
    return bytes(out)


# Weight Scale Feature resolution codes (Weight Scale Service, Weight Scale Feature),
# code -> step in (kg, lb) and (m, in).
_WEIGHT_RESOLUTIONS: dict[int, tuple[float, float]] = {
    1: (0.5, 1.0),
    2: (0.2, 0.5),
    3: (0.1, 0.2),
    4: (0.05, 0.1),
    5: (0.02, 0.05),
    6: (0.01, 0.02),
    7: (0.005, 0.01),
}
_HEIGHT_RESOLUTIONS: dict[int, tuple[float, float]] = {
    1: (0.01, 1.0),
    2: (0.005, 0.5),
    3: (0.001, 0.1),
}


@dataclass(frozen=True, slots=True)
class WeightScaleFeature:
    """Weight Scale Feature 0x2A9E.

    ``weight_resolution`` (0 ... 15) and ``height_resolution`` (0 ... 7) are the spec's codes,
    0 = not specified (8-15 and 4-7 reserved); the properties translate them. ``reserved`` keeps
    bits 10-31 as received.
    """

    time_stamp_supported: bool = False
    multiple_users_supported: bool = False
    bmi_supported: bool = False
    weight_resolution: int = 0
    height_resolution: int = 0
    reserved: int = 0

    @property
    def weight_resolution_kg(self) -> float | None:
        step = _WEIGHT_RESOLUTIONS.get(self.weight_resolution)
        return step[0] if step else None

    @property
    def weight_resolution_lb(self) -> float | None:
        step = _WEIGHT_RESOLUTIONS.get(self.weight_resolution)
        return step[1] if step else None

    @property
    def height_resolution_m(self) -> float | None:
        step = _HEIGHT_RESOLUTIONS.get(self.height_resolution)
        return step[0] if step else None

    @property
    def height_resolution_in(self) -> float | None:
        step = _HEIGHT_RESOLUTIONS.get(self.height_resolution)
        return step[1] if step else None


def decode_weight_scale_feature(data: bytes) -> WeightScaleFeature:
    """Decode a Weight Scale Feature 0x2A9E value (4 bytes; trailing bytes ignored)."""
    data = bytes(data)
    if len(data) < 4:
        raise truncated(data, "Weight Scale Feature", 0, 4)
    raw = U32.unpack_from(data, 0)[0]
    return WeightScaleFeature(
        time_stamp_supported=bool(raw & 0x1),
        multiple_users_supported=bool(raw & 0x2),
        bmi_supported=bool(raw & 0x4),
        weight_resolution=(raw >> 3) & 0xF,
        height_resolution=(raw >> 7) & 0x7,
        reserved=raw >> 10,
    )


def encode_weight_scale_feature(f: WeightScaleFeature) -> bytes:
    """Encode a Weight Scale Feature 0x2A9E value."""
    raw = (
        int(f.time_stamp_supported)
        | int(f.multiple_users_supported) << 1
        | int(f.bmi_supported) << 2
        | check_uint("Weight Measurement Resolution", f.weight_resolution, 4) << 3
        | check_uint("Height Measurement Resolution", f.height_resolution, 3) << 7
        | check_uint("reserved bits", f.reserved, 22) << 10
    )
    return U32.pack(raw)


def weight_to_readings(
    m: WeightMeasurement,
    *,
    device_id: str,
    seq: int,
    ts_fallback: datetime,
    clock: DeviceClock | None = None,
    flags: Iterable[str] = (),
) -> list[Reading]:
    """``body_weight`` (``nan`` without a value if unsuccessful), and ``bmi``, ``body_height``.

    Units stay as sent (kg or [lb_av]; m or [in_i]) for the catalog to convert. Time:
    ``clock(m.timestamp)`` with a clock and a timestamp, else ``ts_fallback``.
    """
    ts = reading_time(m.timestamp, ts_fallback=ts_fallback, clock=clock)
    imperial = m.unit == WeightUnit.IMPERIAL
    common = set(flags)
    out = [
        numeric_reading(
            device_id=device_id,
            metric="body_weight",
            value=Special.NAN if m.weight is None else m.weight,
            unit="[lb_av]" if imperial else "kg",
            ts=ts,
            seq=seq,
            flags=common,
        )
    ]
    if m.bmi is not None:
        out.append(
            numeric_reading(
                device_id=device_id,
                metric="bmi",
                value=m.bmi,
                unit="kg/m2",
                ts=ts,
                seq=seq,
                flags=common,
            )
        )
    if m.height is not None:
        out.append(
            numeric_reading(
                device_id=device_id,
                metric="body_height",
                value=m.height,
                unit="[in_i]" if imperial else "m",
                ts=ts,
                seq=seq,
                flags=common,
            )
        )
    return out
