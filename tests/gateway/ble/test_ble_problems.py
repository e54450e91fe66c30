"""What the BLE side tells the panel about the home's devices (``BleCentral.problems()``), and
taking a device off the allow-list."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest
from ble_home import FAST, home, run

from firmware_sim.ble import Faults, HeartRateWearable
from firmware_sim.ble.glucometer import Glucometer
from gateway.ble import (
    BleCentral,
    ConnectionPolicy,
    DeviceKind,
    DeviceRegistry,
    EnrolmentError,
    EventKind,
)

METER = "C0:00:00:00:03:01"
BAND = "C0:00:00:00:03:02"
QUICK = dataclasses.replace(
    FAST, connection=ConnectionPolicy(attempts=2, base_delay_s=0.05, connect_timeout_s=0.5)
)


def test_a_meter_whose_pairing_failed_is_reported_and_not_connected_to_by_the_scan(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with (
            home(tmp_path, config=QUICK) as h,
            Glucometer(h.link, address=METER, records=5, faults=Faults(silent=True)) as meter,
        ):
            with pytest.raises(EnrolmentError):
                await h.central.enroll("gluco-1", METER, DeviceKind.GLUCOMETER)
            (problem,) = h.central.problems()
            assert problem["code"] == "ble_not_paired"
            assert "no connection after 2 attempts" in problem["detail"]
            assert [e.kind for e in h.events] == [EventKind.ENROLMENT_FAILED]
            tried = meter.stats.connections
            stop = asyncio.Event()
            scan = asyncio.create_task(h.central.run(stop))
            await asyncio.sleep(1.0)  # it advertises all along
            stop.set()
            await scan
            assert meter.stats.connections == tried  # an unpaired meter would only refuse
            assert h.central.health()["gluco-1"].last_seen is not None  # but it is heard

    run(scenario())


def test_a_device_not_heard_for_a_day_is_reported_until_it_is_heard_again(
    tmp_path: Path,
) -> None:
    now = [time.time()]

    async def scenario() -> None:
        async with home(tmp_path) as h:
            central = BleCentral(
                DeviceRegistry(tmp_path / "ble-devices.json"),
                h.outbox,
                config=FAST,
                client_backend=h.radio.client_backend,
                scanner_backend=h.radio.scanner_backend,
                wall=lambda: now[0],
            )
            await central.enroll("band-1", BAND, DeviceKind.HEART_RATE)
            assert central.problems() == []
            now[0] += FAST.not_seen_after_s
            (problem,) = central.problems()
            assert problem["code"] == "ble_not_seen"
            assert problem["device_id"] == "band-1"
            assert problem["seen"] is False
            async with HeartRateWearable(h.link, address=BAND):
                stop = asyncio.Event()
                scan = asyncio.create_task(central.run(stop))
                for _ in range(100):
                    await asyncio.sleep(0.05)
                    if central.health()["band-1"].last_seen is not None:
                        break
                stop.set()
                await scan
            assert central.problems() == []

    run(scenario())


def test_damaged_notifications_are_reported_with_their_count(tmp_path: Path) -> None:
    async def scenario() -> None:
        faults = Faults(corrupt=frozenset({3, 4}))  # damaged once, good when asked again
        async with (
            home(tmp_path) as h,
            Glucometer(h.link, address=METER, records=10, faults=faults),
        ):
            await h.central.enroll("gluco-1", METER, DeviceKind.GLUCOMETER)
            report = await h.central.sync("gluco-1")
            assert report.complete, report.reason
            assert report.recovered == 2
            assert {"code": "ble_decode_errors", "device_id": "gluco-1", "count": 2} in (
                h.central.problems()
            )
            outcome = h.central.health()["gluco-1"].last_outcome
            assert outcome is not None
            assert (outcome.complete, outcome.stored) == (True, 10)

    run(scenario())


def test_a_device_taken_off_the_list_loses_its_keys_and_is_no_longer_read_or_reported(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with (
            home(tmp_path) as h,
            Glucometer(h.link, address=METER, records=5, faults=Faults(battery_pct=5)),
        ):
            await h.central.enroll("gluco-1", METER, DeviceKind.GLUCOMETER)
            assert (await h.central.sync("gluco-1")).complete
            assert await h.radio.bonded(METER)
            assert [p["code"] for p in h.central.problems()] == ["ble_low_battery"]
            await h.central.remove("gluco-1")
            assert not await h.radio.bonded(METER)
            assert len(h.registry) == 0
            assert DeviceRegistry(tmp_path / "ble-devices.json").by_address(METER) is None
            assert h.central.problems() == []
            assert EventKind.REMOVED in [e.kind for e in h.events]
            stop = asyncio.Event()
            scan = asyncio.create_task(h.central.run(stop))
            await asyncio.sleep(0.5)
            stop.set()
            await scan
            assert METER in h.central.stats.ignored  # heard, now a stranger's device

    run(scenario())
