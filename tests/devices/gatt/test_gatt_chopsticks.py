"""Smart chopsticks vendor profile: bites and meals as docs/devices/chopsticks.md specifies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from gatt_golden import (
    CHOPSTICKS_BITE_FULL,
    CHOPSTICKS_BITE_TIP_OUT_OF_FOOD,
    CHOPSTICKS_FEATURE_ALL,
    CHOPSTICKS_MEAL_ENDED,
    CHOPSTICKS_MEAL_STARTED,
)
from gatt_strategies import optional_device_times, sfloats, u8, u16
from hypothesis import given
from hypothesis import strategies as st

from devices import Quality
from devices.errors import DecodeError
from devices.gatt import (
    BiteMeasurement,
    ChopsticksFeature,
    ChopsticksSensorStatus,
    MealEvent,
    MealEventType,
    MealSummary,
    Special,
    bite_to_readings,
    chopsticks_status_flags,
    decode_bite_measurement,
    decode_chopsticks_feature,
    decode_meal_event,
    encode_bite_measurement,
    encode_chopsticks_feature,
    encode_meal_event,
    meal_event_to_readings,
    uuids,
)
from devices.gatt._wire import enum_or_int

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def test_vendor_uuids_share_one_random_base() -> None:
    base = uuids.CHOPSTICKS_SERVICE[8:]
    for u in (
        uuids.CHOPSTICKS_BITE_MEASUREMENT,
        uuids.CHOPSTICKS_MEAL_EVENT,
        uuids.CHOPSTICKS_FEATURE,
    ):
        assert u[8:] == base
        assert uuids.short_uuid(u) is None  # not on the SIG base
    assert uuids.full_uuid(uuids.CHOPSTICKS_SERVICE) == uuids.CHOPSTICKS_SERVICE


def test_a_bite_with_every_sensor() -> None:
    m = decode_bite_measurement(CHOPSTICKS_BITE_FULL)
    assert m == BiteMeasurement(
        sequence_number=42,
        timestamp=datetime(2026, 11, 23, 12, 5, 30),
        oil_tpm_pct=18.5,
        food_temperature_c=65.2,
        ph=5.8,
        sodium_mg=120.0,
    )
    assert encode_bite_measurement(m) == CHOPSTICKS_BITE_FULL
    readings = bite_to_readings(m, device_id="cs-0001", ts_fallback=NOW)
    assert [(r.metric, r.value, r.unit, r.seq) for r in readings] == [
        ("food_oil_tpm", 18.5, "%", 42),
        ("food_temperature", 65.2, "Cel", 42),
        ("food_ph", 5.8, "[pH]", 42),
        ("food_sodium", 120.0, "mg", 42),
    ]


def test_a_bite_with_the_tip_out_of_food_is_invalid() -> None:
    m = decode_bite_measurement(CHOPSTICKS_BITE_TIP_OUT_OF_FOOD)
    assert m.food_temperature_c is Special.NAN
    assert m.sensor_status == ChopsticksSensorStatus.TIP_NOT_IN_FOOD
    (r,) = bite_to_readings(m, device_id="cs-0001", ts_fallback=NOW)
    assert r.value is None
    assert r.flags == {Quality.NAN, Quality.INVALID}


def test_a_sensor_fault_flags_only_that_sensors_value() -> None:
    flags = chopsticks_status_flags(
        ChopsticksSensorStatus.PH_SENSOR_FAULT | ChopsticksSensorStatus.BATTERY_LOW
    )
    assert flags["food_ph"] == {Quality.DEVICE_FAULT, Quality.LOW_BATTERY}
    assert flags["food_sodium"] == {Quality.LOW_BATTERY}
    assert chopsticks_status_flags(ChopsticksSensorStatus.TPM_SENSOR_FAULT)["food_oil_tpm"] == {
        Quality.DEVICE_FAULT
    }
    conductivity = chopsticks_status_flags(ChopsticksSensorStatus.CONDUCTIVITY_SENSOR_FAULT)
    assert conductivity["food_sodium"] == {Quality.DEVICE_FAULT}
    assert conductivity["food_ph"] == frozenset()
    unset = chopsticks_status_flags(ChopsticksSensorStatus.DEVICE_CLOCK_NOT_SET)
    assert unset["food_temperature"] == {Quality.TIME_FAULT}


def test_meal_start_and_end() -> None:
    start = decode_meal_event(CHOPSTICKS_MEAL_STARTED)
    assert start == MealEvent(41, MealEventType.MEAL_STARTED, datetime(2026, 11, 23, 12, 0))
    assert encode_meal_event(start) == CHOPSTICKS_MEAL_STARTED
    end = decode_meal_event(CHOPSTICKS_MEAL_ENDED)
    assert end.summary == MealSummary(35, 1250.0)
    assert encode_meal_event(end) == CHOPSTICKS_MEAL_ENDED
    event, bites, sodium = meal_event_to_readings(end, device_id="cs-0001", ts_fallback=NOW)
    assert (event.metric, event.value, event.unit) == ("meal_event", 2.0, "{event}")
    assert (bites.metric, bites.value) == ("meal_bites", 35.0)
    assert (sodium.metric, sodium.value, sodium.unit) == ("meal_sodium", 1250.0, "mg")
    assert {r.seq for r in (event, bites, sodium)} == {44}


def test_a_reserved_meal_event_is_kept_and_flagged() -> None:
    m = decode_meal_event(bytes([0x00, 0x01, 0x00, 0x07]))
    assert m.event == 7
    (r,) = meal_event_to_readings(m, device_id="cs-0001", ts_fallback=NOW)
    assert Quality.IMPLAUSIBLE in r.flags


def test_features() -> None:
    f = decode_chopsticks_feature(CHOPSTICKS_FEATURE_ALL)
    assert ChopsticksFeature.STORED_RECORDS in f
    assert encode_chopsticks_feature(f) == CHOPSTICKS_FEATURE_ALL


@pytest.mark.parametrize(
    ("data", "decode"),
    [
        (CHOPSTICKS_BITE_FULL[:2], decode_bite_measurement),
        (CHOPSTICKS_BITE_FULL[:9], decode_bite_measurement),  # time stamp cut
        (CHOPSTICKS_BITE_FULL[:-1], decode_bite_measurement),  # sodium cut
        (CHOPSTICKS_BITE_TIP_OUT_OF_FOOD[:-1], decode_bite_measurement),  # status cut
        (CHOPSTICKS_MEAL_ENDED[:-1], decode_meal_event),  # summary cut
        (CHOPSTICKS_MEAL_STARTED[:3], decode_meal_event),
    ],
)
def test_truncated_chopsticks_values_are_decode_errors(
    data: bytes, decode: Callable[[bytes], object]
) -> None:
    with pytest.raises(DecodeError):
        decode(data)


@given(
    st.builds(
        BiteMeasurement,
        sequence_number=u16,
        timestamp=optional_device_times,
        oil_tpm_pct=st.none() | sfloats,
        food_temperature_c=st.none() | sfloats,
        ph=st.none() | sfloats,
        sodium_mg=st.none() | sfloats,
        sensor_status=st.none() | u16.map(ChopsticksSensorStatus),
    )
)
def test_bite_round_trips(m: BiteMeasurement) -> None:
    assert decode_bite_measurement(encode_bite_measurement(m)) == m


@given(
    u16,
    u8.map(lambda v: enum_or_int(MealEventType, v)),
    optional_device_times,
    st.none() | st.builds(MealSummary, u16, sfloats),
)
def test_meal_event_round_trips(
    seq: int, event: MealEventType | int, when: datetime | None, summary: MealSummary | None
) -> None:
    m = MealEvent(seq, event, when, summary)
    assert decode_meal_event(encode_meal_event(m)) == m
