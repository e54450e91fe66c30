"""store_messages: several MQTT messages in one transaction, each still counted, acknowledged and
dead-lettered exactly as if it had been stored alone."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from _ingest_support import batch, reading, readings_topic
from worlds import Make, World

from monitoring.ingest import Message, StoreResult, store_messages

Conn = psycopg.Connection[dict[str, Any]]
GW = "gw-1"


@pytest.fixture
def world(make: Make) -> World:
    """Patients "li" (oximeter "ox") and "wang" (oximeter "ox2") at one site."""
    w = make.site()
    make.patient(w, "li")
    make.patient(w, "wang")
    make.device(w, "li", "ox", kind="oximeter")
    make.device(w, "wang", "ox2", kind="oximeter")
    return w


def _store(conn: Conn, w: World, *raws: bytes) -> list[StoreResult]:
    now = datetime.now(UTC)
    topic = readings_topic(w.site_code, GW)
    return store_messages(conn, [Message(topic, raw, now) for raw in raws])


def _counts(results: list[StoreResult]) -> list[tuple[int, int, int, bool]]:
    return [(r.stored, r.duplicates, r.rejected, r.dead_lettered) for r in results]


def _values(conn: Conn, device_id: str) -> list[tuple[int, float]]:
    rows = conn.execute(
        "SELECT seq, value FROM readings WHERE device_id = %s ORDER BY seq", (device_id,)
    ).fetchall()
    return [(int(r["seq"]), float(r["value"])) for r in rows]


def test_messages_stored_together_are_counted_and_acked_each_on_its_own(
    conn: Conn, world: World
) -> None:
    ox, ox2 = world.devices["ox"], world.devices["ox2"]
    t0 = datetime.now(UTC) - timedelta(hours=1)
    first = batch(GW, [reading(ox, seq=s, ts=t0 + timedelta(seconds=s)) for s in range(3)])
    # Repeats seq 2 of the first message with another value, adds seq 3, and one of wang's.
    second = batch(
        GW,
        [
            reading(ox, seq=2, ts=t0 + timedelta(seconds=2), value=90),
            reading(ox, seq=3, ts=t0 + timedelta(seconds=3)),
            reading(ox2, seq=1, ts=t0),
        ],
        batch_seq=2,
    )
    results = _store(conn, world, first, second)
    assert _counts(results) == [(3, 0, 0, False), (2, 1, 0, False)]
    assert [(r.ack.stored, r.ack.duplicates) for r in results if r.ack] == [(3, 0), (2, 1)]
    # The first message sent keeps its value for the repeated key.
    assert _values(conn, ox) == [(0, 95.0), (1, 95.0), (2, 95.0), (3, 95.0)]
    changed = {(c.patient_id, c.since_ts) for c in results[1].changed}
    assert changed == {
        (world.patients["li"], t0 + timedelta(seconds=3)),
        (world.patients["wang"], t0),
    }
    queued = conn.execute(
        "SELECT patient_id, since_ts FROM pending_evaluations WHERE patient_id = ANY(%s)",
        ([world.patients["li"], world.patients["wang"]],),
    ).fetchall()
    assert {(r["patient_id"], r["since_ts"]) for r in queued} == {
        (world.patients["li"], t0),
        (world.patients["wang"], t0),
    }


def test_a_group_delivered_again_is_all_duplicates_and_adds_no_dead_letters(
    conn: Conn, world: World
) -> None:
    ox = world.devices["ox"]
    t0 = datetime.now(UTC) - timedelta(hours=1)
    good = batch(GW, [reading(ox, seq=s, ts=t0 + timedelta(seconds=s)) for s in range(4)])
    mixed = batch(
        GW,
        [
            reading(ox, seq=10, ts=t0),
            reading("nobody-knows-me", seq=1, ts=t0),
            reading(ox, seq=11, ts=t0, metric="cholesterol"),
        ],
        batch_seq=2,
    )
    broken = b'{"schema": "homeward.readings/1", ]'
    once = _store(conn, world, good, broken, mixed)
    again = _store(conn, world, mixed, good, broken)
    assert _counts(once) == [(4, 0, 0, False), (0, 0, 0, True), (1, 0, 2, False)]
    assert _counts(again) == [(0, 1, 2, False), (0, 4, 0, False), (0, 0, 0, True)]
    assert [r.dead_letters_added for r in once] == [0, 1, 2]
    assert [r.dead_letters_added for r in again] == [0, 0, 0]
    assert [r.changed for r in again] == [(), (), ()]
    reasons = conn.execute(
        "SELECT reading_index, reason FROM dead_letters WHERE message_sha256 = ANY(%s)"
        " ORDER BY reading_index NULLS FIRST",
        ([hashlib.sha256(mixed).digest(), hashlib.sha256(broken).digest()],),
    ).fetchall()
    assert [(r["reading_index"], r["reason"]) for r in reasons] == [
        (None, "malformed_json"),
        (1, "unknown_device"),
        (2, "unknown_metric"),
    ]


def test_a_key_repeated_by_several_messages_of_a_redelivered_group_counts_once_per_message(
    conn: Conn, world: World
) -> None:
    ox = world.devices["ox"]
    t0 = datetime.now(UTC) - timedelta(hours=1)
    a = batch(GW, [reading(ox, seq=1, ts=t0), reading(ox, seq=2, ts=t0)], batch_id="b-a")
    b = batch(GW, [reading(ox, seq=2, ts=t0), reading(ox, seq=3, ts=t0)], batch_id="b-b")
    assert _counts(_store(conn, world, a, b)) == [(2, 0, 0, False), (1, 1, 0, False)]
    c = batch(GW, [reading(ox, seq=3, ts=t0), reading(ox, seq=4, ts=t0)], batch_id="b-c")
    assert _counts(_store(conn, world, b, c)) == [(0, 2, 0, False), (1, 1, 0, False)]
    assert [s for s, _ in _values(conn, ox)] == [1, 2, 3, 4]


def test_an_empty_group_stores_nothing(conn: Conn) -> None:
    assert store_messages(conn, []) == []
