"""``homeward gateway`` reading Bluetooth LE devices: the device list from the local and the cloud
config, pairing once, bonds kept across restarts, the radio's state in the heartbeat.

Each gateway here runs :func:`homeward.gateway_runner.run_gateway` in a thread, on a real
Mosquitto, with the emulated radio (``--emulated-radio``): the listed devices are bumble
peripherals in the gateway's own process, the BLE side talks ATT/GATT/SMP to them. The ingest's
acks come from the test responder (tests/gateway/ack_responder.py).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from test_status_and_config import Cloud, Status

from devices import topic
from gateway import GatewayConfig, Outbox, Uplink, parse_config
from gateway.config import CONFIG_SCHEMA_V2
from homeward.gateway_emulation import EMULATION_SCHEMA
from homeward.gateway_runner import GatewayOptions, run_gateway
from homeward.settings import Settings

METER = "C0:00:00:00:0E:01"
SCALE = "C0:00:00:00:0E:02"
# Test-speed settings: quick heartbeats, resends and reconnects; short BLE timeouts and retries.
FAST_UPLINK = {
    "batch_linger_s": 0.05,
    "heartbeat_interval_s": 0.5,
    "ack_timeout_s": 2.0,
    "ack_timeout_max_s": 4.0,
    "reconnect_min_s": 0.05,
    "reconnect_max_s": 0.5,
    "poll_interval_s": 0.02,
}
FAST_BLE = {
    "connect_timeout_s": 1.0,
    "connect_attempts": 2,
    "retry_interval_s": 0.5,
    "settle_s": 0.3,
    "idle_timeout_s": 3.0,
}


def config_doc(version: int = 0, **fields: Any) -> bytes:
    return json.dumps({"schema": CONFIG_SCHEMA_V2, "version": version, **fields}).encode()


def glucometer(device_id: str, address: str = METER) -> dict[str, str]:
    return {"device_id": device_id, "address": address, "kind": "glucometer"}


class Home:
    """One gateway's identity and files, started and stopped as often as a test needs."""

    def __init__(self, tmp_path: Path, mqtt_url: str, tag: str) -> None:
        self.site, self.gateway_id = f"site-{tag}", f"gw-{tag}"
        self.mqtt_url = mqtt_url
        self.data_dir = tmp_path / "data"
        self.state_dir = self.data_dir / "gateway" / self.gateway_id
        self.config = tmp_path / "config.json"
        self.emulation = tmp_path / "emulated-devices.json"

    def topic(self, kind: str) -> str:
        return topic(self.site, self.gateway_id, kind)

    @contextmanager
    def running(
        self,
        *,
        devices: list[dict[str, str]] | None = None,
        emulated: dict[str, dict[str, Any]] | None = None,
        broker_url: str | None = None,
    ) -> Iterator[None]:
        """The gateway running with this local config (``devices`` None: not listed) and these
        emulated-device options; stopped at the end, and it must stop cleanly (status 0)."""
        fields: dict[str, Any] = {"uplink": FAST_UPLINK, "ble": FAST_BLE}
        if devices is not None:
            fields["devices"] = devices
        self.config.write_bytes(config_doc(**fields))
        self.emulation.write_text(
            json.dumps({"schema": EMULATION_SCHEMA, "devices": emulated or {}})
        )
        options = GatewayOptions(
            site=self.site,
            gateway_id=self.gateway_id,
            config_path=self.config,
            emulated_radio=True,
            emulation_path=self.emulation,
        )
        settings = Settings(mqtt_url=broker_url or self.mqtt_url, data_dir=self.data_dir)
        stop = threading.Event()
        result: list[int] = []
        thread = threading.Thread(
            target=lambda: result.append(run_gateway(settings, stop, options)), name="gateway"
        )
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(60)
        assert not thread.is_alive(), "the gateway did not stop"
        assert result == [0]

    def outbox_readings(self, device_id: str) -> list[int]:
        """Record numbers the outbox holds for ``device_id`` (read-only, while it runs)."""
        path = self.state_dir / "outbox.sqlite3"
        try:
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as c:
                rows = c.execute("SELECT seq FROM readings WHERE device_id = ?", (device_id,))
                return sorted(int(r[0]) for r in rows)
        except sqlite3.Error:
            return []


def ble_device(doc: dict[str, Any], device_id: str) -> dict[str, Any]:
    """The heartbeat's BLE entry of ``device_id`` ({} when absent)."""
    for device in (doc.get("ble") or {}).get("devices", []):
        if device["device_id"] == device_id:
            return dict(device)
    return {}


