"""Battery Service 0x180F: Battery Level 0x2A19 (uint8, percent 0 ... 100; 101-255 reserved).

Every Homeward device exposes it, the smart chopsticks included (the SIG convention for battery
state rather than a vendor characteristic). The gateway reads it on connection; low values
drive the "replace the battery" notice, and a reading is kept as ``device_battery``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from devices.errors import DecodeError
from devices.gatt._convert import DeviceClock, numeric_reading, reading_time
from devices.gatt._wire import truncated
from devices.gatt.errors import EncodeError
from devices.reading import Reading

__all__ = ["battery_to_readings", "decode_battery_level", "encode_battery_level"]


def decode_battery_level(data: bytes) -> int:
    """Decode a Battery Level 0x2A19 value: percent of full charge (trailing bytes ignored)."""
    data = bytes(data)
    if not data:
        raise truncated(data, "Battery Level", 0, 1)
    if data[0] > 100:
        raise DecodeError(f"Battery Level {data[0]} % is a reserved value", data)
    return data[0]


def encode_battery_level(level_pct: int) -> bytes:
    """Encode a Battery Level 0x2A19 value (0 ... 100 percent)."""
    if isinstance(level_pct, bool) or not isinstance(level_pct, int) or not 0 <= level_pct <= 100:
        raise EncodeError("Battery Level", level_pct, "not an integer percentage 0 ... 100")
    return bytes((level_pct,))


def battery_to_readings(
    level_pct: int,
    *,
    device_id: str,
    seq: int,
    ts_fallback: datetime,
    clock: DeviceClock | None = None,
    flags: Iterable[str] = (),
) -> list[Reading]:
    """One ``device_battery`` reading at ``ts_fallback`` (the read time; ``clock`` is unused)."""
    ts = reading_time(None, ts_fallback=ts_fallback, clock=clock)
    return [
        numeric_reading(
            device_id=device_id,
            metric="device_battery",
            value=float(level_pct),
            unit="%",
            ts=ts,
            seq=seq,
            flags=set(flags),
        )
    ]
