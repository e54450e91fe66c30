"""End-to-end ingest throughput next to the raw limit of the database, measured in one run.

Prints ONE JSON line. Two phases on one scratch database (same table, same indexes, each phase
writing into an empty daily partition of its own):

* **raw limit** (the named baseline): what the database takes with no MQTT and no JSON: rows
  already built as Python tuples, binary COPY into a temporary staging table, then ``INSERT INTO
  readings SELECT ... ON CONFLICT DO NOTHING``, commit; ``--workers`` connections in parallel
  processes and on 2, the best of two transaction sizes (one gateway batch, ``--group``
  batches).
* **end to end**: gateway-sized JSON batches (``--batch`` readings) published at QoS 1 by
  ``--publishers`` processes to a private Mosquitto with Homeward's configuration, taken by
  ``--workers`` ingest worker processes on ``$share/ingest``, timed from the first publish to the
  last reading committed (the workers' own /metrics), then checked: every message PUBACKed, every
  row stored once, no dead letter.

The publishers stand in for gateways that encode and publish on their own hardware, so they are
made as cheap as honest QoS 1 allows (``bench/_mqtt_blaster.py``): the JSON and the PUBLISH
packets are encoded before the clock starts, and the timed phase is socket writes with
``--window`` messages in flight and PUBACK reads. The CPU seconds each kind of process used
during the end-to-end phase say where the time goes; the baseline for them is read after every
publisher has finished encoding. The raw phases report the CPU of the server processes serving
them too, and every phase the WAL it wrote, its full-page images and the checkpoints that fell in
it (server-wide counters): a checkpoint during one phase only would make its inserts dearer.

    python bench/ingest_throughput.py --messages 800 --batch 500 --workers 2 --publishers 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psutil
import psycopg

# The script's folder is on sys.path when it runs: its sibling helper imports directly.
from _ingest_world import (
    LOCAL_PG,
    BenchWorld,
    backend_pids,
    batch_payload,
    cpu_seconds,
    machine_load,
    postgres_aux_pids,
    private_broker,
    scratch_world,
    start_workers,
    stop_workers,
    wal_counters,
)
from _mqtt_blaster import Blaster, publish_packets

# ------------------------------------------------------------------------------- raw limit

_RAW_STAGING = """
CREATE TEMP TABLE raw_staging (
    ts timestamptz NOT NULL, device_id text NOT NULL, metric text NOT NULL, seq bigint NOT NULL,
    patient_id bigint NOT NULL, value double precision, unit text NOT NULL, flags text
) ON COMMIT DELETE ROWS
"""
_RAW_INSERT = """
INSERT INTO readings
    (ts, device_id, metric, seq, patient_id, value, unit, flags, gateway_id, received_at)
SELECT ts, device_id, metric, seq, patient_id, value, unit,
       coalesce(string_to_array(flags, ','), '{}'), 'gw-raw', now()
