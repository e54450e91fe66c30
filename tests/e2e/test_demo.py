"""``homeward demo`` as a user runs it on a fresh machine: embedded PostgreSQL and broker, seeded
patients, the panel, a desaturation alert from a Wi-Fi wearable and a hypoglycaemia alert from a
glucometer read over Bluetooth by a home gateway; Ctrl-C stops it cleanly (the gateways' outboxes
drained) and a restart keeps the data, stores nothing twice and brings the meter's new test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from homeward.demo import DEMO_PASSWORD, demo_patients
from homeward.demo_homes import HYPO_INDEX, HYPO_MMOL_L, METER_RECORDS, DemoHome, demo_homes
from homeward.embedded import free_port

pytestmark = pytest.mark.slow

PATIENTS = 6
HOMES = demo_homes(PATIENTS)
BLE_DEVICES = [d.device_id for h in HOMES for d in h.devices]
HYPO_PATIENT = demo_patients(PATIENTS)[HYPO_INDEX].name
[HYPO_METER] = [d.device_id for h in HOMES if h.hypo for d in h.devices if d.kind == "glucometer"]


def wait_for(predicate: Callable[[], Any], timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.3)
    return predicate()


class Demo:
    """One ``homeward demo`` process with its own data directory and port."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log = data_dir / f"demo-{time.monotonic_ns()}.log"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("HOMEWARD_")  # a fresh machine: nothing configured
        }
        env |= {"HOMEWARD_DATA_DIR": str(data_dir), "HOMEWARD_HTTP_PORT": str(port)}
        data_dir.mkdir(parents=True, exist_ok=True)
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "homeward.cli", "demo", "--patients", str(PATIENTS)],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def login(self, client: httpx.Client) -> None:
        r = client.post(
            "/api/v1/auth/login", json={"username": "dr.chen", "password": DEMO_PASSWORD}
        )
        assert r.status_code == 200, r.text

    def up(self) -> bool:
        try:
            return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def interrupt(self, timeout_s: float = 60) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout_s)
        finally:
            self._out.close()

    def synced(self, device_id: str) -> bool:
        """Whether this run's gateway has read everything ``device_id`` holds (its BLE event)."""
        return f"ble_sync_complete {device_id} " in self.output()

    def outbox_held(self, home: DemoHome) -> int:
        """Readings the home's gateway still holds unacknowledged (read-only look at its file)."""
        path = self.data_dir / "demo" / "gateway" / home.gateway_id / "outbox.sqlite3"
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as c:
            (n,) = c.execute("SELECT count(*) FROM readings").fetchone()
            return int(n)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    return tmp_path / "homeward-data"


def _db_url(banner: str) -> str:
    """The database URL the demo printed (the embedded server listens on a Unix socket)."""
    line = next(ln for ln in banner.splitlines() if ln.strip().startswith("Database:"))
    return line.split("Database:", 1)[1].strip()


def alerts_by_rule(api: httpx.Client) -> dict[str, dict[str, Any]]:
    return {a["rule"]: a for a in api.get("/api/v1/alerts").json()["items"]}


def both_alerts(api: httpx.Client) -> dict[str, dict[str, Any]]:
    """The active alerts by rule, once the SpO2 and the glucose one are both there (else empty)."""
    alerts = alerts_by_rule(api)
    return alerts if {"spo2_low_sustained", "glucose_low"} <= set(alerts) else {}


def gateways_online(api: httpx.Client) -> dict[str, dict[str, Any]]:
    """The site's gateways by id, once every demo home's gateway is online (else empty)."""
    items = {g["gateway_id"]: g for g in api.get("/api/v1/gateways").json()["items"]}
    online = {g for g, item in items.items() if item["state"] == "online"}
    return items if online >= {h.gateway_id for h in HOMES} else {}


