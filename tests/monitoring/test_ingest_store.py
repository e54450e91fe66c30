"""store_batch: one message, one transaction; every reading stored once or dead-lettered with a
reason, on the patient the device belonged to at the reading's time."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from _ingest_support import batch, reading, readings_topic
from worlds import Make, World

from devices import Quality, encode_ack
from monitoring import registry
from monitoring.ingest import StoreResult, store_batch
from monitoring.partitions import PartitionKeeper, day_ranges, utc_day

Conn = psycopg.Connection[dict[str, Any]]
GW = "gw-1"


@pytest.fixture
def world(make: Make) -> World:
    """A site with patient "li" wearing oximeter "ox" (assigned 30 days ago, open-ended)."""
    w = make.site()
    make.patient(w, "li")
    make.device(w, "li", "ox", kind="oximeter")
    return w


def store(conn: Conn, w: World, raw: bytes, *, now: datetime | None = None) -> StoreResult:
    return store_batch(
        conn, topic=readings_topic(w.site_code, GW), raw=raw, received_at=now or datetime.now(UTC)
    )


def stored_rows(conn: Conn, device_id: str) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT device_id, metric, seq, ts, patient_id, value, unit, flags, gateway_id,"
        " tableoid::regclass::text AS part FROM readings WHERE device_id = %s"
        " ORDER BY ts, seq, metric",
        (device_id,),
    ).fetchall()


def dead_letters(conn: Conn, raw: bytes) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT reading_index, reason, detail, raw, gateway_id, batch_id, topic"
        " FROM dead_letters WHERE message_sha256 = %s ORDER BY reading_index NULLS FIRST",
        (hashlib.sha256(raw).digest(),),
    ).fetchall()


def test_good_batch_is_stored_on_the_patient_and_queued_for_evaluation(
    conn: Conn, world: World
) -> None:
    ox = world.devices["ox"]
    now = datetime.now(UTC).replace(microsecond=0)
    raw = batch(
        GW,
        [
            reading(ox, seq=1, ts=now - timedelta(minutes=2), value=97),
            reading(ox, seq=2, ts=now - timedelta(minutes=1), value=93.5),
            reading(
                ox, seq=2, ts=now - timedelta(minutes=1), metric="pulse_rate", value=71, unit="/min"
            ),
        ],
        batch_id="b-good",
        batch_seq=7,
    )
    result = store(conn, world, raw, now=now)

    assert result.ack is not None
    assert (result.ack.batch_id, result.ack.batch_seq) == ("b-good", 7)
    assert (result.ack.stored, result.ack.duplicates, result.ack.rejected) == (3, 0, 0)
    assert result.ack_topic == f"homeward/v1/{world.site_code}/{GW}/ack"
    rows = stored_rows(conn, ox)
    assert [(r["metric"], r["seq"], r["value"], r["unit"]) for r in rows] == [
        ("spo2", 1, 97.0, "%"),
        ("pulse_rate", 2, 71.0, "/min"),
        ("spo2", 2, 93.5, "%"),
    ]
    assert {r["patient_id"] for r in rows} == {world.patients["li"]}
    assert {r["gateway_id"] for r in rows} == {GW}
    queued = conn.execute(
        "SELECT metric, since_ts FROM pending_evaluations WHERE patient_id = %s ORDER BY metric",
        (world.patients["li"],),
    ).fetchall()
    assert [(q["metric"], q["since_ts"]) for q in queued] == [
        ("pulse_rate", now - timedelta(minutes=1)),
        ("spo2", now - timedelta(minutes=2)),
    ]
    assert dead_letters(conn, raw) == []


def test_the_same_batch_stored_twice_is_stored_once_and_counted_as_duplicates(
    conn: Conn, world: World
) -> None:
    ox = world.devices["ox"]
    now = datetime.now(UTC)
    raw = batch(GW, [reading(ox, seq=s, ts=now - timedelta(seconds=s)) for s in range(1, 6)])
    first = store(conn, world, raw)
    again = store(conn, world, raw)
    assert (first.stored, first.duplicates) == (5, 0)
    assert (again.stored, again.duplicates, again.rejected) == (0, 5, 0)
    assert [r["seq"] for r in stored_rows(conn, ox)] == [5, 4, 3, 2, 1]
    assert again.changed == ()


def test_a_key_repeated_inside_a_batch_is_stored_once_and_the_first_value_is_kept(
    conn: Conn, world: World
) -> None:
    ox = world.devices["ox"]
    ts = datetime.now(UTC) - timedelta(minutes=1)
    raw = batch(GW, [reading(ox, seq=9, ts=ts, value=91), reading(ox, seq=9, ts=ts, value=99)])
    result = store(conn, world, raw)
    assert (result.stored, result.duplicates) == (1, 1)
    assert [r["value"] for r in stored_rows(conn, ox)] == [91.0]


def test_malformed_json_is_kept_whole_in_dead_letters_once_however_often_delivered(
    conn: Conn, world: World
) -> None:
    raw = b'{"schema": "homeward.readings/1", "readings": [' + world.site_code.encode()
    first = store(conn, world, raw)
    again = store(conn, world, raw)
    assert first.dead_lettered
    assert again.dead_lettered
    assert first.ack is None  # no batch id can be read from it: nothing to address an ack to
    rows = dead_letters(conn, raw)
    assert len(rows) == 1
    assert rows[0]["reading_index"] is None
    assert rows[0]["reason"] == "malformed_json"
    assert rows[0]["raw"] == raw
    assert rows[0]["gateway_id"] == GW
    assert rows[0]["detail"]


def test_unknown_schema_version_is_dead_lettered_whole_and_acked_so_the_gateway_can_drop_it(
    conn: Conn, world: World
) -> None:
    ox = world.devices["ox"]
    now = datetime.now(UTC)
    raw = batch(
        GW,
        [reading(ox, seq=1, ts=now), reading(ox, seq=2, ts=now)],
        schema="homeward.readings/2",
        batch_id="b-v2",
        batch_seq=3,
    )
    result = store(conn, world, raw)
    assert result.ack is not None
    assert result.ack.dead_lettered
    assert (result.ack.batch_id, result.ack.batch_seq, result.ack.rejected) == ("b-v2", 3, 2)
    rows = dead_letters(conn, raw)
    assert [(r["reading_index"], r["reason"], r["batch_id"]) for r in rows] == [
        (None, "unknown_schema", "b-v2")
    ]
    assert "homeward.readings/2" in rows[0]["detail"]
    assert stored_rows(conn, ox) == []


def test_payload_of_another_gateway_than_its_topic_is_dead_lettered_whole(
    conn: Conn, world: World
) -> None:
    ox = world.devices["ox"]
    raw = batch("gw-other", [reading(ox, seq=1, ts=datetime.now(UTC))])
    result = store(conn, world, raw)
    assert result.dead_lettered
    assert [(r["reading_index"], r["reason"]) for r in dead_letters(conn, raw)] == [
        (None, "gateway_mismatch")
    ]
    assert stored_rows(conn, ox) == []


def test_a_message_on_a_topic_outside_the_scheme_is_dead_lettered_not_dropped(
    conn: Conn, world: World
) -> None:
    raw = batch(GW, [reading(world.devices["ox"], seq=1, ts=datetime.now(UTC))])
    result = store_batch(
        conn,
        topic=f"homeward/v1/{world.site_code}/bad gateway/readings",
        raw=raw,
        received_at=datetime.now(UTC),
    )
    assert result.dead_lettered
    assert result.ack is None
    assert [r["reason"] for r in dead_letters(conn, raw)] == ["invalid_topic"]


# Each bad reading travels between two good ones; only it is refused, with this reason.
BAD_READINGS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown metric", {"metric": "cholesterol"}, "unknown_metric"),
    ("wrong unit", {"unit": "mm[Hg]"}, "invalid_unit"),
    (
        "glucose in an unknown unit",
        {"metric": "glucose", "unit": "g/L", "value": 1},
        "invalid_unit",
    ),
    ("timestamp before 2000", {"ts": "1999-12-31T23:59:59Z"}, "timestamp_before_2000"),
    ("device clock at the epoch", {"ts": "1970-01-01T00:00:00Z"}, "timestamp_before_2000"),
    ("timestamp far in the future", {"ts": "2099-01-01T00:00:00Z"}, "timestamp_in_future"),
    ("timestamp without offset", {"ts": "2026-01-01T00:00:00"}, "invalid_timestamp"),
    ("value as a string", {"value": "95"}, "invalid_value"),
    ("unknown device", {"device_id": "ghost-device"}, "unknown_device"),
]


@pytest.mark.parametrize(("case", "bad", "reason"), BAD_READINGS, ids=[c[0] for c in BAD_READINGS])
def test_a_bad_reading_is_dead_lettered_with_its_reason_and_its_neighbours_are_stored(
    conn: Conn, world: World, case: str, bad: dict[str, Any], reason: str
) -> None:
    ox = world.devices["ox"]
    now = datetime.now(UTC).replace(microsecond=0)
    bad_reading = reading(ox, seq=2, ts=now - timedelta(minutes=2)) | bad
    raw = batch(
        GW,
        [
            reading(ox, seq=1, ts=now - timedelta(minutes=3)),
            bad_reading,
            reading(ox, seq=3, ts=now - timedelta(minutes=1)),
        ],
    )
    result = store(conn, world, raw, now=now)

    assert (result.stored, result.duplicates, result.rejected) == (2, 0, 1)
    assert result.ack is not None
    assert not result.ack.dead_lettered
    assert [r["seq"] for r in stored_rows(conn, ox)] == [1, 3]
    rows = dead_letters(conn, raw)
    assert [(r["reading_index"], r["reason"]) for r in rows] == [(1, reason)]
    assert json.loads(rows[0]["raw"]) == bad_reading
    assert rows[0]["detail"]
    # Delivered again: no second dead letter, same counts.
    again = store(conn, world, raw, now=now)
    assert (again.stored, again.duplicates, again.rejected) == (0, 2, 1)
    assert (result.dead_letters_added, again.dead_letters_added) == (1, 0)
    assert len(dead_letters(conn, raw)) == 1


def test_a_reading_before_the_device_was_assigned_is_dead_lettered_as_not_assigned(
    conn: Conn, make: Make
) -> None:
    w = make.site()
    make.patient(w, "li")
    since = datetime.now(UTC) - timedelta(days=1)
    dev = make.device(w, "li", "cuff", since=since)
    unassigned = make.device(w, None, "spare")
    raw = batch(
        GW,
        [
            reading(dev, seq=1, ts=since - timedelta(hours=1)),  # before the assignment
            reading(dev, seq=2, ts=since + timedelta(hours=1)),
            reading(unassigned, seq=1, ts=since + timedelta(hours=1)),  # never assigned
        ],
    )
    result = store(conn, w, raw)
    assert (result.stored, result.rejected) == (1, 2)
    rows = dead_letters(conn, raw)
    assert [(r["reading_index"], r["reason"]) for r in rows] == [
        (0, "device_not_assigned"),
        (2, "device_not_assigned"),
    ]
    assert dev in rows[0]["detail"]


def test_a_device_registered_with_another_site_is_refused_on_this_sites_topic(
    conn: Conn, make: Make, world: World
) -> None:
    other = Make(conn)
    w2 = other.site()
    other.patient(w2, "zhang")
    foreign = other.device(w2, "zhang", "ox")
    raw = batch(GW, [reading(foreign, seq=1, ts=datetime.now(UTC))])
    result = store(conn, world, raw)  # published under world's site, device is w2's
    assert result.rejected == 1
    assert [r["reason"] for r in dead_letters(conn, raw)] == ["device_of_other_site"]
    assert stored_rows(conn, foreign) == []


def test_a_reassigned_device_lands_on_the_patient_it_belonged_to_at_each_readings_time(
    conn: Conn, make: Make
) -> None:
    w = make.site()
    li = make.patient(w, "li")
    wang = make.patient(w, "wang")
    handover = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    dev = make.device(w, "li", "glucometer", since=handover - timedelta(days=10))
    registry.end_assignment(conn, device_id=dev, valid_to=handover)
    registry.assign_device(conn, device_id=dev, patient_id=wang, valid_from=handover)
    # Uploaded late, after the handover, in one batch: the meter's memory held both patients'.
    raw = batch(
        GW,
        [
            reading(
                dev,
                seq=10,
                ts=handover - timedelta(hours=3),
                metric="glucose",
                value=6.1,
                unit="mmol/L",
            ),
            reading(
                dev,
                seq=11,
                ts=handover - timedelta(microseconds=1),
                metric="glucose",
                value=110,
                unit="mg/dL",
            ),
            reading(dev, seq=12, ts=handover, metric="glucose", value=3.2, unit="mmol/L"),
        ],
    )
    result = store(conn, w, raw)
    assert result.stored == 3
    rows = stored_rows(conn, dev)
    assert [(r["seq"], r["patient_id"]) for r in rows] == [(10, li), (11, li), (12, wang)]
    assert rows[1]["value"] == pytest.approx(110 / 18.0156)
    assert {c.patient_id for c in result.changed} == {li, wang}


def test_an_implausible_value_is_stored_with_its_flag(conn: Conn, world: World) -> None:
    ox = world.devices["ox"]
    raw = batch(GW, [reading(ox, seq=1, ts=datetime.now(UTC), value=12)])
    result = store(conn, world, raw)
    assert (result.stored, result.rejected) == (1, 0)
    [row] = stored_rows(conn, ox)
    assert row["value"] == 12.0
    assert row["flags"] == [Quality.IMPLAUSIBLE]


def test_a_special_value_is_stored_without_a_number_but_with_its_flag(
    conn: Conn, world: World
) -> None:
    ox = world.devices["ox"]
    raw = batch(
        GW, [reading(ox, seq=1, ts=datetime.now(UTC), value=None, flags=["pos_inf", "thinned"])]
    )
    assert store(conn, world, raw).stored == 1
    [row] = stored_rows(conn, ox)
    assert row["value"] is None
    assert row["flags"] == ["pos_inf", "thinned"]


def test_a_late_reading_lands_in_its_own_days_partition(conn: Conn, make: Make) -> None:
    w = make.site()
    make.patient(w, "li")
    now = datetime.now(UTC)
    dev = make.device(w, "li", "scale", since=now - timedelta(days=400))
    late = (now - timedelta(days=300)).replace(hour=23, minute=59, second=59, microsecond=999999)
    raw = batch(
        GW,
        [
            reading(dev, seq=2, ts=now, metric="body_weight", value=61.2, unit="kg"),
            reading(dev, seq=1, ts=late, metric="body_weight", value=60.8, unit="kg"),
        ],
    )
    assert store(conn, w, raw).stored == 2
    parts = {r["seq"]: r["part"] for r in stored_rows(conn, dev)}
    assert parts == {
        1: f"readings_p{late:%Y%m%d}",
        2: f"readings_p{now:%Y%m%d}",
    }


def test_every_reading_of_a_mixed_batch_is_either_stored_or_dead_lettered(
    conn: Conn, world: World
) -> None:
    ox = world.devices["ox"]
    now = datetime.now(UTC)
    items: list[Any] = [
        reading(ox, seq=1, ts=now),
        reading(ox, seq=1, ts=now),
        "not an object",
        reading("nobody-knows", seq=1, ts=now),
        reading(ox, seq=2, ts=now, metric="steps", value=-5, unit="{steps}"),
        reading(ox, seq=3, ts=now, unit="kg"),
    ]
    raw = batch(GW, items)
    result = store(conn, world, raw)
    assert result.stored + result.duplicates + result.rejected == len(items)
    assert (result.stored, result.duplicates, result.rejected) == (2, 1, 3)
    indexes = [r["reading_index"] for r in dead_letters(conn, raw)]
    assert indexes == [2, 3, 5]


def test_a_partition_dropped_after_it_was_cached_is_created_again(conn: Conn, make: Make) -> None:
    w = make.site()
    make.patient(w, "li")
    day = datetime(2003, 5, 5, 12, tzinfo=UTC)
    dev = make.device(w, "li", "old-meter", since=day - timedelta(days=1))
    keeper = PartitionKeeper()
    topic = readings_topic(w.site_code, GW)
    now = datetime.now(UTC)
    first = batch(GW, [reading(dev, seq=1, ts=day)])
    assert store_batch(conn, topic=topic, raw=first, received_at=now, partitions=keeper).stored == 1
    conn.execute("DROP TABLE readings_p20030505")
    second = batch(GW, [reading(dev, seq=2, ts=day)])
    result = store_batch(conn, topic=topic, raw=second, received_at=now, partitions=keeper)
    assert result.stored == 1
    assert [r["part"] for r in stored_rows(conn, dev)] == ["readings_p20030505"]


def test_store_batch_refuses_a_connection_already_inside_a_transaction(
    conn: Conn, world: World
) -> None:
    raw = batch(GW, [reading(world.devices["ox"], seq=1, ts=datetime.now(UTC))])
    with conn.transaction(), pytest.raises(ValueError, match="outside any transaction"):
        store(conn, world, raw)


def test_partitions_are_created_safely_by_several_workers_at_once(db_url: str) -> None:
    days = [datetime(2004, 2, d, tzinfo=UTC).date() for d in range(1, 11)]
    errors: list[BaseException] = []
    created: list[int] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as c:
                barrier.wait()
                created.append(PartitionKeeper().ensure_days(c, days))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(created) == len(days)  # each partition created exactly once
    with psycopg.connect(db_url) as c:
        row = c.execute(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'readings'::regclass AND c.relname LIKE 'readings_p200402%%'"
        ).fetchone()
    assert row == (len(days),)


def test_partition_days_are_utc_days_and_group_into_runs() -> None:
    assert utc_day(datetime.fromisoformat("2026-03-01T07:59:59+08:00")).isoformat() == "2026-02-28"
    d = [datetime(2026, 3, x, tzinfo=UTC).date() for x in (5, 1, 2, 2, 3)]
    assert [(a.day, b.day) for a, b in day_ranges(d)] == [(1, 3), (5, 5)]
    assert list(day_ranges([])) == []


def _worked_example() -> tuple[str, str]:
    """The batch and the ack of docs/payload-schema.md's worked example, as written there."""
    doc = (Path(__file__).parents[2] / "docs" / "payload-schema.md").read_text(encoding="utf-8")
    section = doc.split("## Worked example", 1)[1]
    blocks = [part.split("```", 1)[0] for part in section.split("```json\n")[1:]]
    assert len(blocks) == 2, "the worked example has a batch and an ack"
    return blocks[0], blocks[1]


