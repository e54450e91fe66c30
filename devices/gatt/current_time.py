"""Date Time 0x2A08, Day Date Time 0x2A0A, Current Time 0x2A2B, Local Time Information 0x2A0F.

The time fields every health profile shares, as the GATT Specification Supplement (GSS) defines
the characteristics "Date Time", "Day Date Time", "Current Time" and "Local Time Information"
(Current Time Service v1.1 uses the last two):

**Date Time** (7 bytes)::

    year   uint16  1582 ... 9999, 0 = not known
    month  uint8   1 ... 12, 0 = not known
    day    uint8   1 ... 31, 0 = not known
    hours  uint8   0 ... 23
    minutes uint8  0 ... 59
    seconds uint8  0 ... 59

Device time is **local wall-clock time without a zone**: it is returned as a *naive*
:class:`~datetime.datetime` and encoded only from one (an aware datetime raises
:class:`~devices.gatt.errors.EncodeError`, so that nobody writes UTC into a device by accident).
Turning it into UTC is the gateway's job (``gateway/clock.py``: by the Current Time it reads, the
offset it measures, or the Local Time Information below). A Date Time whose year, month or day is
0 ("not known", an unset clock) decodes to ``None``, and ``None`` encodes as seven zero bytes. A
value outside the ranges above, or a date that does not exist (30 February), is a
:class:`~devices.errors.DecodeError`.

**Current Time** (10 bytes) = Date Time + Day of Week (uint8, 1 = Monday ... 7 = Sunday,
0 = not known) + Fractions256 (uint8, 1/256 s) + Adjust Reason (8-bit flags: manual update,
external reference update, time zone change, DST change).

**Local Time Information** (2 bytes) = Time Zone (sint8, offset from UTC in 15-minute steps,
-48 ... 56, -128 = not known) + DST Offset (uint8: 0 standard time, 2 half an hour, 4 daylight
time (+1 h), 8 double daylight time (+2 h), 255 = not known).

Bytes after the last defined field are ignored, as everywhere in :mod:`devices.gatt`: the SIG
grows characteristics by appending fields, and receivers ignore what is reserved for future use.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, IntFlag

from devices.errors import DecodeError
from devices.gatt._wire import U16, check_sint, check_uint, enum_or_int, flags_of, truncated
from devices.gatt.errors import EncodeError

__all__ = [
    "DATE_TIME_SIZE",
    "AdjustReason",
    "CurrentTime",
    "DayDateTime",
    "DayOfWeek",
    "DstOffset",
    "LocalTimeInformation",
    "date_time_from_bytes",
    "date_time_to_bytes",
    "decode_current_time",
    "decode_date_time",
    "decode_day_date_time",
    "decode_local_time_information",
    "encode_current_time",
    "encode_date_time",
    "encode_day_date_time",
    "encode_local_time_information",
]

DATE_TIME_SIZE = 7
_YEAR_MIN, _YEAR_MAX = 1582, 9999  # GSS "Date Time": years of the Gregorian calendar
_ZERO_DATE_TIME = bytes(DATE_TIME_SIZE)
_DATE_TIME = struct.Struct("<HBBBBB")


class DayOfWeek(IntEnum):
    """Day of Week (GSS "Day of Week"): ISO numbering, 0 when the device does not know."""

    UNKNOWN = 0
    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7

    @classmethod
    def of(cls, when: datetime) -> DayOfWeek:
        """The day of week of a date (``datetime.isoweekday`` numbering, as the SIG uses)."""
        return cls(when.isoweekday())


class AdjustReason(IntFlag):
    """Why the device's time last changed (GSS "Current Time"; bits 4-7 reserved)."""

    NONE = 0x00
    MANUAL_TIME_UPDATE = 0x01
    EXTERNAL_REFERENCE_TIME_UPDATE = 0x02
    CHANGE_OF_TIME_ZONE = 0x04
    CHANGE_OF_DST = 0x08


class DstOffset(IntEnum):
    """DST Offset (GSS "DST Offset"), in units of 15 minutes except UNKNOWN."""

    STANDARD_TIME = 0
    HALF_AN_HOUR_DAYLIGHT_TIME = 2
    DAYLIGHT_TIME = 4
    DOUBLE_DAYLIGHT_TIME = 8
    UNKNOWN = 255


