"""Gateway fault tests, whole: simulated devices → gateway process → Mosquitto → ingest → DB.

Every part is real: the gateway is ``python -m homeward.gateway_runner`` in a process of its own
(SIGKILLed where the scenario says so), the broker is a Mosquitto process of the test's own, the
ingest is :class:`monitoring.ingest.IngestWorker` on the session's database. Each test ends by
comparing the exact set of rows in ``readings`` with the records the simulated devices hold.

The simulated devices keep their records (like a glucometer's memory) and the gateway syncs the
records after its outbox's cursor, correcting a device clock that runs 75 s slow; so a record
re-read after a crash, or after a corrupt outbox was replaced, must come out with the same
timestamp, or it would be stored twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from worlds import Make, World

from devices import parse_broker_url
from gateway import CONFIG_SCHEMA, ClockCorrection, Outbox, parse_status
from homeward.embedded import MosquittoProcess
from homeward.gateway_runner import SimulatedWearable
from homeward.settings import Settings
from monitoring.ingest import IngestWorker

pytestmark = pytest.mark.slow

SKEW_S = -75  # the devices' clocks run 75 s slow
INTERVAL_S = 1.0

# Test-speed settings for the gateway: quick resends and reconnects, frequent heartbeats.
FAST = {
    "ack_timeout_s": 2.0,
    "ack_timeout_max_s": 4.0,
    "reconnect_min_s": 0.1,
    "reconnect_max_s": 1.0,
    "heartbeat_interval_s": 1.0,
    "batch_linger_s": 0.2,
    "poll_interval_s": 0.02,
}


def wait_for(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


class Gateway:
    """``python -m homeward.gateway_runner`` with simulated devices, as a process of its own."""

    def __init__(
        self,
        tmp_path: Path,
        broker_url: str,
        world: World,
        *,
        devices: list[str],
        records: int,
        start_s: int,
        rate: float | None = None,
        backlog: int | None = None,
        uplink: dict[str, Any] | None = None,
    ) -> None:
        self.gateway_id = f"gw-{world.site_code.removeprefix('site-')}"
        self.outbox = tmp_path / "gateway" / "outbox.sqlite3"
        self.log = tmp_path / "gateway.log"
        config = tmp_path / "gateway-config.json"
        config.write_text(
            json.dumps(
                {"schema": CONFIG_SCHEMA, "version": 0, "uplink": {**FAST, **(uplink or {})}}
            )
        )
        self.argv = [
            sys.executable,
            "-m",
            "homeward.gateway_runner",
            "--site",
            world.site_code,
            "--gateway-id",
            self.gateway_id,
            "--outbox",
            str(self.outbox),
            "--config",
            str(config),
            "--records",
            str(records),
            "--interval-s",
            str(INTERVAL_S),
            "--skew-s",
            str(SKEW_S),
            "--start",
            str(start_s),
            "--backlog",
            str(records if backlog is None else backlog),
            "--sync-interval-s",
            "0.1",
        ]
        if rate is not None:
            self.argv += ["--rate", str(rate)]
        for device in devices:
            self.argv += ["--simulate-device", device]
        self.env = {
            **os.environ,
            "HOMEWARD_MQTT_URL": broker_url,
            "HOMEWARD_DATA_DIR": str(tmp_path / "data"),
            "HOMEWARD_LOG_LEVEL": "INFO",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.starts += 1

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                assert self.proc.wait(20) == 0, self.log.read_text()[-3000:]
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()


class StatusWatch:
    """Every status document of one gateway, parsed (on its own MQTT connection)."""

    def __init__(self, broker_url: str, site: str, gateway_id: str) -> None:
        self.docs: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        address = parse_broker_url(broker_url)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:8]}"
        )
        topic = f"homeward/v1/{site}/{gateway_id}/status"
        self._client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(0.1, 1)
        self._client.connect_async(address.host, address.port)
        self._client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.payload:
            with self._lock:
                self.docs.append(parse_status(bytes(msg.payload)))

    def online(self) -> list[dict[str, Any]]:
        with self._lock:
            return [d for d in self.docs if d["state"] == "online"]

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def ingest(
    settings: Settings, private_broker: MosquittoProcess
) -> Iterator[Callable[[], IngestWorker]]:
    """``ingest()`` starts the real ingest worker on the test's broker (once); stopped after."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start() -> IngestWorker:
        worker = IngestWorker(settings.model_copy(update={"mqtt_url": private_broker.url}))
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        thread.start()
        threads.append(thread)
        assert worker.subscribed.wait(15), "ingest did not subscribe"
        return worker

    yield start
    stop.set()
    for t in threads:
        t.join(30)


def make_world(make: Make, devices: int) -> tuple[World, list[str]]:
    world = make.site()
    ids = []
    for i in range(devices):
        make.patient(world, f"p{i}")
        ids.append(make.device(world, f"p{i}", f"wr{i}"))
    return world, ids