FROM raw_staging
ON CONFLICT (device_id, metric, seq, ts) DO NOTHING
"""


def _raw_child(
    url: str,
    rows: list[tuple[Any, ...]],
    txn_rows: int,
    barrier: Any,
    out: Any,
) -> None:
    with psycopg.connect(url, autocommit=True, application_name="bench-raw") as conn:
        conn.execute(_RAW_STAGING)
        backend = psutil.Process(conn.info.backend_pid)  # the server process of this connection
        barrier.wait()
        server0 = backend.cpu_times()
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        for start in range(0, len(rows), txn_rows):
            with conn.transaction():
                with conn.cursor().copy("COPY raw_staging FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(
                        ["timestamptz", "text", "text", "int8", "int8", "float8", "text", "text"]
                    )
                    for r in rows[start : start + txn_rows]:
                        copy.write_row(r)
                conn.execute(_RAW_INSERT, prepare=True)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        server1 = backend.cpu_times()
        server = server1.user + server1.system - server0.user - server0.system
        out.put((wall, cpu, server))


def raw_limit(
    world: BenchWorld, *, total: int, connections: int, txn_rows: int, day: date
) -> dict[str, float]:
    """Readings/s of binary COPY -> staging -> INSERT ... ON CONFLICT DO NOTHING, with the CPU
    µs a reading of the clients and of the server processes serving them."""
    with psycopg.connect(world.url, autocommit=True) as c:
        c.execute("SELECT homeward_ensure_reading_partitions(%s, %s)", (day, day))
    t0 = datetime(day.year, day.month, day.day, tzinfo=UTC)
    devices = [(d, world.patient_of[d]) for _, devs in world.gateways for d in devs]
    per = total // connections
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(connections + 1)
    out = ctx.Queue()
    procs = []
    for k in range(connections):
        rows = []
        for i in range(per):
            dev, pid = devices[(k * per + i) % len(devices)]
            s = k * per + i
            rows.append((t0 + timedelta(milliseconds=s), dev, "spo2", s, pid, 95.0, "%", None))
        p = ctx.Process(target=_raw_child, args=(world.url, rows, txn_rows, barrier, out))
        p.start()
        procs.append(p)
    wal0 = wal_counters(world.url)
    barrier.wait()
    start = time.perf_counter()
    results = [out.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - start
    for p in procs:
        p.join()
    n = per * connections
    return {
        "readings_per_s": n / wall,
        "client_cpu_us_per_reading": sum(r[1] for r in results) / n * 1e6,
        "server_cpu_us_per_reading": sum(r[2] for r in results) / n * 1e6,
        **wal_counters(world.url).since(wal0, n),
    }


# ------------------------------------------------------------------------------- end to end

# Seconds between polls of the workers' /metrics for "every reading is in".
_POLL_S = 0.25


def _publisher_child(
    mqtt_url: str,
    site: str,
    jobs: list[tuple[str, list[str], int, int]],
    batch: int,
    t0: datetime,
    window: int,
    ready: Any,
    go: Any,
    out: Any,
) -> None:
    """Encode this publisher's batches as QoS 1 PUBLISH packets and connect, all before
    ``ready``; after ``go``, send them with ``window`` in flight and count the PUBACKs."""
    from devices import parse_broker_url

    enc0 = time.process_time()
    packets = publish_packets(
        [
            (
                f"homeward/v1/{site}/{gw}/readings",
                batch_payload(gw, devs, batch_seq=bseq, first_seq=first, n=batch, t0=t0),
            )
            for gw, devs, bseq, first in jobs
        ]
    )
    encode_cpu = time.process_time() - enc0
    addr = parse_broker_url(mqtt_url)
    with Blaster(
        addr.host, addr.port, f"bench-pub-{uuid.uuid4().hex[:8]}", window=window
    ) as blaster:
        ready.wait()
        go.wait()
        cpu0 = time.process_time()
        result = blaster.publish(packets)
        publish_cpu = time.process_time() - cpu0
    out.put((encode_cpu, publish_cpu, result.acked))


def end_to_end(
    world: BenchWorld,
    *,
    messages: int,
    batch: int,
    workers: int,
    publishers: int,
    window: int,
    group: int,
    day: date,
) -> dict[str, Any]:
    total = messages * batch
    t0 = datetime(day.year, day.month, day.day, tzinfo=UTC)
    per_gateway: dict[int, int] = {}
    jobs = []
    for m in range(messages):
        g = m % len(world.gateways)
        k = per_gateway.get(g, 0)
        per_gateway[g] = k + 1
        gw, devs = world.gateways[g]
        jobs.append((gw, devs, k, k * batch))
    tag = uuid.uuid4().hex[:6]
    with private_broker() as broker:
        procs = start_workers(
            workers,
            database_url=world.url,
            mqtt_url=broker.url,
            site=world.site,
            group_messages=group,
            tag=tag,
        )
        try:
            ctx = mp.get_context("fork")
            # Two barriers: the CPU baseline below is read only once every publisher has
            # finished encoding (``ready``), so encoding never counts as timed-phase CPU.
            ready = ctx.Barrier(publishers + 1)
            go = ctx.Barrier(publishers + 1)
            out = ctx.Queue()
            pubs = []
            for p in range(publishers):
                child = ctx.Process(
                    target=_publisher_child,
                    args=(
                        broker.url,
                        world.site,
                        jobs[p::publishers],
                        batch,
                        t0,
                        window,
                        ready,
                        go,
                        out,
                    ),
                )
                child.start()
                pubs.append(child)
            broker_pid = _mosquitto_pid(broker.port)
            pg_backends = backend_pids(world.url, f"homeward-ingest bench-ingest-{tag}")
            aux = postgres_aux_pids()
            worker_pids = [w.proc.pid for w in procs]
            pub_pids = [p.pid for p in pubs if p.pid is not None]
            groups = {
                "workers": worker_pids,
                "postgres_backends": pg_backends,
                "postgres_aux": aux,
                "mosquitto": [broker_pid] if broker_pid else [],
                "publishers": pub_pids,
            }
            ready.wait()
            wal0 = wal_counters(world.url)
            before = {k: cpu_seconds(v) for k, v in groups.items()}
            go.wait()
            # Wall-clock (not monotonic) time: the end is the workers' own
            # last_commit_timestamp_seconds, so polling /metrics only has to notice that every
            # reading is in, and can be sparse. A scrape costs the worker about 1 ms of CPU:
            # scraping each counter every 50 ms, as this benchmark once did, cost the workers
            # 1-2 µs a reading (measured on 2026-12-03), a quarter of their own work.
            start = time.time()
            while True:
                scraped = [w.scrape() for w in procs]
                done = sum(
                    s.get(f'homeward_ingest_readings_total{{outcome="{outcome}"}}', 0.0)
                    for s in scraped
                    for outcome in ("stored", "duplicate", "rejected")
                )
                if done >= total:
                    break
                if time.time() - start > 900:
                    raise RuntimeError(f"only {done} of {total} readings after 900 s")
                time.sleep(_POLL_S)
            wall = max(s["homeward_ingest_last_commit_timestamp_seconds"] for s in scraped) - start
            after = {k: cpu_seconds(v) for k, v in groups.items()}
            wal = wal_counters(world.url).since(wal0, total)
            pub_results = [out.get(timeout=600) for _ in pubs]
            for child in pubs:
                child.join()
            transactions = sum(s.get("homeward_ingest_transactions_total", 0.0) for s in scraped)
        finally:
            stop_workers(procs, broker.url)
    with psycopg.connect(world.url, autocommit=True) as c:
        row = c.execute(
            "SELECT count(*), count(DISTINCT (device_id, seq)) FROM readings"
            " WHERE ts >= %s AND ts < %s AND gateway_id <> 'gw-raw'",
            (t0, t0 + timedelta(days=1)),
        ).fetchone()
        dead = c.execute("SELECT count(*) FROM dead_letters").fetchone()
    acked = sum(r[2] for r in pub_results)
    assert acked == messages, f"{acked} PUBACKs for {messages} messages"
    assert row == (total, total), f"stored {row} of {total}"
    assert dead == (0,), f"dead letters: {dead}"
    cpu = {k: round((after[k] - before[k]) / total * 1e6, 2) for k in groups}
    return {
        "readings_per_s": total / wall,
        "seconds": wall,
        "transactions": transactions,
        "cpu_us_per_reading": cpu,
        "publisher_encode_us_per_reading": round(sum(r[0] for r in pub_results) / total * 1e6, 2),
        "publisher_send_us_per_reading": round(sum(r[1] for r in pub_results) / total * 1e6, 2),
        "pubacks": acked,
        **wal,
    }


def _mosquitto_pid(port: int) -> int | None:
    for p in psutil.process_iter(["name"]):
        if p.info.get("name") != "mosquitto":
            continue
        try:
            if any(c.laddr.port == port for c in p.net_connections(kind="tcp")):
                return int(p.pid)
        except psutil.Error:
            continue
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default=LOCAL_PG, help="PostgreSQL server (maintenance db URL)")
    ap.add_argument("--messages", type=int, default=800)
    ap.add_argument("--batch", type=int, default=500, help="readings per message (gateway: 500)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--publishers", type=int, default=2)
    ap.add_argument("--window", type=int, default=100, help="QoS 1 messages in flight, each")
    ap.add_argument("--group", type=int, default=32, help="messages per transaction, at most")
    ap.add_argument("--gateways", type=int, default=200)
    args = ap.parse_args()
    total = args.messages * args.batch
    today = datetime.now(UTC).date()
    with scratch_world(args.server, gateways=args.gateways, devices_per_gateway=5) as world:
        load_before = machine_load()
        # The limit is the best the database does: one batch per transaction on as many
        # connections as workers, and --group batches per transaction on 2 and on as many
        # connections as workers (more connections than cores can be slower).
        shapes = sorted({(args.workers, args.batch), (2, args.batch * args.group)})
        shapes = sorted(set(shapes) | {(args.workers, args.batch * args.group)})
        raw_runs = {
            f"conn_{c}_txn_{n}": raw_limit(
                world, total=total, connections=c, txn_rows=n, day=today - timedelta(days=3 + i)
            )
            for i, (c, n) in enumerate(shapes)
        }
        raw = max(r["readings_per_s"] for r in raw_runs.values())
        e2e = end_to_end(
            world,
            messages=args.messages,
            batch=args.batch,
            workers=args.workers,
            publishers=args.publishers,
            window=args.window,
            group=args.group,
            day=today - timedelta(days=1),
        )
    print(
        json.dumps(
            {
                "benchmark": "ingest_throughput",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "host": platform.node(),
                "cpus": psutil.cpu_count(),
                "load_1min_before": round(load_before, 2),
                "readings": total,
                "batch_readings": args.batch,
                "workers": args.workers,
                "publishers": args.publishers,
                "publisher": "raw-socket MQTT 3.1.1 (bench/_mqtt_blaster.py)",
                "window": args.window,
                "group_messages": args.group,
                "e2e_readings_per_s": round(e2e["readings_per_s"]),
                "raw_limit_readings_per_s": round(raw),
                "ratio_e2e_to_raw": round(e2e["readings_per_s"] / raw, 3),
                "raw_runs": {
                    k: {kk: round(vv, 2) for kk, vv in v.items()} for k, v in raw_runs.items()
                },
                "e2e": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in e2e.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
