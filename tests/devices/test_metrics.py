"""The metric catalog: units, LOINC codes and plausible ranges doctors and devices rely on."""

from __future__ import annotations

import pytest

from devices import METRICS, UnitError, UnknownMetricError, get_metric

REQUIRED = {
    "glucose",
    "bp_systolic",
    "bp_diastolic",
    "bp_mean",
    "pulse_rate",
    "heart_rate",
    "spo2",
    "body_weight",
    "body_temperature",
    "steps",
    "food_oil_tpm",
    "food_temperature",
    "food_ph",
    "food_sodium",
}


def test_catalog_holds_every_metric_the_devices_measure() -> None:
    assert set(METRICS) >= REQUIRED


def test_every_metric_has_a_sane_plausible_range_and_a_canonical_unit() -> None:
    for m in METRICS.values():
        assert m.plausible_min < m.plausible_max, m.code
        assert m.unit in m.units
        assert m.to_canonical(1.0, m.unit) == 1.0


@pytest.mark.parametrize(
    ("code", "loinc"),
    [
        ("glucose", "15074-8"),
        ("bp_systolic", "8480-6"),
        ("bp_diastolic", "8462-4"),
        ("spo2", "59408-5"),
        ("body_weight", "29463-7"),
        ("body_temperature", "8310-5"),
    ],
)
def test_vital_signs_carry_their_loinc_codes(code: str, loinc: str) -> None:
    assert get_metric(code).loinc == loinc


def test_glucose_mg_dl_and_mmol_l_convert_both_ways() -> None:
    g = get_metric("glucose")
    assert g.to_canonical(70, "mg/dL") == pytest.approx(3.885, abs=1e-3)
    assert g.from_canonical(3.9, "mg/dL") == pytest.approx(70.26, abs=1e-2)


def test_blood_pressure_in_kpa_converts_to_mmhg() -> None:
    assert get_metric("bp_systolic").to_canonical(16.0, "kPa") == pytest.approx(120.01, abs=0.01)


def test_unknown_metric_and_unit_are_refused_with_the_offending_value() -> None:
    with pytest.raises(UnknownMetricError) as e1:
        get_metric("mood")
    assert e1.value.code == "mood"
    with pytest.raises(UnitError) as e2:
        get_metric("spo2").to_canonical(90, "mmol/L")
    assert (e2.value.metric, e2.value.unit) == ("spo2", "mmol/L")
