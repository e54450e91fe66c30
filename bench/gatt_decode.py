"""BLE codecs: characteristic values decoded per second, and readings produced per second.

For each characteristic a seeded corpus of ``--packets`` realistic values is built with the
``devices.gatt`` encoders (varied flags, optional fields, statuses). Timed, in one process and
alternating for ``--rounds`` rounds; the fastest round of each is reported (on a shared machine
the minimum is the least disturbed measurement, as ``timeit`` advises):

- ``decode``: ``devices.gatt`` decoding the corpus (validated, typed dataclasses, enums);
- ``baseline``: the generic table-driven field interpreter of ``bench/_gatt_generic.py``
  decoding the same bytes into dicts (no validation, no typed objects);
- ``to_readings``: decode plus conversion into ``devices.Reading`` objects (unit conversion,
  plausibility, quality flags), reported as readings per second.

Before timing, both decoders are checked to agree on the main values of every packet. Prints
one JSON line.

    python bench/gatt_decode.py [--packets 2000] [--rounds 15] [--seed 4]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _gatt_generic import SPECS, parse

from devices.gatt import (
    BiteMeasurement,
    BloodPressureMeasurement,
    BloodPressureStatus,
    CurrentTime,
    GlucoseConcentrationUnit,
    GlucoseMeasurement,
    GlucoseMeasurementContext,
    GlucoseSensorStatus,
    GlucoseType,
    HeartRateMeasurement,
    Meal,
    MealEvent,
    MealEventType,
    MealSummary,
    NumberOfStoredRecords,
    OpCode,
    PlxContinuousMeasurement,
    PlxDeviceSensorStatus,
    PlxMeasurementStatus,
    PlxSpotCheckMeasurement,
    RecordAccessResponse,
    ResponseCode,
    SampleLocation,
    SensorContact,
    SpO2PulseRate,
    TemperatureMeasurement,
    TemperatureType,
    WeightMeasurement,
    decode_bite_measurement,
    decode_blood_pressure_measurement,
    decode_current_time,
    decode_glucose_measurement,
    decode_glucose_measurement_context,
    decode_heart_rate_measurement,
    decode_meal_event,
    decode_plx_continuous_measurement,
    decode_plx_spot_check_measurement,
    decode_racp_response,
    decode_temperature_measurement,
    decode_weight_measurement,
    encode_bite_measurement,
    encode_blood_pressure_measurement,
    encode_current_time,
    encode_glucose_measurement,
    encode_glucose_measurement_context,
    encode_heart_rate_measurement,
    encode_meal_event,
    encode_plx_continuous_measurement,
    encode_plx_spot_check_measurement,
    encode_racp_response,
    encode_temperature_measurement,
    encode_weight_measurement,
    to_readings,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
T0 = datetime(2026, 11, 1, 6, 0)
CST = timedelta(hours=8)


def _clock(device_time: datetime) -> datetime:
    return (device_time - CST).replace(tzinfo=UTC)


@dataclass
class Case:
    name: str
    packets: list[bytes]
    decode: Callable[[bytes], Any]
    spec: str
    ours_key: Callable[[Any], tuple[Any, ...]]
    base_key: Callable[[dict[str, Any]], tuple[Any, ...]]
    readings: bool = True


def _when(rng: random.Random) -> datetime:
    return T0 + timedelta(minutes=rng.randrange(0, 30 * 24 * 60))


def _maybe(rng: random.Random, p: float, value: Any) -> Any:
    return value if rng.random() < p else None


def corpus(n: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    cases: list[Case] = []

    glucose = []
    for i in range(n):
        mg_dl = rng.randrange(40, 400)
        kg = rng.random() < 0.8
        m = GlucoseMeasurement(
            sequence_number=i % 65536,
            base_time=_when(rng),
            time_offset_min=_maybe(rng, 0.5, rng.randrange(-120, 120)),
            concentration=mg_dl / 1e5 if kg else round(mg_dl / 18.0156, 1) / 1e3,
            unit=GlucoseConcentrationUnit.KG_PER_L if kg else GlucoseConcentrationUnit.MOL_PER_L,
            type=GlucoseType.CAPILLARY_PLASMA,
            sample_location=SampleLocation.FINGER,
            sensor_status=_maybe(rng, 0.2, GlucoseSensorStatus(rng.choice([0, 1, 0x20, 0x40]))),
            context_follows=rng.random() < 0.3,
        )
        glucose.append(encode_glucose_measurement(m, concentration_exponent=-5 if kg else -4))
    cases.append(
        Case(
            "glucose_measurement",
            glucose,
            decode_glucose_measurement,
            "glucose_measurement",
            lambda m: (m.sequence_number, m.concentration),
            lambda d: (d["sequence_number"], d["concentration"]),
        )
    )

    contexts = []
    for i in range(n):
        c = GlucoseMeasurementContext(
            sequence_number=i % 65536,
            meal=rng.choice(list(Meal)),
            hba1c_pct=_maybe(rng, 0.3, rng.randrange(50, 110) / 10),
            carbohydrate_id=None,
        )
        contexts.append(encode_glucose_measurement_context(c))
    cases.append(
        Case(
            "glucose_measurement_context",
            contexts,
            decode_glucose_measurement_context,
            "glucose_measurement_context",
            lambda c: (c.sequence_number, c.meal),
            lambda d: (d["sequence_number"], d["meal"]),
            readings=False,
        )
    )

    racp = []
    for _ in range(n):
        r: RecordAccessResponse | NumberOfStoredRecords = (
            RecordAccessResponse(
                OpCode.REPORT_STORED_RECORDS,
                rng.choice([ResponseCode.SUCCESS, ResponseCode.NO_RECORDS_FOUND]),
            )
            if rng.random() < 0.8
            else NumberOfStoredRecords(rng.randrange(0, 500))
        )
        racp.append(encode_racp_response(r))
    cases.append(
        Case(
            "racp_response",
            racp,
            decode_racp_response,
            "racp_response",
            lambda r: (int(r.request_op_code),) if isinstance(r, RecordAccessResponse) else (),
            lambda d: (d["operand_1"],) if d["op_code"] == 6 else (),
            readings=False,
        )
    )

    times = [
        encode_current_time(CurrentTime.from_datetime(_when(rng) + timedelta(seconds=0.37)))
        for _ in range(n)
    ]
    cases.append(
        Case(
            "current_time",
            times,
            decode_current_time,
            "current_time",
            lambda c: (c.date_time, c.fractions256),
            lambda d: (d["date_time"], d["fractions256"]),
            readings=False,
        )
    )

    hr = []
    for _ in range(n):
        bpm = rng.randrange(50, 180)
        rr = tuple(round(60 / bpm * 1024) + rng.randrange(-30, 30) for _ in range(rng.randrange(4)))
        h = HeartRateMeasurement(
            bpm, SensorContact.DETECTED, _maybe(rng, 0.1, rng.randrange(0, 5000)), rr
        )
        hr.append(encode_heart_rate_measurement(h))
    cases.append(
        Case(
            "heart_rate_measurement",
            hr,
            decode_heart_rate_measurement,
            "heart_rate_measurement",
            lambda h: (h.heart_rate_bpm, list(h.rr_intervals_1024)),
            lambda d: (d["heart_rate"], d.get("rr_intervals", [])),
        )
    )

    bp = []
    for _ in range(n):
        sys_ = rng.randrange(95, 190)
        dia = rng.randrange(55, 110)
        b = BloodPressureMeasurement(
            float(sys_),
            float(dia),
            float(round(dia + (sys_ - dia) / 3)),
            timestamp=_when(rng),
            pulse_rate_bpm=float(rng.randrange(50, 110)),
            user_id=1,
            status=BloodPressureStatus(rng.choice([0, 0, 1, 4])),
        )
        bp.append(encode_blood_pressure_measurement(b, pressure_exponent=0))
    cases.append(
        Case(
            "blood_pressure_measurement",
            bp,
            decode_blood_pressure_measurement,
            "blood_pressure_measurement",
            lambda b: (b.systolic, b.diastolic, b.pulse_rate_bpm),
            lambda d: (d["systolic"], d["diastolic"], d["pulse_rate"]),
        )
    )

    spot = []
    for _ in range(n):
        s = PlxSpotCheckMeasurement(
            float(rng.randrange(85, 100)),
            float(rng.randrange(50, 110)),
            timestamp=_when(rng),
            measurement_status=PlxMeasurementStatus.VALIDATED_DATA,
            device_sensor_status=PlxDeviceSensorStatus(rng.choice([0, 0, 0x20])),
            pulse_amplitude_index_pct=rng.randrange(5, 100) / 10,
        )
        spot.append(encode_plx_spot_check_measurement(s))
    cases.append(
        Case(
            "plx_spot_check_measurement",
            spot,
            decode_plx_spot_check_measurement,
            "plx_spot_check_measurement",
            lambda s: (s.spo2_pct, s.pulse_rate_bpm, s.pulse_amplitude_index_pct),
            lambda d: (d["spo2"], d["pulse_rate"], d["pulse_amplitude_index"]),
        )
    )

    cont = []
    for _ in range(n):
        c2 = PlxContinuousMeasurement(
            SpO2PulseRate(float(rng.randrange(85, 100)), float(rng.randrange(50, 110))),
            device_sensor_status=_maybe(rng, 0.3, PlxDeviceSensorStatus(0x10)),
        )
        cont.append(encode_plx_continuous_measurement(c2))
    cases.append(
        Case(
            "plx_continuous_measurement",
            cont,
            decode_plx_continuous_measurement,
            "plx_continuous_measurement",
            lambda c: (c.normal.spo2_pct, c.normal.pulse_rate_bpm),
            lambda d: (d["spo2"], d["pulse_rate"]),
        )
    )

    weights = []
    for _ in range(n):
        w = WeightMeasurement(
            rng.randrange(8000, 24000) * 0.005,
            timestamp=_when(rng),
            user_id=1,
            bmi=rng.randrange(180, 350) / 10,
            height=rng.randrange(1450, 1900) / 1000,
        )
        weights.append(encode_weight_measurement(w))
    cases.append(
        Case(
            "weight_measurement",
            weights,
            decode_weight_measurement,
            "weight_measurement",
            lambda w: (round(w.weight / 0.005),),
            lambda d: (d["weight"],),
        )
    )

    temps = []
    for _ in range(n):
        t = TemperatureMeasurement(
            rng.randrange(355, 400) / 10, timestamp=_when(rng), temperature_type=TemperatureType.EAR
        )
        temps.append(encode_temperature_measurement(t, exponent=-1))
    cases.append(
        Case(
            "temperature_measurement",
            temps,
            decode_temperature_measurement,
            "temperature_measurement",
            lambda t: (t.temperature,),
            lambda d: (d["temperature"],),
        )
    )

    bites = []
    for i in range(n):
        bm = BiteMeasurement(
            sequence_number=i % 65536,
            timestamp=_when(rng),
            oil_tpm_pct=_maybe(rng, 0.3, rng.randrange(20, 300) / 10),
            food_temperature_c=rng.randrange(200, 900) / 10,
            ph=_maybe(rng, 0.5, rng.randrange(30, 80) / 10),
            sodium_mg=float(rng.randrange(0, 400)),
        )
        bites.append(encode_bite_measurement(bm))
    cases.append(
        Case(
            "chopsticks_bite",
            bites,
            decode_bite_measurement,
            "chopsticks_bite",
            lambda b: (b.sequence_number, b.food_temperature_c, b.sodium_mg),
            lambda d: (d["sequence_number"], d["food_temperature"], d["sodium"]),
        )
    )

    meals = []
    for i in range(n):
        end = i % 2 == 1
        me = MealEvent(
            i % 65536,
            MealEventType.MEAL_ENDED if end else MealEventType.MEAL_STARTED,
            _when(rng),
            MealSummary(rng.randrange(10, 60), float(rng.randrange(300, 2500))) if end else None,
        )
        meals.append(encode_meal_event(me))
    cases.append(
        Case(
            "chopsticks_meal_event",
            meals,
            decode_meal_event,
            "chopsticks_meal_event",
            lambda m: (m.sequence_number, int(m.event)),
            lambda d: (d["sequence_number"], d["event"]),
        )
    )
    return cases


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, float) and isinstance(y, float | int):
            if not math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12):
                return False
        elif x != y:
            return False
    return True


def check(case: Case) -> None:
    spec = SPECS[case.spec]
    for p in case.packets:
        ours = case.ours_key(case.decode(p))
        base = case.base_key(parse(spec, p))
        if not _same(ours, base):
            raise SystemExit(f"{case.name}: decoders disagree on {p.hex(' ')}: {ours} != {base}")


def _time(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench(case: Case, rounds: int) -> dict[str, Any]:
    spec = SPECS[case.spec]
    packets = case.packets
    decode = case.decode

    def ours() -> None:
        for p in packets:
            decode(p)

    def baseline() -> None:
        for p in packets:
            parse(spec, p)

    produced = 0

    def readings() -> None:
        nonlocal produced
        produced = 0
        for seq, p in enumerate(packets):
            produced += len(
                to_readings(decode(p), device_id="dev-0001", ts_fallback=NOW, seq=seq, clock=_clock)
            )

    t_ours, t_base, t_read = [], [], []
    for _ in range(rounds):
        t_ours.append(_time(ours))
        t_base.append(_time(baseline))
        if case.readings:
            t_read.append(_time(readings))
    n = len(packets)
    out: dict[str, Any] = {
        "bytes_mean": round(sum(map(len, packets)) / n, 1),
        "decode_per_s": round(n / min(t_ours)),
        "baseline_decode_per_s": round(n / min(t_base)),
    }
    out["decode_vs_baseline"] = round(out["decode_per_s"] / out["baseline_decode_per_s"], 2)
    if case.readings:
        out["readings_per_packet"] = round(produced / n, 2)
        out["readings_per_s"] = round(produced / min(t_read))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--seed", type=int, default=4)
    args = ap.parse_args()
    cases = corpus(args.packets, args.seed)
    for case in cases:
        check(case)
    results = {case.name: bench(case, args.rounds) for case in cases}
    ratios = [r["decode_vs_baseline"] for r in results.values()]
    print(
        json.dumps(
            {
                "bench": "gatt_decode",
                "baseline": "generic table-driven field interpreter (bench/_gatt_generic.py)",
                "packets_per_characteristic": args.packets,
                "rounds": args.rounds,
                "python": platform.python_version(),
                "decode_vs_baseline_median": round(statistics.median(ratios), 2),
                "characteristics": results,
            }
        )
    )


if __name__ == "__main__":
    main()
