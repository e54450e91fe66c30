"""The ``homeward`` command line as an operator uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from datasets import cgm_5_subject_csv


def homeward(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HOMEWARD_")}
    return subprocess.run(
        [sys.executable, "-m", "homeward.cli", *args],
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def fresh_db(pg_server_url: str) -> Iterator[str]:
    name = f"homeward_cli_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(pg_server_url)._replace(path="/" + name))
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrate_applies_everything_once_and_then_reports_up_to_date(fresh_db: str) -> None:
    first = homeward("migrate", env={"HOMEWARD_DATABASE_URL": fresh_db})
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("applied migrations: 0001")
    second = homeward("migrate", env={"HOMEWARD_DATABASE_URL": fresh_db})
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "database is up to date"


def test_commands_that_need_a_database_say_which_setting_is_missing() -> None:
    for command in ("migrate", "ingest", "serve"):
        result = homeward(command)
        assert result.returncode == 2
        assert "HOMEWARD_DATABASE_URL" in result.stderr


def test_ingest_without_a_broker_url_says_so(fresh_db: str) -> None:
    result = homeward("ingest", env={"HOMEWARD_DATABASE_URL": fresh_db})
    assert result.returncode == 2
    assert "HOMEWARD_MQTT_URL" in result.stderr


def test_cgm_report_prints_the_metric_set_of_every_subject_in_an_export() -> None:
    result = homeward("cgm-report", str(cgm_5_subject_csv()))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    text = json.dumps(report)
    for n in range(1, 6):
        assert f"Subject {n}" in text
    assert homeward("cgm-report", "--help").returncode == 0
