"""Reconnect storm: 2,000 gateways come back at the same moment and flush a 1-hour backlog each.

Prints ONE JSON line: time from the storm's start to the last application ack, whether every
reading is stored once, and the peak resident memory of the broker and of each ingest worker
against their idle baseline (the named baseline of this benchmark: the same processes, connected
and idle, just before the storm).

What is simulated, and how: each gateway is a real MQTT client with its own TCP connection and
persistent session (client id = gateway id), as the gateway's uplink connects: it subscribes to
its ack topic, publishes its backlog as batches of at most 500 readings (QoS 1, all in flight at
once, as ``max_in_flight_batches`` 8 allows), and resends a batch not acknowledged within 30 s
(``UplinkConfig.ack_timeout_s``). 2,000 OS threads would measure the scheduler, so
``--processes`` processes each drive their share of the clients from one selector loop
(paho clients without their own threads). A gateway's 1-hour backlog is what its wearable
sends in an hour: SpO2 and heart rate every 10 s (720 readings), plus a blood-pressure pair
and a glucose reading; 724 readings, two batches. The backlog is encoded before the storm
starts: a gateway encodes on its own CPU. Everything runs on one machine: the broker, the
workers, PostgreSQL and the simulated gateways share its cores.

    python bench/reconnect_storm.py --gateways 2000 --processes 4 --workers 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import selectors
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import psutil
import psycopg
from _ingest_world import (
    LOCAL_PG,
    BenchWorld,
    machine_load,
    private_broker,
    rss_mib,
    scratch_world,
    start_workers,
    stop_workers,
)
from paho.mqtt.enums import CallbackAPIVersion

from devices import SCHEMA, format_ts, parse_ack, parse_broker_url

BATCH_MAX = 500
ACK_TIMEOUT_S = 30.0
SAMPLE_EVERY_S = 10  # wearable samples per metric: one every 10 s


def backlog(gateway_id: str, devices: list[str], t0: datetime) -> list[tuple[str, bytes, int]]:
    """One hour of a gateway's readings as ``(batch_id, payload, readings)`` batches."""
    wearable, cuff, meter = devices[0], devices[1], devices[2]
    readings: list[dict[str, Any]] = []
    for i in range(3600 // SAMPLE_EVERY_S):
        ts = format_ts(t0 + timedelta(seconds=i * SAMPLE_EVERY_S))
        readings.append(
            {
                "device_id": wearable,
                "metric": "spo2",
                "value": 93 + i % 5,
                "unit": "%",
                "ts": ts,
                "seq": 2 * i,
                "flags": [],
            }
        )
        readings.append(
            {
                "device_id": wearable,
                "metric": "heart_rate",
                "value": 60 + i % 30,
                "unit": "/min",
                "ts": ts,
                "seq": 2 * i + 1,
                "flags": [],
            }
        )
    at = format_ts(t0 + timedelta(minutes=20))
    readings += [
        {
            "device_id": cuff,
            "metric": "bp_systolic",
            "value": 138,
            "unit": "mm[Hg]",
            "ts": at,
            "seq": 1,
            "flags": [],
        },
        {
            "device_id": cuff,
            "metric": "bp_diastolic",
            "value": 86,
            "unit": "mm[Hg]",
            "ts": at,
            "seq": 1,
            "flags": [],
        },
        {
            "device_id": meter,
            "metric": "glucose",
            "value": 7.8,
            "unit": "mmol/L",
            "ts": format_ts(t0 + timedelta(minutes=45)),
            "seq": 1,
            "flags": [],
        },
        {
            "device_id": meter,
            "metric": "glucose",
            "value": 6.1,
            "unit": "mmol/L",
            "ts": format_ts(t0 + timedelta(minutes=55)),
            "seq": 2,
            "flags": [],
        },
    ]
    out = []
    for n, start in enumerate(range(0, len(readings), BATCH_MAX)):
        chunk = readings[start : start + BATCH_MAX]
        batch_id = f"{gateway_id}-{n:06d}"
        doc = {
            "schema": SCHEMA,
            "gateway_id": gateway_id,
            "batch_id": batch_id,
            "batch_seq": n,
            "sent_at": format_ts(datetime.now(UTC)),
            "readings": chunk,
        }
        out.append((batch_id, json.dumps(doc, separators=(",", ":")).encode(), len(chunk)))
    return out


class _Gateway:
    """One simulated gateway's MQTT client and the batches it waits to see acknowledged."""

    def __init__(self, mqtt_url: str, site: str, gateway_id: str, batches: list[Any]) -> None:
        self.site = site
        self.gateway_id = gateway_id
        self.batches = {b[0]: b[1] for b in batches}
        self.unacked: dict[str, float] = {}
        self.resends = 0
        self.done_at: float | None = None
        addr = parse_broker_url(mqtt_url)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=gateway_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.client.max_inflight_messages_set(8)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect_async(addr.host, addr.port, keepalive=120)

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe(f"homeward/v1/{self.site}/{self.gateway_id}/ack", qos=1)

    def _on_subscribe(self, client: mqtt.Client, *args: Any) -> None:
        now = time.monotonic()
        for batch_id in self.batches:
            self._send(batch_id, now)

    def _send(self, batch_id: str, now: float) -> None:
        self.client.publish(
            f"homeward/v1/{self.site}/{self.gateway_id}/readings", self.batches[batch_id], qos=1
        )
        self.unacked[batch_id] = now

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        ack = parse_ack(msg.payload)
        self.unacked.pop(ack.batch_id, None)
        if not self.unacked and self.done_at is None:
            self.done_at = time.monotonic()

    def resend_overdue(self, now: float) -> None:
        for batch_id, at in list(self.unacked.items()):
            if now - at > ACK_TIMEOUT_S:
                self._send(batch_id, now)
                self.resends += 1


def _gateways_child(
    mqtt_url: str,
    site: str,
    specs: list[tuple[str, list[str]]],
    t0: datetime,
    barrier: Any,
    out: Any,
) -> None:
    gateways = [_Gateway(mqtt_url, site, gw, backlog(gw, devs, t0)) for gw, devs in specs]
    sel = selectors.DefaultSelector()
    barrier.wait()
    start = time.monotonic()
    for g in gateways:
        g.client.reconnect()
        sock = g.client.socket()
        assert sock is not None
        sel.register(sock, selectors.EVENT_READ, g)
    last_misc = 0.0
    while any(g.done_at is None for g in gateways) and time.monotonic() - start < 1800:
        for key, _ in sel.select(timeout=0.05):
            key.data.client.loop_read(100)
        now = time.monotonic()
        for g in gateways:
            if g.client.want_write():
                g.client.loop_write()
        if now - last_misc > 1.0:
            last_misc = now
            for g in gateways:
                g.client.loop_misc()
                g.resend_overdue(now)
    finished = [g.done_at - start for g in gateways if g.done_at is not None]
    out.put(
        {
            "acked_gateways": len(finished),
            "last_ack_s": max(finished) if finished else None,
            "resends": sum(g.resends for g in gateways),
        }
    )
    for g in gateways:
        g.client.disconnect()
        g.client.loop_write()


def _sample_rss(pids: dict[str, int], stop: threading.Event, peaks: dict[str, float]) -> None:
    while not stop.is_set():
        for name, pid in pids.items():
            peaks[name] = max(peaks.get(name, 0.0), rss_mib(pid))
        stop.wait(0.25)


def storm(world: BenchWorld, *, processes: int, workers: int, group: int) -> dict[str, Any]:
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    readings = sum(n for gw, devs in world.gateways for _, _, n in backlog(gw, devs, t0))
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
        broker_pid = next(
            p.pid
            for p in psutil.process_iter(["name", "cmdline"])
            if p.info.get("name") == "mosquitto"
            and str(broker.work_dir) in " ".join(p.info.get("cmdline") or [])
        )
        pids = {"mosquitto": broker_pid} | {f"worker_{i}": w.proc.pid for i, w in enumerate(procs)}
        try:
            time.sleep(1.0)
            idle = {name: rss_mib(pid) for name, pid in pids.items()}
            ctx = mp.get_context("fork")
            barrier = ctx.Barrier(processes + 1)
            out = ctx.Queue()
            children = []
            for p in range(processes):
                child = ctx.Process(
                    target=_gateways_child,
                    args=(broker.url, world.site, world.gateways[p::processes], t0, barrier, out),
                )
                child.start()
                children.append(child)
            peaks: dict[str, float] = {}
            stop = threading.Event()
            sampler = threading.Thread(target=_sample_rss, args=(pids, stop, peaks), daemon=True)
            sampler.start()
            barrier.wait()
            start = time.perf_counter()
            results = [out.get(timeout=2000) for _ in children]
            drain_s = time.perf_counter() - start
            stop.set()
            sampler.join()
            for child in children:
                child.join(timeout=30)
        finally:
            stop_workers(procs, broker.url)
    with psycopg.connect(world.url, autocommit=True) as c:
        row = c.execute(
            "SELECT count(*), count(DISTINCT (device_id, metric, seq, ts)) FROM readings"
        ).fetchone()
        dead = c.execute("SELECT count(*) FROM dead_letters").fetchone()
    acked = sum(r["acked_gateways"] for r in results)
    return {
        "gateways": len(world.gateways),
        "readings": readings,
        "drain_s": round(drain_s, 2),
        "last_ack_s": round(max(r["last_ack_s"] or 0.0 for r in results), 2),
        "readings_per_s": round(readings / drain_s),
        "acked_gateways": acked,
        "resends": sum(r["resends"] for r in results),
        "stored_rows": row[0] if row else None,
        "distinct_keys": row[1] if row else None,
        "nothing_lost_nothing_doubled": row == (readings, readings) and dead == (0,),
        "rss_mib_idle": {k: round(v, 1) for k, v in idle.items()},
        "rss_mib_peak": {k: round(v, 1) for k, v in peaks.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default=LOCAL_PG)
    ap.add_argument("--gateways", type=int, default=2000)
    ap.add_argument("--processes", type=int, default=4, help="processes simulating gateways")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--group", type=int, default=32)
    args = ap.parse_args()
    # 2,000 connections need 2,000 descriptors in the broker, which inherits our limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.gateways + 512)), hard))
    with scratch_world(args.server, gateways=args.gateways, devices_per_gateway=3) as world:
        load = machine_load()
        result = storm(world, processes=args.processes, workers=args.workers, group=args.group)
    print(
        json.dumps(
            {
                "benchmark": "reconnect_storm",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "host": platform.node(),
                "cpus": psutil.cpu_count(),
                "load_1min_before": round(load, 2),
                "processes": args.processes,
                "workers": args.workers,
                **result,
            }
        )
    )


if __name__ == "__main__":
    main()