def date_time_from_bytes(data: bytes, offset: int = 0) -> datetime | None:
    """Decode the 7-byte Date Time at ``offset``: a naive datetime, or ``None`` if not known."""
    if len(data) < offset + DATE_TIME_SIZE:
        raise truncated(data, "Date Time", offset, DATE_TIME_SIZE)
    year, month, day, hours, minutes, seconds = _DATE_TIME.unpack_from(data, offset)
    if not (
        (year == 0 or _YEAR_MIN <= year <= _YEAR_MAX)
        and month <= 12
        and day <= 31
        and hours <= 23
        and minutes <= 59
        and seconds <= 59
    ):
        raise DecodeError(
            f"Date Time out of range: {year:04d}-{month:02d}-{day:02d} "
            f"{hours:02d}:{minutes:02d}:{seconds:02d}",
            data,
        )
    if year == 0 or month == 0 or day == 0:
        return None
    try:
        return datetime(year, month, day, hours, minutes, seconds)  # naive: device-local
    except ValueError:
        raise DecodeError(f"no such date: {year:04d}-{month:02d}-{day:02d}", data) from None


def date_time_to_bytes(when: datetime | None) -> bytes:
    """The 7 bytes of a Date Time; ``None`` (not known) is all zeros.

    ``when`` must be naive (device-local wall clock); sub-second parts are dropped, the field has
    a resolution of one second.
    """
    if when is None:
        return _ZERO_DATE_TIME
    if not isinstance(when, datetime):
        raise EncodeError("Date Time", when, "not a datetime")
    if when.tzinfo is not None:
        raise EncodeError(
            "Date Time", when, "device time is naive local wall-clock time; drop the zone first"
        )
    if not _YEAR_MIN <= when.year <= _YEAR_MAX:
        raise EncodeError("Date Time", when, f"year outside {_YEAR_MIN} ... {_YEAR_MAX}")
    return U16.pack(when.year) + bytes((when.month, when.day, when.hour, when.minute, when.second))


def decode_date_time(data: bytes) -> datetime | None:
    """Decode the Date Time characteristic 0x2A08."""
    return date_time_from_bytes(bytes(data), 0)


def encode_date_time(when: datetime | None) -> bytes:
    """Encode the Date Time characteristic 0x2A08."""
    return date_time_to_bytes(when)


@dataclass(frozen=True, slots=True)
class DayDateTime:
    """Day Date Time 0x2A0A: a Date Time and the day of week the device states.

    ``day_of_week`` is a :class:`DayOfWeek`, or the bare integer of a reserved value (8 ... 255).
    """

    date_time: datetime | None
    day_of_week: DayOfWeek | int = DayOfWeek.UNKNOWN


def decode_day_date_time(data: bytes) -> DayDateTime:
    """Decode the Day Date Time characteristic 0x2A0A (8 bytes)."""
    data = bytes(data)
    when = date_time_from_bytes(data, 0)
    if len(data) < 8:
        raise truncated(data, "Day of Week", 7, 1)
    return DayDateTime(when, enum_or_int(DayOfWeek, data[7]))


def encode_day_date_time(value: DayDateTime) -> bytes:
    """Encode the Day Date Time characteristic 0x2A0A."""
    return date_time_to_bytes(value.date_time) + bytes(
        (check_uint("Day of Week", int(value.day_of_week), 8),)
    )


