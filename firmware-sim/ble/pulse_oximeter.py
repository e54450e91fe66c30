"""An emulated continuous pulse oximeter: Pulse Oximeter Service 0x1822, one sample a second.

PLX Continuous Measurement 0x2A5F (SpO2 and pulse rate of the normal averaging, SFLOAT, whole
percent and beats/min) is notified every ``interval_s``; PLX Features 0x2A60 says that nothing
optional is present. Values from :class:`firmware_sim.signals.Physiology` (desaturation episodes
lower SpO2 and raise the pulse together).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bumble import gatt
from bumble.link import LocalLink

from devices.gatt import (
    PlxContinuousMeasurement,
    PlxFeatures,
    PlxSupportedFeatures,
    SpO2PulseRate,
    encode_plx_continuous_measurement,
    encode_plx_features,
    uuids,
)
from firmware_sim.ble._peripheral import Properties
from firmware_sim.ble._streaming import StreamingDevice
from firmware_sim.ble.clock import DeviceClock
from firmware_sim.ble.faults import Faults
from firmware_sim.signals import Physiology


class PulseOximeter(StreamingDevice):
    """A fingertip oximeter notifying SpO2 and pulse every ``interval_s`` for patient ``seed``."""

    advertised_services = (uuids.PULSE_OXIMETER_SERVICE,)
    measurement_uuid = uuids.PLX_CONTINUOUS_MEASUREMENT
    service_uuid = uuids.PULSE_OXIMETER_SERVICE

    def __init__(
        self,
        link: LocalLink,
        *,
        address: str,
        name: str = "Oximeter",
        seed: int = 1,
        physiology: Physiology | None = None,
        interval_s: float = 1.0,
        faults: Faults | None = None,
        clock: DeviceClock | None = None,
        keystore_path: Path | None = None,
    ) -> None:
        super().__init__(
            link,
            address=address,
            name=name,
            interval_s=interval_s,
            faults=faults,
            clock=clock,
            keystore_path=keystore_path,
        )
        self.physiology = physiology or Physiology(seed=seed)

    def _measurement(self, t_s: float) -> bytes:
        spo2 = float(self.physiology.spo2_pct([t_s])[0])
        pulse = float(self.physiology.heart_rate_per_min([t_s])[0])
        return encode_plx_continuous_measurement(
            PlxContinuousMeasurement(normal=SpO2PulseRate(spo2_pct=spo2, pulse_rate_bpm=pulse))
        )

    def _extra_characteristics(self) -> Sequence[gatt.Characteristic[bytes]]:
        return [
            self._characteristic(
                uuids.PLX_FEATURES,
                Properties.READ,
                value=encode_plx_features(PlxFeatures(supported=PlxSupportedFeatures.NONE)),
            )
        ]
