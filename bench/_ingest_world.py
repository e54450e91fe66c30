"""Shared by the ingest benchmarks: a scratch database with a seeded site, private services,
gateway-sized batches, ingest worker processes, and CPU accounting per process.

Nothing here is timed; each benchmark script times its own phases.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg

from devices import SCHEMA, format_ts
from homeward.embedded import MosquittoProcess, free_port
from monitoring import registry
from monitoring.schema import migrate

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
HERE = Path(__file__).resolve().parent


@dataclass
class BenchWorld:
    """A seeded site: ``gateways[g]`` is a gateway id with its devices, each assigned."""

    url: str
    site: str
    gateways: list[tuple[str, list[str]]] = field(default_factory=list)
    patient_of: dict[str, int] = field(default_factory=dict)


def _with_database(url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + dbname))


@contextmanager
def scratch_world(
    server_url: str, *, gateways: int, devices_per_gateway: int
) -> Iterator[BenchWorld]:
    """A fresh, migrated database with one site of ``gateways`` gateways, each with
    ``devices_per_gateway`` oximeters on patients of their own; dropped afterwards."""
    name = f"homeward_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(server_url, name)
    try:
        migrate(url, storage="native")
        site = f"bench-{uuid.uuid4().hex[:6]}"
        world = BenchWorld(url=url, site=site)
        since = datetime(2020, 1, 1, tzinfo=UTC)
        with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
            site_id = registry.create_site(conn, code=site, name="Bench site")
            for g in range(gateways):
                gw = f"gw-{g:05d}"
                registry.register_gateway(conn, gateway_id=gw, site_id=site_id)
                devs = []
                for d in range(devices_per_gateway):
                    dev = f"ox-{g:05d}-{d}"
                    pid = registry.create_patient(
                        conn, site_id=site_id, mrn=f"mrn-{g}-{d}", display_name=f"P {g}-{d}"
                    )
                    registry.register_device(
                        conn, device_id=dev, site_id=site_id, kind="oximeter", gateway_id=gw
                    )
                    registry.assign_device(conn, device_id=dev, patient_id=pid, valid_from=since)
                    world.patient_of[dev] = pid
                    devs.append(dev)
                world.gateways.append((gw, devs))
        yield world
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def batch_payload(
    gateway_id: str, devices: list[str], *, batch_seq: int, first_seq: int, n: int, t0: datetime
) -> bytes:
    """A gateway batch of ``n`` SpO2 readings round-robin over ``devices``, seq from
    ``first_seq``, one second apart from ``t0`` (as the gateway encodes it)."""
    readings = []
    for i in range(n):
        s = first_seq + i
        readings.append(
            {
                "device_id": devices[i % len(devices)],
                "metric": "spo2",
                "value": 90 + s % 9,
                "unit": "%",
                "ts": format_ts(t0 + timedelta(seconds=s)),
                "seq": s,
                "flags": [],
            }
        )
    doc = {
        "schema": SCHEMA,
        "gateway_id": gateway_id,
        "batch_id": f"{gateway_id}-{batch_seq:08d}",
        "batch_seq": batch_seq,
        "sent_at": format_ts(datetime.now(UTC)),
        "readings": readings,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


@contextmanager
def private_broker() -> Iterator[MosquittoProcess]:
    """Mosquitto with Homeward's required configuration, on a port of its own."""
    broker = MosquittoProcess(Path(tempfile.mkdtemp(prefix="homeward-bench-mqtt-")))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class WorkerProc:
    """One ingest worker process (bench/_ingest_worker_proc.py) with its metrics port."""

    proc: subprocess.Popen[bytes]
    metrics_port: int
    client_id: str
    log_path: Path

    def scrape(self) -> dict[str, float]:
        """Every sample of the worker's /metrics, keyed ``name{labels}`` as exposed (one HTTP
        request: the worker serves it on its own CPU, so benchmarks poll sparingly)."""
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as resp:
            text = resp.read().decode()
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                samples[key] = float(value)
        return samples

    def metric(self, name: str, labels: str = "") -> float:
        """One sample of :meth:`scrape` (0 when absent)."""
        return self.scrape().get(name + ("{" + labels + "}" if labels else ""), 0.0)