def codes(doc: dict[str, Any], device_id: str) -> set[str]:
    return {p["code"] for p in doc.get("problems", []) if p.get("device_id") == device_id}


@pytest.fixture
def cloud(mqtt_url: str) -> Iterator[Cloud]:
    """Publishes retained config documents; clears them after the test."""
    c = Cloud(mqtt_url)
    yield c
    c.stop()


@pytest.fixture
def status_of() -> Iterator[Any]:
    watches: list[Status] = []

    def watch(broker_url: str, status_topic: str) -> Status:
        watches.append(Status(broker_url, status_topic))
        return watches[-1]

    yield watch
    for w in watches:
        w.stop()


def test_devices_the_cloud_lists_are_paired_read_reported_and_dropped_when_unlisted(
    tmp_path: Path,
    mqtt_url: str,
    tag: str,
    responder: Any,
    cloud: Cloud,
    status_of: Any,
    wait_for: Any,
) -> None:
    home = Home(tmp_path, mqtt_url, tag)
    gluco = f"gluco-{tag}"
    acks = responder(mqtt_url, home.site)
    status = status_of(mqtt_url, home.topic("status"))
    with home.running(emulated={gluco: {"records": 25, "battery_pct": 64}}):
        assert wait_for(lambda: (status.last().get("ble") or {}).get("state") == "idle", 15)
        assert status.last()["ble"]["radio"] == "emulated"

        cloud.publish(home.topic("config"), config_doc(1, devices=[glucometer(gluco)]))
        assert wait_for(lambda: {r.seq for r in acks.readings()} == set(range(1, 26)), 30)
        assert wait_for(lambda: ble_device(status.last(), gluco).get("battery_pct") == 64, 10)
        device = ble_device(status.last(), gluco)
        assert device["kind"] == "glucometer"
        assert device["address"] == METER
        assert device["bonded"] is True
        assert device["last_seen"] is not None
        assert device["last_outcome"]["complete"] is True
        assert status.last()["ble"]["state"] == "running"
        assert codes(status.last(), gluco) == set()
        bonds = home.state_dir / "ble-bonds.json"
        assert METER in bonds.read_text()

        # Unlisted: off the allow-list, its keys deleted, no longer reported.
        cloud.publish(home.topic("config"), config_doc(2, devices=[]))
        assert wait_for(lambda: (status.last().get("ble") or {}).get("state") == "idle", 10)
        assert status.last()["ble"]["devices"] == []
        registry = json.loads((home.state_dir / "ble-devices.json").read_text())
        assert registry["devices"] == {}
        assert METER not in bonds.read_text()

        # A document with a bad entry is refused whole and reported; the gateway carries on.
        bad = config_doc(3, devices=[{**glucometer(gluco), "kind": "cgm"}])
        cloud.publish(home.topic("config"), bad)
        assert wait_for(lambda: (status.last().get("config") or {}).get("rejected"), 10)
        rejected = status.last()["config"]["rejected"]
        assert "devices[0].kind" in rejected["error"]
        assert status.last()["config"]["version"] == 2
        assert "config_rejected" in {p["code"] for p in status.last()["problems"]}
        seq = status.last()["seq"]
        assert wait_for(lambda: status.last()["seq"] > seq + 1, 10)  # heartbeats go on
    assert len(acks.unique_keys()) == 25


