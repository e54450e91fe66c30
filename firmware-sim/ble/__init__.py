"""Emulated Bluetooth LE health devices: bumble GATT peripherals on an in-process radio.

Each device puts its own virtual controller on the :class:`bumble.link.LocalLink` the caller
passes in and is used as an async context manager::

    async with Glucometer(link, address="C0:11:22:33:44:55", records=500) as meter: ...

See docs/ble.md for the devices, their behaviour and the faults they can inject.
"""

from firmware_sim.ble.bp_cuff import BloodPressureCuff
from firmware_sim.ble.chopsticks import Chopsticks
from firmware_sim.ble.clock import DeviceClock
from firmware_sim.ble.errors import PeripheralError, PeripheralStateError
from firmware_sim.ble.faults import LOW_BATTERY_PCT, Faults
from firmware_sim.ble.glucometer import Glucometer, GlucoseRecord
from firmware_sim.ble.heart_rate import HeartRateWearable
from firmware_sim.ble.pulse_oximeter import PulseOximeter
from firmware_sim.ble.scale import Scale
from firmware_sim.ble.thermometer import Thermometer

__all__ = [
    "LOW_BATTERY_PCT",
    "BloodPressureCuff",
    "Chopsticks",
    "DeviceClock",
    "Faults",
    "Glucometer",
    "GlucoseRecord",
    "HeartRateWearable",
    "PeripheralError",
    "PeripheralStateError",
    "PulseOximeter",
    "Scale",
    "Thermometer",
]
