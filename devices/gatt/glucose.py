"""Glucose Service 0x1808: Glucose Measurement 0x2A18, Measurement Context 0x2A34, Feature 0x2A51.

Layouts from the Glucose Service v1.0 and the GATT Specification Supplement (GSS);
byte-by-byte pages with worked examples are ``docs/devices/glucose-measurement.md``,
``glucose-measurement-context.md`` and ``glucose-feature.md``. All multi-byte fields are
little-endian.

**Glucose Measurement 0x2A18** (10 ... 17 bytes)::

    flags            uint8    bit 0 Time Offset present
                              bit 1 Concentration, Type and Sample Location present
                              bit 2 concentration unit: 0 = kg/L, 1 = mol/L
                              bit 3 Sensor Status Annunciation present
                              bit 4 a Context record with the same sequence number follows
                              bits 5-7 reserved
    sequence number  uint16
    base time        Date Time (7 bytes, device-local)
    time offset      sint16   minutes, if bit 0      -> user-facing time = base time + offset
    concentration    SFLOAT   kg/L or mol/L, if bit 1
    type/location    uint8    low nibble Type, high nibble Sample Location, if bit 1
    sensor status    uint16   annunciation bits, if bit 3

Units: kg/L x 10^5 = mg/dL (120 mg/dL = 0.0012 kg/L = SFLOAT 0xB078); mol/L x 10^3 = mmol/L.

Sensor Status Annunciation bit 5 is "sensor result **higher** than the device can process" and
bit 6 "**lower**" (GSS, Glucose Measurement). At least one widely used Android library has the two
swapped; ``tests/devices/gatt/test_gatt_glucose.py`` pins the SIG order.

Decoding rules shared by every codec here: a field the flags announce but the bytes do not hold
is a :class:`~devices.errors.DecodeError`; reserved flag bits are ignored; reserved values of
descriptive enumerations (Type, Sample Location, Meal, ...) are kept as plain integers so a newer
device's reading is not lost; bytes after the last announced field are ignored (the SIG grows
characteristics by appending fields).

**Timestamps.** ``base_time`` is device-local and naive; :attr:`GlucoseMeasurement.device_time`
adds the time offset. :func:`glucose_to_readings` gets UTC from the caller: either a ``clock``
callable that maps device-local time to an aware datetime (the gateway's clock correction), or,
without one, the already-corrected ``ts_fallback``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, IntFlag

from devices.gatt._convert import DeviceClock, numeric_reading, reading_time
from devices.gatt._wire import S16, U16, check_sint, check_uint, enum_or_int, flags_of, truncated
from devices.gatt.current_time import DATE_TIME_SIZE, date_time_from_bytes, date_time_to_bytes
from devices.gatt.errors import EncodeError
from devices.gatt.sfloat import Numeric, Special, decode_sfloat, encode_sfloat
from devices.reading import Quality, Reading

__all__ = [
    "CarbohydrateId",
    "GlucoseConcentrationUnit",
    "GlucoseFeature",
    "GlucoseMeasurement",
    "GlucoseMeasurementContext",
    "GlucoseSensorStatus",
    "GlucoseType",
    "Health",
    "Meal",
    "MedicationId",
    "MedicationUnit",
    "SampleLocation",
    "Tester",
    "decode_glucose_feature",
    "decode_glucose_measurement",
    "decode_glucose_measurement_context",
    "encode_glucose_feature",
    "encode_glucose_measurement",
    "encode_glucose_measurement_context",
    "glucose_sensor_status_flags",
    "glucose_to_readings",
]


class GlucoseConcentrationUnit(IntEnum):
    """Flags bit 2 of the Glucose Measurement."""

    KG_PER_L = 0
    MOL_PER_L = 1


class GlucoseType(IntEnum):
    """Type nibble (0 and 11-15 reserved)."""

    CAPILLARY_WHOLE_BLOOD = 1
    CAPILLARY_PLASMA = 2
    VENOUS_WHOLE_BLOOD = 3
    VENOUS_PLASMA = 4
    ARTERIAL_WHOLE_BLOOD = 5
    ARTERIAL_PLASMA = 6
    UNDETERMINED_WHOLE_BLOOD = 7
    UNDETERMINED_PLASMA = 8
    INTERSTITIAL_FLUID = 9
    CONTROL_SOLUTION = 10


class SampleLocation(IntEnum):
    """Sample Location nibble (0 and 5-14 reserved)."""

    FINGER = 1
    ALTERNATE_SITE_TEST = 2
    EARLOBE = 3
    CONTROL_SOLUTION = 4
    NOT_AVAILABLE = 15


class GlucoseSensorStatus(IntFlag):
    """Sensor Status Annunciation bits (12-15 reserved, kept as received)."""

    NONE = 0
    DEVICE_BATTERY_LOW = 1 << 0
    SENSOR_MALFUNCTION = 1 << 1
    SAMPLE_SIZE_INSUFFICIENT = 1 << 2
    STRIP_INSERTION_ERROR = 1 << 3
    STRIP_TYPE_INCORRECT = 1 << 4
    RESULT_TOO_HIGH = 1 << 5  # "higher than the device can process" (the SIG order: 5 = HIGH)
    RESULT_TOO_LOW = 1 << 6  # "lower than the device can process"
    TEMPERATURE_TOO_HIGH = 1 << 7
    TEMPERATURE_TOO_LOW = 1 << 8
    READ_INTERRUPTED = 1 << 9  # strip pulled too soon
    GENERAL_DEVICE_FAULT = 1 << 10
    TIME_FAULT = 1 << 11


_F_TIME_OFFSET = 0x01
_F_CONCENTRATION = 0x02
_F_MOL_PER_L = 0x04
_F_STATUS = 0x08
_F_CONTEXT = 0x10


@dataclass(frozen=True, slots=True)
class GlucoseMeasurement:
    """One Glucose Measurement record.

    ``concentration`` is in ``unit`` as sent (kg/L or mol/L, see :attr:`mg_dl` and
    :attr:`mmol_l`), or a :class:`Special`, or ``None`` when the record has no concentration
    (then ``type`` and ``sample_location`` are ``None`` too: the three travel together).
    ``time_offset_min`` is ``None`` when absent. ``sensor_status`` is ``None`` when absent.
    """

    sequence_number: int
    base_time: datetime | None
    time_offset_min: int | None = None
    concentration: Numeric | None = None
    unit: GlucoseConcentrationUnit = GlucoseConcentrationUnit.KG_PER_L
    type: GlucoseType | int | None = None
    sample_location: SampleLocation | int | None = None
    sensor_status: GlucoseSensorStatus | None = None
    context_follows: bool = False

    @property
    def device_time(self) -> datetime | None:
        """User-facing device-local time: base time plus time offset (``None`` if not known)."""
        if self.base_time is None:
            return None
        if self.time_offset_min is None:
            return self.base_time
        try:
            return self.base_time + timedelta(minutes=self.time_offset_min)
        except OverflowError:
            return None

    @property
    def mg_dl(self) -> float | None:
        """The concentration in mg/dL (kg/L x 10^5; mol/L via 18.0156 mg/dL per mmol/L)."""
        if not isinstance(self.concentration, float | int):
            return None
        if self.unit == GlucoseConcentrationUnit.KG_PER_L:
            return _clean(self.concentration * 1e5)
        return _clean(self.concentration * 1e3 * _MG_DL_PER_MMOL_L)

    @property
    def mmol_l(self) -> float | None:
        """The concentration in mmol/L (mol/L x 10^3; kg/L via 18.0156 mg/dL per mmol/L)."""
        if not isinstance(self.concentration, float | int):
            return None
        if self.unit == GlucoseConcentrationUnit.MOL_PER_L:
            return _clean(self.concentration * 1e3)
        return _clean(self.concentration * 1e5 / _MG_DL_PER_MMOL_L)


# Same constant as devices.units (molar mass of glucose 180.156 g/mol), imported there too.
_MG_DL_PER_MMOL_L = 18.0156


def _clean(x: float) -> float:
    # 0.0012 * 1e5 is 120.00000000000001 in binary floating point; SFLOAT carries at most four
    # significant digits, so rounding to 9 decimals removes only that noise.
    return round(x, 9)


def decode_glucose_measurement(data: bytes) -> GlucoseMeasurement:
    """Decode a Glucose Measurement 0x2A18 value."""
    data = bytes(data)
    n = len(data)
    if n < 3 + DATE_TIME_SIZE:
        raise truncated(data, "Glucose Measurement", 0, 3 + DATE_TIME_SIZE)
    flags = data[0]
    seq = U16.unpack_from(data, 1)[0]
    base_time = date_time_from_bytes(data, 3)
    i = 3 + DATE_TIME_SIZE
    offset: int | None = None
    if flags & _F_TIME_OFFSET:
        if n < i + 2:
            raise truncated(data, "Time Offset", i, 2)
        offset = S16.unpack_from(data, i)[0]
        i += 2
    concentration: Numeric | None = None
    gtype: GlucoseType | int | None = None
    location: SampleLocation | int | None = None
    if flags & _F_CONCENTRATION:
        if n < i + 3:
            raise truncated(data, "Concentration, Type-Sample Location", i, 3)
        concentration = decode_sfloat(U16.unpack_from(data, i)[0])
        nibbles = data[i + 2]
        gtype = enum_or_int(GlucoseType, nibbles & 0x0F)
        location = enum_or_int(SampleLocation, nibbles >> 4)
        i += 3
    status: GlucoseSensorStatus | None = None
    if flags & _F_STATUS:
        if n < i + 2:
            raise truncated(data, "Sensor Status Annunciation", i, 2)
        status = flags_of(GlucoseSensorStatus, U16.unpack_from(data, i)[0])
    return GlucoseMeasurement(
        sequence_number=seq,
        base_time=base_time,
        time_offset_min=offset,
        concentration=concentration,
        unit=(
            GlucoseConcentrationUnit.MOL_PER_L
            if flags & _F_MOL_PER_L
            else GlucoseConcentrationUnit.KG_PER_L
        ),
        type=gtype,
        sample_location=location,
        sensor_status=status,
        context_follows=bool(flags & _F_CONTEXT),
    )


def encode_glucose_measurement(
    m: GlucoseMeasurement, *, concentration_exponent: int | None = None
) -> bytes:
    """Encode a Glucose Measurement 0x2A18 value.

    ``concentration_exponent`` fixes the SFLOAT resolution as a meter would (-5 in kg/L gives
    whole mg/dL); by default the most precise representation is used.
    """
    flags = 0
    out = bytearray(1)
    out += U16.pack(check_uint("Sequence Number", m.sequence_number, 16))
    out += date_time_to_bytes(m.base_time)
    if m.time_offset_min is not None:
        flags |= _F_TIME_OFFSET
        out += S16.pack(check_sint("Time Offset", m.time_offset_min, 16))
    has_type = m.type is not None or m.sample_location is not None
    if m.concentration is not None:
        if m.type is None or m.sample_location is None:
            raise EncodeError(
                "Type-Sample Location", (m.type, m.sample_location), "required with a concentration"
            )
        flags |= _F_CONCENTRATION
        out += U16.pack(encode_sfloat(m.concentration, exponent=concentration_exponent))
        out.append(
            check_uint("Type", int(m.type), 4)
            | (check_uint("Sample Location", int(m.sample_location), 4) << 4)
        )
    elif has_type:
        raise EncodeError(
            "Type-Sample Location", (m.type, m.sample_location), "travels only with a concentration"
        )
    if m.unit == GlucoseConcentrationUnit.MOL_PER_L:
        flags |= _F_MOL_PER_L
    if m.sensor_status is not None:
        flags |= _F_STATUS
        out += U16.pack(check_uint("Sensor Status Annunciation", int(m.sensor_status), 16))
    if m.context_follows:
        flags |= _F_CONTEXT
    out[0] = flags
    return bytes(out)


# --- Glucose Measurement Context 0x2A34 -------------------------------------------------------


class CarbohydrateId(IntEnum):
    """Carbohydrate ID (0 and 8-255 reserved)."""

    BREAKFAST = 1
    LUNCH = 2
    DINNER = 3
    SNACK = 4
    DRINK = 5
    SUPPER = 6
    BRUNCH = 7


class Meal(IntEnum):
    """Meal (0 and 6-255 reserved)."""

    PREPRANDIAL = 1
    POSTPRANDIAL = 2
    FASTING = 3
    CASUAL = 4  # snacks, drinks, etc.
    BEDTIME = 5


class Tester(IntEnum):
    """Tester nibble (0 and 4-14 reserved)."""

    SELF = 1
    HEALTH_CARE_PROFESSIONAL = 2
    LAB_TEST = 3
    NOT_AVAILABLE = 15


class Health(IntEnum):
    """Health nibble (0 and 6-14 reserved)."""

    MINOR_HEALTH_ISSUES = 1
    MAJOR_HEALTH_ISSUES = 2
    DURING_MENSES = 3
    UNDER_STRESS = 4
    NO_HEALTH_ISSUES = 5
    NOT_AVAILABLE = 15


class MedicationId(IntEnum):
    """Medication ID (0 and 6-255 reserved)."""

    RAPID_ACTING_INSULIN = 1
    SHORT_ACTING_INSULIN = 2
    INTERMEDIATE_ACTING_INSULIN = 3
    LONG_ACTING_INSULIN = 4
    PRE_MIXED_INSULIN = 5


class MedicationUnit(IntEnum):
    """Flags bit 5 of the Context: the Medication field's unit."""

    KILOGRAMS = 0
    LITERS = 1


