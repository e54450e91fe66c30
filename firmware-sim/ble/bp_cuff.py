"""An emulated upper-arm blood pressure cuff: Blood Pressure Service 0x1810.

Readings are taken twice a day (07:00 and 19:00 local, the home BP schedule of the ESC/ESH 2018
guideline: morning and evening, before medication) while no gateway is around, stamped by the
cuff's own clock, and indicated one by one when a collector enables indications on Blood Pressure
Measurement 0x2A35 (each kept until confirmed, see :mod:`._stored`). Values come from
:func:`firmware_sim.signals.blood_pressure`: whole mmHg, MAP and pulse included, user 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bumble import gatt
from bumble.link import LocalLink

from devices.gatt import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    encode_blood_pressure_feature,
    encode_blood_pressure_measurement,
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
from firmware_sim.signals import BloodPressureProfile, DailyRoutine, blood_pressure

# Local hours of the two home readings of a day.
SCHEDULE_HOURS: tuple[float, ...] = (7.0, 19.0)


class BloodPressureCuff(StoredMeasurementDevice):
    """A cuff holding ``readings`` stored measurements at start (the most recent twice-daily
    slots before now), values from ``seed``."""

    advertised_services = (uuids.BLOOD_PRESSURE_SERVICE,)
    has_current_time = True
    measurement_uuid = uuids.BLOOD_PRESSURE_MEASUREMENT

    def __init__(
        self,
        link: LocalLink,
        *,
        address: str,
        name: str = "BP Cuff",
        seed: int = 1,
        readings: int = 0,
        profile: BloodPressureProfile | None = None,
        routine: DailyRoutine | None = None,
        user_id: int = 1,
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
        self.profile = profile or BloodPressureProfile()
        self.routine = routine or DailyRoutine()
        self.user_id = user_id
        self.take(
            scheduled_before(self.clock.wall(), readings, SCHEDULE_HOURS, self.routine.utc_offset_s)
        )

    @property
    def service_uuid(self) -> int:
        return uuids.BLOOD_PRESSURE_SERVICE

    def take(self, times_s: Sequence[float]) -> list[StoredMeasurement]:
        """Measure at the true instants ``times_s`` (epoch s) and store the results."""
        if not times_s:
            return []
        bp = blood_pressure(times_s, seed=self.seed, profile=self.profile, routine=self.routine)
        out = []
        for i, taken_s in enumerate(times_s):
            m = BloodPressureMeasurement(
                systolic=float(bp.systolic_mmhg[i]),
                diastolic=float(bp.diastolic_mmhg[i]),
                mean_arterial=float(bp.mean_mmhg[i]),
                timestamp=self.clock.local_at(taken_s).replace(microsecond=0),
                pulse_rate_bpm=float(bp.pulse_per_min[i]),
                user_id=self.user_id,
            )
            out.append(
                self._keep(taken_s, encode_blood_pressure_measurement(m, pressure_exponent=0))
            )
        return out

    def _extra_characteristics(self) -> Sequence[gatt.Characteristic[bytes]]:
        feature = (
            BloodPressureFeature.BODY_MOVEMENT_DETECTION
            | BloodPressureFeature.CUFF_FIT_DETECTION
            | BloodPressureFeature.IRREGULAR_PULSE_DETECTION
        )
        return [
            self._characteristic(
                uuids.BLOOD_PRESSURE_FEATURE,
                Properties.READ,
                value=encode_blood_pressure_feature(feature),
            )
        ]
