"""What the cloud sees of a gateway (the retained heartbeat) and how it steers one (the retained
config), on a real Mosquitto."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices import Reading, make_reading, parse_broker_url
from gateway import (
    CONFIG_SCHEMA,
    ClockCorrection,
    Outbox,
    OutboxFullError,
    Uplink,
    UplinkConfig,
    parse_status,
)

FAST = UplinkConfig(
    max_batch_readings=50,
    batch_linger_s=0.05,
    ack_timeout_s=0.5,
    ack_timeout_max_s=2.0,
    reconnect_min_s=0.05,
    reconnect_max_s=0.5,
    poll_interval_s=0.02,
    heartbeat_interval_s=0.5,
)


class Status:
    """Every status document published on one gateway's status topic, parsed."""

    def __init__(self, broker_url: str, topic: str) -> None:
        self.docs: list[dict[str, Any]] = []
        address = parse_broker_url(broker_url)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"status-{uuid.uuid4().hex[:8]}"
        )
        self._client.on_message = lambda c, u, m: (
            self.docs.append(parse_status(bytes(m.payload))) if m.payload else None
        )
        self._client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self._client.connect(address.host, address.port)
        self._client.loop_start()

    def last(self) -> dict[str, Any]:
        return self.docs[-1] if self.docs else {}

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class Cloud:
    """Publishes retained config documents, and clears them after the test."""

    def __init__(self, broker_url: str) -> None:
        address = parse_broker_url(broker_url)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"cloud-{uuid.uuid4().hex[:8]}"
        )
        self._client.connect(address.host, address.port)
        self._client.loop_start()
        self._topics: set[str] = set()

    def publish(self, topic: str, payload: bytes) -> None:
        self._topics.add(topic)
        self._client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)

    def stop(self) -> None:
        for topic in self._topics:  # an empty retained message deletes the retained one
            self._client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def cloud(mqtt_url: str) -> Iterator[Cloud]:
    c = Cloud(mqtt_url)
    yield c
    c.stop()


def config_doc(version: int, **sections: Any) -> bytes:
    return json.dumps({"schema": CONFIG_SCHEMA, "version": version, **sections}).encode()


def glucose(device_id: str, n: int, first_seq: int = 1) -> list[Reading]:
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    return [
        make_reading(
            device_id=device_id,
            metric="glucose",
            value=6.0,
            unit="mmol/L",
            ts=t0 + timedelta(minutes=i),
            seq=first_seq + i,
        )
        for i in range(n)
    ]