EXERCISE_DURATION_OVERRUN = 0xFFFF  # GSS: 65535 s means "overrun"

_C_CARB = 0x01
_C_MEAL = 0x02
_C_TESTER_HEALTH = 0x04
_C_EXERCISE = 0x08
_C_MEDICATION = 0x10
_C_MED_LITERS = 0x20
_C_HBA1C = 0x40
_C_EXTENDED = 0x80


@dataclass(frozen=True, slots=True)
class GlucoseMeasurementContext:
    """The context of the Glucose Measurement with the same ``sequence_number``.

    Fields travel in pairs where the spec pairs them (``carbohydrate_id`` with
    ``carbohydrate_kg``, ``tester`` with ``health``, exercise duration with intensity,
    ``medication_id`` with ``medication``); ``None`` means absent. ``carbohydrate_kg`` is in
    kilograms (SFLOAT), ``medication`` in kilograms or litres per ``medication_unit``,
    ``exercise_duration_s`` in seconds (65535 = overrun), ``exercise_intensity_pct`` in percent,
    ``hba1c_pct`` in percent. ``extended_flags`` (all bits reserved) is kept when present.
    """

    sequence_number: int
    extended_flags: int | None = None
    carbohydrate_id: CarbohydrateId | int | None = None
    carbohydrate_kg: Numeric | None = None
    meal: Meal | int | None = None
    tester: Tester | int | None = None
    health: Health | int | None = None
    exercise_duration_s: int | None = None
    exercise_intensity_pct: int | None = None
    medication_id: MedicationId | int | None = None
    medication: Numeric | None = None
    medication_unit: MedicationUnit = MedicationUnit.KILOGRAMS
    hba1c_pct: Numeric | None = None


