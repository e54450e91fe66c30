"""An emulated ear thermometer: Health Thermometer Service 0x1809.

Two readings a day (08:00 and 20:00 local), stored with the thermometer's clock and indicated on
Temperature Measurement 0x2A1C when a collector connects (Health Thermometer Profile v1.0 §4.5).
Values come from :func:`firmware_sim.signals.body_temperature_c`, sent as FLOAT with one decimal
in °C, type "tympanum".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bumble import gatt
from bumble.link import LocalLink

from devices.gatt import (
    TemperatureMeasurement,
    TemperatureType,
    encode_temperature_measurement,
    encode_temperature_type,
    uuids,
)
from firmware_sim.ble._peripheral import Properties
from firmware_sim.ble._stored import (
    StoredMeasurement,
    StoredMeasurementDevice,
    scheduled_before,
)
from firmware_sim.ble.clock import DeviceClock
from firmware_sim.ble.faults import Faults
from firmware_sim.errors import ParameterError
from firmware_sim.signals import DailyRoutine, Fever, TemperatureProfile, body_temperature_c

SCHEDULE_HOURS: tuple[float, ...] = (8.0, 20.0)


class Thermometer(StoredMeasurementDevice):
    """A thermometer holding ``readings`` stored measurements at start (most recent before now)."""

    advertised_services = (uuids.HEALTH_THERMOMETER_SERVICE,)
    has_current_time = True
    measurement_uuid = uuids.TEMPERATURE_MEASUREMENT

    def __init__(
        self,
        link: LocalLink,
        *,
        address: str,
        name: str = "Thermometer",
        seed: int = 1,
        readings: int = 0,
        profile: TemperatureProfile | None = None,
        fevers: Sequence[Fever] = (),
        routine: DailyRoutine | None = None,
        disconnect_when_done: bool = True,
        faults: Faults | None = None,
        clock: DeviceClock | None = None,
        keystore_path: Path | None = None,
    ) -> None:
        super().__init__(
            link,
            address=address,
            name=name,
            disconnect_when_done=disconnect_when_done,
            faults=faults,
            clock=clock,
            keystore_path=keystore_path,
        )
        if not 0 <= readings <= 10_000:
            raise ParameterError("readings", readings, "must be within 0-10000")
        self.seed = seed
        self.profile = profile or TemperatureProfile()
        self.fevers = tuple(fevers)
        self.routine = routine or DailyRoutine()
        self.take(
            scheduled_before(self.clock.wall(), readings, SCHEDULE_HOURS, self.routine.utc_offset_s)
        )

    @property
    def service_uuid(self) -> int:
        return uuids.HEALTH_THERMOMETER_SERVICE

    def take(self, times_s: Sequence[float]) -> list[StoredMeasurement]:
        """Measure at the true instants ``times_s`` (epoch s) and store the results."""
        if not times_s:
            return []
        temp = body_temperature_c(
            times_s, seed=self.seed, profile=self.profile, fevers=self.fevers, routine=self.routine
        )
        return [
            self._keep(
                taken_s,
                encode_temperature_measurement(
                    TemperatureMeasurement(
                        temperature=float(temp[i]),
                        timestamp=self.clock.local_at(taken_s).replace(microsecond=0),
                        temperature_type=TemperatureType.TYMPANUM,
                    ),
                    exponent=-1,
                ),
            )
            for i, taken_s in enumerate(times_s)
        ]

    def _extra_characteristics(self) -> Sequence[gatt.Characteristic[bytes]]:
        return [
            self._characteristic(
                uuids.TEMPERATURE_TYPE,
                Properties.READ,
                value=encode_temperature_type(TemperatureType.TYMPANUM),
            )
        ]
