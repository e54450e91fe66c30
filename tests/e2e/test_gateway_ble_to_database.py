"""``homeward gateway --emulated-radio`` as a process of its own, whole: the home's devices listed
in its config are emulated on its in-process radio, paired and synced over real ATT/GATT/SMP,
stored in its outbox, carried over Mosquitto to the real ingest, and the exact rows land in
PostgreSQL; its heartbeat shows the devices' battery and what is wrong with them; SIGTERM stops
it cleanly even in the middle of a transfer, and the next start stores the rest, once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bumble.link import LocalLink
from test_gateway_faults import StatusWatch, wait_for
from worlds import Make, World

from firmware_sim.ble import Glucometer, GlucoseRecord
from gateway import Outbox
from gateway.config import CONFIG_SCHEMA_V2
from homeward.gateway_emulation import EMULATION_SCHEMA
from homeward.settings import Settings
from monitoring.ingest import IngestWorker

METER = "C0:00:00:00:0E:11"
SCALE = "C0:00:00:00:0E:12"
DAY_S = 86400.0
SEED = 5
UPLINK = {
    "batch_linger_s": 0.1,
    "heartbeat_interval_s": 1.0,
    "ack_timeout_s": 2.0,
    "ack_timeout_max_s": 4.0,
    "reconnect_min_s": 0.1,
    "reconnect_max_s": 1.0,
    "poll_interval_s": 0.02,
}
# Short BLE timeouts: a device that never answers is given up on after two attempts of 1 s.
BLE = {"connect_timeout_s": 1.0, "connect_attempts": 2, "retry_interval_s": 0.5, "settle_s": 0.3}


def first_day(records: int) -> float:
    """A local (UTC+8) midnight far enough back that all ``records`` (four a day) are past."""
    return (time.time() // DAY_S - (records // 4 + 2)) * DAY_S - 8 * 3600


def meter_records(records: int, first_day_s: float) -> list[GlucoseRecord]:
    """The records the emulated meter holds: the same seed and schedule as in the gateway."""
    return Glucometer(
        LocalLink(),  # type: ignore[no-untyped-call]
        address=METER,
        records=records,
        seed=SEED,
        first_day_s=first_day_s,
    ).records


class GatewayProcess:
    """``python -m homeward.cli gateway --emulated-radio ...``: started, SIGTERMed, restarted."""

    def __init__(
        self,
        tmp_path: Path,
        settings: Settings,
        world: World,
        gateway_id: str,
        devices: list[dict[str, str]],
        emulated: dict[str, dict[str, Any]],
    ) -> None:
        self.gateway_id = gateway_id
        self.site = world.site_code
        self.state_dir = tmp_path / "data" / "gateway" / gateway_id
        self.log = tmp_path / "gateway.log"
        config = tmp_path / "gateway-config.json"
        config.write_text(
            json.dumps(
                {
                    "schema": CONFIG_SCHEMA_V2,
                    "version": 0,
                    "uplink": UPLINK,
                    "ble": BLE,
                    "devices": devices,
                }
            )
        )
        emulation = tmp_path / "emulated-devices.json"
        emulation.write_text(json.dumps({"schema": EMULATION_SCHEMA, "devices": emulated}))
        self.argv = [
            sys.executable,
            "-m",
            "homeward.cli",
            "gateway",
            "--site",
            world.site_code,
            "--gateway-id",
            gateway_id,
            "--config",
            str(config),
            "--emulated-radio",
            "--emulated-devices",
            str(emulation),
        ]
        self.env = {
            **os.environ,
            "HOMEWARD_MQTT_URL": settings.mqtt_url or "",
            "HOMEWARD_DATA_DIR": str(tmp_path / "data"),
            "HOMEWARD_LOG_LEVEL": "INFO",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def outbox(self) -> Path:
        return self.state_dir / "outbox.sqlite3"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def terminate(self) -> int:
        """SIGTERM, and the exit status (killed after 30 s: a hang is a failure too)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill_if_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def tail(self) -> str:
        return self.log.read_text()[-4000:] if self.log.exists() else ""

    def outbox_seqs(self, device_id: str) -> set[int]:
        """Record numbers the outbox holds for ``device_id`` (read-only)."""
        uri = f"file:{self.outbox}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as c:
            rows = c.execute("SELECT seq FROM readings WHERE device_id = ?", (device_id,))
            return {int(r[0]) for r in rows}


@pytest.fixture
def ingest(settings: Settings) -> Iterator[IngestWorker]:
    """The real ingest worker, on the session's database and broker, for this test's site."""
    stop = threading.Event()
    worker = IngestWorker(settings)
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    assert worker.subscribed.wait(15), "ingest did not subscribe"
    yield worker
    stop.set()
    thread.join(30)


def stored(conn: Any, device_id: str) -> list[dict[str, Any]]:
    return list(
        conn.execute(
            "SELECT metric, seq, ts, value, patient_id, gateway_id FROM readings"
            " WHERE device_id = %s ORDER BY seq",
            (device_id,),
        ).fetchall()
    )


def assert_exact_rows(
    conn: Any, device_id: str, records: list[GlucoseRecord], patient_id: int, gateway_id: str
) -> None:
    rows = stored(conn, device_id)
    keys = [(r["metric"], r["seq"], r["ts"]) for r in rows]
    assert len(keys) == len(set(keys))  # nothing stored twice
    expected = {
        ("glucose", r.sequence_number, datetime.fromtimestamp(round(r.taken_s), UTC)): round(
            r.mmol_l, 6
        )
        for r in records
    }
    assert {k: round(r["value"], 6) for k, r in zip(keys, rows, strict=True)} == expected
    assert {r["patient_id"] for r in rows} == {patient_id}
    assert {r["gateway_id"] for r in rows} == {gateway_id}
    dead = conn.execute(
        "SELECT count(*) AS n FROM dead_letters WHERE gateway_id = %s", (gateway_id,)
    ).fetchone()
    assert dead["n"] == 0