def decode_glucose_measurement_context(data: bytes) -> GlucoseMeasurementContext:
    """Decode a Glucose Measurement Context 0x2A34 value (3 ... 17 bytes)."""
    data = bytes(data)
    n = len(data)
    if n < 3:
        raise truncated(data, "Glucose Measurement Context", 0, 3)
    flags = data[0]
    seq = U16.unpack_from(data, 1)[0]
    i = 3

    def need(size: int, field: str) -> None:
        if n < i + size:
            raise truncated(data, field, i, size)

    extended: int | None = None
    if flags & _C_EXTENDED:
        need(1, "Extended Flags")
        extended = data[i]
        i += 1
    carb_id: CarbohydrateId | int | None = None
    carb: Numeric | None = None
    if flags & _C_CARB:
        need(3, "Carbohydrate ID, Carbohydrate")
        carb_id = enum_or_int(CarbohydrateId, data[i])
        carb = decode_sfloat(U16.unpack_from(data, i + 1)[0])
        i += 3
    meal: Meal | int | None = None
    if flags & _C_MEAL:
        need(1, "Meal")
        meal = enum_or_int(Meal, data[i])
        i += 1
    tester: Tester | int | None = None
    health: Health | int | None = None
    if flags & _C_TESTER_HEALTH:
        need(1, "Tester-Health")
        tester = enum_or_int(Tester, data[i] & 0x0F)
        health = enum_or_int(Health, data[i] >> 4)
        i += 1
    duration: int | None = None
    intensity: int | None = None
    if flags & _C_EXERCISE:
        need(3, "Exercise Duration, Exercise Intensity")
        duration = U16.unpack_from(data, i)[0]
        intensity = data[i + 2]
        i += 3
    med_id: MedicationId | int | None = None
    med: Numeric | None = None
    if flags & _C_MEDICATION:
        need(3, "Medication ID, Medication")
        med_id = enum_or_int(MedicationId, data[i])
        med = decode_sfloat(U16.unpack_from(data, i + 1)[0])
        i += 3
    hba1c: Numeric | None = None
    if flags & _C_HBA1C:
        need(2, "HbA1c")
        hba1c = decode_sfloat(U16.unpack_from(data, i)[0])
        i += 2
    return GlucoseMeasurementContext(
        sequence_number=seq,
        extended_flags=extended,
        carbohydrate_id=carb_id,
        carbohydrate_kg=carb,
        meal=meal,
        tester=tester,
        health=health,
        exercise_duration_s=duration,
        exercise_intensity_pct=intensity,
        medication_id=med_id,
        medication=med,
        medication_unit=(
            MedicationUnit.LITERS if flags & _C_MED_LITERS else MedicationUnit.KILOGRAMS
        ),
        hba1c_pct=hba1c,
    )


