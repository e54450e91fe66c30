"""Hypothesis strategies for valid GATT values (what encoders accept and decoders return)."""

from __future__ import annotations

from datetime import datetime

from hypothesis import strategies as st

from devices.gatt.sfloat import Numeric, decode_float, decode_sfloat

# Every 16-bit pattern is a valid SFLOAT (number or special), so this covers them all.
sfloats: st.SearchStrategy[Numeric] = st.integers(0, 0xFFFF).map(decode_sfloat)
floats11073: st.SearchStrategy[Numeric] = st.integers(0, 0xFFFFFFFF).map(decode_float)

device_times: st.SearchStrategy[datetime] = st.datetimes(
    min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda d: d.replace(microsecond=0))
optional_device_times: st.SearchStrategy[datetime | None] = st.none() | device_times

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
s16 = st.integers(-0x8000, 0x7FFF)
u24 = st.integers(0, 0xFFFFFF)
nibble = st.integers(0, 0xF)
