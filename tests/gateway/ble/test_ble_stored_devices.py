"""Cuffs, scales and thermometers hand over what they stored while no gateway was around."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ble_home import home, run

from firmware_sim.ble import Faults
from firmware_sim.ble.bp_cuff import BloodPressureCuff
from firmware_sim.ble.scale import Scale
from firmware_sim.ble.thermometer import Thermometer
from firmware_sim.signals import blood_pressure
from gateway.ble import DeviceKind

CUFF = "C0:00:00:00:02:01"


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(round(seconds), UTC)


def test_bp_cuff_offline_readings_all_arrive_with_their_own_times(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            home(tmp_path) as h,
            BloodPressureCuff(h.link, address=CUFF, readings=14, seed=5) as cuff,
        ):
            taken = [m.taken_s for m in cuff.pending]
            await h.central.enroll("cuff-1", CUFF, DeviceKind.BP_CUFF)
            report = await h.central.sync("cuff-1")
            assert report.complete, report.reason
            assert (report.received, report.stored) == (14, 56)
            assert cuff.pending == []
            readings = h.readings("cuff-1")
            expected = blood_pressure(taken, seed=5)
            systolic = sorted((r.ts, r.value) for r in readings if r.metric == "bp_systolic")
            assert [ts for ts, _ in systolic] == [utc(t) for t in taken]
            assert [v for _, v in systolic] == expected.systolic_mmhg.tolist()
            pulses = [r.value for r in readings if r.metric == "pulse_rate"]
            assert sorted(pulses) == sorted(expected.pulse_per_min.tolist())
            assert {r.metric for r in readings} == {
                "bp_systolic",
                "bp_diastolic",
                "bp_mean",
                "pulse_rate",
            }

    run(scenario())


def test_cuff_cut_mid_transfer_keeps_the_rest_for_the_next_connection(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            home(tmp_path) as h,
            BloodPressureCuff(
                h.link, address=CUFF, readings=10, faults=Faults(disconnect_after=4)
            ) as cuff,
        ):
            await h.central.enroll("cuff-1", CUFF, DeviceKind.BP_CUFF)
            first = await h.central.sync("cuff-1")
            assert first.received == 4
            assert len(cuff.pending) == 6
            second = await h.central.sync("cuff-1")
            assert second.complete, second.reason
            assert second.received == 6
            readings = h.readings("cuff-1")
            assert len(readings) == 40
            assert len({r.key for r in readings}) == 40

    run(scenario())


def test_scale_and_thermometer_hand_over_their_stored_readings(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            home(tmp_path) as h,
            Scale(h.link, address="C0:00:00:00:03:01", readings=7) as scale,
            Thermometer(h.link, address="C0:00:00:00:04:01", readings=6) as thermometer,
        ):
            weighed = sorted(utc(m.taken_s) for m in scale.pending)
            measured = sorted(utc(m.taken_s) for m in thermometer.pending)
            await h.central.enroll("scale-1", scale.address, DeviceKind.SCALE)
            await h.central.enroll("thermo-1", thermometer.address, DeviceKind.THERMOMETER)
            assert (await h.central.sync("scale-1")).complete
            assert (await h.central.sync("thermo-1")).complete
            weights = [r for r in h.readings() if r.metric == "body_weight"]
            temps = [r for r in h.readings() if r.metric == "body_temperature"]
            assert sorted(r.ts for r in weights) == weighed
            assert sorted(r.ts for r in temps) == measured
            assert all(50.0 < (r.value or 0) < 90.0 for r in weights)
            assert all(35.0 < (r.value or 0) < 38.5 for r in temps)

    run(scenario())