def _check_pair(name: str, a: object, b: object) -> None:
    if (a is None) != (b is None):
        raise EncodeError(name, (a, b), "both fields or neither")


def encode_glucose_measurement_context(c: GlucoseMeasurementContext) -> bytes:
    """Encode a Glucose Measurement Context 0x2A34 value."""
    flags = 0
    out = bytearray(1)
    out += U16.pack(check_uint("Sequence Number", c.sequence_number, 16))
    if c.extended_flags is not None:
        flags |= _C_EXTENDED
        out.append(check_uint("Extended Flags", c.extended_flags, 8))
    _check_pair("Carbohydrate ID, Carbohydrate", c.carbohydrate_id, c.carbohydrate_kg)
    if c.carbohydrate_id is not None and c.carbohydrate_kg is not None:
        flags |= _C_CARB
        out.append(check_uint("Carbohydrate ID", int(c.carbohydrate_id), 8))
        out += U16.pack(encode_sfloat(c.carbohydrate_kg))
    if c.meal is not None:
        flags |= _C_MEAL
        out.append(check_uint("Meal", int(c.meal), 8))
    _check_pair("Tester-Health", c.tester, c.health)
    if c.tester is not None and c.health is not None:
        flags |= _C_TESTER_HEALTH
        out.append(
            check_uint("Tester", int(c.tester), 4) | (check_uint("Health", int(c.health), 4) << 4)
        )
    _check_pair("Exercise Duration, Intensity", c.exercise_duration_s, c.exercise_intensity_pct)
    if c.exercise_duration_s is not None and c.exercise_intensity_pct is not None:
        flags |= _C_EXERCISE
        out += U16.pack(check_uint("Exercise Duration", c.exercise_duration_s, 16))
        out.append(check_uint("Exercise Intensity", c.exercise_intensity_pct, 8))
    _check_pair("Medication ID, Medication", c.medication_id, c.medication)
    if c.medication_id is not None and c.medication is not None:
        flags |= _C_MEDICATION
        out.append(check_uint("Medication ID", int(c.medication_id), 8))
        out += U16.pack(encode_sfloat(c.medication))
    if c.medication_unit == MedicationUnit.LITERS:
        flags |= _C_MED_LITERS
    if c.hba1c_pct is not None:
        flags |= _C_HBA1C
        out += U16.pack(encode_sfloat(c.hba1c_pct))
    out[0] = flags
    return bytes(out)


