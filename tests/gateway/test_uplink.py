"""The gateway's MQTT uplink on a real Mosquitto: delete only on the ingest's ack, resend the rest.

The ingest's application ack comes from the test-only AckResponder (ack_responder.py), so tests
can withhold, drop or delay acks and see what the gateway does about it.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices import Reading, make_reading, parse_broker_url
from gateway import ConfigError, Outbox, Uplink, UplinkConfig, UplinkStateError, parse_status
from gateway._backoff import full_jitter_delay_s
from homeward.embedded import MosquittoProcess

FAST = UplinkConfig(
    max_batch_readings=50,
    batch_linger_s=0.05,
    ack_timeout_s=0.5,
    ack_timeout_max_s=2.0,
    reconnect_min_s=0.05,
    reconnect_max_s=0.5,
    poll_interval_s=0.02,
)


def readings(device_id: str, n: int, *, first_seq: int = 1) -> list[Reading]:
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    return [
        make_reading(
            device_id=device_id,
            metric="heart_rate",
            value=60 + i % 40,
            unit="/min",
            ts=t0 + timedelta(seconds=first_seq + i),
            seq=first_seq + i,
        )
        for i in range(n)
    ]


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite3")
    yield box
    box.close()


class Watcher:
    """Collects what arrives on one topic (retained messages included)."""

    def __init__(self, broker_url: str, topic: str) -> None:
        self.seen: list[bytes] = []
        address = parse_broker_url(broker_url)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:8]}"
        )
        self._client.on_message = lambda c, u, m: self.seen.append(bytes(m.payload))
        self._client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self._client.connect(address.host, address.port)
        self._client.loop_start()

    def states(self) -> list[str]:
        """The ``state`` of every status document seen so far."""
        return [parse_status(raw)["state"] for raw in list(self.seen) if raw]

    def last(self) -> dict[str, Any]:
        return parse_status(self.seen[-1])

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def test_batches_are_deleted_only_after_the_ingest_acknowledges_them(
    outbox: Outbox, mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    acks = responder(mqtt_url, site, acking=False)
    uplink = Uplink(outbox, site=site, gateway_id=gateway_id, broker_url=mqtt_url, config=FAST)
    uplink.start()
    try:
        outbox.put(readings(f"ox-{tag}", 20))
        # The broker accepted the batch (PUBACK) and delivered it, and still nothing is deleted.
        assert wait_for(lambda: len(acks.deliveries) >= 2, 10)
        depth = outbox.depth()
        assert (depth.readings, depth.batches) == (20, 1)
        assert uplink.stats().acked_batches == 0
        acks.acking = True
        assert wait_for(lambda: outbox.depth().readings == 0, 10)
    finally:
        uplink.stop()
    assert len(acks.unique_keys()) == 20
    assert acks.errors == []


def test_lost_ack_resends_the_same_batch_id_with_the_same_bytes(
    outbox: Outbox, mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    acks = responder(mqtt_url, site, drop_next=1)
    uplink = Uplink(outbox, site=site, gateway_id=gateway_id, broker_url=mqtt_url, config=FAST)
    uplink.start()
    try:
        outbox.put(readings(f"ox-{tag}", 30))
        assert wait_for(lambda: outbox.depth().readings == 0, 10)
    finally:
        uplink.stop()
    (batch_id,) = set(acks.batch_ids())
    copies = acks.deliveries_of(batch_id)
    assert len(copies) == 2
    assert copies[0].raw == copies[1].raw
    assert uplink.stats().resent_batches == 1
    assert acks.acks_sent[-1].duplicates == 0  # the first copy's ack was lost, not stored twice


def test_restarted_gateway_resends_unacknowledged_batches_unchanged(
    tmp_path: Path, mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    path = tmp_path / "outbox.sqlite3"
    acks = responder(mqtt_url, site, acking=False)
    with Outbox(path) as outbox:
        outbox.put(readings(f"ox-{tag}", 120))
        uplink = Uplink(outbox, site=site, gateway_id=gateway_id, broker_url=mqtt_url, config=FAST)
        uplink.start()
        assert wait_for(lambda: len(set(acks.batch_ids())) == 3, 10)
        uplink.stop()
        sent_before = {d.batch.batch_id: d.raw for d in acks.deliveries}

    acks.acking = True
    with Outbox(path) as outbox:  # new objects on the same file: a gateway reboot
        assert [b.batch_id for b in outbox.pending_batches()] == list(sent_before)
        uplink = Uplink(outbox, site=site, gateway_id=gateway_id, broker_url=mqtt_url, config=FAST)
        uplink.start()
        try:
            assert wait_for(lambda: outbox.depth().readings == 0, 10)
        finally:
            uplink.stop()
    for batch_id, raw in sent_before.items():
        assert {d.raw for d in acks.deliveries_of(batch_id)} == {raw}
    assert len(acks.unique_keys()) == 120


def test_gateway_killed_mid_flush_loses_nothing_and_its_will_says_offline(
    tmp_path: Path, mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    path = tmp_path / "outbox.sqlite3"
    acks = responder(mqtt_url, site, acking=False)
    status = Watcher(mqtt_url, f"homeward/v1/{site}/{gateway_id}/status")
    script = Path(__file__).with_name("gateway_process.py")
    child = subprocess.Popen(
        [sys.executable, str(script), str(path), mqtt_url, site, gateway_id, "500"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "published"
        assert wait_for(lambda: "online" in status.states(), 10)
        child.kill()  # SIGKILL in the middle of the flush: four batches out, none acknowledged
        child.wait(10)
        assert wait_for(lambda: status.states()[-1:] == ["offline"], 10)  # the broker's last will
        will = parse_status(status.seen[-1])
        assert (will["gateway_id"], will["sent_at"]) == (gateway_id, None)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
        status.stop()

    acks.acking = True
    with Outbox(path) as outbox:
        assert outbox.depth().readings == 500
        uplink = Uplink(outbox, site=site, gateway_id=gateway_id, broker_url=mqtt_url, config=FAST)
        uplink.start()
        try:
            assert wait_for(lambda: outbox.depth().readings == 0, 15)
        finally:
            uplink.stop()
    assert len(acks.unique_keys()) == 500


@pytest.mark.parametrize("outage", ["stop", "kill"])
def test_broker_outage_during_a_steady_stream_loses_nothing(
    outage: str,
    outbox: Outbox,
    private_broker: MosquittoProcess,
    responder: Any,
    tag: str,
    wait_for: Any,
) -> None:
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    url = private_broker.url
    acks = responder(url, site)
    uplink = Uplink(outbox, site=site, gateway_id=gateway_id, broker_url=url, config=FAST)
    uplink.start()
    device = f"ox-{tag}"
    total = 0
    stop_producing = threading.Event()

    def produce() -> None:  # a device syncing 10 readings every 20 ms, whatever the broker does
        nonlocal total
        while not stop_producing.is_set():
            outbox.put(readings(device, 10, first_seq=total + 1))
            total += 10
            time.sleep(0.02)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        time.sleep(0.5)
        getattr(private_broker, outage)()
        assert wait_for(lambda: not uplink.stats().connected, 10)
        time.sleep(1.0)
        private_broker.start()
        assert wait_for(lambda: uplink.stats().connected, 10)
        time.sleep(0.5)
    finally:
        stop_producing.set()
        producer.join()
    try:
        assert wait_for(lambda: outbox.depth().readings == 0, 20)
    finally:
        uplink.stop()
    assert total > 100
    keys = acks.unique_keys()
    assert {k[2] for k in keys} == set(range(1, total + 1))
    assert uplink.stats().connects >= 2


def test_unacknowledged_batches_in_flight_never_exceed_the_cap(
    outbox: Outbox, mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    acks = responder(mqtt_url, site, acking=False)
    config = UplinkConfig(
        max_batch_readings=10,
        max_in_flight_batches=3,
        batch_linger_s=0,
        ack_timeout_s=0.3,
        ack_timeout_max_s=0.6,
        poll_interval_s=0.02,
    )
    uplink = Uplink(outbox, site=site, gateway_id=gateway_id, broker_url=mqtt_url, config=config)
    outbox.put(readings(f"ox-{tag}", 100))
    uplink.start()
    try:
        assert wait_for(lambda: len(acks.deliveries) >= 9, 10)  # resends keep coming ...
        assert len(set(acks.batch_ids())) == 3  # ... of the same three batches only
        assert outbox.depth().batches == 3
        acks.acking = True
        assert wait_for(lambda: outbox.depth().readings == 0, 15)
    finally:
        uplink.stop()
    assert len(set(acks.batch_ids())) == 10


def test_garbage_on_the_ack_topic_does_not_stop_the_uplink(
    outbox: Outbox, mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    acks = responder(mqtt_url, site)
    uplink = Uplink(outbox, site=site, gateway_id=gateway_id, broker_url=mqtt_url, config=FAST)
    uplink.start()
    try:
        assert wait_for(lambda: uplink.stats().connected, 10)
        address = parse_broker_url(mqtt_url)
        vandal = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"v-{uuid.uuid4().hex[:8]}")
        vandal.connect(address.host, address.port)
        vandal.loop_start()
        for junk in (b"\x00\xff", b"null", b'{"schema":"homeward.ack/1"}', b'{"schema":"x"}'):
            vandal.publish(uplink.ack_topic, junk, qos=1).wait_for_publish(5)
        vandal.disconnect()
        vandal.loop_stop()
        assert wait_for(lambda: uplink.stats().bad_acks == 4, 10)
        outbox.put(readings(f"ox-{tag}", 25))
        assert wait_for(lambda: outbox.depth().readings == 0, 10)
    finally:
        uplink.stop()
    assert uplink.stats().errors == 0
    assert len(acks.unique_keys()) == 25


def test_status_is_retained_online_while_running_and_offline_after_stop(
    outbox: Outbox, mqtt_url: str, tag: str, wait_for: Any
) -> None:
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    uplink = Uplink(outbox, site=site, gateway_id=gateway_id, broker_url=mqtt_url, config=FAST)
    uplink.start()
    assert wait_for(lambda: uplink.stats().connected, 10)
    online = Watcher(mqtt_url, uplink.status_topic)
    try:
        assert wait_for(lambda: online.states() == ["online"], 10)
        assert online.last()["gateway_id"] == gateway_id
    finally:
        online.stop()
    uplink.stop()
    offline = Watcher(mqtt_url, uplink.status_topic)
    try:
        assert wait_for(lambda: offline.states() == ["offline"], 10)
        assert offline.last()["sent_at"] is not None  # published by the clean stop itself
    finally:
        offline.stop()


def test_reconnect_delays_use_full_jitter_below_an_exponential_ceiling() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(60.0, 0.5 * 2**attempt)
        delays = [full_jitter_delay_s(attempt, base_s=0.5, cap_s=60.0, rng=rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling  # spread over the whole range, not clustered
        assert min(delays) < 0.2 * ceiling
    assert full_jitter_delay_s(10_000, base_s=0.5, cap_s=60.0, rng=rng) <= 60.0


def test_uplink_refuses_bad_settings_and_a_second_start(outbox: Outbox, mqtt_url: str) -> None:
    with pytest.raises(ConfigError) as err:
        UplinkConfig(max_in_flight_batches=0)
    assert err.value.name == "max_in_flight_batches"
    with pytest.raises(ConfigError) as err:
        UplinkConfig(max_batch_readings=20_000)
    assert err.value.name == "max_batch_readings"
    with pytest.raises(ConfigError) as err:
        Uplink(outbox, site="s", gateway_id="gw/1", broker_url=mqtt_url)
    assert err.value.name == "gateway_id"
    with pytest.raises(ConfigError) as err:
        Uplink(outbox, site="s", gateway_id="gw-1", broker_url="http://nowhere")
    assert err.value.name == "broker_url"
    uplink = Uplink(outbox, site="s", gateway_id=f"gw-{uuid.uuid4().hex[:8]}", broker_url=mqtt_url)
    uplink.start()
    uplink.stop()
    with pytest.raises(UplinkStateError):
        uplink.start()