def test_the_worked_example_in_the_payload_docs_is_what_the_ingest_does(
    conn: Conn, make: Make
) -> None:
    w = make.site()
    make.patient(w, "li")
    make.patient(w, "wang")
    since = datetime(2026, 1, 1, tzinfo=UTC)
    ox = make.device(w, "li", "ox-0042", since=since)
    gm = make.device(w, "wang", "gm-0007", since=since)
    batch_text, ack_text = _worked_example()
    raw = batch_text.replace('"ox-0042"', f'"{ox}"').replace('"gm-0007"', f'"{gm}"').encode()
    received = datetime(2026, 11, 23, 2, 0, 6, tzinfo=UTC)
    topic = readings_topic(w.site_code, "gw-7f3a")

    result = store_batch(conn, topic=topic, raw=raw, received_at=received)
    assert result.ack is not None
    assert json.loads(encode_ack(result.ack)) == json.loads(ack_text)
    rows = conn.execute(
        "SELECT device_id, metric, seq, ts, patient_id, value, unit, flags,"
        " tableoid::regclass::text AS part FROM readings WHERE device_id IN (%s, %s)"
        " ORDER BY device_id DESC",
        (ox, gm),
    ).fetchall()
    assert [
        (r["metric"], r["seq"], r["ts"], r["patient_id"], r["unit"], r["flags"]) for r in rows
    ] == [
        ("spo2", 1234, datetime(2026, 11, 23, 2, 0, tzinfo=UTC), w.patients["li"], "%", []),
        (
            "glucose",
            88,
            datetime(2026, 11, 23, 1, 58, tzinfo=UTC),
            w.patients["wang"],
            "mmol/L",
            ["measurement_issue"],
        ),
    ]
    assert rows[1]["value"] == pytest.approx(180 / 18.0156)
    assert {r["part"] for r in rows} == {"readings_p20261123"}
    assert [(d["reading_index"], d["reason"], d["detail"]) for d in dead_letters(conn, raw)] == [
        (2, "unknown_metric", "unknown metric 'cholesterol'")
    ]
    again = store_batch(conn, topic=topic, raw=raw, received_at=received)
    assert again.ack is not None
    assert (again.ack.stored, again.ack.duplicates, again.ack.rejected) == (0, 2, 1)