# --- Glucose Feature 0x2A51 -------------------------------------------------------------------


class GlucoseFeature(IntFlag):
    """Glucose Feature 0x2A51 (uint16; bits 11-15 reserved, kept as received)."""

    NONE = 0
    LOW_BATTERY_DETECTION = 1 << 0
    SENSOR_MALFUNCTION_DETECTION = 1 << 1
    SENSOR_SAMPLE_SIZE = 1 << 2
    SENSOR_STRIP_INSERTION_ERROR_DETECTION = 1 << 3
    SENSOR_STRIP_TYPE_ERROR_DETECTION = 1 << 4
    SENSOR_RESULT_HIGH_LOW_DETECTION = 1 << 5
    SENSOR_TEMPERATURE_HIGH_LOW_DETECTION = 1 << 6
    SENSOR_READ_INTERRUPT_DETECTION = 1 << 7
    GENERAL_DEVICE_FAULT = 1 << 8
    TIME_FAULT = 1 << 9
    MULTIPLE_BOND = 1 << 10


def decode_glucose_feature(data: bytes) -> GlucoseFeature:
    """Decode a Glucose Feature 0x2A51 value (2 bytes; trailing bytes ignored)."""
    data = bytes(data)
    if len(data) < 2:
        raise truncated(data, "Glucose Feature", 0, 2)
    return flags_of(GlucoseFeature, U16.unpack_from(data, 0)[0])


