"""The ingest worker through the real broker and database: at-least-once in, exactly-once effect,
acks only after the commit, and nothing lost when the worker, the database or the broker fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from _ingest_support import (
    AckListener,
    batch,
    forget_session,
    publisher,
    reading,
    readings_topic,
    running_worker,
    wait_for,
)
from worlds import Make, World

from homeward.embedded import MosquittoProcess
from homeward.errors import ConfigurationError
from homeward.settings import Settings
from monitoring.ingest import Backoff, is_transient, subscription_filter
from monitoring.ingest._inbox import Inbound, Inbox

Conn = psycopg.Connection[dict[str, Any]]
GW = "gw-home"


@pytest.fixture
def world(make: Make) -> World:
    """The site of ``settings.ingest_site``, with patient "li" wearing oximeter "ox"."""
    w = make.site()
    make.patient(w, "li")
    make.device(w, "li", "ox", kind="oximeter", gateway_id=GW + "-" + make.tag)
    return w


@pytest.fixture
def gw(world: World, make: Make) -> str:
    return GW + "-" + make.tag


@pytest.fixture
def acks(mqtt_url: str, world: World, gw: str) -> Iterator[AckListener]:
    listener = AckListener(mqtt_url, world.site_code, gw)
    yield listener
    listener.close()


def seqs(conn: Conn, device_id: str) -> list[int]:
    rows = conn.execute(
        "SELECT seq FROM readings WHERE device_id = %s ORDER BY seq", (device_id,)
    ).fetchall()
    return [int(r["seq"]) for r in rows]


def readings_for(device_id: str, seq_range: range, *, base: datetime | None = None) -> list[Any]:
    t0 = base or datetime.now(UTC) - timedelta(hours=1)
    return [reading(device_id, seq=s, ts=t0 + timedelta(seconds=s)) for s in seq_range]


def backend_waiting_on_lock(conn: Conn, client_id: str) -> bool:
    row = conn.execute(
        "SELECT count(*) AS n FROM pg_stat_activity"
        " WHERE application_name = %s AND wait_event_type = 'Lock'",
        (f"homeward-ingest {client_id}"[:63],),
    ).fetchone()
    return bool(row and row["n"])


@pytest.fixture
def locked_evaluation_row(db_url: str, world: World) -> Iterator[threading.Event]:
    """Hold a row lock the ingest needs inside its transaction (the patient's queued SpO2
    evaluation), so a worker storing this patient's readings blocks before COMMIT. Set the
    yielded event to release it."""
    release = threading.Event()
    patient = world.patients["li"]
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(
            "INSERT INTO pending_evaluations (patient_id, metric, since_ts) VALUES (%s, 'spo2',"
            " now()) ON CONFLICT DO NOTHING",
            (patient,),
        )
    holder = psycopg.connect(db_url)
    holder.execute(
        "SELECT 1 FROM pending_evaluations WHERE patient_id = %s AND metric = 'spo2' FOR UPDATE",
        (patient,),
    )

    def release_when_asked() -> None:
        release.wait()
        holder.rollback()

    t = threading.Thread(target=release_when_asked, daemon=True)
    t.start()
    try:
        yield release
    finally:
        release.set()
        t.join(5)
        holder.close()


def test_the_same_batch_delivered_twice_is_stored_once(
    settings: Settings, conn: Conn, world: World, gw: str, acks: AckListener
) -> None:
    ox = world.devices["ox"]
    raw = batch(gw, readings_for(ox, range(1, 11)), batch_id="b-twice", batch_seq=1)
    with running_worker(settings), publisher(settings.mqtt_url or "") as publish:
        publish(readings_topic(world.site_code, gw), raw)
        publish(readings_topic(world.site_code, gw), raw)
        got = wait_for(lambda: len(acks.snapshot()) >= 2 and acks.snapshot(), what="two acks")
    assert seqs(conn, ox) == list(range(1, 11))
    assert [(a.batch_id, a.stored, a.duplicates, a.rejected) for a in got] == [
        ("b-twice", 10, 0, 0),
        ("b-twice", 0, 10, 0),
    ]


def test_a_malformed_batch_lands_in_dead_letters_while_the_batches_around_it_are_stored(
    settings: Settings, conn: Conn, world: World, gw: str, acks: AckListener
) -> None:
    ox = world.devices["ox"]
    before = batch(gw, readings_for(ox, range(1, 4)), batch_id="b-before", batch_seq=1)
    broken = b'{"schema": "homeward.readings/1", "gateway_id": "' + gw.encode() + b'", ]'
    after = batch(gw, readings_for(ox, range(4, 7)), batch_id="b-after", batch_seq=3)
    topic = readings_topic(world.site_code, gw)
    with running_worker(settings), publisher(settings.mqtt_url or "") as publish:
        for raw in (before, broken, after):
            publish(topic, raw)
        wait_for(lambda: len(seqs(conn, ox)) == 6, what="both good batches")
        wait_for(lambda: len(acks.snapshot()) >= 2, what="acks of the good batches")
    assert seqs(conn, ox) == [1, 2, 3, 4, 5, 6]
    rows = conn.execute(
        "SELECT reason, reading_index, raw, topic FROM dead_letters WHERE topic = %s", (topic,)
    ).fetchall()
    assert [(r["reason"], r["reading_index"], r["raw"]) for r in rows] == [
        ("malformed_json", None, broken)
    ]
    # No ack for the malformed one: it names no batch. The good ones are acked in order.
    assert [a.batch_id for a in acks.snapshot()] == ["b-before", "b-after"]


def test_the_application_ack_arrives_only_after_the_rows_are_committed_with_the_right_counts(
    settings: Settings,
    conn: Conn,
    world: World,
    gw: str,
    acks: AckListener,
    locked_evaluation_row: threading.Event,
) -> None:
    ox = world.devices["ox"]
    now = datetime.now(UTC)
    raw = batch(
        gw,
        [
            reading(ox, seq=1, ts=now - timedelta(minutes=3)),
            reading(ox, seq=2, ts=now - timedelta(minutes=2)),
            reading(ox, seq=2, ts=now - timedelta(minutes=2)),  # repeated inside the batch
            reading(ox, seq=3, ts=now - timedelta(minutes=1), metric="cholesterol"),
            reading(ox, seq=4, ts=now - timedelta(minutes=1), value=20),  # implausible: stored
        ],
        batch_id="b-counted",
        batch_seq=42,
    )
    with running_worker(settings), publisher(settings.mqtt_url or "") as publish:
        publish(readings_topic(world.site_code, gw), raw)
        # The worker is inside its transaction, waiting for our lock: nothing committed, no ack.
        wait_for(
            lambda: backend_waiting_on_lock(conn, settings.ingest_client_id),
            what="the worker to block inside its transaction",
        )
        time.sleep(0.3)
        assert seqs(conn, ox) == []
        assert acks.snapshot() == []

        locked_evaluation_row.set()
        [ack] = wait_for(acks.snapshot, what="the ack after commit")
        # The ack is published after COMMIT, so whoever receives it can read the rows.
        assert seqs(conn, ox) == [1, 2, 4]
    assert (ack.batch_id, ack.batch_seq) == ("b-counted", 42)
    assert (ack.stored, ack.duplicates, ack.rejected, ack.dead_lettered) == (3, 1, 1, False)


def _ingest_command() -> list[str]:
    script = Path(sys.executable).with_name("homeward")
    return [str(script), "ingest"] if script.exists() else [sys.executable, "-m", "homeward.cli"]


def _start_ingest(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HOMEWARD_DATABASE_URL": settings.database_url or "",
        "HOMEWARD_MQTT_URL": settings.mqtt_url or "",
        "HOMEWARD_INGEST_CLIENT_ID": settings.ingest_client_id,
        "HOMEWARD_INGEST_SITE": settings.ingest_site,
        "HOMEWARD_LOG_LEVEL": "INFO",
    }
    cmd = _ingest_command()
    if cmd[-1] == "homeward.cli":
        cmd.append("ingest")
    with log_path.open("ab") as log:
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_the_ingest_killed_between_receive_and_commit_loses_nothing_after_restart(
    settings: Settings,
    conn: Conn,
    world: World,
    gw: str,
    acks: AckListener,
    db_url: str,
    tmp_path: Path,
) -> None:
    ox = world.devices["ox"]
    topic = readings_topic(world.site_code, gw)
    log_path = tmp_path / "ingest.log"
    n_batches, per_batch = 20, 50
    proc = _start_ingest(settings, log_path)
    try:
        # A new client id has no session yet: what is published before it subscribes is not kept.
        wait_for(lambda: "subscribed to" in log_path.read_text(), what="the ingest to subscribe")
        with publisher(settings.mqtt_url or "") as publish:
            # Warm-up: the process is subscribed, and the patient's evaluation row exists.
            publish(topic, batch(gw, readings_for(ox, range(0, 1)), batch_id="b-warm"))
            wait_for(lambda: seqs(conn, ox) == [0], timeout_s=30, what="the warm-up batch")

            holder = psycopg.connect(db_url)
            try:
                holder.execute(
                    "SELECT 1 FROM pending_evaluations WHERE patient_id = %s AND metric = 'spo2'"
                    " FOR UPDATE",
                    (world.patients["li"],),
                )
                for b in range(n_batches):
                    first = 1 + b * per_batch
                    publish(
                        topic,
                        batch(
                            gw,
                            readings_for(ox, range(first, first + per_batch)),
                            batch_id=f"b-{b}",
                            batch_seq=b + 1,
                        ),
                    )
                # Received and inside the transaction, before COMMIT: now it dies.
                wait_for(
                    lambda: backend_waiting_on_lock(conn, settings.ingest_client_id),
                    what="the ingest to block before COMMIT",
                )
                proc.send_signal(signal.SIGKILL)
                assert proc.wait(10) == -signal.SIGKILL
            finally:
                holder.rollback()
                holder.close()
            assert seqs(conn, ox) == [0]  # the killed transaction committed nothing

            proc = _start_ingest(settings, log_path)
            expected = list(range(0, 1 + n_batches * per_batch))
            wait_for(
                lambda: seqs(conn, ox) == expected,
                timeout_s=60,
                what="every reading after the restart",
            )
            acked = wait_for(
                lambda: (
                    {a.batch_id for a in acks.snapshot()} >= {f"b-{b}" for b in range(n_batches)}
                    and acks.snapshot()
                ),
                what="acks of every batch",
            )
        # Each reading exactly once (the key is the primary key; this guards the count too).
        row = conn.execute(
            "SELECT count(*) AS n, count(DISTINCT seq) AS d FROM readings WHERE device_id = %s",
            (ox,),
        ).fetchone()
        assert row == {"n": len(expected), "d": len(expected)}
        stored_by_acks = sum(a.stored for a in acked if a.batch_id != "b-warm")
        assert stored_by_acks == n_batches * per_batch
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        forget_session(settings.mqtt_url or "", settings.ingest_client_id)


@pytest.mark.slow
def test_the_worker_survives_the_database_being_unreachable_and_stores_everything_after(
    settings: Settings,
    conn: Conn,
    world: World,
    gw: str,
    acks: AckListener,
    pg_server_url: str,
) -> None:
    ox = world.devices["ox"]
    topic = readings_topic(world.site_code, gw)
    dbname = conn.info.dbname
    # ALTER DATABASE cannot target the database it runs in: use the server's maintenance one.
    admin = psycopg.connect(pg_server_url, autocommit=True)
    with admin, running_worker(settings), publisher(settings.mqtt_url or "") as publish:
        publish(topic, batch(gw, readings_for(ox, range(0, 1)), batch_id="b-warm"))
        wait_for(lambda: seqs(conn, ox) == [0], what="the warm-up batch")
        try:
            # The database goes away under the worker: its session is killed and it cannot
            # connect again until we allow it.
            admin.execute(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (f"homeward-ingest {settings.ingest_client_id}"[:63],),
            )
            for b in range(5):
                first = 1 + b * 10
                publish(
                    topic,
                    batch(gw, readings_for(ox, range(first, first + 10)), batch_id=f"b-{b}"),
                )
            time.sleep(2.0)  # the worker retries against a database that refuses it
            assert seqs(conn, ox) == [0]
            assert [a.batch_id for a in acks.snapshot()] == ["b-warm"]
        finally:
            admin.execute(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS true')
        wait_for(
            lambda: seqs(conn, ox) == list(range(0, 51)),
            timeout_s=30,
            what="every reading once the database is back",
        )
        got = wait_for(lambda: len(acks.snapshot()) >= 6 and acks.snapshot(), what="six acks")
    assert [(a.batch_id, a.stored, a.duplicates) for a in got[1:]] == [
        (f"b-{b}", 10, 0) for b in range(5)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("share_group", [None, "ingest"], ids=["plain", "shared"])
def test_the_worker_reconnects_after_the_broker_restarts_and_takes_new_readings(
    private_broker: MosquittoProcess,
    settings: Settings,
    conn: Conn,
    world: World,
    gw: str,
    share_group: str | None,
) -> None:
    own = settings.model_copy(
        update={"mqtt_url": private_broker.url, "ingest_share_group": share_group}
    )
    ox = world.devices["ox"]
    topic = readings_topic(world.site_code, gw)
    with running_worker(own) as worker:
        with publisher(private_broker.url) as publish:
            publish(topic, batch(gw, readings_for(ox, range(0, 5))))
        wait_for(lambda: seqs(conn, ox) == list(range(0, 5)), what="the first batch")

        private_broker.stop()  # SIGTERM: Mosquitto saves its sessions to disk
        wait_for(lambda: not worker.subscribed.is_set(), what="the worker to notice")
        private_broker.start()
        if share_group is not None:
            # Mosquitto 2.0 does not restore *shared* subscriptions from its persistence file:
            # until the worker subscribes again nobody holds this site's readings, and the
            # gateway's outbox (resend until the application ack) covers that gap.
            wait_for(worker.subscribed.is_set, timeout_s=30, what="the worker to resubscribe")
        with publisher(private_broker.url) as publish:
            # With a plain persistent subscription this is queued in the worker's session even
            # if the worker is not back yet.
            publish(topic, batch(gw, readings_for(ox, range(5, 10))))
        wait_for(lambda: seqs(conn, ox) == list(range(0, 10)), timeout_s=30, what="the second")
        assert worker.subscribed.is_set()


def test_the_worker_takes_only_its_own_sites_readings(
    settings: Settings, conn: Conn, world: World, gw: str
) -> None:
    ox = world.devices["ox"]
    other_site_topic = readings_topic(f"other-{uuid.uuid4().hex[:8]}", gw)
    stray = batch(gw, readings_for(ox, range(100, 101)))
    with running_worker(settings), publisher(settings.mqtt_url or "") as publish:
        publish(other_site_topic, stray)
        publish(readings_topic(world.site_code, gw), batch(gw, readings_for(ox, range(0, 1))))
        wait_for(lambda: seqs(conn, ox) == [0], what="this site's batch")
    row = conn.execute(
        "SELECT count(*) AS n FROM dead_letters WHERE topic = %s", (other_site_topic,)
    ).fetchone()
    assert row == {"n": 0}


def test_subscription_filter_is_scoped_to_one_site_and_shared_when_a_group_is_set() -> None:
    assert subscription_filter("site-a", "ingest") == "$share/ingest/homeward/v1/site-a/+/readings"
    assert subscription_filter("+", None) == "homeward/v1/+/+/readings"
    with pytest.raises(ConfigurationError):
        subscription_filter("a/b", None)
    with pytest.raises(ConfigurationError):
        subscription_filter("+", "g/1")


def test_database_errors_are_split_into_retry_later_and_refused() -> None:
    assert is_transient(psycopg.OperationalError("connection refused"))
    assert is_transient(psycopg.InterfaceError("connection closed"))
    assert is_transient(psycopg.errors.AdminShutdown("terminating connection"))
    assert is_transient(psycopg.errors.DeadlockDetected("deadlock"))
    assert is_transient(psycopg.errors.LockNotAvailable("lock timeout"))
    # A deployment problem (schema not migrated, privilege missing): wait, do not dead-letter.
    assert is_transient(psycopg.errors.UndefinedTable("relation does not exist"))
    assert is_transient(psycopg.errors.InsufficientPrivilege("permission denied"))
    # Properties of this message: no retry will change them.
    assert not is_transient(psycopg.errors.UniqueViolation("duplicate"))
    assert not is_transient(psycopg.errors.NumericValueOutOfRange("out of range"))
    assert not is_transient(psycopg.errors.RaiseException("refused by a trigger"))
    assert not is_transient(ValueError("bug"))


def test_backoff_grows_exponentially_with_jitter_up_to_its_cap() -> None:
    b = Backoff(0.5, 4.0)
    delays = [b.next() for _ in range(8)]
    for n, d in enumerate(delays):
        ceiling = min(4.0, 0.5 * 2**n)
        assert ceiling / 2 <= d <= ceiling
    b.reset()
    assert b.next() <= 0.5


def test_inbox_refuses_instead_of_blocking_when_full_and_drops_stale_connections() -> None:
    now = datetime.now(UTC)
    box = Inbox(max_items=2, max_bytes=1000)
    item = Inbound(generation=1, mid=1, qos=1, topic="t", payload=b"x", received_at=now)
    assert box.offer(item)
    assert box.offer(item)
    assert not box.offer(item)
    assert box.drop_before(2) == 2
    assert box.get(timeout_s=0.01) is None
    qos0 = Inbound(generation=1, mid=0, qos=0, topic="t", payload=b"y", received_at=now)
    assert box.offer(qos0)
    assert box.drop_before(2) == 0  # sent once by the broker: never dropped
    assert box.get(timeout_s=0.01) == qos0
    huge = Inbound(generation=2, mid=2, qos=1, topic="t", payload=b"x" * 5000, received_at=now)
    assert box.offer(huge)  # never refused forever: an empty inbox takes any one message
    assert box.get(timeout_s=0.01) == huge


def test_a_message_the_database_refuses_is_kept_as_a_dead_letter_and_the_stream_goes_on(
    settings: Settings, conn: Conn, make: Make, world: World, gw: str, acks: AckListener
) -> None:
    old = make.device(world, None, "old")
    conn.execute(
        "INSERT INTO device_assignments (device_id, patient_id, valid_from, valid_to)"
        " VALUES (%s, %s, '2005-01-01', '2006-01-01')",
        (old, world.patients["li"]),
    )
    ox = world.devices["ox"]
    topic = readings_topic(world.site_code, gw)
    # A day whose partition refuses every row, as a schema bug or a broken constraint would.
    # Only this test writes readings of that day.
    refusing_day = datetime(2005, 6, 7, 12, tzinfo=UTC)
    refused = batch(gw, [reading(old, seq=1, ts=refusing_day)], batch_id="b-refused")
    good = batch(gw, readings_for(ox, range(1, 4)), batch_id="b-good")
    conn.execute("SELECT homeward_ensure_reading_partitions('2005-06-07', '2005-06-07')")
    conn.execute(
        "CREATE FUNCTION test_refuse_reading() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'refused by test'; END $$"
    )
    try:
        conn.execute(
            "CREATE TRIGGER refuse_all BEFORE INSERT ON readings_p20050607"
            " FOR EACH ROW EXECUTE FUNCTION test_refuse_reading()"
        )
        with running_worker(settings), publisher(settings.mqtt_url or "") as publish:
            publish(topic, refused)
            publish(topic, good)
            wait_for(lambda: seqs(conn, ox) == [1, 2, 3], what="the batch after the refused one")
            got = wait_for(lambda: len(acks.snapshot()) >= 2 and acks.snapshot(), what="acks")
    finally:
        conn.execute("DROP FUNCTION test_refuse_reading() CASCADE")
    rows = conn.execute(
        "SELECT reason, reading_index, detail, raw FROM dead_letters WHERE topic = %s", (topic,)
    ).fetchall()
    assert [(r["reason"], r["reading_index"], r["raw"]) for r in rows] == [
        ("storage_refused", None, refused)
    ]
    assert "refused by test" in rows[0]["detail"]
    assert [(a.batch_id, a.dead_lettered) for a in got] == [("b-refused", True), ("b-good", False)]


def test_the_worker_turns_synchronous_commit_back_on_before_acknowledging_anything(
    settings: Settings,
    conn: Conn,
    world: World,
    gw: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As if an operator had set synchronous_commit = off for speed (here: for this URL only).
    url = f"{settings.database_url}?options=-c%20synchronous_commit%3Doff"
    own = settings.model_copy(update={"database_url": url})
    ox = world.devices["ox"]
    with running_worker(own), publisher(settings.mqtt_url or "") as publish:
        publish(readings_topic(world.site_code, gw), batch(gw, readings_for(ox, range(1, 3))))
        wait_for(lambda: seqs(conn, ox) == [1, 2], what="the batch")
    assert "synchronous_commit was off" in caplog.text


def test_inbox_hands_over_what_is_queued_as_one_group_within_its_bounds_and_asks_to_pause() -> None:
    now = datetime.now(UTC)
    box = Inbox(max_items=8, max_bytes=1000)

    def item(mid: int, size: int) -> Inbound:
        return Inbound(
            generation=1, mid=mid, qos=1, topic="t", payload=b"x" * size, received_at=now
        )

    assert box.get_group(0.01, max_items=4, max_bytes=100) == []
    assert not box.nearly_full()
    for mid in range(1, 6):
        assert box.offer(item(mid, 30))
    assert box.nearly_full()  # a quarter of 8 messages
    assert box.oldest_received_at() == now
    assert [m.mid for m in box.get_group(0.01, max_items=4, max_bytes=100)] == [1, 2, 3]
    assert [m.mid for m in box.get_group(0.01, max_items=1, max_bytes=1000)] == [4]
    assert box.bytes == 30
    big = item(6, 500)
    assert box.offer(big)
    # The first message is taken whatever its size; the next waits for the next group.
    assert [m.mid for m in box.get_group(0.01, max_items=4, max_bytes=10)] == [5]
    assert [m.mid for m in box.get_group(0.01, max_items=4, max_bytes=10)] == [6]
    assert box.oldest_received_at() is None
