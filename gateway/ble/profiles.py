"""The device kinds the gateway reads, and what each needs from the link.

================  =============================  ========  ===================================
kind              service                        bond      how data arrives
================  =============================  ========  ===================================
glucometer        Glucose 0x1808                 required  stored records pulled with RACP
bp_cuff           Blood Pressure 0x1810          no        stored readings indicated on connect
heart_rate        Heart Rate 0x180D              no        notifications, about 1 Hz
pulse_oximeter    Pulse Oximeter 0x1822          no        continuous notifications (PLX)
scale             Weight Scale 0x181D            no        stored readings indicated on connect
thermometer       Health Thermometer 0x1809      no        stored readings indicated on connect
chopsticks        vendor 128-bit                 no        notifications during a meal
================  =============================  ========  ===================================

The Glucose Service requires security mode 1 level 2 or higher for all its characteristics, i.e.
an encrypted, bonded link (Glucose Profile v1.0.1, §5.1 "Bonding" and Glucose Service §2.3); so
does the CGM profile. The others allow an unencrypted link and many devices offer nothing else.
"""

from __future__ import annotations

from enum import StrEnum

from devices.gatt import uuids


class DeviceKind(StrEnum):
    """What a device is, from the gateway's point of view."""

    GLUCOMETER = "glucometer"
    BP_CUFF = "bp_cuff"
    HEART_RATE = "heart_rate"
    PULSE_OXIMETER = "pulse_oximeter"
    SCALE = "scale"
    THERMOMETER = "thermometer"
    CHOPSTICKS = "chopsticks"

    @property
    def service(self) -> str:
        """The 128-bit UUID string (bleak's form) of the kind's primary service."""
        return uuids.full_uuid(_SERVICES[self])

    @property
    def requires_bond(self) -> bool:
        """True when the profile mandates a bonded, encrypted link."""
        return self is DeviceKind.GLUCOMETER

    @property
    def streams(self) -> bool:
        """True for devices whose data is a live stream (a connection is kept while in range)."""
        return self in (DeviceKind.HEART_RATE, DeviceKind.PULSE_OXIMETER, DeviceKind.CHOPSTICKS)


_SERVICES: dict[DeviceKind, int | str] = {
    DeviceKind.GLUCOMETER: uuids.GLUCOSE_SERVICE,
    DeviceKind.BP_CUFF: uuids.BLOOD_PRESSURE_SERVICE,
    DeviceKind.HEART_RATE: uuids.HEART_RATE_SERVICE,
    DeviceKind.PULSE_OXIMETER: uuids.PULSE_OXIMETER_SERVICE,
    DeviceKind.SCALE: uuids.WEIGHT_SCALE_SERVICE,
    DeviceKind.THERMOMETER: uuids.HEALTH_THERMOMETER_SERVICE,
    DeviceKind.CHOPSTICKS: uuids.CHOPSTICKS_SERVICE,
}