def home(make: Make, *, since_s: float, scale: bool) -> tuple[World, str, dict[str, str]]:
    """A site, a patient and her devices (hers since ``since_s``, epoch s) registered in the
    cloud; the device ids by name."""
    world = make.site()
    make.patient(world, "li")
    gateway_id = f"gw-{make.tag}"
    since = datetime.fromtimestamp(since_s, UTC) - timedelta(days=1)
    ids = {
        "gluco": make.device(
            world, "li", "gluco", kind="glucometer", since=since, gateway_id=gateway_id
        )
    }
    if scale:
        ids["scale"] = make.device(
            world, "li", "scale", kind="scale", since=since, gateway_id=gateway_id
        )
    return world, gateway_id, ids


def test_gateway_process_stores_an_emulated_glucometer_in_postgres_and_reports_its_devices(
    tmp_path: Path, settings: Settings, make: Make, conn: Any, ingest: IngestWorker
) -> None:
    start_day = first_day(120)
    world, gateway_id, ids = home(make, since_s=start_day, scale=True)
    gluco, scale = ids["gluco"], ids["scale"]
    records = meter_records(120, start_day)
    gateway = GatewayProcess(
        tmp_path,
        settings,
        world,
        gateway_id,
        devices=[
            {"device_id": gluco, "address": METER, "kind": "glucometer"},
            {"device_id": scale, "address": SCALE, "kind": "scale"},
        ],
        emulated={
            gluco: {"records": 120, "seed": SEED, "first_day_s": start_day, "battery_pct": 64},
            scale: {"silent": True},  # advertises, accepts the link, never answers
        },
    )
    watch = StatusWatch(settings.mqtt_url or "", world.site_code, gateway_id)
    gateway.start()
    try:
        assert wait_for(lambda: len(stored(conn, gluco)) == 120, 60), gateway.tail()

        def reported() -> bool:
            online = watch.online()
            if not online:
                return False
            beat = online[-1]
            devices = {d["device_id"]: d for d in beat["ble"]["devices"]}
            problems = {(p["code"], p.get("device_id")) for p in beat["problems"]}
            return (
                devices.get(gluco, {}).get("battery_pct") == 64
                and ("ble_unreachable", scale) in problems
            )

        assert wait_for(reported, 60), (watch.online()[-1:], gateway.tail())
        beat = watch.online()[-1]
        meter = next(d for d in beat["ble"]["devices"] if d["device_id"] == gluco)
        assert meter["bonded"] is True
        assert meter["last_outcome"]["complete"] is True
        assert meter["last_seen"] is not None
        silent = next(d for d in beat["ble"]["devices"] if d["device_id"] == scale)
        assert silent["last_outcome"]["complete"] is False
        assert "no connection" in silent["last_outcome"]["reason"]
        assert beat["ble"]["radio"] == "emulated"
        # The last acks come in after the rows are committed: wait for them, then stop.
        assert wait_for(lambda: not gateway.outbox_seqs(gluco), 30), gateway.tail()
        assert gateway.terminate() == 0, gateway.tail()
        assert wait_for(lambda: watch.docs[-1]["state"] == "offline", 10)
    finally:
        gateway.kill_if_running()
        watch.stop()
    assert_exact_rows(conn, gluco, records, world.patients["li"], gateway_id)
    assert stored(conn, scale) == []
    assert f"gateway {gateway_id} stopped" in gateway.tail()


def test_sigterm_in_the_middle_of_a_transfer_then_a_restart_stores_every_record_once(
    tmp_path: Path, settings: Settings, make: Make, conn: Any, ingest: IngestWorker
) -> None:
    start_day = first_day(600)
    world, gateway_id, ids = home(make, since_s=start_day, scale=False)
    gluco = ids["gluco"]
    records = meter_records(600, start_day)
    # 20 ms between records: the transfer of 600 takes more than 12 s, the stop lands inside.
    emulated = {
        gluco: {
            "records": 600,
            "seed": SEED,
            "first_day_s": start_day,
            "record_interval_s": 0.02,
        }
    }
    gateway = GatewayProcess(
        tmp_path,
        settings,
        world,
        gateway_id,
        devices=[{"device_id": gluco, "address": METER, "kind": "glucometer"}],
        emulated=emulated,
    )
    gateway.start()
    try:
        assert wait_for(lambda: len(stored(conn, gluco)) >= 100, 60), gateway.tail()
        assert gateway.terminate() == 0, gateway.tail()
        # Stopped mid-transfer, cleanly: the outbox opens without recovery, its cursor is the
        # last record it holds durably, and every record up to it is in the outbox or in the
        # database (nothing lost), none beyond it (the cursor never runs ahead of the rows).
        with Outbox(gateway.outbox) as outbox:
            assert not outbox.health().corruption_events
            cursor = outbox.cursor(gluco)
        assert cursor is not None
        assert 100 <= cursor < 600, gateway.tail()
        in_database = {r["seq"] for r in stored(conn, gluco)}
        assert in_database | gateway.outbox_seqs(gluco) == set(range(1, cursor + 1))

        gateway.start()  # the meter still holds all 600; the gateway asks for cursor + 1 on
        assert wait_for(lambda: len(stored(conn, gluco)) == 600, 90), gateway.tail()
        assert wait_for(lambda: not gateway.outbox_seqs(gluco), 30), gateway.tail()
        assert gateway.terminate() == 0, gateway.tail()
    finally:
        gateway.kill_if_running()
    assert_exact_rows(conn, gluco, records, world.patients["li"], gateway_id)
