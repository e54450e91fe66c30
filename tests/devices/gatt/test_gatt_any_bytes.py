"""Any bytes a radio delivers: every decoder raises DecodeError or returns a value it can re-encode.

A corrupt notification must be counted and skipped by the gateway, never crash it, so decoding
an arbitrary byte string raises nothing but DecodeError. Whatever does decode survives
encode -> decode unchanged (the encoder and decoder are one definition).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import gatt_golden
import pytest
from gatt_golden import (
    GLUCOSE_120_MG_DL,
    PLX_CONTINUOUS_88_LOW_PERFUSION,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.errors import DecodeError
from devices.gatt import (
    CHARACTERISTICS,
    BloodPressureMeasurement,
    CharacteristicCodec,
    GlucoseMeasurement,
    HeartRateMeasurement,
    IntermediateCuffPressure,
    decode_characteristic,
    decode_glucose_measurement,
    decode_plx_continuous_measurement,
    decode_racp_request,
    to_readings,
    uuids,
)

CODECS = sorted(CHARACTERISTICS.values(), key=lambda c: c.name)

# Flags bytes with every bit set make the decoders walk every optional field, so bias the
# first byte towards them; the rest is arbitrary.
any_value = st.one_of(
    st.binary(max_size=40),
    st.tuples(
        st.sampled_from([0x00, 0x01, 0x0F, 0x1F, 0x3F, 0x7F, 0xFF]), st.binary(max_size=40)
    ).map(lambda t: bytes([t[0]]) + t[1]),
)


def _decode_or_none(codec: CharacteristicCodec, data: bytes) -> Any:
    with contextlib.suppress(DecodeError):
        return codec.decode(data)
    return None


@pytest.mark.parametrize("codec", CODECS, ids=[c.name for c in CODECS])
@settings(max_examples=300, deadline=None)
@given(data=any_value)
def test_decoding_any_bytes_raises_only_decode_error(
    codec: CharacteristicCodec, data: bytes
) -> None:
    value = _decode_or_none(codec, data)
    if value is None:
        return
    # What decodes re-encodes, and decodes to the same value.
    assert codec.decode(codec.encode(value)) == value


@settings(max_examples=300, deadline=None)
@given(any_value)
def test_any_control_point_write_decodes_or_is_refused(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_racp_request(data)


@pytest.mark.parametrize("cut", range(1, 8))
def test_every_bit_flip_of_a_golden_value_decodes_or_fails_cleanly(cut: int) -> None:
    for golden, decode in (
        (GLUCOSE_120_MG_DL, decode_glucose_measurement),
        (PLX_CONTINUOUS_88_LOW_PERFUSION, decode_plx_continuous_measurement),
    ):
        for i in range(len(golden)):
            corrupt = bytearray(golden)
            corrupt[i] ^= 1 << cut
            with contextlib.suppress(DecodeError):
                decode(bytes(corrupt))


# Fixtures of characteristics that end with a fixed field: bytes appended by a later version of
# the spec must be ignored. (Heart rate RR intervals run to the end; the RACP takes exact
# lengths: both are tested in their own files.)
TRAILING_OK = {
    0x2A18: ["GLUCOSE_120_MG_DL", "GLUCOSE_TOO_HIGH_MMOL", "GLUCOSE_CONTROL_SOLUTION"],
    0x2A34: ["GLUCOSE_CONTEXT_PREPRANDIAL_HBA1C"],
    0x2A51: ["GLUCOSE_FEATURE_TYPICAL"],
    0x2A2B: ["CURRENT_TIME_2026_11_23_10_00_00_5"],
    0x2A08: ["DATE_TIME_2026_11_23_08_15_00"],
    0x2A0F: ["LOCAL_TIME_INFORMATION_CHINA"],
    0x2A37: ["HEART_RATE_80_UINT16_ENERGY", "HEART_RATE_NO_SKIN_CONTACT"],
    0x2A35: ["BLOOD_PRESSURE_128_82_FULL", "BLOOD_PRESSURE_KPA"],
    0x2A36: ["INTERMEDIATE_CUFF_PRESSURE_150"],
    0x2A5E: ["PLX_SPOT_CHECK_97_FULL"],
    0x2A5F: ["PLX_CONTINUOUS_88_LOW_PERFUSION", "PLX_CONTINUOUS_DEMONSTRATION"],
    0x2A9D: ["WEIGHT_72_35_KG_BMI", "WEIGHT_UNSUCCESSFUL", "WEIGHT_159_5_LB"],
    0x2A1C: ["TEMPERATURE_36_6_EAR", "TEMPERATURE_98_6_F"],
    0x2A19: ["BATTERY_LEVEL_90"],
    uuids.CHOPSTICKS_BITE_MEASUREMENT: ["CHOPSTICKS_BITE_FULL", "CHOPSTICKS_BITE_TIP_OUT_OF_FOOD"],
    uuids.CHOPSTICKS_MEAL_EVENT: ["CHOPSTICKS_MEAL_STARTED", "CHOPSTICKS_MEAL_ENDED"],
    uuids.CHOPSTICKS_FEATURE: ["CHOPSTICKS_FEATURE_ALL"],
}


@pytest.mark.parametrize(
    ("uuid", "fixture"), [(u, name) for u, names in TRAILING_OK.items() for name in names]
)
def test_bytes_appended_by_a_later_spec_version_are_ignored(uuid: int | str, fixture: str) -> None:
    golden = getattr(gatt_golden, fixture)
    expected = decode_characteristic(uuid, golden)
    assert decode_characteristic(uuid, golden + b"\x00\xff\x07") == expected


def test_every_characteristic_of_every_profile_has_a_codec() -> None:
    wanted: set[int | str] = {
        uuids.GLUCOSE_MEASUREMENT,
        uuids.GLUCOSE_MEASUREMENT_CONTEXT,
        uuids.GLUCOSE_FEATURE,
        uuids.RECORD_ACCESS_CONTROL_POINT,
        uuids.CURRENT_TIME,
        uuids.DATE_TIME,
        uuids.HEART_RATE_MEASUREMENT,
        uuids.BLOOD_PRESSURE_MEASUREMENT,
        uuids.INTERMEDIATE_CUFF_PRESSURE,
        uuids.PLX_SPOT_CHECK_MEASUREMENT,
        uuids.PLX_CONTINUOUS_MEASUREMENT,
        uuids.WEIGHT_MEASUREMENT,
        uuids.TEMPERATURE_MEASUREMENT,
        uuids.BATTERY_LEVEL,
        uuids.CHOPSTICKS_BITE_MEASUREMENT,
        uuids.CHOPSTICKS_MEAL_EVENT,
    }
    assert {uuids.full_uuid(u) for u in wanted} <= set(CHARACTERISTICS)
    assert uuids.short_uuid(uuids.full_uuid(0x2A18)) == 0x2A18


def test_a_notification_is_routed_by_its_uuid() -> None:
    m = decode_characteristic(0x2A18, GLUCOSE_120_MG_DL)
    assert isinstance(m, GlucoseMeasurement)
    same = decode_characteristic("00002A18-0000-1000-8000-00805F9B34FB", GLUCOSE_120_MG_DL)
    assert same == m
    with pytest.raises(KeyError):
        decode_characteristic(0x2A00, b"name")


NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_to_readings_dispatches_on_the_measurement() -> None:
    glucose = to_readings(
        decode_glucose_measurement(GLUCOSE_120_MG_DL), device_id="gm-0007", ts_fallback=NOW
    )
    assert [r.metric for r in glucose] == ["glucose"]
    hr = to_readings(HeartRateMeasurement(70), device_id="hr-0001", ts_fallback=NOW, seq=1)
    assert [r.metric for r in hr] == ["heart_rate"]
    bp = to_readings(
        BloodPressureMeasurement(120.0, 80.0, 93.0), device_id="bp-0001", ts_fallback=NOW, seq=2
    )
    assert [r.metric for r in bp] == ["bp_systolic", "bp_diastolic", "bp_mean"]
    assert to_readings(IntermediateCuffPressure(150.0), device_id="bp-0001", ts_fallback=NOW) == []


def test_to_readings_needs_a_seq_where_the_measurement_has_none() -> None:
    with pytest.raises(ValueError, match="pass seq"):
        to_readings(HeartRateMeasurement(70), device_id="hr-0001", ts_fallback=NOW)
    with pytest.raises(TypeError):
        to_readings("not a measurement", device_id="hr-0001", ts_fallback=NOW, seq=1)  # type: ignore[arg-type]
