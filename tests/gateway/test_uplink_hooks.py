"""The uplink's public hooks, on a real Mosquitto: what a radio running beside the uplink relies
on (``homeward gateway``'s BLE side). Its status rides in every heartbeat and a problem coming or
going is reported at once; every config put in force reaches it; a hook that fails stops nothing.
The order at start (``restored`` only after the kept config reached ``on_config``) is covered in
test_gateway_ble.py, next to the runner that relies on it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_status_and_config import FAST, Cloud, Status, config_doc, glucose

from gateway import GatewayConfig, Outbox, RadioStatus, Uplink, parse_config

UNREACHABLE = {"code": "ble_unreachable", "device_id": "sc-0002", "failures": 3}


@pytest.fixture
def cloud(mqtt_url: str) -> Iterator[Cloud]:
    """Publishes retained config documents; clears them after the test."""
    c = Cloud(mqtt_url)
    yield c
    c.stop()


def problem_codes(doc: dict[str, Any]) -> list[str]:
    return [p["code"] for p in doc.get("problems", [])]


def test_a_radio_problem_coming_or_going_is_reported_at_once_not_at_the_next_period(
    tmp_path: Path, mqtt_url: str, tag: str, wait_for: Any
) -> None:
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    radio = [RadioStatus(radio="host", state="running")]
    # The periodic heartbeat is ten minutes away: any heartbeat below is an event's.
    slow_beat = replace(FAST, heartbeat_interval_s=600)
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        uplink = Uplink(
            outbox,
            site=site,
            gateway_id=gateway_id,
            broker_url=mqtt_url,
            config=slow_beat,
            radio_status=lambda: radio[0],
        )
        status = Status(mqtt_url, uplink.status_topic)
        uplink.start()
        try:
            assert wait_for(lambda: status.last().get("state") == "online", 10)
            assert status.last()["ble"]["state"] == "running"
            assert status.last()["problems"] == []

            radio[0] = RadioStatus(radio="host", state="running", problems=(UNREACHABLE,))
            assert wait_for(lambda: "ble_unreachable" in problem_codes(status.last()), 10)
            assert status.last()["problems"] == [UNREACHABLE]

            radio[0] = RadioStatus(radio="host", state="running")
            assert wait_for(lambda: problem_codes(status.last()) == [], 10)

            radio[0] = RadioStatus(radio="host", state="unavailable", detail="no adapter")
            assert wait_for(lambda: status.last()["ble"]["state"] == "unavailable", 10)
            assert status.last()["ble"]["detail"] == "no adapter"
        finally:
            uplink.stop()
            status.stop()


def test_every_config_put_in_force_reaches_on_config_and_a_failing_one_stops_nothing(
    tmp_path: Path,
    mqtt_url: str,
    responder: Any,
    cloud: Cloud,
    tag: str,
    wait_for: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="gateway.uplink")
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    acks = responder(mqtt_url, site)
    handed: list[GatewayConfig | None] = []

    def on_config(doc: GatewayConfig | None) -> None:
        handed.append(doc)
        if len(handed) == 1:
            raise RuntimeError("the radio is busy")

    first = config_doc(1, uplink={"max_batch_readings": 20})
    second = config_doc(2, uplink={"max_batch_readings": 30})
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        uplink = Uplink(
            outbox,
            site=site,
            gateway_id=gateway_id,
            broker_url=mqtt_url,
            config=FAST,
            on_config=on_config,
        )
        uplink.start()
        try:
            assert wait_for(lambda: uplink.stats().connected, 10)
            cloud.publish(uplink.config_topic, first)
            assert wait_for(lambda: len(handed) == 1, 10)
            # The hook failed: the settings are in force all the same, and the failure is visible.
            assert uplink.config.max_batch_readings == 20
            assert uplink.config_state().version == 1
            assert wait_for(lambda: uplink.stats().errors == 1, 5)
            assert "the radio is busy" in (uplink.stats().last_error or "")
            assert "on_config failed for config version 1" in caplog.text

            outbox.put(glucose(f"gm-{tag}", 45))
            assert wait_for(lambda: outbox.depth().readings == 0, 10)

            cloud.publish(uplink.config_topic, second)
            assert wait_for(lambda: len(handed) == 2, 10)
            cloud.publish(uplink.config_topic, b"")  # the cloud clears its document
            assert wait_for(lambda: len(handed) == 3, 10)
            assert uplink.config == FAST
            assert uplink.config_state().version is None
        finally:
            uplink.stop()
    assert handed == [parse_config(first), parse_config(second), None]
    assert len(acks.unique_keys()) == 45
    assert uplink.stats().errors == 1


def test_a_failing_radio_status_leaves_heartbeats_and_delivery_going(
    tmp_path: Path, mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    acks = responder(mqtt_url, site)
    broken = [True]

    def radio_status() -> RadioStatus:
        if broken[0]:
            raise RuntimeError("radio status unreadable")
        return RadioStatus(radio="host", state="running")

    with Outbox(tmp_path / "o.sqlite3") as outbox:
        uplink = Uplink(
            outbox,
            site=site,
            gateway_id=gateway_id,
            broker_url=mqtt_url,
            config=FAST,
            radio_status=radio_status,
        )
        status = Status(mqtt_url, uplink.status_topic)
        uplink.start()
        try:
            assert wait_for(lambda: len(status.docs) >= 3, 10)  # periodic heartbeats go on
            assert status.last()["ble"] is None
            assert "radio status unreadable" in (status.last()["uplink"]["last_error"] or "")
            outbox.put(glucose(f"gm-{tag}", 30))
            assert wait_for(lambda: outbox.depth().readings == 0, 10)
            # Counted once for the whole spell of failures, not once per pass of the loop.
            assert uplink.stats().errors == 1

            broken[0] = False
            assert wait_for(lambda: (status.last().get("ble") or {}).get("state") == "running", 10)
        finally:
            uplink.stop()
            status.stop()
    assert len(acks.unique_keys()) == 30
