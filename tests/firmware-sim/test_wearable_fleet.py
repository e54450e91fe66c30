"""Simulated Wi-Fi wearables on a real Mosquitto: nothing lost, nothing deleted before the ack.

The ingest's application ack comes from the test-only AckResponder (tests/gateway/ack_responder.py),
so each test can withhold, drop or delay acks. Clocks are manual: a test moves the wearables'
time forward and knows exactly which samples must exist.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices import Quality, Reading, parse_broker_url
from firmware_sim import (
    DuplicateDeviceError,
    FleetStateError,
    ParameterError,
    Scenario,
    WearableConfig,
    WearableFleet,
)
from homeward.embedded import MosquittoProcess

FAST = WearableConfig(
    ack_timeout_s=0.5,
    ack_timeout_max_s=2.0,
    reconnect_min_s=0.05,
    reconnect_max_s=0.5,
)


class ManualClock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self, start_s: float) -> None:
        self._t = start_s
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._t

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._t += seconds


def past_clock(interval_s: float = 10.0, hours_ago: float = 2.0) -> ManualClock:
    """A clock on the sampling grid, some hours in the past (the ingest refuses the future)."""
    start = math.floor((time.time() - hours_ago * 3600) / interval_s) * interval_s
    return ManualClock(float(start))


def unique(readings: list[Reading]) -> dict[tuple[Any, ...], Reading]:
    return {r.key: r for r in readings}


def series(readings: list[Reading], device_id: str, metric: str) -> list[Reading]:
    chosen = [r for r in unique(readings).values() if r.device_id == device_id]
    return sorted((r for r in chosen if r.metric == metric), key=lambda r: r.seq)


def all_connected(fleet: WearableFleet) -> bool:
    return all(s.connected for s in fleet.stats().values())


def sampled(fleet: WearableFleet, count: int) -> Callable[[], bool]:
    return lambda: all(s.sampled_readings >= count for s in fleet.stats().values())


def test_fleet_delivers_every_sample_once_with_strictly_increasing_seq_per_metric(
    mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site = f"site-{tag}"
    acks = responder(mqtt_url, site)
    clock = past_clock()
    ids = [f"wr-{tag}-{i}" for i in range(3)]
    fleet = WearableFleet(
        [(i, Scenario()) for i in ids], site=site, broker_url=mqtt_url, clock=clock, tick_s=0.02
    )
    fleet.start()
    assert wait_for(lambda: all_connected(fleet), 10)
    clock.advance(300)  # 5 minutes: 31 samples per metric at 10 s, the boot instant included
    assert wait_for(sampled(fleet, 62), 10)
    assert fleet.stop(drain_timeout_s=15)

    received = acks.readings()
    assert acks.errors == []
    for device_id in ids:
        for metric in ("heart_rate", "spo2"):
            got = series(received, device_id, metric)
            assert len(got) == 31
            seqs = [r.seq for r in got]
            assert seqs == list(range(seqs[0], seqs[0] + 31))
            gaps = {(b.ts - a.ts).total_seconds() for a, b in itertools.pairwise(got)}
            assert gaps == {10.0}
        stats = fleet.stats()[device_id]
        assert stats.acked_readings == stats.sampled_readings == 62
        assert stats.buffered_readings == 0
        assert stats.errors == 0


def test_readings_stay_buffered_until_the_application_ack_arrives(
    mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site = f"site-{tag}"
    acks = responder(mqtt_url, site, acking=False)
    clock = past_clock()
    device = f"wr-{tag}"
    fleet = WearableFleet(
        [(device, Scenario())],
        site=site,
        broker_url=mqtt_url,
        config=FAST,
        clock=clock,
        tick_s=0.02,
    )
    fleet.start()
    try:
        assert wait_for(lambda: all_connected(fleet), 10)
        clock.advance(60)
        assert wait_for(sampled(fleet, 14), 10)
        # The broker took the batch (PUBACK) and the "ingest" received it, but never acked it.
        assert wait_for(lambda: len(acks.deliveries) >= 2, 10)
        stats = fleet.stats()[device]
        assert stats.buffered_readings == 14
        assert stats.acked_readings == 0
        assert stats.resent_batches >= 1  # it keeps offering the same batch
        acks.acking = True
        assert wait_for(lambda: fleet.stats()[device].buffered_readings == 0, 10)
    finally:
        fleet.stop()
    assert len(unique(acks.readings())) == 14
    assert len(set(acks.batch_ids())) == 1  # one batch, offered several times


def test_lost_ack_causes_a_resend_of_the_identical_batch(
    mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site = f"site-{tag}"
    acks = responder(mqtt_url, site, drop_next=1)
    clock = past_clock()
    device = f"wr-{tag}"
    fleet = WearableFleet(
        [(device, Scenario())],
        site=site,
        broker_url=mqtt_url,
        config=FAST,
        clock=clock,
        tick_s=0.02,
    )
    fleet.start()
    assert wait_for(lambda: all_connected(fleet), 10)
    clock.advance(40)
    assert wait_for(sampled(fleet, 10), 10)
    assert wait_for(lambda: fleet.stats()[device].acked_batches == 1, 10)
    assert fleet.stop(drain_timeout_s=10)

    first = acks.batch_ids()[0]
    copies = acks.deliveries_of(first)
    assert len(copies) >= 2
    assert {c.raw for c in copies} == {copies[0].raw}  # same batch_id, same readings, same bytes
    assert fleet.stats()[device].resent_batches >= 1
    assert len(unique(acks.readings())) == fleet.stats()[device].sampled_readings


def test_desaturating_patient_publishes_low_spo2_in_the_scheduled_window(
    mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site = f"site-{tag}"
    acks = responder(mqtt_url, site)
    clock = past_clock()
    boot = clock()
    sick, well = f"wr-{tag}-sick", f"wr-{tag}-well"
    fleet = WearableFleet(
        [
            (sick, Scenario.desaturating(after_s=120, duration_min=5, nadir_pct=84)),
            (well, Scenario()),
        ],
        site=site,
        broker_url=mqtt_url,
        clock=clock,
        tick_s=0.02,
    )
    fleet.start()
    assert wait_for(lambda: all_connected(fleet), 10)
    clock.advance(900)
    assert wait_for(sampled(fleet, 2 * 91), 10)
    assert fleet.stop(drain_timeout_s=15)

    def window(device: str, lo: float, hi: float) -> list[float]:
        return [
            r.value
            for r in series(acks.readings(), device, "spo2")
            if r.value is not None and lo <= r.ts.timestamp() < hi
        ]

    before = window(sick, boot, boot + 120)
    at_nadir = sorted(window(sick, boot + 180, boot + 420))
    after = window(sick, boot + 600, boot + 900)
    assert min(before) >= 90
    assert min(after) >= 90
    assert at_nadir[len(at_nadir) // 2] <= 86
    assert min(window(well, boot + 180, boot + 420)) >= 90


def test_wearable_reports_whole_steps_per_interval_when_enabled(
    mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site = f"site-{tag}"
    acks = responder(mqtt_url, site)
    clock = past_clock(interval_s=60.0)
    device = f"wr-{tag}"
    config = WearableConfig(steps_interval_s=60.0)
    fleet = WearableFleet(
        [(device, Scenario())],
        site=site,
        broker_url=mqtt_url,
        config=config,
        clock=clock,
        tick_s=0.02,
    )
    fleet.start()
    assert wait_for(lambda: all_connected(fleet), 10)
    clock.advance(600)
    assert wait_for(sampled(fleet, 2 * 61 + 10), 10)
    assert fleet.stop(drain_timeout_s=10)
    steps = series(acks.readings(), device, "steps")
    assert len(steps) == 10
    assert all(r.value is not None and r.value >= 0 and r.value == int(r.value) for r in steps)
    assert [r.seq for r in steps] == list(range(steps[0].seq, steps[0].seq + 10))


def test_broker_killed_and_restarted_every_sample_still_arrives(
    private_broker: MosquittoProcess, responder: Any, tag: str, wait_for: Any
) -> None:
    url = private_broker.url
    site = f"site-{tag}"
    acks = responder(url, site)
    clock = past_clock()
    ids = [f"wr-{tag}-{i}" for i in range(3)]
    fleet = WearableFleet(
        [(i, Scenario()) for i in ids],
        site=site,
        broker_url=url,
        config=FAST,
        clock=clock,
        tick_s=0.02,
    )
    fleet.start()
    assert wait_for(lambda: all_connected(fleet), 10)
    clock.advance(100)
    assert wait_for(sampled(fleet, 22), 10)

    private_broker.kill()  # a crash: whatever it had not persisted is gone
    assert wait_for(lambda: not any(s.connected for s in fleet.stats().values()), 10)
    for _ in range(10):  # the patients go on living while the broker is down
        clock.advance(20)
        time.sleep(0.05)
    private_broker.start()

    assert wait_for(lambda: all_connected(fleet), 15)
    clock.advance(100)
    assert wait_for(sampled(fleet, 2 * 41), 10)
    assert fleet.stop(drain_timeout_s=20)

    received = acks.readings()
    for device_id in ids:
        for metric in ("heart_rate", "spo2"):
            seqs = [r.seq for r in series(received, device_id, metric)]
            assert seqs == list(range(seqs[0], seqs[0] + 41))
        assert fleet.stats()[device_id].connects >= 2


def test_full_buffer_thins_the_oldest_samples_and_flags_their_neighbours(
    private_broker: MosquittoProcess, responder: Any, tag: str, wait_for: Any
) -> None:
    private_broker.stop()  # the home's Wi-Fi is down from the start
    config = WearableConfig(
        max_batch_readings=10,
        max_in_flight_batches=2,
        buffer_capacity_readings=60,
        # The responder subscribes only after the broker is back: what the wearable sends before
        # that reaches nobody and is resent after this timeout.
        ack_timeout_s=0.5,
        ack_timeout_max_s=1.0,
        reconnect_min_s=0.05,
        reconnect_max_s=0.3,
    )
    clock = past_clock()
    site = f"site-{tag}"
    device = f"wr-{tag}"
    fleet = WearableFleet(
        [(device, Scenario())],
        site=site,
        broker_url=private_broker.url,
        config=config,
        clock=clock,
        tick_s=0.02,
    )
    fleet.start()
    assert wait_for(sampled(fleet, 2), 10)  # booted: the first sample is taken at once
    for _ in range(25):  # 250 s: 26 samples x 2 metrics = 52 ... then far beyond the bound
        clock.advance(10)
        time.sleep(0.03)
    for _ in range(15):
        clock.advance(50)
        time.sleep(0.05)
    assert wait_for(sampled(fleet, 2 * (1 + 25 + 75)), 10)
    stats = fleet.stats()[device]
    assert stats.buffered_readings <= 60
    assert stats.thinned_readings > 0
    assert stats.dropped_readings == 0

    private_broker.start()
    acks = responder(private_broker.url, site)
    assert wait_for(lambda: fleet.stats()[device].buffered_readings == 0, 20)
    fleet.stop()

    received = list(unique(acks.readings()).values())
    assert len(received) == fleet.stats()[device].sampled_readings - stats.thinned_readings
    thinned = [r for r in received if Quality.THINNED in r.flags]
    intact = [r for r in received if Quality.THINNED not in r.flags]
    assert thinned, "the neighbours of dropped samples carry the thinned flag"
    # Oldest data lost resolution; the newest minutes are complete.
    assert max(r.ts for r in thinned) < max(r.ts for r in intact)
    newest = sorted((r for r in received if r.metric == "spo2"), key=lambda r: r.seq)[-10:]
    assert [r.seq for r in newest] == list(range(newest[0].seq, newest[0].seq + 10))
    assert all(Quality.THINNED not in r.flags for r in newest)


def test_rebooted_wearable_numbers_its_samples_above_the_previous_run(
    mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site = f"site-{tag}"
    acks = responder(mqtt_url, site)
    clock = past_clock()
    device = f"wr-{tag}"
    for _ in range(2):
        fleet = WearableFleet(
            [(device, Scenario())], site=site, broker_url=mqtt_url, clock=clock, tick_s=0.02
        )
        fleet.start()
        assert wait_for(lambda f=fleet: all_connected(f), 10)  # type: ignore[misc]
        clock.advance(30)
        assert wait_for(sampled(fleet, 8), 10)
        assert fleet.stop(drain_timeout_s=10)
        clock.advance(10)  # switched off for a moment
    got = series(acks.readings(), device, "spo2")
    assert len(got) == 8
    first_run, second_run = got[:4], got[4:]
    assert max(r.seq for r in first_run) < min(r.seq for r in second_run)
    assert max(r.ts for r in first_run) < min(r.ts for r in second_run)


def test_garbage_on_the_ack_topic_does_not_stop_the_wearable(
    mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site = f"site-{tag}"
    acks = responder(mqtt_url, site)
    clock = past_clock()
    device = f"wr-{tag}"
    fleet = WearableFleet(
        [(device, Scenario())], site=site, broker_url=mqtt_url, clock=clock, tick_s=0.02
    )
    fleet.start()
    assert wait_for(lambda: all_connected(fleet), 10)
    address = parse_broker_url(mqtt_url)
    vandal = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"vandal-{uuid.uuid4().hex[:8]}")
    vandal.connect(address.host, address.port)
    vandal.loop_start()
    ack_topic = f"homeward/v1/{site}/{device}/ack"
    for junk in (b"\xff\xfe\x00", b"{}", b'{"schema":"homeward.ack/1","batch_id":7}', b"[]"):
        vandal.publish(ack_topic, junk, qos=1).wait_for_publish(5)
    vandal.disconnect()
    vandal.loop_stop()
    assert wait_for(lambda: fleet.stats()[device].bad_acks == 4, 10)
    clock.advance(30)
    assert wait_for(sampled(fleet, 8), 10)
    assert fleet.stop(drain_timeout_s=10)
    stats = fleet.stats()[device]
    assert stats.errors == 0
    assert stats.acked_readings == 8
    assert len(unique(acks.readings())) == 8


def test_switched_off_wearable_leaves_a_retained_offline_status(
    mqtt_url: str, tag: str, wait_for: Any
) -> None:
    site = f"site-{tag}"
    device = f"wr-{tag}"
    fleet = WearableFleet([(device, Scenario())], site=site, broker_url=mqtt_url, tick_s=0.02)
    fleet.start()
    assert wait_for(lambda: all_connected(fleet), 10)
    fleet.stop()

    seen: list[bytes] = []
    address = parse_broker_url(mqtt_url)
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:8]}")
    watcher.on_message = lambda c, u, m: seen.append(bytes(m.payload))
    watcher.connect(address.host, address.port)
    watcher.subscribe(f"homeward/v1/{site}/{device}/status", qos=1)
    watcher.loop_start()
    try:
        assert wait_for(lambda: seen == [b"offline"], 10)
    finally:
        watcher.disconnect()
        watcher.loop_stop()


def test_fleet_refuses_duplicate_ids_bad_settings_and_a_second_start(mqtt_url: str) -> None:
    with pytest.raises(DuplicateDeviceError) as dup:
        WearableFleet([("wr-1", Scenario()), ("wr-1", Scenario())], site="s", broker_url=mqtt_url)
    assert dup.value.device_id == "wr-1"
    with pytest.raises(ParameterError) as bad_url:
        WearableFleet([], site="s", broker_url="http://example.invalid")
    assert bad_url.value.name == "broker_url"
    with pytest.raises(ParameterError) as bad_site:
        WearableFleet([("wr-1", Scenario())], site="a/b", broker_url=mqtt_url)
    assert bad_site.value.name == "site"
    with pytest.raises(ParameterError) as small:
        WearableConfig(buffer_capacity_readings=100)  # less than 2 x 4 batches x 120 readings
    assert small.value.name == "buffer_capacity_readings"
    fleet = WearableFleet([], site="s", broker_url=mqtt_url)
    fleet.start()
    fleet.stop()
    with pytest.raises(FleetStateError):
        fleet.start()


def test_wearable_switched_on_with_history_delivers_the_stored_samples_at_once(
    mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    """A device back in Wi-Fi range flushes the samples it took while away, with their own
    timestamps; its scheduled events count from when it really started (history_s earlier)."""
    site = f"site-{tag}"
    acks = responder(mqtt_url, site)
    clock = past_clock()
    now = clock()
    device = f"wr-{tag}-hist"
    fleet = WearableFleet(
        [(device, Scenario.desaturating(after_s=60, duration_min=4, nadir_pct=84))],
        site=site,
        broker_url=mqtt_url,
        clock=clock,
        config=WearableConfig(history_s=600, ack_timeout_s=0.5, ack_timeout_max_s=2.0),
        tick_s=0.02,
    )
    fleet.start()
    # Without the clock moving at all, ten minutes of samples (61 per metric) arrive.
    assert wait_for(lambda: len(series(acks.readings(), device, "spo2")) >= 61, 10)
    assert fleet.stop(drain_timeout_s=10)
    spo2 = series(acks.readings(), device, "spo2")
    times = [r.ts.timestamp() for r in spo2]
    assert times[0] >= now - 600
    assert times[0] < now - 590
    assert times[-1] <= now
    assert all(b - a == 10 for a, b in itertools.pairwise(times))
    low = [r.value for r in spo2 if now - 420 <= r.ts.timestamp() < now - 300]
    assert max(v for v in low if v is not None) <= 87


def test_negative_history_is_refused() -> None:
    with pytest.raises(ParameterError) as exc:
        WearableConfig(history_s=-1)
    assert exc.value.name == "history_s"
