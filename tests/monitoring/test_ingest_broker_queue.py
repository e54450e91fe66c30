"""The broker configuration we require (homeward/mosquitto.conf, deploy/mosquitto/homeward.conf)
keeps every reading for an ingest worker that is down, however many arrive meanwhile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from _ingest_support import batch, publisher, reading, readings_topic, running_worker, wait_for
from worlds import Make

from homeward.embedded import MosquittoProcess
from homeward.settings import Settings

Conn = psycopg.Connection[dict[str, Any]]

# Mosquitto's default max_queued_messages is 1000: a stock broker would drop the rest.
MESSAGES_WHILE_DOWN = 1500


def _count(conn: Conn, device_id: str) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM readings WHERE device_id = %s", (device_id,)
    ).fetchone()
    return int(row["n"]) if row else 0


@pytest.mark.slow
@pytest.mark.parametrize("share_group", ["ingest", None], ids=["shared", "plain"])
def test_every_reading_published_while_the_worker_is_down_is_stored_when_it_returns(
    private_broker: MosquittoProcess,
    settings: Settings,
    conn: Conn,
    make: Make,
    share_group: str | None,
) -> None:
    world = make.site()
    make.patient(world, "li")
    ox = make.device(world, "li", "ox", kind="oximeter")
    gw = f"gw-{make.tag}"
    own = settings.model_copy(
        update={"mqtt_url": private_broker.url, "ingest_share_group": share_group}
    )
    # The worker subscribes once (creating its persistent session) and stops cleanly.
    with running_worker(own, keep_session=True):
        pass
    t0 = datetime.now(UTC) - timedelta(hours=2)
    topic = readings_topic(world.site_code, gw)
    with publisher(private_broker.url) as publish:
        for s in range(MESSAGES_WHILE_DOWN):
            publish(
                topic,
                batch(gw, [reading(ox, seq=s, ts=t0 + timedelta(seconds=s))], batch_seq=s),
            )
    assert _count(conn, ox) == 0
    with running_worker(own) as worker:
        wait_for(
            lambda: _count(conn, ox) == MESSAGES_WHILE_DOWN,
            timeout_s=60,
            what=f"all {MESSAGES_WHILE_DOWN} readings after the worker returned",
        )
        # Several messages per transaction: the backlog drains in groups.
        transactions = worker.metrics.registry.get_sample_value(
            "homeward_ingest_transactions_total"
        )
        assert transactions is not None
        assert transactions < MESSAGES_WHILE_DOWN
    rows = conn.execute(
        "SELECT seq FROM readings WHERE device_id = %s ORDER BY seq", (ox,)
    ).fetchall()
    assert [int(r["seq"]) for r in rows] == list(range(MESSAGES_WHILE_DOWN))
