"""IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit) numbers, as Bluetooth health profiles use.

Both are decimal floating point: ``value = mantissa * 10**exponent``.

========  ========================  =========================  ==========================
type      exponent                  mantissa                   wire
========  ========================  =========================  ==========================
SFLOAT    4-bit signed, -8 ... 7    12-bit signed              uint16, little-endian
FLOAT     8-bit signed, -128 ... 127 24-bit signed             uint32, little-endian
========  ========================  =========================  ==========================

The exponent sits in the most significant bits (SFLOAT: bits 12-15, FLOAT: bits 24-31). Five
values with exponent 0 are not numbers (IEEE 11073-20601-2008 Annex F.8; the Bluetooth Personal
Health Devices Transcoding White Paper):

============  ========  ==========  =====================================================
special       SFLOAT    FLOAT       meaning
============  ========  ==========  =====================================================
NaN           0x07FF    0x007FFFFF  not a number: the device has no value
NRes          0x0800    0x00800000  not at this resolution: the value does not fit
+INF          0x07FE    0x007FFFFE  above the device's measuring range
-INF          0x0802    0x00800002  below the device's measuring range
reserved      0x0801    0x00800001  reserved for future use
============  ========  ==========  =====================================================

Only these exact codes are special: the same mantissa with another exponent is an ordinary number
(0x17FF is 2047 x 10 = 20470), as in 11073-20601's table, which pins the exponent to 0.

Decoding returns a ``float`` or a :class:`Special`; a special value is never turned into a number
(nor into ``math.nan``/``math.inf``): it becomes a quality flag on the reading
(:func:`devices.gatt.readings.special_flag`). A decoded float is the double nearest to the exact
decimal ``mantissa * 10**exponent`` (``0xB078`` is 120e-5 and decodes to exactly ``0.0012``).

Encoding picks, unless told an ``exponent``, the representation with the most significant digits
that fits, then drops the trailing zeros of a fraction: ``0.0012`` -> 12e-4, ``36.6`` -> 366e-1,
``150`` -> 150e0, ``1/3`` -> 333e-3 (rounded half to even), ``20470`` -> 2047e1. With an
``exponent`` the value is rounded to that resolution, which is what real devices do (a
glucometer in kg/L sends exponent -5: 120 mg/dL is ``0xB078``). So for every value that
SFLOAT/FLOAT can represent, ``decode(encode(v)) == v``.
"""

from __future__ import annotations

import math
import numbers
import struct
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import TypeAlias

from devices.errors import DecodeError
from devices.gatt.errors import EncodeError

__all__ = [
    "FLOAT_NAN",
    "FLOAT_NEG_INF",
    "FLOAT_NRES",
    "FLOAT_POS_INF",
    "FLOAT_RESERVED",
    "SFLOAT_NAN",
    "SFLOAT_NEG_INF",
    "SFLOAT_NRES",
    "SFLOAT_POS_INF",
    "SFLOAT_RESERVED",
    "Numeric",
    "Special",
    "decode_float",
    "decode_sfloat",
    "encode_float",
    "encode_sfloat",
    "float_from_bytes",
    "float_to_bytes",
    "is_special",
    "sfloat_from_bytes",
    "sfloat_parts",
    "sfloat_to_bytes",
]


class Special(StrEnum):
    """An IEEE 11073 special value. The string values equal the matching ``Quality`` flags."""

    NAN = "nan"
    NRES = "nres"
    POS_INF = "pos_inf"
    NEG_INF = "neg_inf"
    RESERVED = "reserved"


Numeric: TypeAlias = float | Special
"""A decoded SFLOAT/FLOAT: a number, or the special value the device sent instead."""

# IEEE 11073-20601-2008 Annex F.8: exponent 0 and mantissa
# +(2^11 - 1), -2^11, +(2^11 - 2), -(2^11 - 2), -(2^11 - 1).
SFLOAT_NAN = 0x07FF
SFLOAT_NRES = 0x0800
SFLOAT_POS_INF = 0x07FE
SFLOAT_NEG_INF = 0x0802
SFLOAT_RESERVED = 0x0801
# Same table for the 32-bit FLOAT (mantissa +2^23-1, -2^23, +2^23-2, -(2^23-2), -(2^23-1)).
FLOAT_NAN = 0x007FFFFF
FLOAT_NRES = 0x00800000
FLOAT_POS_INF = 0x007FFFFE
FLOAT_NEG_INF = 0x00800002
FLOAT_RESERVED = 0x00800001

