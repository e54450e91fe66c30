"""Heart rate, blood pressure, pulse oximetry, weight, temperature, battery: bytes to readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from gatt_golden import (
    BATTERY_LEVEL_90,
    BLOOD_PRESSURE_128_82_FULL,
    BLOOD_PRESSURE_KPA,
    HEART_RATE_72_CONTACT_RR,
    HEART_RATE_80_UINT16_ENERGY,
    HEART_RATE_NO_SKIN_CONTACT,
    INTERMEDIATE_CUFF_PRESSURE_150,
    PLX_CONTINUOUS_88_LOW_PERFUSION,
    PLX_CONTINUOUS_DEMONSTRATION,
    PLX_SPOT_CHECK_97_FULL,
    TEMPERATURE_36_6_EAR,
    TEMPERATURE_98_6_F,
    WEIGHT_72_35_KG_BMI,
    WEIGHT_159_5_LB,
    WEIGHT_UNSUCCESSFUL,
)
from gatt_strategies import floats11073, optional_device_times, sfloats, u8, u16, u24
from hypothesis import given
from hypothesis import strategies as st

from devices import Quality
from devices.errors import DecodeError
from devices.gatt import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    BloodPressureStatus,
    BloodPressureUnit,
    EncodeError,
    HeartRateMeasurement,
    IntermediateCuffPressure,
    PlxContinuousMeasurement,
    PlxDeviceSensorStatus,
    PlxFeatures,
    PlxMeasurementStatus,
    PlxSpotCheckMeasurement,
    PlxSupportedFeatures,
    SensorContact,
    Special,
    SpO2PulseRate,
    TemperatureMeasurement,
    TemperatureType,
    TemperatureUnit,
    WeightMeasurement,
    WeightScaleFeature,
    WeightUnit,
    battery_to_readings,
    blood_pressure_to_readings,
    decode_battery_level,
    decode_blood_pressure_feature,
    decode_blood_pressure_measurement,
    decode_heart_rate_measurement,
    decode_intermediate_cuff_pressure,
    decode_intermediate_temperature,
    decode_measurement_interval,
    decode_plx_continuous_measurement,
    decode_plx_features,
    decode_plx_spot_check_measurement,
    decode_temperature_measurement,
    decode_temperature_type,
    decode_weight_measurement,
    decode_weight_scale_feature,
    encode_battery_level,
    encode_blood_pressure_feature,
    encode_blood_pressure_measurement,
    encode_heart_rate_measurement,
    encode_intermediate_cuff_pressure,
    encode_measurement_interval,
    encode_plx_continuous_measurement,
    encode_plx_features,
    encode_plx_spot_check_measurement,
    encode_temperature_measurement,
    encode_temperature_type,
    encode_weight_measurement,
    encode_weight_scale_feature,
    heart_rate_to_readings,
    plx_continuous_to_readings,
    plx_spot_check_to_readings,
    temperature_to_readings,
    weight_to_readings,
)
from devices.gatt._wire import enum_or_int

NOW = datetime(2026, 11, 23, 2, 0, 0, tzinfo=UTC)
CST = timedelta(hours=8)


def china_clock(device_time: datetime) -> datetime:
    return (device_time - CST).replace(tzinfo=UTC)


# --- Heart rate -------------------------------------------------------------------------------


def test_heart_rate_with_contact_and_rr_intervals() -> None:
    m = decode_heart_rate_measurement(HEART_RATE_72_CONTACT_RR)
    assert m == HeartRateMeasurement(72, SensorContact.DETECTED, None, (1024, 820))
    assert m.rr_intervals_ms == (1000.0, 800.78125)
    assert encode_heart_rate_measurement(m) == HEART_RATE_72_CONTACT_RR


def test_rr_intervals_end_at_the_last_beat_and_keep_distinct_keys() -> None:
    m = HeartRateMeasurement(72, SensorContact.DETECTED, None, (1024, 820, 0, 0))
    readings = heart_rate_to_readings(m, device_id="hr-0001", seq=9, ts_fallback=NOW)
    rr = [r for r in readings if r.metric == "rr_interval"]
    assert [r.value for r in rr] == [1000.0, 800.78125, 0.0, 0.0]
    assert rr[-1].ts == NOW
    assert rr[1].ts == NOW - timedelta(microseconds=2)  # two zero-length intervals after it
    assert rr[0].ts == NOW - timedelta(seconds=820 / 1024, microseconds=3)
    assert len({r.key for r in readings}) == len(readings)
    assert Quality.IMPLAUSIBLE in rr[-1].flags  # 0 ms is no heartbeat


def test_uint16_heart_rate_and_energy_expended() -> None:
    m = decode_heart_rate_measurement(HEART_RATE_80_UINT16_ENERGY)
    assert m == HeartRateMeasurement(80, SensorContact.NOT_SUPPORTED, 500, ())
    hr, energy = heart_rate_to_readings(m, device_id="hr-0001", seq=1, ts_fallback=NOW)
    assert (hr.metric, hr.value, hr.unit) == ("heart_rate", 80.0, "/min")
    assert (energy.metric, energy.value, energy.unit) == ("energy_expended", 500.0, "kJ")
    # The encoder uses uint8 whenever the value fits; the value is the same.
    assert decode_heart_rate_measurement(encode_heart_rate_measurement(m)) == m


def test_a_strap_off_the_skin_flags_its_reading() -> None:
    m = decode_heart_rate_measurement(HEART_RATE_NO_SKIN_CONTACT)
    assert m.sensor_contact == SensorContact.NOT_DETECTED
    (r,) = heart_rate_to_readings(m, device_id="hr-0001", seq=1, ts_fallback=NOW)
    assert Quality.MEASUREMENT_ISSUE in r.flags
    assert not r.trusted  # 0 /min is also implausible


def test_contact_status_value_1_means_not_supported() -> None:
    assert decode_heart_rate_measurement(bytes([0x02, 60])).sensor_contact == (
        SensorContact.NOT_SUPPORTED
    )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"\x01\x48",  # uint16 announced, one byte
        b"\x08\x48\xf4",  # energy announced, one byte
        b"\x10\x48",  # RR announced, none present
        b"\x10\x48\x00\x04\x34",  # RR announced, odd byte count
    ],
)
def test_malformed_heart_rate_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_heart_rate_measurement(data)


@given(
    st.integers(0, 0xFFFF),
    st.sampled_from(SensorContact),
    st.none() | u16,
    st.lists(u16, max_size=9).map(tuple),
)
def test_heart_rate_round_trips(
    hr: int, contact: SensorContact, energy: int | None, rr: tuple[int, ...]
) -> None:
    m = HeartRateMeasurement(hr, contact, energy, rr)
    assert decode_heart_rate_measurement(encode_heart_rate_measurement(m)) == m


# --- Blood pressure ---------------------------------------------------------------------------


def test_blood_pressure_with_every_field() -> None:
    m = decode_blood_pressure_measurement(BLOOD_PRESSURE_128_82_FULL)
    assert m == BloodPressureMeasurement(
        systolic=128.0,
        diastolic=82.0,
        mean_arterial=97.0,
        unit=BloodPressureUnit.MMHG,
        timestamp=datetime(2026, 11, 23, 7, 30),
        pulse_rate_bpm=71.0,
        user_id=1,
        status=BloodPressureStatus.IRREGULAR_PULSE,
    )
    assert encode_blood_pressure_measurement(m) == BLOOD_PRESSURE_128_82_FULL
    readings = blood_pressure_to_readings(
        m, device_id="bp-0001", seq=3, ts_fallback=NOW, clock=china_clock
    )
    assert [(r.metric, r.value) for r in readings] == [
        ("bp_systolic", 128.0),
        ("bp_diastolic", 82.0),
        ("bp_mean", 97.0),
        ("pulse_rate", 71.0),
    ]
    assert all(r.ts == datetime(2026, 11, 22, 23, 30, tzinfo=UTC) for r in readings)
    assert all(Quality.IRREGULAR_PULSE in r.flags for r in readings)
    assert all(r.trusted for r in readings)


def test_blood_pressure_in_kpa_is_stored_in_mmhg() -> None:
    m = decode_blood_pressure_measurement(BLOOD_PRESSURE_KPA)
    assert m.unit == BloodPressureUnit.KPA
    assert (m.systolic, m.diastolic, m.mean_arterial) == (17.1, 10.9, 13.0)
    sys_, _dia, _mean = blood_pressure_to_readings(m, device_id="bp-0001", seq=4, ts_fallback=NOW)
    assert sys_.unit == "mm[Hg]"
    assert sys_.value == pytest.approx(128.26, abs=0.01)
    assert encode_blood_pressure_measurement(m, pressure_exponent=-1) == BLOOD_PRESSURE_KPA


@pytest.mark.parametrize(
    ("status", "every", "pulse"),
    [
        (BloodPressureStatus.BODY_MOVEMENT, {Quality.MEASUREMENT_ISSUE}, set()),
        (BloodPressureStatus.CUFF_TOO_LOOSE, {Quality.MEASUREMENT_ISSUE}, set()),
        (BloodPressureStatus.IMPROPER_MEASUREMENT_POSITION, {Quality.MEASUREMENT_ISSUE}, set()),
        (BloodPressureStatus.PULSE_RATE_ABOVE_UPPER_LIMIT, set(), {Quality.POS_INF}),
        (BloodPressureStatus.PULSE_RATE_BELOW_LOWER_LIMIT, set(), {Quality.NEG_INF}),
        (BloodPressureStatus(0x18), set(), {Quality.MEASUREMENT_ISSUE}),  # range value 3
        (BloodPressureStatus(0xFFC0), set(), set()),  # reserved bits
    ],
)
def test_measurement_status_flags(
    status: BloodPressureStatus, every: set[Quality], pulse: set[Quality]
) -> None:
    m = BloodPressureMeasurement(120.0, 80.0, 93.0, pulse_rate_bpm=70.0, status=status)
    sys_, _dia, _mean, pr = blood_pressure_to_readings(
        m, device_id="bp-0001", seq=1, ts_fallback=NOW
    )
    assert sys_.flags == every
    assert pr.flags == every | pulse


def test_a_special_pressure_is_stored_without_a_number() -> None:
    m = BloodPressureMeasurement(Special.POS_INF, 80.0, Special.NAN)
    back = decode_blood_pressure_measurement(encode_blood_pressure_measurement(m))
    sys_, dia, mean = blood_pressure_to_readings(back, device_id="bp-0001", seq=1, ts_fallback=NOW)
    assert sys_.value is None
    assert Quality.POS_INF in sys_.flags
    assert dia.value == 80.0
    assert mean.value is None
    assert Quality.NAN in mean.flags


def test_intermediate_cuff_pressure_carries_nan_for_unused_fields() -> None:
    m = decode_intermediate_cuff_pressure(INTERMEDIATE_CUFF_PRESSURE_150)
    assert m == IntermediateCuffPressure(150.0)
    assert encode_intermediate_cuff_pressure(m) == INTERMEDIATE_CUFF_PRESSURE_150


@pytest.mark.parametrize(
    "data",
    [
        BLOOD_PRESSURE_128_82_FULL[:6],
        BLOOD_PRESSURE_128_82_FULL[:13],  # time stamp announced, cut
        BLOOD_PRESSURE_128_82_FULL[:15],  # pulse rate announced, cut
        BLOOD_PRESSURE_128_82_FULL[:16],  # user id announced, absent
        BLOOD_PRESSURE_128_82_FULL[:18],  # status announced, cut
    ],
)
def test_truncated_blood_pressure_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_blood_pressure_measurement(data)


bp_measurements = st.builds(
    BloodPressureMeasurement,
    systolic=sfloats,
    diastolic=sfloats,
    mean_arterial=sfloats,
    unit=st.sampled_from(BloodPressureUnit),
    timestamp=optional_device_times,
    pulse_rate_bpm=st.none() | sfloats,
    user_id=st.none() | u8,
    status=st.none() | u16.map(BloodPressureStatus),
)


@given(bp_measurements)
def test_blood_pressure_round_trips(m: BloodPressureMeasurement) -> None:
    assert decode_blood_pressure_measurement(encode_blood_pressure_measurement(m)) == m


def test_blood_pressure_feature() -> None:
    f = BloodPressureFeature.IRREGULAR_PULSE_DETECTION | BloodPressureFeature.MULTIPLE_BOND
    assert encode_blood_pressure_feature(f) == b"\x24\x00"
    assert decode_blood_pressure_feature(b"\x24\x00") == f


# --- Pulse oximetry -----------------------------------------------------------------------------


def test_plx_spot_check_with_every_field() -> None:
    m = decode_plx_spot_check_measurement(PLX_SPOT_CHECK_97_FULL)
    assert m == PlxSpotCheckMeasurement(
        spo2_pct=97.0,
        pulse_rate_bpm=72.0,
        timestamp=datetime(2026, 11, 23, 7, 0),
        measurement_status=PlxMeasurementStatus.VALIDATED_DATA,
        device_sensor_status=PlxDeviceSensorStatus.NONE,
        pulse_amplitude_index_pct=2.5,
    )
    assert encode_plx_spot_check_measurement(m) == PLX_SPOT_CHECK_97_FULL
    readings = plx_spot_check_to_readings(
        m, device_id="ox-0042", seq=7, ts_fallback=NOW, clock=china_clock
    )
    assert [(r.metric, r.value, r.unit) for r in readings] == [
        ("spo2", 97.0, "%"),
        ("pulse_rate", 72.0, "/min"),
        ("pulse_amplitude_index", 2.5, "%"),
    ]
    assert all(r.trusted and r.ts == datetime(2026, 11, 22, 23, 0, tzinfo=UTC) for r in readings)


def test_plx_continuous_low_perfusion_is_a_measurement_issue() -> None:
    m = decode_plx_continuous_measurement(PLX_CONTINUOUS_88_LOW_PERFUSION)
    assert m.normal == SpO2PulseRate(88.0, 95.0)
    assert m.device_sensor_status == PlxDeviceSensorStatus.LOW_PERFUSION_DETECTED
    assert encode_plx_continuous_measurement(m) == PLX_CONTINUOUS_88_LOW_PERFUSION
    spo2, _pr = plx_continuous_to_readings(m, device_id="ox-0042", seq=8, ts_fallback=NOW)
    assert spo2.flags == {Quality.MEASUREMENT_ISSUE}
    assert spo2.ts == NOW


def test_demonstration_data_never_alerts() -> None:
    m = decode_plx_continuous_measurement(PLX_CONTINUOUS_DEMONSTRATION)
    spo2, _pr = plx_continuous_to_readings(m, device_id="ox-0042", seq=9, ts_fallback=NOW)
    assert Quality.TEST_DATA in spo2.flags
    assert not spo2.trusted


@pytest.mark.parametrize(
    ("mstatus", "dstatus", "flag"),
    [
        (PlxMeasurementStatus.DATA_FOR_TESTING, None, Quality.TEST_DATA),
        (PlxMeasurementStatus.INVALID_MEASUREMENT_DETECTED, None, Quality.INVALID),
        (PlxMeasurementStatus.MEASUREMENT_UNAVAILABLE, None, Quality.INVALID),
        (PlxMeasurementStatus.QUESTIONABLE_MEASUREMENT_DETECTED, None, Quality.MEASUREMENT_ISSUE),
        (PlxMeasurementStatus.EARLY_ESTIMATED_DATA, None, Quality.MEASUREMENT_ISSUE),
        (None, PlxDeviceSensorStatus.SENSOR_DISCONNECTED, Quality.DEVICE_FAULT),
        (None, PlxDeviceSensorStatus.EQUIPMENT_MALFUNCTION_DETECTED, Quality.DEVICE_FAULT),
        (None, PlxDeviceSensorStatus.SENSOR_UNCONNECTED_TO_USER, Quality.DEVICE_FAULT),
        (None, PlxDeviceSensorStatus.POOR_SIGNAL_DETECTED, Quality.MEASUREMENT_ISSUE),
        (None, PlxDeviceSensorStatus.QUESTIONABLE_PULSE_DETECTED, Quality.MEASUREMENT_ISSUE),
    ],
)
def test_plx_status_bits_become_flags(
    mstatus: PlxMeasurementStatus | None,
    dstatus: PlxDeviceSensorStatus | None,
    flag: Quality,
) -> None:
    m = PlxSpotCheckMeasurement(95.0, 70.0, None, mstatus, dstatus)
    spo2, _pr = plx_spot_check_to_readings(m, device_id="ox-0042", seq=1, ts_fallback=NOW)
    assert spo2.flags == {flag}


def test_an_unset_oximeter_clock_is_a_time_fault() -> None:
    m = PlxSpotCheckMeasurement(95.0, 70.0, datetime(2000, 1, 1), device_clock_not_set=True)
    back = decode_plx_spot_check_measurement(encode_plx_spot_check_measurement(m))
    assert back.device_clock_not_set
    spo2, _pr = plx_spot_check_to_readings(back, device_id="ox-0042", seq=1, ts_fallback=NOW)
    assert Quality.TIME_FAULT in spo2.flags


pairs = st.builds(SpO2PulseRate, sfloats, sfloats)


@given(
    st.builds(
        PlxSpotCheckMeasurement,
        spo2_pct=sfloats,
        pulse_rate_bpm=sfloats,
        timestamp=optional_device_times,
        measurement_status=st.none() | u16.map(PlxMeasurementStatus),
        device_sensor_status=st.none() | u24.map(PlxDeviceSensorStatus),
        pulse_amplitude_index_pct=st.none() | sfloats,
        device_clock_not_set=st.booleans(),
    )
)
def test_plx_spot_check_round_trips(m: PlxSpotCheckMeasurement) -> None:
    assert decode_plx_spot_check_measurement(encode_plx_spot_check_measurement(m)) == m


@given(
    st.builds(
        PlxContinuousMeasurement,
        normal=pairs,
        fast=st.none() | pairs,
        slow=st.none() | pairs,
        measurement_status=st.none() | u16.map(PlxMeasurementStatus),
        device_sensor_status=st.none() | u24.map(PlxDeviceSensorStatus),
        pulse_amplitude_index_pct=st.none() | sfloats,
    )
)
def test_plx_continuous_round_trips(m: PlxContinuousMeasurement) -> None:
    assert decode_plx_continuous_measurement(encode_plx_continuous_measurement(m)) == m


@given(
    u16.map(PlxSupportedFeatures),
    st.none() | u16.map(PlxMeasurementStatus),
    st.none() | u24.map(PlxDeviceSensorStatus),
)
def test_plx_features_round_trip(
    supported: PlxSupportedFeatures,
    m_support: PlxMeasurementStatus | None,
    d_support: PlxDeviceSensorStatus | None,
) -> None:
    present = (
        PlxSupportedFeatures.MEASUREMENT_STATUS_SUPPORT_PRESENT
        | PlxSupportedFeatures.DEVICE_AND_SENSOR_STATUS_SUPPORT_PRESENT
    )
    supported = PlxSupportedFeatures(int(supported) & ~int(present))
    if m_support is not None:
        supported |= PlxSupportedFeatures.MEASUREMENT_STATUS_SUPPORT_PRESENT
    if d_support is not None:
        supported |= PlxSupportedFeatures.DEVICE_AND_SENSOR_STATUS_SUPPORT_PRESENT
    f = PlxFeatures(supported, m_support, d_support)
    assert decode_plx_features(encode_plx_features(f)) == f


def test_plx_features_announcing_support_fields_that_are_absent_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode_plx_features(b"\x03\x00\xe0\xff")  # both support fields announced, one present


# --- Weight -------------------------------------------------------------------------------------


def test_weight_with_bmi_and_height() -> None:
    m = decode_weight_measurement(WEIGHT_72_35_KG_BMI)
    assert m == WeightMeasurement(
        weight=72.35,
        unit=WeightUnit.SI,
        timestamp=datetime(2026, 11, 23, 7, 0),
        user_id=1,
        bmi=24.1,
        height=1.732,
    )
    assert encode_weight_measurement(m) == WEIGHT_72_35_KG_BMI
    w, bmi, h = weight_to_readings(m, device_id="sc-0001", seq=2, ts_fallback=NOW)
    assert (w.metric, w.value, w.unit) == ("body_weight", 72.35, "kg")
    assert (bmi.metric, bmi.value, bmi.unit) == ("bmi", 24.1, "kg/m2")
    assert (h.metric, h.unit) == ("body_height", "cm")
    assert h.value == pytest.approx(173.2)


def test_an_unsuccessful_weighing_is_recorded_without_a_number() -> None:
    m = decode_weight_measurement(WEIGHT_UNSUCCESSFUL)
    assert m.weight is None
    assert encode_weight_measurement(m) == WEIGHT_UNSUCCESSFUL
    (r,) = weight_to_readings(m, device_id="sc-0001", seq=3, ts_fallback=NOW)
    assert r.value is None
    assert Quality.NAN in r.flags


def test_imperial_weight_is_stored_in_kg() -> None:
    m = decode_weight_measurement(WEIGHT_159_5_LB)
    assert (m.weight, m.unit) == (159.5, WeightUnit.IMPERIAL)
    (r,) = weight_to_readings(m, device_id="sc-0001", seq=4, ts_fallback=NOW)
    assert r.value == pytest.approx(72.348, abs=1e-3)


@given(
    st.sampled_from(WeightUnit),
    st.none() | st.integers(0, 0xFFFE),
    optional_device_times,
    st.none() | u8,
    st.none() | st.tuples(u16, u16),
)
def test_weight_round_trips(
    unit: WeightUnit,
    raw_weight: int | None,
    when: datetime | None,
    user: int | None,
    raw_bmi_height: tuple[int, int] | None,
) -> None:
    imperial = unit == WeightUnit.IMPERIAL
    m = WeightMeasurement(
        weight=None if raw_weight is None else raw_weight / (100 if imperial else 200),
        unit=unit,
        timestamp=when,
        user_id=user,
        bmi=None if raw_bmi_height is None else raw_bmi_height[0] / 10,
        height=None if raw_bmi_height is None else raw_bmi_height[1] / (10 if imperial else 1000),
    )
    assert decode_weight_measurement(encode_weight_measurement(m)) == m


def test_weight_outside_the_field_is_refused() -> None:
    with pytest.raises(EncodeError):
        encode_weight_measurement(WeightMeasurement(400.0))  # > 327.67 kg
    with pytest.raises(EncodeError):
        encode_weight_measurement(WeightMeasurement(-1.0))
    with pytest.raises(EncodeError):
        encode_weight_measurement(WeightMeasurement(70.0, bmi=22.0))


def test_weight_scale_feature_resolutions() -> None:
    f = WeightScaleFeature(True, True, True, weight_resolution=7, height_resolution=3)
    data = encode_weight_scale_feature(f)
    assert data == bytes([0xBF, 0x01, 0x00, 0x00])  # bits 0-2, weight code 7, height code 3
    back = decode_weight_scale_feature(data)
    assert back == f
    assert (back.weight_resolution_kg, back.weight_resolution_lb) == (0.005, 0.01)
    assert (back.height_resolution_m, back.height_resolution_in) == (0.001, 0.1)
    assert WeightScaleFeature().weight_resolution_kg is None


# --- Temperature --------------------------------------------------------------------------------


def test_temperature_36_6_in_the_ear() -> None:
    m = decode_temperature_measurement(TEMPERATURE_36_6_EAR)
    assert m == TemperatureMeasurement(
        36.6, TemperatureUnit.CELSIUS, datetime(2026, 11, 23, 7, 0), TemperatureType.EAR
    )
    assert encode_temperature_measurement(m) == TEMPERATURE_36_6_EAR
    (r,) = temperature_to_readings(m, device_id="th-0001", seq=1, ts_fallback=NOW)
    assert (r.metric, r.value, r.unit) == ("body_temperature", 36.6, "Cel")


def test_fahrenheit_is_stored_in_celsius() -> None:
    m = decode_temperature_measurement(TEMPERATURE_98_6_F)
    assert (m.temperature, m.unit) == (98.6, TemperatureUnit.FAHRENHEIT)
    (r,) = temperature_to_readings(m, device_id="th-0001", seq=1, ts_fallback=NOW)
    assert r.value == pytest.approx(37.0)


def test_temperature_helpers() -> None:
    assert decode_temperature_type(encode_temperature_type(TemperatureType.MOUTH)) == 6
    assert decode_temperature_type(b"\x0a") == 10  # reserved, kept
    assert decode_measurement_interval(encode_measurement_interval(300)) == 300
    assert decode_intermediate_temperature(TEMPERATURE_98_6_F).unit == TemperatureUnit.FAHRENHEIT


@given(
    floats11073,
    st.sampled_from(TemperatureUnit),
    optional_device_times,
    st.none() | u8.map(lambda v: enum_or_int(TemperatureType, v)),
)
def test_temperature_round_trips(
    t: float | Special,
    unit: TemperatureUnit,
    when: datetime | None,
    ttype: TemperatureType | int | None,
) -> None:
    m = TemperatureMeasurement(t, unit, when, ttype)
    assert decode_temperature_measurement(encode_temperature_measurement(m)) == m


def test_truncated_temperature_is_a_decode_error() -> None:
    for cut in (4, 8, 12):
        with pytest.raises(DecodeError):
            decode_temperature_measurement(TEMPERATURE_36_6_EAR[:cut])


# --- Battery ------------------------------------------------------------------------------------


def test_battery_level() -> None:
    assert decode_battery_level(BATTERY_LEVEL_90) == 90
    assert encode_battery_level(90) == BATTERY_LEVEL_90
    (r,) = battery_to_readings(90, device_id="gm-0007", seq=1, ts_fallback=NOW)
    assert (r.metric, r.value, r.unit) == ("device_battery", 90.0, "%")
    with pytest.raises(DecodeError):
        decode_battery_level(b"\x65")  # 101 % is reserved
    with pytest.raises(DecodeError):
        decode_battery_level(b"")
    with pytest.raises(EncodeError):
        encode_battery_level(101)
