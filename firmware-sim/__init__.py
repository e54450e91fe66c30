"""Simulated device firmware: MQTT-native wearables and physiological signal generators.

The public surface::

    WearableFleet(devices, *, site, broker_url, config=None, clock=time.time, ...)
        .start() / .stop(drain_timeout_s=0.0) / .stats() / .wait_drained(timeout_s)
    Scenario(), Scenario.copd(), Scenario.desaturating(after_s=, duration_min=, nadir_pct=)
    DesaturationEvent(after_s, duration_s, nadir_pct, onset_s=60, recovery_s=60)
    WearableConfig(sample_interval_s=10, publish_interval_s=30, ...)

and the signal generators in :mod:`firmware_sim.signals`. See docs/simulator.md.
"""

from firmware_sim.errors import (
    DuplicateDeviceError,
    FirmwareSimError,
    FleetError,
    FleetStateError,
    ParameterError,
)
from firmware_sim.fleet import WearableFleet
from firmware_sim.scenario import DesaturationEvent, Scenario, seed_for
from firmware_sim.wearable import Wearable, WearableConfig, WearableStats

__all__ = [
    "DesaturationEvent",
    "DuplicateDeviceError",
    "FirmwareSimError",
    "FleetError",
    "FleetStateError",
    "ParameterError",
    "Scenario",
    "Wearable",
    "WearableConfig",
    "WearableFleet",
    "WearableStats",
    "seed_for",
]
