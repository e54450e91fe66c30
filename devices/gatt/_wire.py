"""Little-endian field helpers shared by the codecs: bounds-checked reads, enum lookups."""

from __future__ import annotations

import struct
from enum import IntEnum, IntFlag
from typing import TypeVar

from devices.errors import DecodeError
from devices.gatt.errors import EncodeError

U8 = struct.Struct("<B")
U16 = struct.Struct("<H")
S16 = struct.Struct("<h")
U32 = struct.Struct("<I")

E = TypeVar("E", bound=IntEnum)
F = TypeVar("F", bound=IntFlag)


def truncated(data: bytes, field: str, offset: int, size: int) -> DecodeError:
    """The error for a field that the data is too short to hold."""
    return DecodeError(
        f"truncated: {field} needs {size} byte(s) at offset {offset}, {len(data)} given", data
    )


def u24(data: bytes, offset: int) -> int:
    """The unsigned 24-bit little-endian integer at ``offset`` (caller checked the length)."""
    return data[offset] | (data[offset + 1] << 8) | (data[offset + 2] << 16)


def pack_u24(value: int) -> bytes:
    return bytes((value & 0xFF, (value >> 8) & 0xFF, (value >> 16) & 0xFF))


# Enum lookups by dict: calling an Enum class costs about a microsecond, which was most of a
# decode (bench/gatt_decode.py).
_MEMBERS: dict[type[IntEnum], dict[int, IntEnum]] = {}
_FLAG_CACHE: dict[type[IntFlag], dict[int, IntFlag]] = {}
_FLAG_CACHE_MAX = 4096  # per class: enough for real devices, bounded under fuzzing


def enum_or_int(enum: type[E], value: int) -> E | int:
    """The member of ``enum`` for ``value``, or the bare integer for a reserved value.

    Used for descriptive enumerations (sample location, temperature type, ...): a reserved value
    from a newer device must not cost the patient's measurement, so it is kept as a number.
    """
    members = _MEMBERS.get(enum)
    if members is None:
        members = _MEMBERS[enum] = {int(m): m for m in enum}
    return members.get(value, value)


def flags_of(flag: type[F], value: int) -> F:
    """``flag(value)`` (unknown bits kept), memoised per class."""
    cache = _FLAG_CACHE.get(flag)
    if cache is None:
        cache = _FLAG_CACHE[flag] = {}
    member = cache.get(value)
    if member is None:
        member = flag(value)
        if len(cache) < _FLAG_CACHE_MAX:
            cache[value] = member
    return member  # type: ignore[return-value]


def check_uint(field: str, value: int, bits: int) -> int:
    """``value`` if it fits an unsigned ``bits``-bit field, else :class:`EncodeError`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise EncodeError(field, value, f"not an unsigned {bits}-bit integer")
    return value


def check_sint(field: str, value: int, bits: int) -> int:
    """``value`` if it fits a signed ``bits``-bit field, else :class:`EncodeError`."""
    half = 1 << (bits - 1)
    if isinstance(value, bool) or not isinstance(value, int) or not -half <= value < half:
        raise EncodeError(field, value, f"not a signed {bits}-bit integer")
    return value
