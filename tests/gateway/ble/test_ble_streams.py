"""Live streams: a wearable's notifications at its own rate, damaged ones counted and skipped."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from ble_home import home, run

from firmware_sim.ble import Faults
from firmware_sim.ble.chopsticks import Chopsticks
from firmware_sim.ble.heart_rate import HeartRateWearable
from firmware_sim.ble.pulse_oximeter import PulseOximeter
from gateway.ble import DeviceKind

BAND = "C0:00:00:00:05:01"


@pytest.mark.slow
def test_wearable_notifications_stream_for_a_minute_without_gaps(tmp_path: Path) -> None:
    # A real minute: the wearable notifies once a second by its own schedule, as a real band
    # does; the emulated radio is not sped up because the gateway stamps arrival times.
    async def scenario() -> None:
        async with home(tmp_path) as h, HeartRateWearable(h.link, address=BAND, seed=2) as band:
            await h.central.enroll("band-1", BAND, DeviceKind.HEART_RATE)
            report = await h.central.sync("band-1", stream_for_s=60.0)
            assert report.complete, report.reason
            assert report.decode_errors == 0
            assert 59 <= report.received <= 61
            assert report.received == len(band.sent_at)
            rates = [r for r in h.readings("band-1") if r.metric == "heart_rate"]
            assert [r.seq for r in rates] == list(range(1, report.received + 1))
            gaps = [(b.ts - a.ts).total_seconds() for a, b in itertools.pairwise(rates)]
            assert max(gaps) < 1.5
            assert min(gaps) > 0.5
            assert all(40 <= (r.value or 0) <= 180 for r in rates)

    run(scenario(), timeout_s=120)


def test_damaged_notification_is_counted_and_skipped_and_the_stream_kept(tmp_path: Path) -> None:
    async def scenario() -> None:
        faults = Faults(corrupt=frozenset({3}))
        async with (
            home(tmp_path) as h,
            HeartRateWearable(h.link, address=BAND, faults=faults) as band,
        ):
            await h.central.enroll("band-1", BAND, DeviceKind.HEART_RATE)
            report = await h.central.sync("band-1", stream_for_s=5.2)
            assert report.complete, report.reason
            assert report.decode_errors == 1
            assert band.stats.corrupted == 1
            assert report.received == band.sent - 1
            rates = [r for r in h.readings("band-1") if r.metric == "heart_rate"]
            assert len(rates) == report.received
            assert any(e.kind == "ble_decode_errors" and e.count == 1 for e in h.events)

    run(scenario())


def test_continuous_oximeter_streams_spo2_and_pulse(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with home(tmp_path) as h, PulseOximeter(h.link, address="C0:00:00:00:06:01") as ox:
            await h.central.enroll("ox-1", ox.address, DeviceKind.PULSE_OXIMETER)
            report = await h.central.sync("ox-1", stream_for_s=3.2)
            assert report.complete, report.reason
            metrics = [r.metric for r in h.readings("ox-1")]
            assert metrics.count("spo2") == report.received >= 3
            assert metrics.count("pulse_rate") == report.received

    run(scenario())


def test_chopsticks_meal_eaten_offline_arrives_with_its_own_sequence(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with home(tmp_path) as h, Chopsticks(h.link, address="C0:00:00:00:07:01") as sticks:
            records = sticks.eat(bites=5, start_s=sticks.clock.wall() - 600)
            await h.central.enroll("sticks-1", sticks.address, DeviceKind.CHOPSTICKS)
            report = await h.central.sync("sticks-1", stream_for_s=1.0)
            assert report.complete, report.reason
            assert report.received == len(records) == 7
            readings = h.readings("sticks-1")
            assert {r.seq for r in readings} == set(range(1, 8))
            assert sum(1 for r in readings if r.metric == "food_sodium") == 5
            assert sticks.pending == type(sticks.pending)()

    run(scenario())