def test_heartbeat_shows_queue_devices_clock_offset_and_refused_readings(
    tmp_path: Path, mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    responder(mqtt_url, site, acking=False)  # the ingest is down: everything stays queued
    meter = f"gm-{tag}"
    now = datetime.now(UTC)
    correction = ClockCorrection.measure(now - timedelta(seconds=95), now, time.monotonic(), "b")
    readings = []
    for r in glucose(meter, 40):
        ts, flags = correction.correct(r.ts - timedelta(seconds=95))
        readings.append(make_reading(**{**_fields(r), "ts": ts, "flags": flags}))
    with Outbox(tmp_path / "o.sqlite3", max_readings=40) as outbox:
        outbox.put(readings, clock=correction)
        outbox.device_seen(meter, battery_pct=35.0)
        slow_beat = replace(FAST, heartbeat_interval_s=600)
        uplink = Uplink(
            outbox, site=site, gateway_id=gateway_id, broker_url=mqtt_url, config=slow_beat
        )
        status = Status(mqtt_url, uplink.status_topic)
        uplink.start()
        try:
            assert wait_for(lambda: status.last().get("state") == "online", 10)
            assert wait_for(lambda: outbox.depth().batches == 1, 10)
            with pytest.raises(OutboxFullError):
                outbox.put(glucose(meter, 2, first_seq=41))
            # The refusal is reported at once, not at the next periodic heartbeat.
            assert wait_for(lambda: status.last()["outbox"]["refused_readings"] == 2, 5)
        finally:
            uplink.stop()
            status.stop()
    beat = status.docs[-2]  # the last heartbeat; the very last document is "offline"
    assert (beat["state"], status.docs[-1]["state"]) == ("online", "offline")
    assert beat["gateway_id"] == gateway_id
    out = beat["outbox"]
    assert (out["readings"], out["max_readings"]) == (40, 40)
    assert out["refused_clinical_readings"] == 2
    assert out["oldest_unsent_age_s"] >= 0
    (device,) = beat["devices"]
    assert device["device_id"] == meter
    assert device["battery_pct"] == 35.0
    assert device["last_seq"] == 40
    assert device["clock"]["offset_s"] == 95
    assert device["clock"]["estimated"] is True
    (problem,) = beat["problems"]
    assert problem["code"] == "readings_refused"
    assert problem["clinical_readings"] == 2


def test_heartbeats_come_periodically_and_numbered(
    tmp_path: Path, mqtt_url: str, tag: str, wait_for: Any
) -> None:
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        config = replace(FAST, heartbeat_interval_s=0.2)
        uplink = Uplink(
            outbox, site=site, gateway_id=gateway_id, broker_url=mqtt_url, config=config
        )
        status = Status(mqtt_url, uplink.status_topic)
        uplink.start()
        try:
            assert wait_for(lambda: len(status.docs) >= 6, 10)
        finally:
            uplink.stop()
            status.stop()
    seqs = [d["seq"] for d in status.docs if d["state"] == "online"]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert {d["boot_id"] for d in status.docs} == {outbox.boot_id}


def _fields(r: Reading) -> dict[str, Any]:
    return {
        "device_id": r.device_id,
        "metric": r.metric,
        "value": r.value,
        "unit": r.unit,
        "ts": r.ts,
        "seq": r.seq,
        "flags": r.flags,
    }


def test_cloud_config_is_applied_without_restart_and_bad_ones_are_refused_visibly(
    tmp_path: Path, mqtt_url: str, cloud: Cloud, tag: str, wait_for: Any
) -> None:
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    path = tmp_path / "o.sqlite3"
    with Outbox(path) as outbox:
        uplink = Uplink(outbox, site=site, gateway_id=gateway_id, broker_url=mqtt_url, config=FAST)
        status = Status(mqtt_url, uplink.status_topic)
        uplink.start()
        try:
            assert wait_for(lambda: uplink.stats().connected, 10)
            cloud.publish(
                uplink.config_topic,
                config_doc(
                    3,
                    uplink={"flush_readings_per_s": 40, "max_batch_readings": 20},
                    outbox={"max_readings": 5000},
                ),
            )
            assert wait_for(lambda: uplink.config.flush_readings_per_s == 40, 10)
            assert uplink.config.max_batch_readings == 20
            assert uplink.config.ack_timeout_s == FAST.ack_timeout_s  # base value kept
            assert outbox.max_readings == 5000
            assert wait_for(lambda: status.last().get("config", {}).get("version") == 3, 5)

            cloud.publish(uplink.config_topic, config_doc(4, uplink={"max_batch_readings": 0}))
            assert wait_for(lambda: status.last()["config"]["rejected"] is not None, 5)
            rejected = status.last()["config"]["rejected"]
            assert rejected["version"] == 4
            assert "max_batch_readings" in rejected["error"]
            assert status.last()["config"]["version"] == 3  # the old config stays in force
            assert uplink.config.max_batch_readings == 20
            assert any(p["code"] == "config_rejected" for p in status.last()["problems"])

            cloud.publish(uplink.config_topic, config_doc(2, uplink={}))  # stale
            assert wait_for(lambda: uplink.config_state().rejected_version == 2, 5)
            assert "older" in (uplink.config_state().rejected_error or "")
            assert uplink.config_state().version == 3
        finally:
            uplink.stop()
            status.stop()

    # A reboot without a network starts with the config last applied.
    with Outbox(path) as outbox:
        offline = Uplink(
            outbox, site=site, gateway_id=gateway_id, broker_url="mqtt://127.0.0.1:9", config=FAST
        )
        offline.start()
        try:
            assert wait_for(lambda: offline.config.flush_readings_per_s == 40, 5)
            assert outbox.max_readings == 5000
        finally:
            offline.stop()


def test_backlog_drains_no_faster_than_the_flush_rate(
    tmp_path: Path, mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    acks = responder(mqtt_url, site)
    config = UplinkConfig(
        max_batch_readings=100,
        batch_linger_s=0,
        max_in_flight_batches=20,
        poll_interval_s=0.01,
        flush_readings_per_s=1000,
    )
    t0 = datetime.now(UTC) - timedelta(hours=1)
    backlog = [
        make_reading(
            device_id=f"wr-{tag}",
            metric="heart_rate",
            value=70,
            unit="/min",
            ts=t0 + timedelta(seconds=i),
            seq=i,
        )
        for i in range(2500)
    ]
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put(backlog)
        uplink = Uplink(
            outbox, site=site, gateway_id=gateway_id, broker_url=mqtt_url, config=config
        )
        started = time.monotonic()
        uplink.start()
        try:
            assert wait_for(lambda: outbox.depth().readings == 0, 20)
        finally:
            uplink.stop()
    arrivals = sorted(d.received_at for d in acks.deliveries)
    assert len(acks.unique_keys()) == 2500
    # 2,500 readings at 1,000/s with one batch of credit: at least 1.4 s of publishing.
    assert arrivals[-1] - started >= 1.4
    # No one-second window ever carried more than the rate plus the one-batch bucket.
    per_window = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert per_window * 100 <= 1000 + 100


def test_the_uplink_survives_its_outbox_failing_and_still_stops(
    tmp_path: Path, mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    responder(mqtt_url, site)
    outbox = Outbox(tmp_path / "o.sqlite3")
    uplink = Uplink(outbox, site=site, gateway_id=gateway_id, broker_url=mqtt_url, config=FAST)
    uplink.start()
    assert wait_for(lambda: uplink.stats().connected, 10)
    outbox.close()  # every outbox call the loop makes now raises OutboxClosedError
    assert wait_for(lambda: uplink.stats().errors >= 3, 10)
    assert uplink.stats().connected
    assert "OutboxClosedError" in (uplink.stats().last_error or "")
    uplink.stop()
    assert not uplink.stats().connected
