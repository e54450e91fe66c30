"""The home's device list and BLE settings in the config document (``homeward.gateway-config/2``):
what is accepted, and every bad entry refused with the field named, never a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway import ConfigError, UplinkConfig, parse_config
from gateway.ble import BleConfig, DeviceKind
from gateway.config import (
    BLE_FIELDS,
    CONFIG_SCHEMA_V1,
    CONFIG_SCHEMA_V2,
    DEVICE_KINDS,
    ConfiguredDevice,
    GatewayConfig,
)
from homeward.gateway_ble import ble_config, wish_for

GLUCO = {"device_id": "gluco-7", "address": "c0:11:22:33:44:55", "kind": "glucometer"}
CUFF = {"device_id": "cuff-2", "address": "C0:11:22:33:44:66", "kind": "bp_cuff"}


def doc(schema: str = CONFIG_SCHEMA_V2, **fields: Any) -> bytes:
    return json.dumps({"schema": schema, "version": 3, **fields}).encode()


def test_listed_devices_are_parsed_with_addresses_in_upper_case() -> None:
    parsed = parse_config(doc(devices=[GLUCO, CUFF]))
    assert parsed.devices == (
        ConfiguredDevice("gluco-7", "C0:11:22:33:44:55", "glucometer"),
        ConfiguredDevice("cuff-2", "C0:11:22:33:44:66", "bp_cuff"),
    )
    assert parse_config(parsed.encode()) == parsed


def test_a_document_without_devices_leaves_the_list_unmanaged_and_an_empty_list_means_none() -> (
    None
):
    assert parse_config(doc()).devices is None
    assert parse_config(doc(CONFIG_SCHEMA_V1)).devices is None
    assert parse_config(doc(devices=[])).devices == ()


def test_encode_writes_the_oldest_schema_that_holds_the_document() -> None:
    """A cloud can keep sending /1 to gateways that predate device lists."""
    plain = GatewayConfig(version=1, uplink={"batch_linger_s": 0.5})
    assert json.loads(plain.encode())["schema"] == CONFIG_SCHEMA_V1
    listed = GatewayConfig(version=1, uplink={}, devices=())
    assert json.loads(listed.encode())["schema"] == CONFIG_SCHEMA_V2
    tuned = GatewayConfig(version=1, uplink={}, ble={"resync_interval_s": 60.0})
    assert json.loads(tuned.encode())["schema"] == CONFIG_SCHEMA_V2
    assert parse_config(tuned.encode()) == tuned


def test_a_version_1_document_may_not_list_devices() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(doc(CONFIG_SCHEMA_V1, devices=[GLUCO]))
    assert err.value.name == "devices"
    assert CONFIG_SCHEMA_V2 in str(err.value)


@pytest.mark.parametrize(
    ("devices", "name"),
    [
        ({"gluco-7": GLUCO}, "devices"),
        ([GLUCO, "C0:11:22:33:44:66"], "devices[1]"),
        ([{**GLUCO, "address": "C0:11:22:33:44"}], "devices[0].address"),
        ([{**GLUCO, "address": "G0:11:22:33:44:55"}], "devices[0].address"),
        ([{**GLUCO, "address": 0xC01122334455}], "devices[0].address"),
        ([{**GLUCO, "kind": "cgm"}], "devices[0].kind"),
        ([{**GLUCO, "device_id": "gluco 7"}], "devices[0].device_id"),
        ([{**GLUCO, "device_id": ""}], "devices[0].device_id"),
        ([GLUCO, {"address": "C0:11:22:33:44:66", "kind": "scale"}], "devices[1].device_id"),
        ([{**GLUCO, "pin": "0000"}], "devices[0].pin"),
        ([GLUCO, {**CUFF, "device_id": "gluco-7"}], "devices[1].device_id"),
        # The same radio twice under two ids: one address is one device.
        ([GLUCO, {**CUFF, "address": "C0:11:22:33:44:55"}], "devices[1].address"),
        (
            [
                {**CUFF, "device_id": f"d{i}", "address": f"C0:00:00:00:00:{i:02X}"}
                for i in range(65)
            ],
            "devices",
        ),
    ],
)
def test_bad_device_entries_are_refused_naming_the_entry(devices: Any, name: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(doc(devices=devices))
    assert err.value.name == name


@pytest.mark.parametrize(
    ("ble", "name"),
    [
        ([], "ble"),
        ({"scan_window_ms": 30}, "ble.scan_window_ms"),
        ({"resync_interval_s": 0}, "ble.resync_interval_s"),
        ({"retry_interval_s": -1}, "ble.retry_interval_s"),
        ({"settle_s": "1s"}, "ble.settle_s"),
        ({"stream_flush_s": True}, "ble.stream_flush_s"),
        ({"max_connections": 0}, "ble.max_connections"),
        ({"max_connections": 33}, "ble.max_connections"),
        ({"connect_attempts": 2.5}, "ble.connect_attempts"),
        ({"site_zone": "Mars/Olympus_Mons"}, "ble.site_zone"),
        ({"site_zone": 8}, "ble.site_zone"),
    ],
)
def test_bad_ble_settings_are_refused_naming_the_field(ble: Any, name: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(doc(ble=ble))
    assert err.value.name == name


def test_every_accepted_ble_setting_builds_the_ble_side_config() -> None:
    """parse_config checks the ranges BleConfig and ConnectionPolicy enforce: a document the
    uplink accepts can never be refused later by the BLE side."""
    edges: dict[str, Any] = {
        "max_connections": 32,
        "connect_attempts": 1,
        "connect_timeout_s": 0.001,
        "idle_timeout_s": 1e-3,
        "settle_s": 0.05,
        "resync_interval_s": 86400,
        "retry_interval_s": 0.25,
        "stream_flush_s": 1,
        "not_seen_after_s": 3600,
        "site_zone": "Asia/Urumqi",
    }
    assert set(edges) == BLE_FIELDS
    parsed = parse_config(doc(ble=edges))
    config = ble_config(parsed.ble, site_zone="Asia/Shanghai")
    assert config.connection.max_connections == 32
    assert config.connection.attempts == 1
    assert config.resync_interval_s == 86400
    assert config.site_zone == "Asia/Urumqi"
    assert ble_config({}, site_zone="Asia/Shanghai") == BleConfig()


def test_device_kinds_are_the_kinds_the_ble_side_reads() -> None:
    assert {k.value for k in DeviceKind} == DEVICE_KINDS


def test_the_cloud_list_replaces_the_local_one_and_unset_ble_fields_keep_local_values() -> None:
    local = parse_config(doc(devices=[GLUCO], ble={"retry_interval_s": 5, "settle_s": 2}))
    cloud = parse_config(doc(devices=[CUFF], ble={"retry_interval_s": 9}))
    wish = wish_for(local, cloud, site_zone="Asia/Shanghai")
    assert [d.device_id for d in wish.devices or ()] == ["cuff-2"]
    assert (wish.config.retry_interval_s, wish.config.settle_s) == (9, 2)
    # A cloud document that does not list devices leaves the local list in force.
    assert wish_for(local, parse_config(doc()), site_zone="UTC").devices == local.devices
    assert wish_for(None, None, site_zone="UTC").devices is None
    # Devices are a /2 matter only: the uplink part resolves as before.
    assert cloud.resolve(UplinkConfig(), 10_000) == (UplinkConfig(), 10_000)


def test_gateway_with_a_bad_local_device_list_exits_with_the_field_named(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_bytes(doc(devices=[GLUCO, {**GLUCO, "device_id": "gluco-8"}]))
    env = {
        **os.environ,
        "HOMEWARD_MQTT_URL": "mqtt://127.0.0.1:9",
        "HOMEWARD_DATA_DIR": str(tmp_path / "data"),
    }
    argv = [sys.executable, "-m", "homeward.cli", "gateway", "--site", "site-x"]
    argv += ["--gateway-id", "gw-x", "--config", str(config), "--emulated-radio"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "devices[1].address" in done.stderr
    assert "already listed for gluco-7" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was created
