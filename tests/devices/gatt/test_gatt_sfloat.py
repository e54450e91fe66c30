"""IEEE 11073 SFLOAT/FLOAT: the numbers every health profile sends, and the values that are not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gatt_golden import FLOAT_36_6_CEL, SFLOAT_120_MG_DL_IN_KG_L
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import DecodeError
from devices.gatt import EncodeError, Special
from devices.gatt.sfloat import (
    decode_float,
    decode_sfloat,
    encode_float,
    encode_sfloat,
    float_from_bytes,
    float_to_bytes,
    sfloat_from_bytes,
    sfloat_parts,
    sfloat_to_bytes,
)


def test_120_mg_dl_in_kg_l_is_sfloat_b078() -> None:
    assert decode_sfloat(SFLOAT_120_MG_DL_IN_KG_L) == 0.0012
    assert sfloat_parts(SFLOAT_120_MG_DL_IN_KG_L) == (120, -5)
    assert encode_sfloat(0.0012, exponent=-5) == 0xB078


def test_36_6_celsius_is_float_6e_01_00_ff() -> None:
    assert float_from_bytes(FLOAT_36_6_CEL) == 36.6
    assert float_to_bytes(36.6) == FLOAT_36_6_CEL


@pytest.mark.parametrize(
    ("raw", "special"),
    [
        (0x07FF, Special.NAN),
        (0x0800, Special.NRES),
        (0x07FE, Special.POS_INF),
        (0x0802, Special.NEG_INF),
        (0x0801, Special.RESERVED),
    ],
)
def test_sfloat_special_values_are_never_numbers(raw: int, special: Special) -> None:
    assert decode_sfloat(raw) is special
    assert encode_sfloat(special) == raw


@pytest.mark.parametrize(
    ("raw", "special"),
    [
        (0x007FFFFF, Special.NAN),
        (0x00800000, Special.NRES),
        (0x007FFFFE, Special.POS_INF),
        (0x00800002, Special.NEG_INF),
        (0x00800001, Special.RESERVED),
    ],
)
def test_float_special_values_are_never_numbers(raw: int, special: Special) -> None:
    assert decode_float(raw) is special
    assert encode_float(special) == raw


def test_special_mantissa_with_another_exponent_is_an_ordinary_number() -> None:
    # 11073-20601 defines the specials with exponent 0 only.
    assert decode_sfloat(0x17FF) == 20470.0
    assert decode_sfloat(0xF800) == -204.8
    assert decode_float(0x017FFFFF) == 83886070.0


def test_negative_mantissa_and_exponent_decode_with_sign() -> None:
    assert decode_sfloat(0xFFFF) == -0.1  # mantissa -1, exponent -1
    assert decode_sfloat(0x0B2E) == -1234.0  # HL7 PHD table: mantissa -1234, exponent 0
    assert decode_float(0x00FFFB2E) == -1234.0


def test_every_sfloat_value_survives_encode_and_decode() -> None:
    for raw in range(0x10000):
        value = decode_sfloat(raw)
        assert decode_sfloat(encode_sfloat(value)) == value, hex(raw)


@given(st.integers(0, 0xFFFFFFFF))
def test_every_float_value_survives_encode_and_decode(raw: int) -> None:
    value = decode_float(raw)
    assert decode_float(encode_float(value)) == value


@given(st.integers(-2045, 2045), st.integers(-8, 7))
def test_a_value_encoded_at_its_exponent_keeps_its_exact_bits(mantissa: int, exponent: int) -> None:
    raw = ((exponent & 0xF) << 12) | (mantissa & 0xFFF)
    assert encode_sfloat(decode_sfloat(raw), exponent=exponent) == raw


def test_encoding_without_exponent_keeps_the_most_significant_digits() -> None:
    assert sfloat_parts(encode_sfloat(1 / 3)) == (333, -3)
    assert sfloat_parts(encode_sfloat(36.6)) == (366, -1)
    assert sfloat_parts(encode_sfloat(0.0012)) == (12, -4)
    assert sfloat_parts(encode_sfloat(120)) == (120, 0)
    assert sfloat_parts(encode_sfloat(20470)) == (2047, 1)
    assert encode_sfloat(0.0) == 0


def test_encoding_at_a_device_resolution_rounds_half_to_even() -> None:
    assert decode_sfloat(encode_sfloat(98.25, exponent=-1)) == 98.2
    assert decode_sfloat(encode_sfloat(98.35, exponent=-1)) == 98.4
    assert decode_sfloat(encode_sfloat(0.00123456, exponent=-5)) == 0.00123


def test_numpy_scalars_from_the_signal_generators_encode() -> None:
    assert decode_sfloat(encode_sfloat(np.float32(36.6))) == 36.6  # type: ignore[arg-type]
    assert decode_sfloat(encode_sfloat(np.int64(97))) == 97.0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "exponent"),
    [
        (math.nan, None),
        (math.inf, None),
        (True, None),
        ("36.6", None),
        (2048e7, None),
        (3000.0, 0),
        (1.0, 8),
        (1.0, -9),
    ],
)
def test_values_sfloat_cannot_carry_are_refused(value: object, exponent: int | None) -> None:
    with pytest.raises(EncodeError):
        encode_sfloat(value, exponent=exponent)  # type: ignore[arg-type]


def test_float_refuses_out_of_range_values() -> None:
    with pytest.raises(EncodeError):
        encode_float(1e200)
    with pytest.raises(EncodeError):
        encode_float(8388607, exponent=0)  # that mantissa with exponent 0 is NaN's code


def test_short_or_out_of_range_input_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        sfloat_from_bytes(b"\x78")
    with pytest.raises(DecodeError):
        float_from_bytes(b"\x6e\x01\x00", 0)
    with pytest.raises(DecodeError):
        decode_sfloat(0x10000)
    with pytest.raises(DecodeError):
        decode_float(-1)


def test_byte_helpers_are_little_endian() -> None:
    assert sfloat_to_bytes(0.0012, exponent=-5) == b"\x78\xb0"
    assert sfloat_from_bytes(b"\x00\x78\xb0", 1) == 0.0012
