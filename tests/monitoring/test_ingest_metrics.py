"""The ingest's /metrics and /healthz: what an operator's Prometheus and load balancer see."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from _ingest_support import batch, publisher, reading, readings_topic, running_worker, wait_for
from worlds import Make, World

from homeward.settings import Settings

Conn = psycopg.Connection[dict[str, Any]]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - our own listener
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _sample(text: str, name: str, labels: str = "") -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    pattern = re.escape(name + (("{" + labels + "}") if labels else "")) + r" (\S+)"
    m = re.search(r"^" + pattern + r"$", text, re.MULTILINE)
    return float(m.group(1)) if m else 0.0


def test_metrics_count_messages_readings_dead_letters_and_latency_and_health_is_ok(
    settings: Settings, conn: Conn, make: Make
) -> None:
    world: World = make.site()
    make.patient(world, "li")
    ox = make.device(world, "li", "ox", kind="oximeter")
    gw = f"gw-{make.tag}"
    own = settings.model_copy(update={"ingest_metrics_port": 0})
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    good = batch(gw, [reading(ox, seq=s, ts=t0 + timedelta(seconds=s)) for s in range(5)])
    mixed = batch(
        gw,
        [reading(ox, seq=1, ts=t0 + timedelta(seconds=1)), reading(ox, seq=9, ts=t0, unit="kg")],
        batch_seq=2,
    )
    with running_worker(own) as worker, publisher(own.mqtt_url or "") as publish:
        base = f"http://127.0.0.1:{worker.metrics_port}"
        publish(readings_topic(world.site_code, gw), good)
        publish(readings_topic(world.site_code, gw), mixed)
        publish(readings_topic(world.site_code, gw), b"not json")

        def scraped() -> str | None:
            status, text = _get(base + "/metrics")
            assert status == 200
            done = _sample(text, "homeward_ingest_commit_to_ack_seconds_count") >= 2
            return text if done else None

        text = wait_for(scraped, what="two acked batches in /metrics")
        status, health = _get(base + "/healthz")
    p = "homeward_ingest_"
    assert _sample(text, p + "messages_total", 'outcome="stored"') == 2
    assert _sample(text, p + "messages_total", 'outcome="dead_lettered"') == 1
    assert _sample(text, p + "readings_total", 'outcome="stored"') == 5
    assert _sample(text, p + "readings_total", 'outcome="duplicate"') == 1
    assert _sample(text, p + "readings_total", 'outcome="rejected"') == 1
    assert _sample(text, p + "dead_letters_total", 'reason="invalid_unit"') == 1
    assert _sample(text, p + "dead_letters_total", 'reason="malformed_json"') == 1
    assert _sample(text, p + "receive_to_commit_seconds_count") == 3
    assert _sample(text, p + "broker_connects_total") == 1
    assert _sample(text, p + "broker_connected") == 1
    assert _sample(text, p + "oldest_unprocessed_age_seconds") == 0
    assert _sample(text, p + "last_commit_timestamp_seconds") > t0.timestamp()
    assert status == 200
    doc = json.loads(health)
    assert (doc["status"], doc["subscribed"], doc["database"]) == ("ok", True, "ok")


def test_health_turns_unhealthy_while_the_database_refuses_the_worker_and_recovers(
    settings: Settings, conn: Conn, make: Make, pg_server_url: str
) -> None:
    world: World = make.site()
    make.patient(world, "li")
    ox = make.device(world, "li", "ox", kind="oximeter")
    gw = f"gw-{make.tag}"
    own = settings.model_copy(update={"ingest_metrics_port": 0})
    dbname = conn.info.dbname
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    admin = psycopg.connect(pg_server_url, autocommit=True)
    with admin, running_worker(own) as worker, publisher(own.mqtt_url or "") as publish:
        base = f"http://127.0.0.1:{worker.metrics_port}"
        assert _get(base + "/healthz")[0] == 200
        try:
            admin.execute(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (f"homeward-ingest {own.ingest_client_id}"[:63],),
            )
            publish(readings_topic(world.site_code, gw), batch(gw, [reading(ox, seq=1, ts=t0)]))
            _, body = wait_for(
                lambda: (r := _get(base + "/healthz"))[0] == 503 and r,
                what="/healthz to report the database",
            )
            assert json.loads(body)["database"] == "unavailable"
            _, text = _get(base + "/metrics")
            assert _sample(text, "homeward_ingest_db_errors_total", 'kind="transient"') >= 1
            assert _sample(text, "homeward_ingest_oldest_unprocessed_age_seconds") > 0
        finally:
            admin.execute(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS true')
        wait_for(lambda: _get(base + "/healthz")[0] == 200, timeout_s=30, what="recovery")
    row = conn.execute("SELECT count(*) AS n FROM readings WHERE device_id = %s", (ox,)).fetchone()
    assert row == {"n": 1}
