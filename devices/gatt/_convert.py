"""Shared steps of turning a decoded measurement into :class:`devices.Reading` objects."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeAlias

from devices.gatt.sfloat import Numeric, Special
from devices.reading import Quality, Reading, make_reading

DeviceClock: TypeAlias = Callable[[datetime], datetime]
"""Maps a device-local naive timestamp to the timezone-aware moment it stands for (UTC)."""

SPECIAL_FLAGS: dict[Special, Quality] = {
    Special.NAN: Quality.NAN,
    Special.NRES: Quality.NRES,
    Special.POS_INF: Quality.POS_INF,
    Special.NEG_INF: Quality.NEG_INF,
    Special.RESERVED: Quality.RESERVED,
}


def special_flag(value: Special) -> Quality:
    """The quality flag a reading carries instead of a special value's number."""
    return SPECIAL_FLAGS[value]


def reading_time(
    device_time: datetime | None, *, ts_fallback: datetime, clock: DeviceClock | None
) -> datetime:
    """The timestamp of a measurement's readings.

    With a ``clock`` and a measurement that carries its own (device-local) time, the clock maps
    that time to UTC. Otherwise (no clock given, or no time in the measurement) ``ts_fallback``,
    which the caller has already corrected, is used. The result must be timezone-aware: a naive
    datetime here is a caller's bug and raises ``ValueError`` rather than being read as the
    gateway's local time.
    """
    ts = clock(device_time) if (clock is not None and device_time is not None) else ts_fallback
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"reading timestamp must be timezone-aware, got {ts!r}")
    return ts


def numeric_reading(
    *,
    device_id: str,
    metric: str,
    value: Numeric,
    unit: str,
    ts: datetime,
    seq: int,
    flags: Iterable[str],
) -> Reading:
    """A reading of a decoded number, or of a special value as ``None`` plus its flag."""
    out = set(flags)
    if isinstance(value, Special):
        out.add(SPECIAL_FLAGS[value])
        return make_reading(
            device_id=device_id, metric=metric, value=None, unit=unit, ts=ts, seq=seq, flags=out
        )
    return make_reading(
        device_id=device_id, metric=metric, value=value, unit=unit, ts=ts, seq=seq, flags=out
    )
