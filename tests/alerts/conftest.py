"""Helpers for alert tests: SpO2 readings written straight into the readings table, and the
HTTP app behind a test client.

The MQTT ingest is not needed here: readings are inserted with SQL exactly as the ingest stores
them, and the series is queued with :func:`monitoring.evaluations.mark_changed` as the ingest does
in the same transaction.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from homeward.app import create_app
from homeward.server import ServerThread
from homeward.settings import Settings
from monitoring import registry
from monitoring.evaluations import ChangedSeries, mark_changed

_seq = itertools.count(1)

# (time, value in the metric's canonical unit or None, quality flags); flags default to none.
Reading = tuple[datetime, float | None] | tuple[datetime, float | None, list[str]]


class SeriesWriter:
    """Writes readings of one metric for a patient and queues the series for evaluation."""

    def __init__(self, conn: psycopg.Connection[Any], metric: str, unit: str) -> None:
        self.conn = conn
        self.metric = metric
        self.unit = unit

    def write(
        self,
        patient_id: int,
        device_id: str,
        readings: Iterable[Reading],
        *,
        mark: bool = True,
    ) -> None:
        rows = []
        for r in readings:
            ts, value = r[0], r[1]
            flags = list(r[2]) if len(r) == 3 else []  # type: ignore[misc]
            rows.append(
                (ts, device_id, self.metric, next(_seq), patient_id, value, self.unit, flags)
            )
        if not rows:
            return
        first = min(r[0] for r in rows)
        last = max(r[0] for r in rows)
        with self.conn.transaction():
            self.conn.execute(
                "SELECT homeward_ensure_reading_partitions(%s::date, %s::date)",
                (first.astimezone(UTC).date(), last.astimezone(UTC).date()),
            )
            with self.conn.cursor().copy(
                "COPY readings (ts, device_id, metric, seq, patient_id, value, unit, flags,"
                " gateway_id) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row((*row, "gw-test"))
            if mark:
                mark_changed(self.conn, [ChangedSeries(patient_id, self.metric, first)])

    def minutes(
        self,
        patient_id: int,
        device_id: str,
        start: datetime,
        values: Iterable[float],
        *,
        step: timedelta = timedelta(minutes=1),
        mark: bool = True,
    ) -> datetime:
        """One reading per ``step`` from ``start``; returns the time of the last one."""
        readings = [(start + i * step, v) for i, v in enumerate(values)]
        self.write(patient_id, device_id, readings, mark=mark)
        return readings[-1][0]


@pytest.fixture
def spo2(conn: psycopg.Connection[Any]) -> SeriesWriter:
    return SeriesWriter(conn, "spo2", "%")


@pytest.fixture
def glucose(conn: psycopg.Connection[Any]) -> SeriesWriter:
    return SeriesWriter(conn, "glucose", "mmol/L")


@pytest.fixture
def api_settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings for the HTTP app: the session database only (no broker needed)."""
    return Settings(database_url=db_url, data_dir=tmp_path / "data")


@pytest.fixture
def server(api_settings: Settings) -> Iterator[ServerThread]:
    """The real app on a real uvicorn (lifespan included: pool, alert stream listener), on a
    free port of 127.0.0.1. A short heartbeat so that stream tests need not wait long."""
    srv = ServerThread(create_app(api_settings, sse_heartbeat_s=0.5))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        yield c


@pytest.fixture
def login(client: httpx.Client, make: Any) -> Callable[[str], dict[str, str]]:
    """Log ``name`` (a user created with ``make.user``) in; returns the Authorization header."""

    def _login(name: str) -> dict[str, str]:
        r = client.post(
            "/api/v1/auth/login",
            json={"username": make.username(name), "password": make.password(name)},
        )
        assert r.status_code == 200, r.text
        client.cookies.clear()  # each test user speaks with its own bearer token
        return {"Authorization": f"Bearer {r.json()['token']}"}

    return _login


@dataclass
class OtherSite:
    site_id: int
    panel_id: int


@pytest.fixture
def other_site(conn: psycopg.Connection[Any]) -> OtherSite:
    """A second site, with a panel, unknown to the test's ``make`` world."""
    tag = uuid.uuid4().hex[:8]
    site_id = registry.create_site(conn, code=f"other-{tag}", name=f"Other {tag}")
    panel_id = registry.create_panel(conn, site_id=site_id, name="Other panel")
    return OtherSite(site_id, panel_id)
