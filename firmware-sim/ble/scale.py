"""An emulated bathroom scale: Weight Scale Service 0x181D.

One weighing every morning at 06:30 local time (after voiding, before breakfast, as heart-failure
patients are told to weigh; ESC 2021 heart failure guideline), stored with the scale's clock and
indicated on Weight Measurement 0x2A9D when a collector connects. Values come from
:func:`firmware_sim.signals.body_weight_kg` (fluid gain episodes included).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bumble import gatt
from bumble.link import LocalLink

from devices.gatt import (
    WeightMeasurement,
    WeightScaleFeature,
    encode_weight_measurement,
    encode_weight_scale_feature,
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
from firmware_sim.signals import DailyRoutine, FluidGain, WeightProfile, body_weight_kg

WEIGH_HOUR_LOCAL = 6.5
# Weight Scale Feature resolution code 3 = 0.05 kg (WSS v1.0, Weight Scale Feature).
_RESOLUTION_0_05_KG = 3


class Scale(StoredMeasurementDevice):
    """A scale holding ``readings`` morning weighings at start (the most recent before now)."""

    advertised_services = (uuids.WEIGHT_SCALE_SERVICE,)
    has_current_time = True
    measurement_uuid = uuids.WEIGHT_MEASUREMENT

    def __init__(
        self,
        link: LocalLink,
        *,
        address: str,
        name: str = "Scale",
        seed: int = 1,
        readings: int = 0,
        profile: WeightProfile | None = None,
        gains: Sequence[FluidGain] = (),
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
        self.profile = profile or WeightProfile()
        self.gains = tuple(gains)
        self.routine = routine or DailyRoutine()
        self.take(
            scheduled_before(
                self.clock.wall(), readings, (WEIGH_HOUR_LOCAL,), self.routine.utc_offset_s
            )
        )

    @property
    def service_uuid(self) -> int:
        return uuids.WEIGHT_SCALE_SERVICE

    def take(self, times_s: Sequence[float]) -> list[StoredMeasurement]:
        """Weigh at the true instants ``times_s`` (epoch s) and store the results."""
        if not times_s:
            return []
        kg = body_weight_kg(
            times_s, seed=self.seed, profile=self.profile, gains=self.gains, routine=self.routine
        )
        return [
            self._keep(
                taken_s,
                encode_weight_measurement(
                    WeightMeasurement(
                        weight=float(kg[i]),
                        timestamp=self.clock.local_at(taken_s).replace(microsecond=0),
                    )
                ),
            )
            for i, taken_s in enumerate(times_s)
        ]

    def _extra_characteristics(self) -> Sequence[gatt.Characteristic[bytes]]:
        feature = WeightScaleFeature(
            time_stamp_supported=True, weight_resolution=_RESOLUTION_0_05_KG
        )
        return [
            self._characteristic(
                uuids.WEIGHT_SCALE_FEATURE,
                Properties.READ,
                value=encode_weight_scale_feature(feature),
            )
        ]
