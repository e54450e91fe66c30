"""The heartbeat's Bluetooth LE part: each device's bond, battery, last sighting and last session,
and the radio's problems among the heartbeat's problems (``docs/gateway-status-schema.md``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from gateway import Outbox, Uplink, parse_status
from gateway.status import (
    MAX_PROBLEMS_REPORTED,
    RadioDeviceStatus,
    RadioStatus,
    SessionOutcome,
)

AT = datetime(2026, 11, 23, 2, 0, 5, tzinfo=UTC)


def heartbeat_with(tmp_path: Path, radio: RadioStatus | None) -> dict[str, object]:
    """The heartbeat of an uplink whose ``radio_status`` hook answers ``radio``."""
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        uplink = Uplink(
            outbox,
            site="site-a",
            gateway_id="gw-1",
            broker_url="mqtt://127.0.0.1:9",
            radio_status=lambda: radio,
        )
        return parse_status(uplink.heartbeat().encode())


def test_the_heartbeat_shows_each_ble_device_and_the_radios_problems(tmp_path: Path) -> None:
    radio = RadioStatus(
        radio="host",
        state="running",
        devices=(
            RadioDeviceStatus(
                device_id="gm-0007",
                kind="glucometer",
                address="C0:11:22:33:44:55",
                bonded=True,
                battery_pct=8,
                last_seen=AT,
                last_sync=AT,
                last_outcome=SessionOutcome(at=AT, complete=True, stored=12),
            ),
            RadioDeviceStatus(
                device_id="sc-0002",
                kind="scale",
                address="C0:11:22:33:44:66",
                bonded=False,
                last_outcome=SessionOutcome(
                    at=AT, complete=False, stored=0, reason="no connection after 4 attempts"
                ),
                failures=3,
            ),
        ),
        problems=(
            {"code": "ble_low_battery", "device_id": "gm-0007", "battery_pct": 8},
            {"code": "ble_unreachable", "device_id": "sc-0002", "failures": 3},
        ),
    )
    doc = heartbeat_with(tmp_path, radio)
    ble = doc["ble"]
    assert isinstance(ble, dict)
    assert (ble["radio"], ble["state"], ble["detail"]) == ("host", "running", None)
    meter, scale = ble["devices"]
    assert meter == {
        "device_id": "gm-0007",
        "kind": "glucometer",
        "address": "C0:11:22:33:44:55",
        "bonded": True,
        "bond_lost_at": None,
        "battery_pct": 8,
        "last_seen": "2026-11-23T02:00:05Z",
        "last_sync": "2026-11-23T02:00:05Z",
        "last_outcome": {
            "at": "2026-11-23T02:00:05Z",
            "complete": True,
            "stored": 12,
            "reason": None,
        },
        "failures": 0,
        "decode_errors": 0,
        "lost_records": 0,
    }
    assert scale["last_outcome"]["reason"] == "no connection after 4 attempts"
    assert doc["problems"] == [
        {"code": "ble_low_battery", "device_id": "gm-0007", "battery_pct": 8},
        {"code": "ble_unreachable", "device_id": "sc-0002", "failures": 3},
    ]


def test_a_gateway_without_a_radio_says_so(tmp_path: Path) -> None:
    doc = heartbeat_with(tmp_path, None)
    assert doc["ble"] is None
    assert doc["problems"] == []


def test_a_flood_of_problems_is_cut_to_a_bounded_list_that_says_how_many_were_left_out(
    tmp_path: Path,
) -> None:
    problems = tuple({"code": "ble_not_seen", "device_id": f"d{i}"} for i in range(150))
    doc = heartbeat_with(tmp_path, RadioStatus(radio="host", state="running", problems=problems))
    listed = doc["problems"]
    assert isinstance(listed, list)
    assert len(listed) == MAX_PROBLEMS_REPORTED
    assert listed[-1] == {"code": "problems_truncated", "omitted": 150 - MAX_PROBLEMS_REPORTED + 1}
    assert len(json.dumps(doc)) < 64 * 1024