@dataclass(frozen=True, slots=True)
class CurrentTime:
    """Current Time 0x2A2B: the device's clock and why it last changed.

    ``date_time`` is naive device-local time (``None`` when the device does not know it),
    ``fractions256`` the sub-second part in 1/256 s, ``adjust_reason`` the flags (reserved bits
    are kept as received).
    """

    date_time: datetime | None
    day_of_week: DayOfWeek | int = DayOfWeek.UNKNOWN
    fractions256: int = 0
    adjust_reason: AdjustReason = AdjustReason.NONE

    @property
    def exact_time(self) -> datetime | None:
        """``date_time`` plus the fractions, with microsecond resolution (naive)."""
        if self.date_time is None:
            return None
        return self.date_time + timedelta(microseconds=round(self.fractions256 * 1e6 / 256))

    @classmethod
    def from_datetime(
        cls, when: datetime, *, adjust_reason: AdjustReason = AdjustReason.NONE
    ) -> CurrentTime:
        """The Current Time a gateway writes to set a device's clock to ``when`` (naive local).

        The day of week is computed from the date; microseconds become Fractions256 (truncated,
        so the device is never set ahead of the real time).
        """
        return cls(
            date_time=when.replace(microsecond=0),
            day_of_week=DayOfWeek.of(when),
            fractions256=when.microsecond * 256 // 1_000_000,
            adjust_reason=adjust_reason,
        )


def decode_current_time(data: bytes) -> CurrentTime:
    """Decode the Current Time characteristic 0x2A2B (10 bytes; trailing bytes ignored)."""
    data = bytes(data)
    when = date_time_from_bytes(data, 0)
    if len(data) < 10:
        raise truncated(data, "Current Time", 7, 3)
    return CurrentTime(
        date_time=when,
        day_of_week=enum_or_int(DayOfWeek, data[7]),
        fractions256=data[8],
        adjust_reason=flags_of(AdjustReason, data[9]),
    )


def encode_current_time(value: CurrentTime) -> bytes:
    """Encode the Current Time characteristic 0x2A2B."""
    return date_time_to_bytes(value.date_time) + bytes(
        (
            check_uint("Day of Week", int(value.day_of_week), 8),
            check_uint("Fractions256", value.fractions256, 8),
            check_uint("Adjust Reason", int(value.adjust_reason), 8),
        )
    )


_TZ_UNKNOWN = -128
_TZ_MIN, _TZ_MAX = -48, 56  # GSS "Time Zone": UTC-12:00 ... UTC+14:00 in 15-minute steps


@dataclass(frozen=True, slots=True)
class LocalTimeInformation:
    """Local Time Information 0x2A0F: the device's time zone and daylight saving offset.

    ``time_zone_15min`` is the offset of standard time from UTC in 15-minute steps (``None`` when
    the device does not know it; China Standard Time is 32). ``dst_offset`` is a
    :class:`DstOffset` or the integer of a reserved value.
    """

    time_zone_15min: int | None
    dst_offset: DstOffset | int = DstOffset.UNKNOWN

    @property
    def utc_offset(self) -> timedelta | None:
        """Local time minus UTC (zone plus DST), or ``None`` when either part is not known."""
        if self.time_zone_15min is None or self.dst_offset == DstOffset.UNKNOWN:
            return None
        if not isinstance(self.dst_offset, DstOffset):
            return None
        return timedelta(minutes=15 * (self.time_zone_15min + int(self.dst_offset)))


def decode_local_time_information(data: bytes) -> LocalTimeInformation:
    """Decode Local Time Information 0x2A0F (2 bytes; trailing bytes ignored)."""
    data = bytes(data)
    if len(data) < 2:
        raise truncated(data, "Local Time Information", 0, 2)
    tz = data[0] - 256 if data[0] >= 128 else data[0]
    if tz != _TZ_UNKNOWN and not _TZ_MIN <= tz <= _TZ_MAX:
        raise DecodeError(f"Time Zone out of range: {tz}", data)
    return LocalTimeInformation(
        time_zone_15min=None if tz == _TZ_UNKNOWN else tz,
        dst_offset=enum_or_int(DstOffset, data[1]),
    )


def encode_local_time_information(value: LocalTimeInformation) -> bytes:
    """Encode Local Time Information 0x2A0F."""
    tz = _TZ_UNKNOWN if value.time_zone_15min is None else value.time_zone_15min
    if tz != _TZ_UNKNOWN and not _TZ_MIN <= check_sint("Time Zone", tz, 8) <= _TZ_MAX:
        raise EncodeError("Time Zone", tz, f"outside {_TZ_MIN} ... {_TZ_MAX} quarter hours")
    return bytes((tz & 0xFF, check_uint("DST Offset", int(value.dst_offset), 8)))
