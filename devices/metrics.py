"""The metric catalog: every measurement Homeward stores.

Each metric has a stable ``code`` (what travels in payloads and lives in the database), one
canonical UCUM unit (values are stored in it), the LOINC code where one exists, and a plausible
range. A value outside the plausible range is physiologically impossible or a device fault: it is
stored with the ``implausible`` quality flag and never alerted on.

Plausible ranges are deliberately wide: they catch faults (a cuff reporting 0 mmHg, a scale
reporting 900 kg), not illness. Clinical thresholds live in the alert rules, each with its source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from devices.errors import UnitError, UnknownMetricError
from devices.units import (
    DEGF_TO_CEL,
    IDENTITY,
    KPA_TO_MMHG,
    LB_TO_KG,
    MG_DL_TO_MMOL_L,
    Conversion,
)

# Conversions only the Bluetooth profile metrics need.
_S_TO_MS = Conversion(1000.0)
_KCAL_TO_KJ = Conversion(4.184)  # thermochemical calorie, ISO 80000-5
_M_TO_CM = Conversion(100.0)
_IN_TO_CM = Conversion(2.54)  # international inch, exactly 25.4 mm (1959 agreement)


@dataclass(frozen=True, slots=True)
class Metric:
    """One kind of measurement.

    ``unit`` is the canonical UCUM unit. ``units`` maps every accepted UCUM unit (canonical
    included) to its conversion into the canonical one. ``clinical`` readings are never thinned
    or dropped when a gateway's buffer fills up; high-rate wearable samples are.
    """

    code: str
    name: str
    unit: str
    loinc: str | None
    plausible_min: float
    plausible_max: float
    clinical: bool
    integer: bool = False
    extra_units: Mapping[str, Conversion] = field(default_factory=dict)

    @property
    def units(self) -> Mapping[str, Conversion]:
        return {self.unit: IDENTITY, **self.extra_units}

    def to_canonical(self, value: float, unit: str) -> float:
        """Convert ``value`` given in ``unit`` to the canonical unit.

        Raises :class:`UnitError` if ``unit`` is not accepted for this metric.
        """
        conv = self.units.get(unit)
        if conv is None:
            raise UnitError(self.code, unit, tuple(self.units))
        return conv.to_canonical(value)

    def from_canonical(self, value: float, unit: str) -> float:
        """Convert a canonical ``value`` into ``unit`` (for display, e.g. glucose in mg/dL)."""
        conv = self.units.get(unit)
        if conv is None:
            raise UnitError(self.code, unit, tuple(self.units))
        return conv.from_canonical(value)

    def is_plausible(self, value_canonical: float) -> bool:
        """True when a canonical value lies inside the plausible range (inclusive)."""
        return self.plausible_min <= value_canonical <= self.plausible_max


_CATALOG: tuple[Metric, ...] = (
    # Glucose is stored in mmol/L, the unit Chinese clinicians use (CDS guideline 2020).
    # Range: meters measure 0.6-33.3 mmol/L; hyperosmolar states exceed 55 mmol/L (1000 mg/dL)
    # only exceptionally, and below 0.5 mmol/L no living patient reads.
    Metric(
        "glucose",
        "Glucose",
        "mmol/L",
        "15074-8",
        0.5,
        55.5,
        clinical=True,
        extra_units={"mg/dL": MG_DL_TO_MMOL_L},
    ),
    Metric(
        "bp_systolic",
        "Systolic blood pressure",
        "mm[Hg]",
        "8480-6",
        40.0,
        300.0,
        clinical=True,
        extra_units={"kPa": KPA_TO_MMHG},
    ),
    Metric(
        "bp_diastolic",
        "Diastolic blood pressure",
        "mm[Hg]",
        "8462-4",
        20.0,
        200.0,
        clinical=True,
        extra_units={"kPa": KPA_TO_MMHG},
    ),
    Metric(
        "bp_mean",
        "Mean arterial pressure",
        "mm[Hg]",
        "8478-0",
        25.0,
        250.0,
        clinical=True,
        extra_units={"kPa": KPA_TO_MMHG},
    ),
    # Pulse rate from a cuff or oximeter; heart rate from an ECG/PPG wearable. LOINC 8867-4
    # ("Heart rate") is the code the FHIR vital-signs profile uses for both.
    Metric("pulse_rate", "Pulse rate", "/min", "8867-4", 20.0, 300.0, clinical=True),
    Metric("heart_rate", "Heart rate", "/min", "8867-4", 20.0, 300.0, clinical=False),
    # Pulse oximeters are specified over 70-100 % (ISO 80601-2-61); below 50 % is a probe fault.
    Metric("spo2", "Oxygen saturation (SpO2)", "%", "59408-5", 50.0, 100.0, clinical=False),
    Metric(
        "body_weight",
        "Body weight",
        "kg",
        "29463-7",
        10.0,
        350.0,
        clinical=True,
        extra_units={"[lb_av]": LB_TO_KG},
    ),
    Metric(
        "body_temperature",
        "Body temperature",
        "Cel",
        "8310-5",
        30.0,
        45.0,
        clinical=True,
        extra_units={"[degF]": DEGF_TO_CEL},
    ),
    Metric(
        "steps",
        "Steps",
        "{steps}",
        "55423-8",
        0.0,
        100_000.0,
        clinical=False,
        integer=True,
    ),
    # Smart chopsticks (vendor profile, docs/devices/chopsticks.md): no LOINC codes exist.
    # Total polar material: fresh oil 2-8 %, discard above 25-27 % (DGF/EU frying-oil limits).
    Metric(
        "food_oil_tpm", "Cooking oil total polar material", "%", None, 0.0, 60.0, clinical=False
    ),
    Metric("food_temperature", "Food temperature", "Cel", None, -30.0, 150.0, clinical=False),
    Metric("food_ph", "Food pH", "[pH]", None, 0.0, 14.0, clinical=False),
    # Sodium per bite in mg; salt (NaCl) = sodium x 2.54.
    Metric("food_sodium", "Sodium per bite", "mg", None, 0.0, 5000.0, clinical=False),
    # --- Metrics the Bluetooth health profiles carry (issue 4, devices/gatt, docs/devices/) ---
    # RR interval: Heart Rate Measurement 0x2A37 sends it in 1/1024 s. 200-3000 ms is a heart
    # rate of 300-20 /min, the heart_rate range above. No LOINC code is used for beat intervals.
    Metric(
        "rr_interval",
        "RR interval",
        "ms",
        None,
        200.0,
        3000.0,
        clinical=False,
        extra_units={"s": _S_TO_MS},
    ),
    # Energy expended since the wearable's last reset (0x2A37 field, uint16 kJ, 65535 = full).
    Metric(
        "energy_expended",
        "Energy expended",
        "kJ",
        None,
        0.0,
        65535.0,
        clinical=False,
        extra_units={"kcal": _KCAL_TO_KJ},
    ),
    # Weight Measurement 0x2A9D: BMI (0.1 kg/m2) and height (0.001 m or 0.1 in). LOINC codes of
    # the FHIR vital-signs profile (39156-5 BMI, 8302-2 body height).
    Metric("bmi", "Body mass index", "kg/m2", "39156-5", 8.0, 150.0, clinical=True),
    Metric(
        "body_height",
        "Body height",
        "cm",
        "8302-2",
        40.0,
        260.0,
        clinical=True,
        extra_units={"m": _M_TO_CM, "[in_i]": _IN_TO_CM},
    ),
    # PLX Pulse Amplitude Index (0x2A5E/0x2A5F), percent: perfusion index, 0.02-20 % in practice.
    Metric(
        "pulse_amplitude_index",
        "Pulse amplitude index",
        "%",
        None,
        0.0,
        100.0,
        clinical=False,
    ),
    # HbA1c from the Glucose Measurement Context 0x2A34 (NGSP %, LOINC 4548-4); 3-20 % covers
    # every value a living patient has (ADA Standards of Care 2024, doi:10.2337/dc24-S002).
    Metric("hba1c", "Hemoglobin A1c", "%", "4548-4", 3.0, 20.0, clinical=True),
    # Battery Level 0x2A19 of any device's Battery Service, percent.
    Metric(
        "device_battery",
        "Device battery level",
        "%",
        None,
        0.0,
        100.0,
        clinical=False,
        integer=True,
    ),
    # Smart chopsticks meal events (docs/devices/chopsticks.md): 1 = meal started, 2 = meal ended.
    Metric(
        "meal_event",
        "Meal start/stop event",
        "{event}",
        None,
        1.0,
        2.0,
        clinical=False,
        integer=True,
    ),
    # At a meal's end: bites taken and the sodium summed over them (WHO: < 2000 mg sodium a day).
    Metric(
        "meal_bites", "Bites in a meal", "{bites}", None, 0.0, 1000.0, clinical=False, integer=True
    ),
    Metric("meal_sodium", "Sodium in a meal", "mg", None, 0.0, 20000.0, clinical=False),
)

METRICS: Mapping[str, Metric] = MappingProxyType({m.code: m for m in _CATALOG})


def get_metric(code: str) -> Metric:
    """The catalog entry for ``code``; raises :class:`UnknownMetricError` for anything else."""
    try:
        return METRICS[code]
    except KeyError:
        raise UnknownMetricError(code) from None