def test_demo_runs_the_whole_system_and_survives_a_restart(demo_dir: Path) -> None:
    first = Demo(demo_dir, free_port())
    try:
        assert wait_for(first.up, 90), first.output()
        # The banner comes once every part runs, the home gateways last.
        assert wait_for(lambda: "Homeward demo is running." in first.output(), 60)
        out = first.output()
        assert f"http://127.0.0.1:{first.port}/" in out
        assert f"dr.chen / {DEMO_PASSWORD}" in out
        assert f"{HYPO_PATIENT} (diabetes" in out
        with httpx.Client(base_url=first.base, timeout=10) as api:
            assert "<html" in api.get("/").text.lower()
            first.login(api)
            alerts = wait_for(lambda: both_alerts(api), 90)
            assert alerts, first.output()
            desaturated = alerts["spo2_low_sustained"]["patient"]["display_name"]
            hypo = alerts["glucose_low"]
            assert hypo["patient"]["display_name"] == HYPO_PATIENT
            assert hypo["severity"] == "critical"  # below 3.0 mmol/L
            assert f"{HYPO_MMOL_L} mmol/L" in hypo["title"]
            assert hypo["evidence"]["detail"]["readings"] == 1
            # The homes' gateways, online, each with its patient, for the site's staff to see.
            gateways = wait_for(lambda: gateways_online(api), 60)
            assert gateways, api.get("/api/v1/gateways").json()
            assert [p["display_name"] for p in gateways[HOMES[0].gateway_id]["patients"]] == [
                HYPO_PATIENT
            ]
        t0 = time.monotonic()
        assert first.interrupt() == 0, first.output()
        assert time.monotonic() - t0 < 30
        assert "Traceback" not in first.output()
        assert "(lost)" not in first.output()
        # The gateways stopped before the ingest: everything they read was delivered.
        assert [first.outbox_held(h) for h in HOMES] == [0] * len(HOMES)
    finally:
        first.kill()

    second = Demo(demo_dir, free_port())
    try:
        assert wait_for(second.up, 90), second.output()
        with httpx.Client(base_url=second.base, timeout=10) as api:
            second.login(api)
            # Every device is read again: the meters' memory (the scheduled tests, the first
            # run's scripted one) comes back the same, with this run's new test after it.
            assert wait_for(lambda: all(second.synced(d) for d in BLE_DEVICES), 90), second.output()
            assert wait_for(
                lambda: alerts_by_rule(api)["glucose_low"]["evidence"]["detail"]["readings"] == 2,
                60,
            ), (alerts_by_rule(api), second.output())
            items = api.get("/api/v1/alerts").json()["items"]
            assert sorted((a["rule"], a["patient"]["display_name"]) for a in items) == [
                ("glucose_low", HYPO_PATIENT),
                ("spo2_low_sustained", desaturated),
            ]
            assert wait_for(lambda: gateways_online(api), 60)
        # Everything read was acknowledged, i.e. committed: the rows are final.
        assert wait_for(lambda: not any(second.outbox_held(h) for h in HOMES), 60)
        with psycopg.connect(_db_url(second.output())) as conn:
            n, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT (device_id, metric, ts)) FROM readings"
            ).fetchone() or (0, 0)
            ble_n, ble_distinct = conn.execute(
                "SELECT count(*), count(DISTINCT (device_id, metric, seq)) FROM readings"
                " WHERE device_id = ANY(%s)",
                (BLE_DEVICES,),
            ).fetchone() or (0, 0)
            meters: dict[str, list[int]] = dict(
                conn.execute(
                    "SELECT device_id, array_agg(seq ORDER BY seq) FROM readings"
                    " WHERE metric = 'glucose' GROUP BY device_id"
                ).fetchall()
            )
            scripted = conn.execute(
                "SELECT value FROM readings WHERE device_id = %s AND seq > %s ORDER BY seq",
                (HYPO_METER, METER_RECORDS),
            ).fetchall()
            patients = conn.execute("SELECT count(*) FROM patients").fetchone()
        assert n > 0
        assert n == distinct, "a restart stored readings a second time"
        assert ble_n > 0
        assert ble_n == ble_distinct, "a Bluetooth record was stored twice"
        everyone = list(range(1, METER_RECORDS + 1))
        assert meters == {
            d.device_id: everyone + ([METER_RECORDS + 1, METER_RECORDS + 2] if h.hypo else [])
            for h in HOMES
            for d in h.devices
            if d.kind == "glucometer"
        }
        assert scripted == [(HYPO_MMOL_L,), (HYPO_MMOL_L,)]  # one test per start
        assert patients == (PATIENTS,)
        assert second.interrupt() == 0, second.output()
        assert "Traceback" not in second.output()
    finally:
        second.kill()
