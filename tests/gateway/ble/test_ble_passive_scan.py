"""Passive scanning on a real gateway's adapter: BlueZ scans passively only through an
advertisement monitor, and bleak refuses such a scan unless it is given or-patterns."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.bluezdbus.scanner import BleakScannerBlueZDBus

from gateway import Outbox
from gateway.ble import BleCentral, DeviceRegistry
from gateway.ble.central import passive_scan_patterns

UUID16 = (
    AdvertisementDataType.COMPLETE_LIST_SERVICE_UUID16,
    AdvertisementDataType.INCOMPLETE_LIST_SERVICE_UUID16,
)


def test_the_passive_scan_listens_for_every_health_service_the_gateway_reads() -> None:
    patterns = {(p[0], p[1], p[2]) for p in passive_scan_patterns()}
    # Glucose 0x1808 and Blood Pressure 0x1810, first in a 16-bit service list, little-endian.
    for service in (b"\x08\x18", b"\x10\x18", b"\x0d\x18", b"\x22\x18", b"\x1d\x18", b"\x09\x18"):
        assert {(0, t, service) for t in UUID16} <= patterns
    # The chopsticks' vendor service b1fd0001-4491-4d38-b3be-7a6a39df4b90, as a 128-bit list.
    chopsticks = bytes.fromhex("b1fd000144914d38b3be7a6a39df4b90")[::-1]
    assert (0, AdvertisementDataType.COMPLETE_LIST_SERVICE_UUID128, chopsticks) in patterns
    assert len(patterns) == 14


def test_a_passive_scan_on_bluez_gets_past_bleaks_check_to_the_system_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without patterns bleak raises "passive scanning mode requires bluez or_patterns" before
    touching D-Bus; with them the scan goes on to the system bus (absent here, by design)."""
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        central = BleCentral(
            DeviceRegistry(tmp_path / "ble-devices.json"),
            outbox,
            scanner_backend=BleakScannerBlueZDBus,
        )
        with pytest.raises(FileNotFoundError):
            asyncio.run(asyncio.wait_for(central.run(asyncio.Event()), 30))