def expected_rows(devices: list[str], records: int, start_s: int) -> dict[tuple[Any, ...], float]:
    """What the devices hold, in true UTC: ``(device_id, metric, seq, ts) -> value``."""
    exact = ClockCorrection.gateway_clock(datetime.now(UTC), 0.0, "expected")
    rows: dict[tuple[Any, ...], float] = {}
    for device_id in devices:
        device = SimulatedWearable(
            device_id, start_s=start_s, interval_s=INTERVAL_S, records=records, skew_s=0
        )
        for r in device.readings(1, records, exact):
            assert r.value is not None
            rows[r.key] = r.value
    return rows


def stored_rows(conn: Any, devices: list[str]) -> list[dict[str, Any]]:
    return list(
        conn.execute(
            "SELECT device_id, metric, seq, ts, value, flags FROM readings"
            " WHERE device_id = ANY(%s)",
            (devices,),
        ).fetchall()
    )


def stored_count(conn: Any, devices: list[str]) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM readings WHERE device_id = ANY(%s)", (devices,)
    ).fetchone()
    return int(row["n"])


def assert_exact_row_set(
    conn: Any, gateway_id: str, devices: list[str], records: int, start_s: int
) -> None:
    expected = expected_rows(devices, records, start_s)
    rows = stored_rows(conn, devices)
    keys = [(r["device_id"], r["metric"], r["seq"], r["ts"]) for r in rows]
    assert len(keys) == len(set(keys))  # nothing stored twice
    assert set(keys) == set(expected)  # nothing lost, nothing extra, every time exact
    assert {k: r["value"] for k, r in zip(keys, rows, strict=True)} == expected
    # Every time was corrected from the slow device clock, and says so.
    assert {tuple(r["flags"]) for r in rows} == {("clock_estimated",)}
    dead = conn.execute(
        "SELECT count(*) AS n FROM dead_letters WHERE gateway_id = %s", (gateway_id,)
    ).fetchone()
    assert dead["n"] == 0


def outbox_is_empty(path: Path) -> bool:
    with Outbox(path) as outbox:
        return outbox.depth().readings == 0


def test_broker_down_30_s_while_20000_readings_flow_each_arrives_once(
    tmp_path: Path,
    make: Make,
    conn: Any,
    private_broker: MosquittoProcess,
    ingest: Callable[[], IngestWorker],
) -> None:
    world, devices = make_world(make, 10)
    records = 1000  # x 10 devices x (heart rate + SpO2) = 20,000 readings
    start_s = int(time.time()) - 3 * 3600
    ingest()
    # The devices record 25 samples a second each, so the 20,000 readings take 40 s to appear.
    gateway = Gateway(
        tmp_path,
        private_broker.url,
        world,
        devices=devices,
        records=records,
        start_s=start_s,
        rate=25.0,
        backlog=0,
        # The bounded flush rate is tested on its own; here it only needs to outpace the devices.
        uplink={"flush_readings_per_s": 5000},
    )
    gateway.start()
    try:
        assert wait_for(lambda: stored_count(conn, devices) > 500, 30), gateway.log.read_text()
        private_broker.stop()
        outage_started = time.monotonic()
        time.sleep(30)
        before = stored_count(conn, devices)
        private_broker.start()
        assert time.monotonic() - outage_started >= 30
        assert before < 2 * records * len(devices)  # readings were still being produced
        watch = StatusWatch(private_broker.url, world.site_code, gateway.gateway_id)
        try:
            assert wait_for(
                lambda: stored_count(conn, devices) == 2 * records * len(devices), 180
            ), (stored_count(conn, devices), gateway.log.read_text()[-3000:])
            # The gateway reconnected by itself and says so in its heartbeat.
            assert wait_for(lambda: any(d["uplink"]["connects"] >= 2 for d in watch.online()), 10)
            assert wait_for(lambda: _readings_in(gateway.outbox) == 0, 30)  # last acks in
        finally:
            watch.stop()
    finally:
        gateway.stop()
    assert outbox_is_empty(gateway.outbox)
    assert_exact_row_set(conn, gateway.gateway_id, devices, records, start_s)


