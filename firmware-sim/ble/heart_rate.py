"""An emulated heart-rate wearable: Heart Rate Service 0x180D, one notification a second.

Each Heart Rate Measurement 0x2A37 carries the rate (uint8 /min), sensor contact detected, the
RR-interval(s) of the beats since the previous notification (1/1024 s), and every 10th the energy
expended so far (kJ). Values come from :class:`firmware_sim.signals.Physiology`: the same patient
model as the Wi-Fi wearables (circadian rhythm, walking, desaturation response).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bumble import gatt
from bumble.link import LocalLink

from devices.gatt import HeartRateMeasurement, SensorContact, encode_heart_rate_measurement, uuids
from firmware_sim.ble._peripheral import Properties
from firmware_sim.ble._streaming import StreamingDevice
from firmware_sim.ble.clock import DeviceClock
from firmware_sim.ble.faults import Faults
from firmware_sim.signals import Physiology

# Body Sensor Location 0x2A38: 2 = wrist (HRS v1.0 §3.2).
_WRIST = 2
# RR-intervals are in 1/1024 s (HRS v1.0 §3.1.1.5).
_RR_UNITS_PER_S = 1024
# Energy expended at rest, kJ per second: ~1.2 kcal/min for an older adult (modelling default).
_KJ_PER_S = 0.084
_ENERGY_EVERY = 10


class HeartRateWearable(StreamingDevice):
    """A wrist wearable notifying heart rate every ``interval_s`` (1 s) for patient ``seed``."""

    advertised_services = (uuids.HEART_RATE_SERVICE,)
    measurement_uuid = uuids.HEART_RATE_MEASUREMENT
    service_uuid = uuids.HEART_RATE_SERVICE

    def __init__(
        self,
        link: LocalLink,
        *,
        address: str,
        name: str = "HR Band",
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
        self._energy_kj = 0.0

    def _measurement(self, t_s: float) -> bytes:
        bpm = int(self.physiology.heart_rate_per_min([t_s])[0])
        self._energy_kj += _KJ_PER_S * self.interval_s
        rr = round(60.0 / bpm * _RR_UNITS_PER_S)
        beats = max(1, round(bpm * self.interval_s / 60.0))
        m = HeartRateMeasurement(
            heart_rate_bpm=bpm,
            sensor_contact=SensorContact.DETECTED,
            energy_expended_kj=(int(self._energy_kj) if (self.sent % _ENERGY_EVERY) == 0 else None),
            rr_intervals_1024=(rr,) * min(beats, 4),
        )
        return encode_heart_rate_measurement(m)

    def _extra_characteristics(self) -> Sequence[gatt.Characteristic[bytes]]:
        return [self._characteristic(0x2A38, Properties.READ, value=bytes([_WRIST]))]