_SFLOAT_SPECIALS: dict[int, Special] = {
    SFLOAT_NAN: Special.NAN,
    SFLOAT_NRES: Special.NRES,
    SFLOAT_POS_INF: Special.POS_INF,
    SFLOAT_NEG_INF: Special.NEG_INF,
    SFLOAT_RESERVED: Special.RESERVED,
}
_FLOAT_SPECIALS: dict[int, Special] = {
    FLOAT_NAN: Special.NAN,
    FLOAT_NRES: Special.NRES,
    FLOAT_POS_INF: Special.POS_INF,
    FLOAT_NEG_INF: Special.NEG_INF,
    FLOAT_RESERVED: Special.RESERVED,
}
_SFLOAT_CODES = {v: k for k, v in _SFLOAT_SPECIALS.items()}
_FLOAT_CODES = {v: k for k, v in _FLOAT_SPECIALS.items()}

# 10**k is exact in a double up to k = 22, so m / 10.0**k is correctly rounded there; beyond it
# (FLOAT only) exact integer division is used, which Python also rounds correctly.
_POW10_FLOAT: tuple[float, ...] = tuple(10.0**k for k in range(23))
_POW10_INT: tuple[int, ...] = tuple(10**k for k in range(129))

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


def _scaled(mantissa: int, exponent: int) -> float:
    if exponent >= 0:
        return float(mantissa * _POW10_INT[exponent])
    if exponent >= -22:
        return mantissa / _POW10_FLOAT[-exponent]
    return mantissa / _POW10_INT[-exponent]


def sfloat_parts(raw: int) -> tuple[int, int]:
    """The signed ``(mantissa, exponent)`` of a 16-bit SFLOAT, specials not interpreted."""
    mantissa = raw & 0x0FFF
    if mantissa >= 0x0800:
        mantissa -= 0x1000
    exponent = raw >> 12
    if exponent >= 0x8:
        exponent -= 0x10
    return mantissa, exponent


def decode_sfloat(raw: int) -> Numeric:
    """Decode a 16-bit SFLOAT (as an unsigned integer 0 ... 0xFFFF).

    Returns the number, or the :class:`Special` for the five special codes. An integer outside
    0 ... 0xFFFF raises :class:`~devices.errors.DecodeError`.
    """
    if not 0 <= raw <= 0xFFFF:
        raise DecodeError(f"SFLOAT out of range: {raw}")
    if SFLOAT_POS_INF <= raw <= SFLOAT_NEG_INF:
        return _SFLOAT_SPECIALS[raw]
    mantissa = raw & 0x0FFF
    if mantissa >= 0x0800:
        mantissa -= 0x1000
    exponent = raw >> 12
    if exponent >= 0x8:
        exponent -= 0x10
    return _scaled(mantissa, exponent)


def decode_float(raw: int) -> Numeric:
    """Decode a 32-bit FLOAT (an unsigned integer 0 ... 0xFFFFFFFF); see :func:`decode_sfloat`."""
    if not 0 <= raw <= 0xFFFFFFFF:
        raise DecodeError(f"FLOAT out of range: {raw}")
    if FLOAT_POS_INF <= raw <= FLOAT_NEG_INF:
        return _FLOAT_SPECIALS[raw]
    mantissa = raw & 0x00FFFFFF
    if mantissa >= 0x00800000:
        mantissa -= 0x01000000
    exponent = raw >> 24
    if exponent >= 0x80:
        exponent -= 0x100
    return _scaled(mantissa, exponent)


def _mantissa_fits(mantissa: int, exponent: int, bits: int) -> bool:
    top = (1 << (bits - 1)) - 1
    if exponent == 0:
        # With exponent 0 the two highest and three lowest mantissas are the special codes.
        return -(top - 2) <= mantissa <= top - 2
    return -(top + 1) <= mantissa <= top


