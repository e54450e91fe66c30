"""Glucose Measurement, Context and Feature: what a glucometer's stored records turn into."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from gatt_golden import (
    GLUCOSE_120_MG_DL,
    GLUCOSE_CONTEXT_PREPRANDIAL_HBA1C,
    GLUCOSE_CONTROL_SOLUTION,
    GLUCOSE_FEATURE_TYPICAL,
    GLUCOSE_TOO_HIGH_MMOL,
    GLUCOSE_TOO_LOW_KG_L,
)
from gatt_strategies import device_times, nibble, optional_device_times, s16, sfloats, u8, u16
from hypothesis import given
from hypothesis import strategies as st

from devices import Quality
from devices.errors import DecodeError
from devices.gatt import (
    EncodeError,
    GlucoseConcentrationUnit,
    GlucoseFeature,
    GlucoseMeasurement,
    GlucoseMeasurementContext,
    GlucoseSensorStatus,
    GlucoseType,
    Meal,
    MedicationUnit,
    SampleLocation,
    Special,
    decode_glucose_feature,
    decode_glucose_measurement,
    decode_glucose_measurement_context,
    encode_glucose_feature,
    encode_glucose_measurement,
    encode_glucose_measurement_context,
    glucose_sensor_status_flags,
    glucose_to_readings,
)
from devices.gatt._wire import enum_or_int

RECEIVED = datetime(2026, 11, 23, 2, 0, 0, tzinfo=UTC)
CST = timedelta(hours=8)


def china_clock(device_time: datetime) -> datetime:
    """A device whose clock shows China Standard Time and is right."""
    return (device_time - CST).replace(tzinfo=UTC)


def test_120_mg_dl_record_decodes_field_by_field() -> None:
    m = decode_glucose_measurement(GLUCOSE_120_MG_DL)
    assert m.sequence_number == 7
    assert m.base_time == datetime(2026, 11, 23, 8, 15)
    assert m.time_offset_min == 30
    assert m.device_time == datetime(2026, 11, 23, 8, 45)
    assert m.concentration == 0.0012
    assert m.unit == GlucoseConcentrationUnit.KG_PER_L
    assert m.mg_dl == 120.0
    assert m.mmol_l == pytest.approx(6.661, abs=1e-3)
    assert m.type == GlucoseType.CAPILLARY_PLASMA
    assert m.sample_location == SampleLocation.FINGER
    assert m.sensor_status is None
    assert not m.context_follows
    assert encode_glucose_measurement(m, concentration_exponent=-5) == GLUCOSE_120_MG_DL


def test_120_mg_dl_reading_is_stored_in_mmol_l_at_the_corrected_time() -> None:
    (r,) = glucose_to_readings(
        decode_glucose_measurement(GLUCOSE_120_MG_DL),
        device_id="gm-0007",
        ts_fallback=RECEIVED,
        clock=china_clock,
    )
    assert (r.metric, r.unit, r.seq) == ("glucose", "mmol/L", 7)
    assert r.value == pytest.approx(120 / 18.0156)
    assert r.ts == datetime(2026, 11, 23, 0, 45, tzinfo=UTC)
    assert r.trusted


def test_sensor_status_bit_5_is_too_high_and_bit_6_too_low() -> None:
    # The SIG order; one widely used Android library swaps the two bits.
    high = decode_glucose_measurement(GLUCOSE_TOO_HIGH_MMOL)
    low = decode_glucose_measurement(GLUCOSE_TOO_LOW_KG_L)
    assert high.sensor_status == GlucoseSensorStatus.RESULT_TOO_HIGH
    assert low.sensor_status == GlucoseSensorStatus.RESULT_TOO_LOW
    assert GlucoseSensorStatus.RESULT_TOO_HIGH == 1 << 5
    assert GlucoseSensorStatus.RESULT_TOO_LOW == 1 << 6
    (hi,) = glucose_to_readings(high, device_id="gm-0007", ts_fallback=RECEIVED)
    (lo,) = glucose_to_readings(low, device_id="gm-0007", ts_fallback=RECEIVED)
    assert Quality.POS_INF in hi.flags
    assert Quality.NEG_INF not in hi.flags
    assert Quality.NEG_INF in lo.flags
    assert Quality.POS_INF not in lo.flags
    # The meter's limit is kept as the value: "at least 33.3 mmol/L".
    assert hi.value == pytest.approx(33.3)
    assert lo.value == pytest.approx(20 / 18.0156)


def test_mol_per_litre_times_1000_is_mmol_per_litre() -> None:
    m = decode_glucose_measurement(GLUCOSE_TOO_HIGH_MMOL)
    assert m.unit == GlucoseConcentrationUnit.MOL_PER_L
    assert m.concentration == 0.0333
    assert m.mmol_l == 33.3


def test_control_solution_test_is_never_taken_for_the_patient() -> None:
    m = decode_glucose_measurement(GLUCOSE_CONTROL_SOLUTION)
    assert m.type == GlucoseType.CONTROL_SOLUTION
    assert m.sample_location == SampleLocation.CONTROL_SOLUTION
    (r,) = glucose_to_readings(m, device_id="gm-0007", ts_fallback=RECEIVED)
    assert Quality.TEST_DATA in r.flags
    assert not r.trusted


@pytest.mark.parametrize(
    ("status", "flag"),
    [
        (GlucoseSensorStatus.DEVICE_BATTERY_LOW, Quality.LOW_BATTERY),
        (GlucoseSensorStatus.SENSOR_MALFUNCTION, Quality.DEVICE_FAULT),
        (GlucoseSensorStatus.SAMPLE_SIZE_INSUFFICIENT, Quality.INVALID),
        (GlucoseSensorStatus.STRIP_INSERTION_ERROR, Quality.INVALID),
        (GlucoseSensorStatus.STRIP_TYPE_INCORRECT, Quality.INVALID),
        (GlucoseSensorStatus.TEMPERATURE_TOO_HIGH, Quality.INVALID),
        (GlucoseSensorStatus.TEMPERATURE_TOO_LOW, Quality.INVALID),
        (GlucoseSensorStatus.READ_INTERRUPTED, Quality.INVALID),
        (GlucoseSensorStatus.GENERAL_DEVICE_FAULT, Quality.DEVICE_FAULT),
        (GlucoseSensorStatus.TIME_FAULT, Quality.TIME_FAULT),
    ],
)
def test_each_annunciation_becomes_its_quality_flag(
    status: GlucoseSensorStatus, flag: Quality
) -> None:
    assert glucose_sensor_status_flags(status) == {flag}


def test_reserved_status_bits_add_no_flag() -> None:
    assert glucose_sensor_status_flags(GlucoseSensorStatus(0xF000)) == frozenset()
    assert glucose_sensor_status_flags(None) == frozenset()


def test_special_concentration_is_stored_without_a_number() -> None:
    m = GlucoseMeasurement(
        3,
        datetime(2026, 1, 1),
        concentration=Special.NAN,
        type=GlucoseType.CAPILLARY_PLASMA,
        sample_location=SampleLocation.FINGER,
    )
    back = decode_glucose_measurement(encode_glucose_measurement(m))
    assert back.concentration is Special.NAN
    (r,) = glucose_to_readings(back, device_id="gm-0007", ts_fallback=RECEIVED)
    assert r.value is None
    assert Quality.NAN in r.flags


def test_context_adds_the_meal_and_an_hba1c_reading() -> None:
    m = decode_glucose_measurement(GLUCOSE_120_MG_DL)
    ctx = decode_glucose_measurement_context(GLUCOSE_CONTEXT_PREPRANDIAL_HBA1C)
    assert ctx.sequence_number == 7
    assert ctx.meal == Meal.PREPRANDIAL
    assert ctx.hba1c_pct == 7.1
    assert encode_glucose_measurement_context(ctx) == GLUCOSE_CONTEXT_PREPRANDIAL_HBA1C
    glucose, hba1c = glucose_to_readings(
        m, device_id="gm-0007", ts_fallback=RECEIVED, context=ctx, clock=china_clock
    )
    assert Quality.MEAL_PREPRANDIAL in glucose.flags
    assert (hba1c.metric, hba1c.value, hba1c.unit, hba1c.seq) == ("hba1c", 7.1, "%", 7)


def test_a_context_of_another_record_is_refused() -> None:
    m = decode_glucose_measurement(GLUCOSE_120_MG_DL)
    with pytest.raises(ValueError, match="does not belong"):
        glucose_to_readings(
            m,
            device_id="gm-0007",
            ts_fallback=RECEIVED,
            context=GlucoseMeasurementContext(sequence_number=8),
        )


def test_without_a_clock_the_corrected_fallback_time_is_used() -> None:
    m = decode_glucose_measurement(GLUCOSE_120_MG_DL)
    (r,) = glucose_to_readings(m, device_id="gm-0007", ts_fallback=RECEIVED, seq=70_007)
    assert r.ts == RECEIVED
    assert r.seq == 70_007


def test_an_unknown_device_time_falls_back_to_the_receive_time() -> None:
    m = GlucoseMeasurement(
        1, None, concentration=0.001, type=GlucoseType(1), sample_location=SampleLocation(1)
    )
    (r,) = glucose_to_readings(m, device_id="gm-0007", ts_fallback=RECEIVED, clock=china_clock)
    assert r.ts == RECEIVED


def test_a_naive_timestamp_is_a_caller_bug_not_local_time() -> None:
    m = decode_glucose_measurement(GLUCOSE_120_MG_DL)
    with pytest.raises(ValueError, match="timezone-aware"):
        glucose_to_readings(m, device_id="gm-0007", ts_fallback=datetime(2026, 1, 1))


def test_a_record_without_concentration_yields_no_glucose_reading() -> None:
    m = GlucoseMeasurement(5, datetime(2026, 1, 1), sensor_status=GlucoseSensorStatus(0x0008))
    assert glucose_to_readings(m, device_id="gm-0007", ts_fallback=RECEIVED) == []


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (GLUCOSE_120_MG_DL[:9], "shorter than flags, sequence number and base time"),
        (GLUCOSE_120_MG_DL[:11], "time offset announced, one byte of it present"),
        (GLUCOSE_120_MG_DL[:14], "concentration announced, type-location missing"),
        (GLUCOSE_TOO_HIGH_MMOL[:-1], "sensor status announced, one byte of it present"),
        (bytes([0x01]) + GLUCOSE_120_MG_DL[1:10], "time offset announced, absent"),
    ],
)
def test_fields_the_flags_announce_but_the_bytes_lack_are_decode_errors(
    data: bytes, why: str
) -> None:
    with pytest.raises(DecodeError):
        decode_glucose_measurement(data)


def test_reserved_flag_bits_and_trailing_bytes_are_ignored() -> None:
    # Bits 5-7 are reserved for future use; later versions may append fields.
    data = bytes([GLUCOSE_120_MG_DL[0] | 0xE0]) + GLUCOSE_120_MG_DL[1:] + b"\x99\x98"
    assert decode_glucose_measurement(data) == decode_glucose_measurement(GLUCOSE_120_MG_DL)


def test_reserved_type_and_location_values_keep_the_reading() -> None:
    data = GLUCOSE_120_MG_DL[:-1] + bytes([0x5B])  # type 11, location 5: both reserved
    m = decode_glucose_measurement(data)
    assert (m.type, m.sample_location) == (11, 5)
    assert not isinstance(m.type, GlucoseType)
    assert glucose_to_readings(m, device_id="gm-0007", ts_fallback=RECEIVED)[0].value is not None


def test_type_and_location_travel_only_with_a_concentration() -> None:
    with pytest.raises(EncodeError):
        encode_glucose_measurement(GlucoseMeasurement(1, None, concentration=0.001))
    with pytest.raises(EncodeError):
        encode_glucose_measurement(GlucoseMeasurement(1, None, type=GlucoseType(1)))
    with pytest.raises(EncodeError):
        encode_glucose_measurement(GlucoseMeasurement(70_000, None))


glucose_measurements = st.builds(
    GlucoseMeasurement,
    sequence_number=u16,
    base_time=optional_device_times,
    time_offset_min=st.none() | s16,
    concentration=st.none(),
    unit=st.sampled_from(GlucoseConcentrationUnit),
    sensor_status=st.none() | u16.map(GlucoseSensorStatus),
    context_follows=st.booleans(),
)


@given(glucose_measurements, st.none() | st.tuples(sfloats, nibble, nibble))
def test_glucose_measurement_round_trips(
    m: GlucoseMeasurement, reading: tuple[float | Special, int, int] | None
) -> None:
    if reading is not None:
        conc, t, loc = reading
        m = GlucoseMeasurement(
            m.sequence_number,
            m.base_time,
            m.time_offset_min,
            conc,
            m.unit,
            enum_or_int(GlucoseType, t),
            enum_or_int(SampleLocation, loc),
            m.sensor_status,
            m.context_follows,
        )
    assert decode_glucose_measurement(encode_glucose_measurement(m)) == m


glucose_contexts = st.builds(
    GlucoseMeasurementContext,
    sequence_number=u16,
    extended_flags=st.none() | u8,
    meal=st.none() | u8,
    hba1c_pct=st.none() | sfloats,
    medication_unit=st.sampled_from(MedicationUnit),
)


@given(
    glucose_contexts,
    st.none() | st.tuples(u8, sfloats),
    st.none() | st.tuples(nibble, nibble),
    st.none() | st.tuples(u16, u8),
    st.none() | st.tuples(u8, sfloats),
)
def test_glucose_context_round_trips(
    c: GlucoseMeasurementContext,
    carb: tuple[int, float | Special] | None,
    tester_health: tuple[int, int] | None,
    exercise: tuple[int, int] | None,
    medication: tuple[int, float | Special] | None,
) -> None:
    c = GlucoseMeasurementContext(
        sequence_number=c.sequence_number,
        extended_flags=c.extended_flags,
        carbohydrate_id=carb[0] if carb else None,
        carbohydrate_kg=carb[1] if carb else None,
        meal=c.meal,
        tester=tester_health[0] if tester_health else None,
        health=tester_health[1] if tester_health else None,
        exercise_duration_s=exercise[0] if exercise else None,
        exercise_intensity_pct=exercise[1] if exercise else None,
        medication_id=medication[0] if medication else None,
        medication=medication[1] if medication else None,
        medication_unit=c.medication_unit,
        hba1c_pct=c.hba1c_pct,
    )
    assert decode_glucose_measurement_context(encode_glucose_measurement_context(c)) == c


def test_context_pairs_travel_together() -> None:
    with pytest.raises(EncodeError):
        encode_glucose_measurement_context(GlucoseMeasurementContext(1, carbohydrate_id=1))
    with pytest.raises(EncodeError):
        encode_glucose_measurement_context(GlucoseMeasurementContext(1, health=5))


def test_context_with_extended_flags_announced_but_absent_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode_glucose_measurement_context(bytes([0x80, 0x01, 0x00]))
    with pytest.raises(DecodeError):
        decode_glucose_measurement_context(GLUCOSE_CONTEXT_PREPRANDIAL_HBA1C[:-1])


def test_glucose_feature_bits() -> None:
    f = decode_glucose_feature(GLUCOSE_FEATURE_TYPICAL)
    assert GlucoseFeature.SENSOR_RESULT_HIGH_LOW_DETECTION in f
    assert GlucoseFeature.MULTIPLE_BOND in f
    assert GlucoseFeature.TIME_FAULT not in f
    assert encode_glucose_feature(f) == GLUCOSE_FEATURE_TYPICAL
    with pytest.raises(DecodeError):
        decode_glucose_feature(b"\x23")


@given(device_times)
def test_device_time_adds_the_offset(base: datetime) -> None:
    m = GlucoseMeasurement(1, base, time_offset_min=-90)
    assert m.device_time == base - timedelta(minutes=90)
