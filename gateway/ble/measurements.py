"""Which characteristic carries each kind's measurements, and how its bytes become readings.

The codecs are :mod:`devices.gatt`'s (one definition shared with the emulated devices); this
table only says, per device kind, where to subscribe, how the device delivers (indications for
stored readings a device must not delete before the gateway has them, notifications for live
streams), where a measurement keeps its device timestamp, and whether its readings are clinical
(never thinned by the outbox).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devices import Reading
from devices.gatt import (
    decode_blood_pressure_measurement,
    decode_heart_rate_measurement,
    decode_plx_continuous_measurement,
    decode_plx_spot_check_measurement,
    decode_temperature_measurement,
    decode_weight_measurement,
    uuids,
)
from devices.gatt.blood_pressure import blood_pressure_to_readings
from devices.gatt.chopsticks import (
    bite_to_readings,
    decode_bite_measurement,
    decode_meal_event,
    meal_event_to_readings,
)
from devices.gatt.heart_rate import heart_rate_to_readings
from devices.gatt.plx import plx_continuous_to_readings, plx_spot_check_to_readings
from devices.gatt.thermometer import temperature_to_readings
from devices.gatt.weight import weight_to_readings
from gateway.ble.profiles import DeviceKind

ToReadings = Callable[..., list[Reading]]


@dataclass(frozen=True, slots=True)
class MeasurementSpec:
    """One measurement characteristic: its UUID (bleak's 128-bit string), its decoder, its
    conversion to readings (``X_to_readings(m, device_id=, seq=, ts_fallback=, clock=, flags=)``),
    the device timestamp it carries (None: none), whether it arrives by indication, whether its
    readings are clinical, and the record's own sequence number if it has one."""

    characteristic: str
    decode: Callable[[bytes], Any]
    to_readings: ToReadings
    timestamp: Callable[[Any], datetime | None]
    indicated: bool
    clinical: bool
    sequence: Callable[[Any], int | None] = lambda _m: None


def _no_time(_m: Any) -> datetime | None:
    return None


def _record_seq(m: Any) -> int | None:
    value = getattr(m, "sequence_number", None)
    return value if isinstance(value, int) else None


def _stamp(m: Any) -> datetime | None:
    value = getattr(m, "timestamp", None)
    return value if isinstance(value, datetime) else None


SPECS: dict[DeviceKind, tuple[MeasurementSpec, ...]] = {
    DeviceKind.BP_CUFF: (
        MeasurementSpec(
            uuids.full_uuid(uuids.BLOOD_PRESSURE_MEASUREMENT),
            decode_blood_pressure_measurement,
            blood_pressure_to_readings,
            _stamp,
            indicated=True,
            clinical=True,
        ),
    ),
    DeviceKind.SCALE: (
        MeasurementSpec(
            uuids.full_uuid(uuids.WEIGHT_MEASUREMENT),
            decode_weight_measurement,
            weight_to_readings,
            _stamp,
            indicated=True,
            clinical=True,
        ),
    ),
    DeviceKind.THERMOMETER: (
        MeasurementSpec(
            uuids.full_uuid(uuids.TEMPERATURE_MEASUREMENT),
            decode_temperature_measurement,
            temperature_to_readings,
            _stamp,
            indicated=True,
            clinical=True,
        ),
    ),
    # Vendor profile (docs/devices/chopsticks.md): records with their own sequence numbers.
    DeviceKind.CHOPSTICKS: (
        MeasurementSpec(
            uuids.full_uuid(uuids.CHOPSTICKS_BITE_MEASUREMENT),
            decode_bite_measurement,
            bite_to_readings,
            _stamp,
            indicated=True,
            clinical=False,
            sequence=_record_seq,
        ),
        MeasurementSpec(
            uuids.full_uuid(uuids.CHOPSTICKS_MEAL_EVENT),
            decode_meal_event,
            meal_event_to_readings,
            _stamp,
            indicated=True,
            clinical=False,
            sequence=_record_seq,
        ),
    ),
    DeviceKind.HEART_RATE: (
        MeasurementSpec(
            uuids.full_uuid(uuids.HEART_RATE_MEASUREMENT),
            decode_heart_rate_measurement,
            heart_rate_to_readings,
            _no_time,
            indicated=False,
            clinical=False,
        ),
    ),
    DeviceKind.PULSE_OXIMETER: (
        MeasurementSpec(
            uuids.full_uuid(uuids.PLX_CONTINUOUS_MEASUREMENT),
            decode_plx_continuous_measurement,
            plx_continuous_to_readings,
            _no_time,
            indicated=False,
            clinical=False,
        ),
        # A spot check is a deliberate measurement: clinical, indicated (PLXS v1.0 §3.1).
        MeasurementSpec(
            uuids.full_uuid(uuids.PLX_SPOT_CHECK_MEASUREMENT),
            decode_plx_spot_check_measurement,
            plx_spot_check_to_readings,
            _stamp,
            indicated=True,
            clinical=True,
        ),
    ),
}


def specs_for(kind: DeviceKind) -> tuple[MeasurementSpec, ...]:
    """The measurement characteristics of ``kind`` (empty for the glucometer: RACP records)."""
    return SPECS.get(kind, ())


def readings_of(
    spec: MeasurementSpec,
    measurement: Any,
    *,
    device_id: str,
    seq: int,
    ts_fallback: datetime,
    clock: Callable[[datetime], datetime] | None,
    flags: Iterable[str],
) -> list[Reading]:
    """The readings of one decoded measurement (thin wrapper for a uniform call)."""
    return spec.to_readings(
        measurement,
        device_id=device_id,
        seq=seq,
        ts_fallback=ts_fallback,
        clock=clock,
        flags=tuple(flags),
    )
