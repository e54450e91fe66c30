"""Only this home's devices are read; bonds outlive restarts; a lost bond is reported."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from ble_home import FAST, home, run
from bumble.link import LocalLink

from devices import Quality
from firmware_sim.ble import Faults
from firmware_sim.ble.glucometer import Glucometer
from gateway.ble import ConnectionPolicy, DeviceKind, DeviceRegistry, EventKind
from gateway.ble.backends.bumble import DEFAULT_GATEWAY_ADDRESS

OURS = "C0:00:00:00:01:01"
NEIGHBOURS = "C0:00:00:00:09:09"


def test_neighbours_glucometer_is_seen_in_scans_and_never_read(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            home(tmp_path) as h,
            Glucometer(h.link, address=OURS, records=30, seed=1) as ours,
            Glucometer(h.link, address=NEIGHBOURS, records=30, seed=2) as theirs,
        ):
            await h.central.enroll("gluco-1", OURS, DeviceKind.GLUCOMETER)
            stop = asyncio.Event()
            runner = asyncio.create_task(h.central.run(stop))
            for _ in range(100):
                await asyncio.sleep(0.05)
                if h.outbox.cursor("gluco-1") == 30:
                    break
            await asyncio.sleep(0.3)  # keep scanning: the neighbour keeps advertising
            stop.set()
            await runner
            assert h.outbox.cursor("gluco-1") == 30
            assert NEIGHBOURS in h.central.stats.ignored
            assert OURS not in h.central.stats.ignored
            assert theirs.stats.connections == 0
            assert theirs.requests == []
            assert ours.stats.connections >= 2  # enrolment, then the sync
            assert {r.device_id for r in h.readings()} == {"gluco-1"}

    run(scenario())


def test_bond_made_at_enrolment_is_used_again_after_a_gateway_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        link = LocalLink()
        async with Glucometer(link, address=OURS, records=10) as meter:
            async with home(tmp_path, link=link) as h:
                enrolled = await h.central.enroll("gluco-1", OURS, DeviceKind.GLUCOMETER)
                assert enrolled.bonded
                assert (await h.central.sync("gluco-1")).complete
            assert await meter.bonded_peers() == [DEFAULT_GATEWAY_ADDRESS]
            meter.add_records(5)
            # The gateway restarts: new radio, registry and outbox objects on the same files.
            async with home(tmp_path, link=link) as h:
                assert h.registry.get("gluco-1").bonded
                report = await h.central.sync("gluco-1")
                assert report.complete, report.reason
                assert (report.first_seq, report.last_seq) == (11, 15)
            assert await meter.bonded_peers() == [DEFAULT_GATEWAY_ADDRESS]

    run(scenario())


def test_device_that_lost_its_bond_is_reported_not_skipped(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with home(tmp_path) as h, Glucometer(h.link, address=OURS, records=10) as meter:
            await h.central.enroll("gluco-1", OURS, DeviceKind.GLUCOMETER)
            await meter.forget_bonds()  # battery out, or a factory reset
            meter.add_records(3)
            report = await h.central.sync("gluco-1")
            assert not report.complete
            assert "lost its bond" in report.reason
            assert h.readings("gluco-1") == []
            assert [e.kind for e in h.events].count(EventKind.BOND_LOST) == 1
            problems = h.central.problems()
            assert [p["code"] for p in problems] == ["ble_bond_lost"]
            assert h.registry.get("gluco-1").bond_lost_at is not None
            # Durable: a restarted gateway still reports it.
            again = DeviceRegistry(tmp_path / "ble-devices.json")
            assert again.get("gluco-1").bond_lost_at is not None
            # Enrolling again pairs afresh and the records flow.
            await h.central.enroll("gluco-1", OURS, DeviceKind.GLUCOMETER)
            assert h.central.problems() == []
            report = await h.central.sync("gluco-1")
            assert report.complete, report.reason
            assert report.stored == 13

    run(scenario())


def test_low_battery_is_read_recorded_and_reported(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            home(tmp_path) as h,
            Glucometer(h.link, address=OURS, records=3, faults=Faults(battery_pct=6)),
        ):
            await h.central.enroll("gluco-1", OURS, DeviceKind.GLUCOMETER)
            report = await h.central.sync("gluco-1")
            assert report.battery_pct == 6
            assert any(e.kind == EventKind.LOW_BATTERY for e in h.events)
            assert {"code": "ble_low_battery", "device_id": "gluco-1", "battery_pct": 6} in (
                h.central.problems()
            )
            seen = {d.device_id: d for d in h.outbox.devices()}
            assert seen["gluco-1"].battery_pct == 6.0
            # The meter annunciates "battery low" on its records (sensor status bit 0).
            assert all(Quality.LOW_BATTERY in r.flags for r in h.readings("gluco-1"))

    run(scenario())


def test_device_that_never_answers_is_given_up_and_reported(tmp_path: Path) -> None:
    async def scenario() -> None:
        quick = ConnectionPolicy(attempts=2, base_delay_s=0.05, connect_timeout_s=0.5)
        async with (
            home(tmp_path, config=dataclasses.replace(FAST, connection=quick)) as h,
            Glucometer(h.link, address=OURS, records=3, faults=Faults(silent=True)) as meter,
        ):
            h.registry.enroll("gluco-1", OURS, DeviceKind.GLUCOMETER)
            report = await h.central.sync("gluco-1")
            assert not report.complete
            assert "no connection after 2 attempts" in report.reason
            assert any(e.kind == EventKind.UNREACHABLE for e in h.events)
            assert meter.stats.connections == 2
            assert h.central.health()["gluco-1"].failures == 1

    run(scenario())
