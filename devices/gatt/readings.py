"""Decoded measurements -> :class:`devices.Reading` objects, for any characteristic.

Each codec module has its own conversion (``glucose_to_readings``, ``blood_pressure_to_readings``,
...); :func:`to_readings` dispatches on the measurement's type so the gateway needs one call.

**Timestamps.** Devices stamp measurements with their own clock: naive local wall-clock time,
possibly wrong by minutes or years. Turning it into UTC is the gateway's job (clock correction by
Current Time or by a measured offset). Every conversion therefore takes:

- ``clock``: a callable mapping a device-local naive datetime to the aware UTC moment it stands
  for. Used when the measurement carries a time that is known.
- ``ts_fallback``: an aware datetime used when the measurement carries no time (heart rate, PLX
  continuous, a record whose time is "not known"), or when no ``clock`` is passed, in which case
  the caller has already corrected the measurement's time and passes the result here.

A naive result (from either) raises ``ValueError`` instead of being read as the gateway's local
time. Readings are built with :func:`devices.make_reading`: values in the catalog's canonical
units, ``implausible`` added outside the plausible range, special values as ``value=None`` plus
their flag (:func:`special_flag`).

**Sequence numbers.** Records that have one (glucose, chopsticks) use it unless ``seq`` is given
(a gateway widening the 16-bit counter passes its own); the others need the caller's ``seq``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TypeAlias

from devices.gatt._convert import DeviceClock, special_flag
from devices.gatt.blood_pressure import (
    BloodPressureMeasurement,
    IntermediateCuffPressure,
    blood_pressure_to_readings,
)
from devices.gatt.chopsticks import (
    BiteMeasurement,
    MealEvent,
    bite_to_readings,
    meal_event_to_readings,
)
from devices.gatt.glucose import GlucoseMeasurement, glucose_to_readings
from devices.gatt.heart_rate import HeartRateMeasurement, heart_rate_to_readings
from devices.gatt.plx import (
    PlxContinuousMeasurement,
    PlxSpotCheckMeasurement,
    plx_continuous_to_readings,
    plx_spot_check_to_readings,
)
from devices.gatt.thermometer import TemperatureMeasurement, temperature_to_readings
from devices.gatt.weight import WeightMeasurement, weight_to_readings
from devices.reading import Reading

__all__ = ["DeviceClock", "Measurement", "special_flag", "to_readings"]

Measurement: TypeAlias = (
    GlucoseMeasurement
    | HeartRateMeasurement
    | BloodPressureMeasurement
    | IntermediateCuffPressure
    | PlxSpotCheckMeasurement
    | PlxContinuousMeasurement
    | WeightMeasurement
    | TemperatureMeasurement
    | BiteMeasurement
    | MealEvent
)
"""Every decoded value that may turn into readings."""


def to_readings(
    m: Measurement,
    *,
    device_id: str,
    ts_fallback: datetime,
    seq: int | None = None,
    clock: DeviceClock | None = None,
    flags: Iterable[str] = (),
) -> list[Reading]:
    """The readings of one decoded measurement (see the module docstring for time and seq).

    An Intermediate Cuff Pressure is the cuff's pressure while it inflates, not a result: it
    yields no readings. (Intermediate Temperature decodes to a :class:`TemperatureMeasurement`;
    the caller, who knows the characteristic, does not store it.) Raises ``ValueError`` when a
    measurement without its own sequence number gets no ``seq``, and ``TypeError`` for anything
    that is not a measurement.
    """
    if isinstance(m, GlucoseMeasurement):
        return glucose_to_readings(
            m, device_id=device_id, ts_fallback=ts_fallback, seq=seq, clock=clock, flags=flags
        )
    if isinstance(m, BiteMeasurement):
        return bite_to_readings(
            m, device_id=device_id, ts_fallback=ts_fallback, seq=seq, clock=clock, flags=flags
        )
    if isinstance(m, MealEvent):
        return meal_event_to_readings(
            m, device_id=device_id, ts_fallback=ts_fallback, seq=seq, clock=clock, flags=flags
        )
    if isinstance(m, IntermediateCuffPressure):
        return []
    if not isinstance(
        m,
        HeartRateMeasurement
        | BloodPressureMeasurement
        | PlxSpotCheckMeasurement
        | PlxContinuousMeasurement
        | WeightMeasurement
        | TemperatureMeasurement,
    ):
        raise TypeError(f"not a decoded measurement: {type(m).__name__}")
    if seq is None:
        raise ValueError(f"{type(m).__name__} has no sequence number of its own: pass seq")
    if isinstance(m, HeartRateMeasurement):
        return heart_rate_to_readings(
            m, device_id=device_id, seq=seq, ts_fallback=ts_fallback, clock=clock, flags=flags
        )
    if isinstance(m, BloodPressureMeasurement):
        return blood_pressure_to_readings(
            m, device_id=device_id, seq=seq, ts_fallback=ts_fallback, clock=clock, flags=flags
        )
    if isinstance(m, PlxSpotCheckMeasurement):
        return plx_spot_check_to_readings(
            m, device_id=device_id, seq=seq, ts_fallback=ts_fallback, clock=clock, flags=flags
        )
    if isinstance(m, PlxContinuousMeasurement):
        return plx_continuous_to_readings(
            m, device_id=device_id, seq=seq, ts_fallback=ts_fallback, clock=clock, flags=flags
        )
    if isinstance(m, WeightMeasurement):
        return weight_to_readings(
            m, device_id=device_id, seq=seq, ts_fallback=ts_fallback, clock=clock, flags=flags
        )
    return temperature_to_readings(
        m, device_id=device_id, seq=seq, ts_fallback=ts_fallback, clock=clock, flags=flags
    )