def _encode(
    value: object, exponent: int | None, *, name: str, bits: int, e_min: int, e_max: int
) -> tuple[int, int]:
    """``(mantissa, exponent)`` for a finite number; see :func:`encode_sfloat`."""
    # numbers.Real also admits NumPy scalars (np.float32 is no float subclass); bool is refused.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise EncodeError(name, value, "not a number or a Special")
    if isinstance(value, numbers.Integral):
        exact = Decimal(int(value))
    else:
        as_float = float(value)
        if not math.isfinite(as_float):
            raise EncodeError(name, value, "not finite; send a Special (NaN, +INF, -INF) instead")
        # repr() is the shortest decimal that reads back as this double: 0.0012, not 0.00119999...
        exact = Decimal(repr(as_float))
    if exponent is not None:
        if not e_min <= exponent <= e_max:
            raise EncodeError(name, value, f"exponent {exponent} outside {e_min} ... {e_max}")
        mantissa = int(exact.scaleb(-exponent).to_integral_value(rounding=ROUND_HALF_EVEN))
        if mantissa == 0:
            return 0, exponent
        if not _mantissa_fits(mantissa, exponent, bits):
            raise EncodeError(name, value, f"does not fit {bits}-bit mantissa at 10^{exponent}")
        return mantissa, exponent
    for e in range(e_min, e_max + 1):
        mantissa = int(exact.scaleb(-e).to_integral_value(rounding=ROUND_HALF_EVEN))
        if _mantissa_fits(mantissa, e, bits):
            break
    else:
        raise EncodeError(name, value, "too large")
    if mantissa == 0:
        return 0, 0
    # Drop trailing zeros of a fraction (0.0012 is 12e-4, not 1200e-6), but not of a whole
    # number: 150 stays 150e0, which says "to the unit" as a device would.
    while mantissa % 10 == 0 and e < 0 and _mantissa_fits(mantissa // 10, e + 1, bits):
        mantissa //= 10
        e += 1
    return mantissa, e


def encode_sfloat(value: Numeric, *, exponent: int | None = None) -> int:
    """Encode a number or :class:`Special` as a 16-bit SFLOAT (returned as an unsigned integer).

    ``exponent`` (-8 ... 7) fixes the resolution (the value is rounded half to even); without it
    the most precise representation is used. Raises :class:`~devices.gatt.errors.EncodeError` for
    non-finite floats (send a :class:`Special`), and for values too large (beyond 2047e7) or too
    precise for the given exponent's 12-bit mantissa.
    """
    if isinstance(value, Special):
        return _SFLOAT_CODES[value]
    mantissa, e = _encode(value, exponent, name="SFLOAT", bits=12, e_min=-8, e_max=7)
    return ((e & 0xF) << 12) | (mantissa & 0x0FFF)


def encode_float(value: Numeric, *, exponent: int | None = None) -> int:
    """Encode a number or :class:`Special` as a 32-bit FLOAT; see :func:`encode_sfloat`.

    ``exponent`` is -128 ... 127, the mantissa 24-bit signed.
    """
    if isinstance(value, Special):
        return _FLOAT_CODES[value]
    mantissa, e = _encode(value, exponent, name="FLOAT", bits=24, e_min=-128, e_max=127)
    return ((e & 0xFF) << 24) | (mantissa & 0x00FFFFFF)


def is_special(value: Numeric | None) -> bool:
    """True when ``value`` is a :class:`Special` rather than a number (or absent)."""
    return isinstance(value, Special)


def sfloat_from_bytes(data: bytes, offset: int = 0) -> Numeric:
    """Decode the little-endian SFLOAT at ``data[offset:offset + 2]`` (DecodeError if short)."""
    if offset < 0 or len(data) < offset + 2:
        raise DecodeError(f"SFLOAT needs 2 bytes at offset {offset}", data)
    return decode_sfloat(_U16.unpack_from(data, offset)[0])


def float_from_bytes(data: bytes, offset: int = 0) -> Numeric:
    """Decode the little-endian FLOAT at ``data[offset:offset + 4]`` (DecodeError if short)."""
    if offset < 0 or len(data) < offset + 4:
        raise DecodeError(f"FLOAT needs 4 bytes at offset {offset}", data)
    return decode_float(_U32.unpack_from(data, offset)[0])


def sfloat_to_bytes(value: Numeric, *, exponent: int | None = None) -> bytes:
    """The two little-endian bytes of :func:`encode_sfloat`."""
    return _U16.pack(encode_sfloat(value, exponent=exponent))


def float_to_bytes(value: Numeric, *, exponent: int | None = None) -> bytes:
    """The four little-endian bytes of :func:`encode_float`."""
    return _U32.pack(encode_float(value, exponent=exponent))
