"""``homeward serve``: the panel, the API and the evaluator in one process, stopped cleanly."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.panel import CONTENT_SECURITY_POLICY
from homeward.embedded import free_port
from homeward.errors import ServiceStartError
from homeward.server import serve
from homeward.settings import Settings
from monitoring.evaluations import ChangedSeries, mark_changed


def write_low_spo2(conn: Any, patient_id: int, device_id: str, minutes: int) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes + 1)
    with conn.transaction():
        conn.execute(
            "SELECT homeward_ensure_reading_partitions(%s::date, %s::date)",
            (start.date(), datetime.now(UTC).date()),
        )
        for i in range(minutes + 1):
            conn.execute(
                "INSERT INTO readings (ts, device_id, metric, seq, patient_id, value, unit,"
                " gateway_id) VALUES (%s, %s, 'spo2', %s, %s, 85, '%%', 'gw-test')",
                (start + timedelta(minutes=i), device_id, i, patient_id),
            )
        mark_changed(conn, [ChangedSeries(patient_id, "spo2", start)])


def test_serve_runs_panel_api_and_evaluator_and_stops_on_request(
    db_url: str, tmp_path: Path, conn: Any, make: Any
) -> None:
    settings = Settings(database_url=db_url, data_dir=tmp_path, http_port=free_port())
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            serve(settings, stop)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    base = f"http://127.0.0.1:{settings.http_port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.1)

        page = httpx.get(base + "/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "/panel/panel.js" in page.text
        assert "http://" not in page.text  # nothing from another origin (no CDN)
        assert "https://" not in page.text
        assert (
            httpx.get(base + "/panel/panel.js")
            .headers["content-type"]
            .startswith("text/javascript")
        )
        assert httpx.get(base + "/panel/other.js").status_code == 404

        # The evaluator thread runs inside serve.
        world = make.site()
        pid = make.patient(world, "li")
        dev = make.device(world, "li", "ox")
        write_low_spo2(conn, pid, dev, minutes=6)
        while not conn.execute("SELECT 1 FROM alerts WHERE patient_id = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline + 20, "the evaluator opened no alert"
            time.sleep(0.1)
    finally:
        stopped_at = time.monotonic()
        stop.set()
        thread.join(15)
    assert not thread.is_alive()
    assert time.monotonic() - stopped_at < 10
    assert errors == []
    with pytest.raises(httpx.TransportError):
        httpx.get(base + "/healthz")


def test_serve_refuses_a_port_in_use(db_url: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(database_url=db_url, data_dir=tmp_path, http_port=port)
        with pytest.raises(ServiceStartError, match="cannot listen"):
            serve(settings, threading.Event())
