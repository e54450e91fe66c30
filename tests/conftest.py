"""Fixtures shared by every test: real PostgreSQL, real MQTT broker, fresh database per session.

Database: ``HOMEWARD_TEST_DATABASE_URL`` (a server URL whose user may create databases), else the
local server at 127.0.0.1:5432 when reachable, else an embedded PostgreSQL started here. Each test
session creates its own database, migrates it, and drops it at the end.

Broker: ``HOMEWARD_TEST_MQTT_URL``, else the local Mosquitto at 127.0.0.1:1883 when reachable,
else a Mosquitto process started here with Homeward's configuration.

Tests isolate themselves by creating their own site, patients and devices with unique ids
(``make`` fixture), never by truncating shared tables (the audit log refuses that anyway).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg.rows import dict_row
from worlds import Make

from homeward.embedded import EmbeddedPostgres, MosquittoProcess, port_is_open
from homeward.settings import Settings
from monitoring.schema import migrate

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_MQTT = "mqtt://127.0.0.1:1883"


def _with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a PostgreSQL server (its maintenance database) where tests may create databases."""
    env = os.environ.get("HOMEWARD_TEST_DATABASE_URL")
    if env:
        yield env
        return
    if port_is_open("127.0.0.1", 5432):
        yield LOCAL_PG
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pgdata"))
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def db_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, migrated database for this test session."""
    name = f"homeward_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(pg_server_url, name)
    migrate(url, storage="native")
    try:
        yield url
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """An autocommit connection to the session database, rows as dicts."""
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as c:
        yield c


@pytest.fixture(scope="session")
def mqtt_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a running MQTT broker (``mqtt://host:port``)."""
    env = os.environ.get("HOMEWARD_TEST_MQTT_URL")
    if env:
        yield env
        return
    if port_is_open("127.0.0.1", 1883):
        yield LOCAL_MQTT
        return
    broker = MosquittoProcess(tmp_path_factory.mktemp("mosquitto"))
    url = broker.start()
    try:
        yield url
    finally:
        broker.stop()


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A Mosquitto process of this test's own, for tests that stop or kill the broker."""
    if not MosquittoProcess.available():
        pytest.skip("no mosquitto binary on this machine to start a private broker")
    broker = MosquittoProcess(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def make(conn: psycopg.Connection[Any]) -> Make:
    return Make(conn)


@pytest.fixture
def settings(db_url: str, mqtt_url: str, tmp_path: Path, make: Make) -> Settings:
    """Settings for this test: the session's database and broker, an ingest client id of its
    own, and an ingest that only takes the topics of the site ``make.site()`` creates."""
    return Settings(
        database_url=db_url,
        mqtt_url=mqtt_url,
        data_dir=tmp_path / "data",
        ingest_client_id=f"ingest-test-{make.tag}",
        ingest_site=f"site-{make.tag}",
    )
