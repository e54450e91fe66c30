"""Date Time, Current Time, Local Time Information: the clock fields clock correction relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from gatt_golden import (
    CURRENT_TIME_2026_11_23_10_00_00_5,
    DATE_TIME_2026_11_23_08_15_00,
    DATE_TIME_NOT_KNOWN,
    LOCAL_TIME_INFORMATION_CHINA,
)
from gatt_strategies import optional_device_times, u8
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import DecodeError
from devices.gatt import (
    AdjustReason,
    CurrentTime,
    DayDateTime,
    DayOfWeek,
    DstOffset,
    EncodeError,
    LocalTimeInformation,
    decode_current_time,
    decode_date_time,
    decode_day_date_time,
    decode_local_time_information,
    encode_current_time,
    encode_date_time,
    encode_day_date_time,
    encode_local_time_information,
)


def test_date_time_decodes_to_naive_device_local_time() -> None:
    when = decode_date_time(DATE_TIME_2026_11_23_08_15_00)
    assert when == datetime(2026, 11, 23, 8, 15, 0)
    assert when is not None
    assert when.tzinfo is None
    assert encode_date_time(when) == DATE_TIME_2026_11_23_08_15_00


def test_an_unset_device_clock_decodes_to_none_and_back_to_zeros() -> None:
    assert decode_date_time(DATE_TIME_NOT_KNOWN) is None
    assert decode_date_time(bytes.fromhex("EA07 00 17 08 0F 00")) is None  # month not known
    assert encode_date_time(None) == bytes(7)


@pytest.mark.parametrize(
    "hex_bytes",
    [
        "EA07 0D 17 08 0F 00",  # month 13
        "EA07 0B 20 08 0F 00",  # day 32
        "EA07 0B 17 18 0F 00",  # hour 24
        "EA07 0B 17 08 3C 00",  # minute 60
        "EA07 0B 17 08 0F 3C",  # second 60
        "2D06 0B 17 08 0F 00",  # year 1581, before the Gregorian range
        "EA07 02 1E 08 0F 00",  # 30 February
        "EA07 0B 17 08 0F",  # truncated
    ],
)
def test_impossible_or_truncated_date_times_are_decode_errors(hex_bytes: str) -> None:
    with pytest.raises(DecodeError):
        decode_date_time(bytes.fromhex(hex_bytes))


def test_an_aware_datetime_is_never_written_into_a_device() -> None:
    with pytest.raises(EncodeError):
        encode_date_time(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    with pytest.raises(EncodeError):
        encode_date_time(datetime(1500, 1, 1))


@given(optional_device_times)
def test_date_time_round_trips(when: datetime | None) -> None:
    assert decode_date_time(encode_date_time(when)) == when


def test_current_time_golden_bytes() -> None:
    ct = decode_current_time(CURRENT_TIME_2026_11_23_10_00_00_5)
    assert ct.date_time == datetime(2026, 11, 23, 10, 0, 0)
    assert ct.day_of_week == DayOfWeek.MONDAY
    assert ct.fractions256 == 128
    assert ct.adjust_reason == AdjustReason.MANUAL_TIME_UPDATE
    assert ct.exact_time == datetime(2026, 11, 23, 10, 0, 0, 500000)
    assert encode_current_time(ct) == CURRENT_TIME_2026_11_23_10_00_00_5


def test_gateway_sets_a_device_clock_never_ahead_of_real_time() -> None:
    now = datetime(2026, 11, 23, 10, 0, 0, 999_999)
    ct = CurrentTime.from_datetime(now, adjust_reason=AdjustReason.EXTERNAL_REFERENCE_TIME_UPDATE)
    assert ct.day_of_week == DayOfWeek.MONDAY
    assert ct.fractions256 == 255
    assert ct.exact_time is not None
    assert ct.exact_time <= now
    assert decode_current_time(encode_current_time(ct)) == ct


@given(
    optional_device_times,
    st.integers(0, 7),
    u8,
    u8,
)
def test_current_time_round_trips(
    when: datetime | None, dow: int, fractions: int, reason: int
) -> None:
    ct = CurrentTime(when, DayOfWeek(dow), fractions, AdjustReason(reason))
    assert decode_current_time(encode_current_time(ct)) == ct


def test_reserved_day_of_week_is_kept_not_refused() -> None:
    data = DATE_TIME_2026_11_23_08_15_00 + bytes([9])
    ddt = decode_day_date_time(data)
    assert ddt.day_of_week == 9
    assert encode_day_date_time(ddt) == data
    assert decode_day_date_time(encode_day_date_time(DayDateTime(None))) == DayDateTime(None)


def test_current_time_shorter_than_ten_bytes_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode_current_time(CURRENT_TIME_2026_11_23_10_00_00_5[:9])


def test_trailing_bytes_after_current_time_are_ignored() -> None:
    assert decode_current_time(CURRENT_TIME_2026_11_23_10_00_00_5 + b"\xff") == (
        decode_current_time(CURRENT_TIME_2026_11_23_10_00_00_5)
    )


def test_local_time_information_gives_the_utc_offset() -> None:
    lti = decode_local_time_information(LOCAL_TIME_INFORMATION_CHINA)
    assert lti == LocalTimeInformation(32, DstOffset.STANDARD_TIME)
    assert lti.utc_offset == timedelta(hours=8)
    assert encode_local_time_information(lti) == LOCAL_TIME_INFORMATION_CHINA
    unknown = decode_local_time_information(bytes([0x80, 0xFF]))
    assert unknown == LocalTimeInformation(None, DstOffset.UNKNOWN)
    assert unknown.utc_offset is None
    assert LocalTimeInformation(-20, DstOffset.DAYLIGHT_TIME).utc_offset == timedelta(hours=-4)


def test_local_time_information_out_of_range_zone_is_refused() -> None:
    with pytest.raises(DecodeError):
        decode_local_time_information(bytes([57, 0]))
    with pytest.raises(EncodeError):
        encode_local_time_information(LocalTimeInformation(57))