def test_a_restart_keeps_the_pairing_of_devices_the_cloud_listed(
    tmp_path: Path,
    mqtt_url: str,
    tag: str,
    responder: Any,
    cloud: Cloud,
    status_of: Any,
    wait_for: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The local config lists no device; the cloud's list (restored from the outbox at start)
    must be in force before the BLE side looks, or the device would be dropped and paired
    again at every restart."""
    caplog.set_level(logging.INFO, logger="gateway.ble.central")
    home = Home(tmp_path, mqtt_url, tag)
    gluco = f"gluco-{tag}"
    acks = responder(mqtt_url, home.site)
    cloud.publish(home.topic("config"), config_doc(1, devices=[glucometer(gluco)]))
    emulated = {gluco: {"records": 12}}
    with home.running(devices=[], emulated=emulated):
        assert wait_for(lambda: len(acks.unique_keys()) == 12, 30)
    assert [r.message for r in caplog.records].count(
        f"ble_enrolled {gluco} glucometer at {METER}"
    ) == 1

    caplog.clear()
    status = status_of(mqtt_url, home.topic("status"))
    with home.running(devices=[], emulated=emulated):
        assert wait_for(
            lambda: (ble_device(status.last(), gluco).get("last_outcome") or {}).get("complete"),
            20,
        )
        assert ble_device(status.last(), gluco)["bonded"] is True
        assert codes(status.last(), gluco) == set()
    messages = " ".join(r.message for r in caplog.records)
    assert "ble_removed" not in messages
    assert "ble_enrolled" not in messages
    assert f"ble_sync_complete {gluco}" in messages
    assert len(acks.unique_keys()) == 12


def test_the_kept_cloud_config_reaches_the_radio_before_the_uplink_says_restored(
    tmp_path: Path, mqtt_url: str, tag: str, cloud: Cloud, wait_for: Any
) -> None:
    """What the runner waits for before the BLE side starts (and so before it may drop a device
    the base config does not list): ``Uplink.restored`` turns true only after the kept document
    went to ``on_config``, even with no broker to be had."""
    site, gateway_id = f"site-{tag}", f"gw-{tag}"
    listed = config_doc(4, devices=[glucometer(f"gluco-{tag}")])
    cloud.publish(topic(site, gateway_id, "config"), listed)
    seen: list[GatewayConfig | None] = []
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        first = Uplink(
            outbox, site=site, gateway_id=gateway_id, broker_url=mqtt_url, on_config=seen.append
        )
        first.start()
        try:
            assert wait_for(lambda: first.config_state().version == 4, 15)
        finally:
            first.stop()
        assert seen == [parse_config(listed)]

        handed: list[tuple[bool, GatewayConfig | None]] = []
        offline = Uplink(
            outbox,
            site=site,
            gateway_id=gateway_id,
            broker_url="mqtt://127.0.0.1:9",
            on_config=lambda doc: handed.append((offline.restored, doc)),
        )
        assert not offline.restored
        offline.start()
        try:
            assert offline.wait_restored(15)
            assert handed == [(False, parse_config(listed))]
        finally:
            offline.stop()


def test_a_device_that_lost_its_bond_is_reported_in_the_heartbeat(
    tmp_path: Path, mqtt_url: str, tag: str, responder: Any, status_of: Any, wait_for: Any
) -> None:
    home = Home(tmp_path, mqtt_url, tag)
    gluco = f"gluco-{tag}"
    acks = responder(mqtt_url, home.site)
    with home.running(devices=[glucometer(gluco)], emulated={gluco: {"records": 8}}):
        assert wait_for(lambda: len(acks.unique_keys()) == 8, 30)

    # The meter was reset meanwhile: it has forgotten the gateway.
    status = status_of(mqtt_url, home.topic("status"))
    with home.running(
        devices=[glucometer(gluco)], emulated={gluco: {"records": 8, "forget_bonds": True}}
    ):
        assert wait_for(lambda: "ble_bond_lost" in codes(status.last(), gluco), 20)
        device = ble_device(status.last(), gluco)
        assert device["bond_lost_at"] is not None
        assert device["last_outcome"]["complete"] is False
        assert "lost its bond" in device["last_outcome"]["reason"]
    # Still reported after a restart, and not paired again behind anyone's back.
    with home.running(devices=[glucometer(gluco)], emulated={gluco: {"records": 8}}):
        assert wait_for(lambda: "ble_bond_lost" in codes(status.last(), gluco), 20)


def test_the_radio_reads_devices_while_the_broker_is_unreachable(
    tmp_path: Path, mqtt_url: str, tag: str, wait_for: Any
) -> None:
    """Neither side waits for the other: with no broker at all, the BLE side still syncs the
    home's devices into the outbox, and the process still stops cleanly."""
    home = Home(tmp_path, mqtt_url, tag)
    gluco, scale = f"gluco-{tag}", f"scale-{tag}"
    devices = [glucometer(gluco), {"device_id": scale, "address": SCALE, "kind": "scale"}]
    emulated = {gluco: {"records": 30}, scale: {"records": 5}}
    with home.running(devices=devices, emulated=emulated, broker_url="mqtt://127.0.0.1:9"):
        assert wait_for(lambda: home.outbox_readings(gluco) == list(range(1, 31)), 30)
        assert wait_for(lambda: len(home.outbox_readings(scale)) == 5, 30)
