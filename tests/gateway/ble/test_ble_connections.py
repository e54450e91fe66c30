"""Connections: never more at once than the adapter is given, every device still served."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from ble_home import FAST, home, run

from firmware_sim.ble import BloodPressureCuff
from gateway.ble import ConnectionPolicy, DeviceKind
from gateway.errors import ConfigError


def test_simultaneous_syncs_wait_for_a_free_connection_slot(tmp_path: Path) -> None:
    policy = dataclasses.replace(FAST.connection, max_connections=1)

    async def scenario() -> None:
        async with (
            home(tmp_path, config=dataclasses.replace(FAST, connection=policy)) as h,
            BloodPressureCuff(h.link, address="C0:00:00:00:0C:01", readings=6, seed=1),
            BloodPressureCuff(h.link, address="C0:00:00:00:0C:02", readings=6, seed=2),
            BloodPressureCuff(h.link, address="C0:00:00:00:0C:03", readings=6, seed=3),
        ):
            for n in (1, 2, 3):
                await h.central.enroll(f"cuff-{n}", f"C0:00:00:00:0C:0{n}", DeviceKind.BP_CUFF)
            reports = await asyncio.gather(*(h.central.sync(f"cuff-{n}") for n in (1, 2, 3)))
            assert all(r.complete for r in reports), [r.reason for r in reports]
            assert h.central.connections.peak_active == 1
            assert len(h.readings()) == 3 * 6 * 4

    run(scenario())


def test_policy_refuses_values_outside_their_range() -> None:
    with pytest.raises(ConfigError) as info:
        ConnectionPolicy(max_connections=0)
    assert info.value.name == "max_connections"