def encode_glucose_feature(features: GlucoseFeature) -> bytes:
    """Encode a Glucose Feature 0x2A51 value."""
    return U16.pack(check_uint("Glucose Feature", int(features), 16))


# --- Readings ----------------------------------------------------------------------------------

# Which quality flag each annunciation puts on the reading. Statuses the spec words as "for a
# valid test/result" (sample size, strip, temperature, strip pulled) mean the number is not a valid
# result: INVALID, so no alert fires on it. HIGH/LOW mean the true value is beyond the meter's
# range: POS_INF/NEG_INF, the number (if any) is kept as the meter's limit.
_STATUS_FLAGS: tuple[tuple[GlucoseSensorStatus, Quality], ...] = (
    (GlucoseSensorStatus.DEVICE_BATTERY_LOW, Quality.LOW_BATTERY),
    (GlucoseSensorStatus.SENSOR_MALFUNCTION, Quality.DEVICE_FAULT),
    (GlucoseSensorStatus.SAMPLE_SIZE_INSUFFICIENT, Quality.INVALID),
    (GlucoseSensorStatus.STRIP_INSERTION_ERROR, Quality.INVALID),
    (GlucoseSensorStatus.STRIP_TYPE_INCORRECT, Quality.INVALID),
    (GlucoseSensorStatus.RESULT_TOO_HIGH, Quality.POS_INF),
    (GlucoseSensorStatus.RESULT_TOO_LOW, Quality.NEG_INF),
    (GlucoseSensorStatus.TEMPERATURE_TOO_HIGH, Quality.INVALID),
    (GlucoseSensorStatus.TEMPERATURE_TOO_LOW, Quality.INVALID),
    (GlucoseSensorStatus.READ_INTERRUPTED, Quality.INVALID),
    (GlucoseSensorStatus.GENERAL_DEVICE_FAULT, Quality.DEVICE_FAULT),
    (GlucoseSensorStatus.TIME_FAULT, Quality.TIME_FAULT),
)

