"""The gateway's Bluetooth LE side: enrolment and bonds, scanning, connections, record sync.

::

    registry = DeviceRegistry(data_dir / "ble-devices.json")     # this home's allow-list
    central = BleCentral(registry, outbox, config=BleConfig(site_zone="Asia/Shanghai"))
    await central.enroll("gluco-7", "C0:11:22:33:44:55", DeviceKind.GLUCOMETER)
    await central.run(stop)                # passive scan; sync each device that advertises

Everything talks to the radio through bleak's API. On the emulated radio (tests, demo), pass the
backends of a :class:`gateway.ble.backends.bumble.BumbleRadio`::

    async with BumbleRadio(link, keystore_path=data_dir / "ble-bonds.json") as radio:
        central = BleCentral(registry, outbox, client_backend=radio.client_backend,
                             scanner_backend=radio.scanner_backend)

See docs/ble.md.
"""

from gateway.ble.central import LOW_BATTERY_PCT, BleCentral, BleConfig, CentralStats
from gateway.ble.connection import ConnectionManager, ConnectionPolicy
from gateway.ble.errors import (
    BleError,
    BondLostError,
    DeviceUnreachableError,
    EnrolmentError,
    NotEnrolledError,
    RacpError,
    RegistryError,
    SyncError,
)
from gateway.ble.events import BleEvent, DeviceHealth, EventKind
from gateway.ble.measurements import SPECS, MeasurementSpec, specs_for
from gateway.ble.profiles import DeviceKind
from gateway.ble.record_sync import GlucoseRecordSync
from gateway.ble.registry import DeviceRegistry, EnrolledDevice
from gateway.ble.report import SyncReport

__all__ = [
    "LOW_BATTERY_PCT",
    "SPECS",
    "BleCentral",
    "BleConfig",
    "BleError",
    "BleEvent",
    "BondLostError",
    "CentralStats",
    "ConnectionManager",
    "ConnectionPolicy",
    "DeviceHealth",
    "DeviceKind",
    "DeviceRegistry",
    "DeviceUnreachableError",
    "EnrolledDevice",
    "EnrolmentError",
    "EventKind",
    "GlucoseRecordSync",
    "MeasurementSpec",
    "NotEnrolledError",
    "RacpError",
    "RegistryError",
    "SyncError",
    "SyncReport",
    "specs_for",
]
