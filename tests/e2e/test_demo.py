"""``homeward demo`` as a user runs it on a fresh machine: embedded PostgreSQL and broker, seeded
patients, the panel, a desaturation alert; Ctrl-C stops it cleanly and a restart keeps the data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from homeward.demo import DEMO_PASSWORD
from homeward.embedded import free_port

pytestmark = pytest.mark.slow


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
            [sys.executable, "-m", "homeward.cli", "demo", "--patients", "6"],
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


def test_demo_runs_the_whole_system_and_survives_a_restart(demo_dir: Path) -> None:
    first = Demo(demo_dir, free_port())
    try:
        assert wait_for(first.up, 90), first.output()
        out = first.output()
        assert f"http://127.0.0.1:{first.port}/" in out
        assert f"dr.chen / {DEMO_PASSWORD}" in out
        with httpx.Client(base_url=first.base, timeout=10) as api:
            assert "<html" in api.get("/").text.lower()
            first.login(api)
            alerts = wait_for(lambda: api.get("/api/v1/alerts").json()["items"], 90)
            assert alerts, first.output()
            assert alerts[0]["rule"] == "spo2_low_sustained"
            patient = alerts[0]["patient"]["display_name"]
        t0 = time.monotonic()
        assert first.interrupt() == 0, first.output()
        assert time.monotonic() - t0 < 30
        assert "Traceback" not in first.output()
        assert "(lost)" not in first.output()
    finally:
        first.kill()

    second = Demo(demo_dir, free_port())
    try:
        assert wait_for(second.up, 90), second.output()
        with httpx.Client(base_url=second.base, timeout=10) as api:
            second.login(api)
            items = api.get("/api/v1/alerts").json()["items"]
            assert [a["patient"]["display_name"] for a in items] == [patient]
        with psycopg.connect(_db_url(second.output())) as conn:
            n, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT (device_id, metric, ts)) FROM readings"
            ).fetchone() or (0, 0)
            patients = conn.execute("SELECT count(*) FROM patients").fetchone()
        assert n > 0
        assert n == distinct, "a restart stored readings a second time"
        assert patients == (6,)
        assert second.interrupt() == 0, second.output()
    finally:
        second.kill()
