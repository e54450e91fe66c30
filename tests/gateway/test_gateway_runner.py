"""``homeward gateway``: one gateway process syncing simulated record-keeping devices."""

from __future__ import annotations

import argparse
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devices import Quality
from gateway import CONFIG_SCHEMA, ClockCorrection, Outbox
from homeward.errors import ConfigurationError
from homeward.gateway_runner import (
    GatewayOptions,
    SimulatedWearable,
    SimulationOptions,
    add_arguments,
    options_from_args,
    run_gateway,
)
from homeward.settings import Settings


def test_runner_syncs_every_record_once_with_corrected_times_and_stops_cleanly(
    tmp_path: Path, mqtt_url: str, responder: Any, tag: str, wait_for: Any
) -> None:
    site, gateway_id, device = f"site-{tag}", f"gw-{tag}", f"wr-{tag}"
    acks = responder(mqtt_url, site)
    start_s = int(time.time()) - 3600
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"schema": CONFIG_SCHEMA, "version": 0, "uplink": {"batch_linger_s": 0.05}})
    )
    options = GatewayOptions(
        site=site,
        gateway_id=gateway_id,
        config_path=config,
        simulation=SimulationOptions(
            device_ids=(device,),
            records=60,
            interval_s=1.0,
            backlog=40,
            rate_per_s=50.0,
            skew_s=-30,
            start_s=start_s,
            sync_interval_s=0.05,
        ),
    )
    stop = threading.Event()
    runner = threading.Thread(
        target=run_gateway,
        args=(Settings(mqtt_url=mqtt_url, data_dir=tmp_path / "data"), stop, options),
    )
    runner.start()
    try:
        assert wait_for(lambda: len(acks.unique_keys()) == 120, 20)
    finally:
        stop.set()
        runner.join(20)
    assert not runner.is_alive()
    readings = acks.readings()
    start = datetime.fromtimestamp(start_s, UTC)
    assert {r.key for r in readings} == {
        (device, metric, seq, start + timedelta(seconds=seq - 1))
        for seq in range(1, 61)
        for metric in ("heart_rate", "spo2")
    }
    assert all(r.flags == {Quality.CLOCK_ESTIMATED} for r in readings)
    outbox_path = tmp_path / "data" / "gateway" / gateway_id / "outbox.sqlite3"
    with Outbox(outbox_path) as outbox:
        assert outbox.depth().readings == 0
        (record,) = outbox.devices()
    assert record.last_seq == 60
    assert record.battery_pct is not None
    assert record.clock is not None
    assert record.clock.offset_s == 30


def test_simulated_records_are_the_same_on_every_run() -> None:
    now = datetime.now(UTC)
    exact = ClockCorrection.gateway_clock(now, 0.0, "boot")
    a = SimulatedWearable("wr-1", start_s=1_795_000_000, interval_s=10, records=None, skew_s=0)
    b = SimulatedWearable("wr-1", start_s=1_795_000_000, interval_s=10, records=None, skew_s=0)
    assert a.readings(5, 50, exact) == b.readings(5, 50, exact)
    assert [r.seq for r in a.readings(1, 3, exact)] == [1, 1, 2, 2, 3, 3]
    capped = SimulatedWearable("wr-1", start_s=1_795_000_000, interval_s=10, records=2, skew_s=0)
    assert len(capped.readings(1, 10, exact)) == 4


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--site", "s", "--gateway-id", "gw-1", *argv])


def test_runner_refuses_bad_options_and_config_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="--backlog"):
        options_from_args(_args("--backlog", "-1"))
    with pytest.raises(ConfigurationError, match="--rate"):
        options_from_args(_args("--rate", "0"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "homeward.gateway-config/1", "version": 1, "uplink": {"x": 1}}')
    options = options_from_args(_args("--config", str(bad)))
    with pytest.raises(ConfigurationError, match=r"uplink\.x"):
        run_gateway(
            Settings(mqtt_url="mqtt://127.0.0.1:9", data_dir=tmp_path), threading.Event(), options
        )
    with pytest.raises(ConfigurationError, match="HOMEWARD_MQTT_URL"):
        run_gateway(Settings(mqtt_url=None, data_dir=tmp_path), threading.Event(), options)