def test_gateway_sigkilled_10_times_during_a_flush_loses_and_doubles_nothing(
    tmp_path: Path,
    make: Make,
    conn: Any,
    private_broker: MosquittoProcess,
    ingest: Callable[[], IngestWorker],
) -> None:
    world, devices = make_world(make, 4)
    records = 1250  # x 4 devices x 2 metrics = 10,000 readings, all waiting on the devices
    start_s = int(time.time()) - 3 * 3600
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    ingest()
    # 1,000 readings/s: the 10,000 take ten seconds of flushing, longer than the ten runs last
    # between start-up and SIGKILL, so every kill lands in the middle of the flush.
    gateway = Gateway(
        tmp_path,
        private_broker.url,
        world,
        devices=devices,
        records=records,
        start_s=start_s,
        uplink={"flush_readings_per_s": 1000, "max_batch_readings": 250},
    )
    watch = StatusWatch(private_broker.url, world.site_code, gateway.gateway_id)
    kills: list[tuple[float, int]] = []
    try:
        for run in range(10):
            online_before = sum(1 for d in watch.online() if d["seq"] == 1)
            gateway.start()
            # Connected (first heartbeat of this process), then a random moment of the flush.
            assert wait_for(
                lambda n=online_before: sum(1 for d in watch.online() if d["seq"] == 1) > n, 30
            ), (run, gateway.log.read_text()[-3000:])
            delay = rng.uniform(0.0, 1.2)
            time.sleep(delay)
            gateway.kill()
            kills.append((round(delay, 3), stored_count(conn, devices)))
        assert kills[-1][1] < 2 * records * len(devices), f"seed {seed}: {kills}"
        gateway.start()
        assert wait_for(lambda: stored_count(conn, devices) == 2 * records * len(devices), 120), (
            f"seed {seed}: {kills}",
            gateway.log.read_text()[-3000:],
        )
        assert wait_for(lambda: _readings_in(gateway.outbox) == 0, 30)  # last acks in
    finally:
        gateway.stop()
        watch.stop()
    assert gateway.starts == 11
    assert outbox_is_empty(gateway.outbox)
    assert_exact_row_set(conn, gateway.gateway_id, devices, records, start_s)


def _corrupt_pages(path: Path) -> bytes:
    """Overwrite every page after the first (the header stays valid; quick_check fails).

    The WAL is checkpointed into the file first, so no intact copy of a page survives there."""
    with contextlib.closing(sqlite3.connect(path)) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    Path(f"{path}-wal").unlink(missing_ok=True)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for i in range(page, len(data)):
        data[i] = (i * 7 + 13) % 256
    path.write_bytes(bytes(data))
    return bytes(data)


def test_corrupt_outbox_is_kept_reported_and_the_gateway_keeps_working(
    tmp_path: Path,
    make: Make,
    conn: Any,
    private_broker: MosquittoProcess,
    ingest: Callable[[], IngestWorker],
) -> None:
    world, devices = make_world(make, 3)
    start_s = int(time.time()) - 3 * 3600
    # The ingest is not running yet: the first 1,800 readings wait in the gateway's outbox.
    first = Gateway(
        tmp_path, private_broker.url, world, devices=devices, records=300, start_s=start_s
    )
    first.start()
    try:
        assert wait_for(lambda: _outbox_holds(first), 30), first.log.read_text()[-3000:]
    finally:
        first.stop()
    damaged = _corrupt_pages(first.outbox)

    ingest()
    # Rebooted: meanwhile the devices recorded 300 more records each.
    second = Gateway(
        tmp_path, private_broker.url, world, devices=devices, records=600, start_s=start_s
    )
    watch = StatusWatch(private_broker.url, world.site_code, second.gateway_id)
    second.start()
    try:
        assert wait_for(
            lambda: any(
                p["code"] == "outbox_corrupt" for d in watch.online() for p in d["problems"]
            ),
            30,
        ), second.log.read_text()[-3000:]
        # The fresh outbox has no cursors, so the devices hand over every record again; the
        # ones the database already had would be stored once, and the rest arrive.
        assert wait_for(lambda: stored_count(conn, devices) == 600 * 2 * len(devices), 60), (
            second.log.read_text()[-3000:]
        )
        # The ingest commits before it acks: rows can be in the database while the last acks
        # are still on their way to the gateway, which deletes its copies only on those acks.
        assert wait_for(lambda: _readings_in(second.outbox) == 0, 30), second.log.read_text()[
            -3000:
        ]
    finally:
        second.stop()
        watch.stop()
    (problem,) = [p for p in watch.online()[-1]["problems"] if p["code"] == "outbox_corrupt"]
    moved = Path(problem["moved_to"])
    assert moved.parent == first.outbox.parent
    assert moved.name.startswith("outbox.sqlite3.corrupt-")
    assert moved.read_bytes() == damaged  # the old file is kept exactly as it was found
    assert "is corrupt" in second.log.read_text()
    assert outbox_is_empty(second.outbox)
    assert_exact_row_set(conn, second.gateway_id, devices, 600, start_s)


def _outbox_holds(gateway: Gateway) -> bool:
    """True once the running gateway's heartbeat reports all 1,800 readings stored."""
    if not gateway.outbox.exists():
        return False
    log = gateway.log.read_text()
    return "running" in log and _readings_in(gateway.outbox) == 1800


def _readings_in(path: Path) -> int:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as c:
            return int(c.execute("SELECT count(*) FROM readings").fetchone()[0])
    except sqlite3.Error:
        return -1