def start_workers(
    n: int,
    *,
    database_url: str,
    mqtt_url: str,
    site: str,
    group_messages: int,
    tag: str,
) -> list[WorkerProc]:
    """``n`` ingest workers on ``$share/ingest`` for ``site``, each subscribed on return."""
    workers = []
    for i in range(n):
        port = free_port()
        client_id = f"bench-ingest-{tag}-{i}"
        log_path = Path(tempfile.gettempdir()) / f"{client_id}.log"
        env = {
            **os.environ,
            "HOMEWARD_DATABASE_URL": database_url,
            "HOMEWARD_MQTT_URL": mqtt_url,
            "HOMEWARD_INGEST_CLIENT_ID": client_id,
            "HOMEWARD_INGEST_SITE": site,
            "HOMEWARD_INGEST_SHARE_GROUP": "ingest",
            "HOMEWARD_INGEST_METRICS_PORT": str(port),
            "HOMEWARD_LOG_LEVEL": "WARNING",
            "BENCH_GROUP_MESSAGES": str(group_messages),
        }
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, str(HERE / "_ingest_worker_proc.py")],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        workers.append(WorkerProc(proc, port, client_id, log_path))
    deadline = time.monotonic() + 60
    for w in workers:
        while True:
            try:
                if w.metric("homeward_ingest_broker_connected") == 1.0:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or w.proc.poll() is not None:
                raise RuntimeError(f"worker {w.client_id} did not subscribe: {w.log_path}")
            time.sleep(0.1)
    return workers


def stop_workers(workers: Iterable[WorkerProc], mqtt_url: str) -> None:
    """SIGTERM every worker and remove its broker session."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from devices import parse_broker_url

    for w in workers:
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.proc.wait(30)
        except subprocess.TimeoutExpired:
            w.proc.kill()
        addr = parse_broker_url(mqtt_url)
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=w.client_id, clean_session=True)
        try:
            c.connect(addr.host, addr.port)
            c.disconnect()
        except OSError:
            pass


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds used so far by these processes (gone ones count 0)."""
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def backend_pids(url: str, application_prefix: str) -> list[int]:
    """PIDs of the server processes serving connections whose application_name starts so."""
    with psycopg.connect(url, autocommit=True) as c:
        rows = c.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s",
            (application_prefix + "%",),
        ).fetchall()
    return [int(r[0]) for r in rows]


def postgres_aux_pids() -> list[int]:
    """The PostgreSQL server's own processes (WAL writer, checkpointer...), not backends."""
    out = []
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(p.info.get("cmdline") or [])
        if cmd.startswith("postgres:") and any(
            k in cmd for k in ("walwriter", "checkpointer", "background writer", "autovacuum")
        ):
            out.append(p.pid)
    return out


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (0 when gone)."""
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return 0.0


def machine_load() -> float:
    """The 1-minute load average (the machine is shared; reported with every figure)."""
    return os.getloadavg()[0]


@dataclass(frozen=True)
class WalCounters:
    """The server's cumulative WAL and checkpoint counters (server-wide: other sessions on a
    shared server count too)."""

    wal_bytes: int
    full_page_images: int
    checkpoints: int

    def since(self, earlier: WalCounters, readings: int) -> dict[str, float]:
        """WAL bytes and full-page images per reading, and checkpoints, from ``earlier``."""
        return {
            "wal_bytes_per_reading": round((self.wal_bytes - earlier.wal_bytes) / readings, 1),
            "wal_fpi_per_1000_readings": round(
                (self.full_page_images - earlier.full_page_images) / readings * 1000, 2
            ),
            "checkpoints": self.checkpoints - earlier.checkpoints,
        }


def wal_counters(url: str) -> WalCounters:
    """Read ``pg_stat_wal`` and ``pg_stat_bgwriter`` (PostgreSQL >= 14).

    Full-page images are what make the same insert cost more right after a checkpoint: the
    first change to each page after it writes the whole 8 kB page to the WAL.
    """
    with psycopg.connect(url, autocommit=True) as c:
        row = c.execute(
            "SELECT w.wal_bytes::bigint, w.wal_fpi, b.checkpoints_timed + b.checkpoints_req"
            " FROM pg_stat_wal w, pg_stat_bgwriter b"
        ).fetchone()
    assert row is not None
    return WalCounters(int(row[0]), int(row[1]), int(row[2]))