_MEAL_FLAGS: dict[int, Quality] = {
    Meal.PREPRANDIAL: Quality.MEAL_PREPRANDIAL,
    Meal.POSTPRANDIAL: Quality.MEAL_POSTPRANDIAL,
    Meal.FASTING: Quality.MEAL_FASTING,
    Meal.CASUAL: Quality.MEAL_CASUAL,
    Meal.BEDTIME: Quality.MEAL_BEDTIME,
}


def glucose_sensor_status_flags(status: GlucoseSensorStatus | None) -> frozenset[Quality]:
    """The quality flags of a Sensor Status Annunciation (reserved bits add none)."""
    if not status:
        return frozenset()
    return frozenset(q for bit, q in _STATUS_FLAGS if status & bit)


def glucose_to_readings(
    m: GlucoseMeasurement,
    *,
    device_id: str,
    ts_fallback: datetime,
    seq: int | None = None,
    clock: DeviceClock | None = None,
    context: GlucoseMeasurementContext | None = None,
    flags: Iterable[str] = (),
) -> list[Reading]:
    """The readings of one glucose record: ``glucose`` (and ``hba1c`` if the context has one).

    ``seq`` defaults to the record's sequence number (a gateway that widens the 16-bit counter
    past 65535 passes its own). Time: ``clock(m.device_time)`` when a ``clock`` is given and the
    record's time is known, else ``ts_fallback`` (aware). A record without a concentration yields
    no glucose reading. A control-solution test (Type or Sample Location) is flagged
    ``test_data``; a context's meal adds ``meal_*``; ``flags`` are added to every reading (e.g.
    ``clock_estimated`` from the gateway).
    """
    if context is not None and context.sequence_number != m.sequence_number:
        raise ValueError(
            f"context {context.sequence_number} does not belong to record {m.sequence_number}"
        )
    ts = reading_time(m.device_time, ts_fallback=ts_fallback, clock=clock)
    record_seq = m.sequence_number if seq is None else seq
    common = set(flags)
    if context is not None and context.meal is not None and context.meal in _MEAL_FLAGS:
        common.add(_MEAL_FLAGS[context.meal])
    out: list[Reading] = []
    if m.concentration is not None:
        glucose_flags = common | glucose_sensor_status_flags(m.sensor_status)
        if m.type == GlucoseType.CONTROL_SOLUTION or (
            m.sample_location == SampleLocation.CONTROL_SOLUTION
        ):
            glucose_flags.add(Quality.TEST_DATA)
        value: Numeric
        if isinstance(m.concentration, Special):
            value, unit = m.concentration, "mmol/L"
        elif m.unit == GlucoseConcentrationUnit.KG_PER_L:
            value, unit = _clean(m.concentration * 1e5), "mg/dL"
        else:
            value, unit = _clean(m.concentration * 1e3), "mmol/L"
        out.append(
            numeric_reading(
                device_id=device_id,
                metric="glucose",
                value=value,
                unit=unit,
                ts=ts,
                seq=record_seq,
                flags=glucose_flags,
            )
        )
    if context is not None and context.hba1c_pct is not None:
        out.append(
            numeric_reading(
                device_id=device_id,
                metric="hba1c",
                value=context.hba1c_pct,
                unit="%",
                ts=ts,
                seq=record_seq,
                flags=common,
            )
        )
    return out
