"""Reading -> alert latency under a background load of 1,000 readings/s.

Prints ONE JSON line with p50/p99/max of two latencies per probe, from the moment the reading
that completes a sustained low-SpO2 episode is published (its device timestamp is that same
instant):

* ``notify``: until the ``alerts_changed`` notification for the probe patient's new alert
  reaches a listening connection (what the panel's live stream waits for);
* ``opened_at``: until the alert row's ``opened_at`` (the evaluator's transaction start, so a
  little earlier than the notification).

The parts are the real ones, each in its own process: a private Mosquitto with Homeward's
configuration, ``--workers`` ingest worker processes, and ``homeward serve`` (whose alert
evaluator wakes on ``readings_changed``). The background (the named baseline load) is
``--background-gateways`` gateways each publishing a batch of healthy SpO2 readings every second
(``--rate`` readings/s in all), so the evaluator also has every background patient's series to
evaluate. Each probe patient gets, before its moment, low readings covering 4.5 minutes; the
probe reading then stretches the run to the rule's 5 minutes (alerts/rules/spo2.py, SUSTAINED).

    python bench/alert_latency.py --rate 1000 --probes 60
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
import psycopg
from _ingest_world import (
    LOCAL_PG,
    BenchWorld,
    machine_load,
    private_broker,
    scratch_world,
    start_workers,
    stop_workers,
)
from paho.mqtt.enums import CallbackAPIVersion

from devices import SCHEMA, format_ts, parse_broker_url
from homeward.embedded import free_port

LOW_PCT = 85
HEALTHY_PCT = 97
HISTORY = timedelta(minutes=5) - timedelta(seconds=30)
HISTORY_EVERY = timedelta(seconds=30)


def _client(mqtt_url: str, name: str) -> mqtt.Client:
    addr = parse_broker_url(mqtt_url)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-{uuid.uuid4().hex[:6]}")
    c.max_inflight_messages_set(100)
    c.connect(addr.host, addr.port, keepalive=60)
    c.loop_start()
    return c


def _doc(gateway_id: str, readings: list[tuple[str, float, datetime, int]], seq: int) -> bytes:
    return json.dumps(
        {
            "schema": SCHEMA,
            "gateway_id": gateway_id,
            "batch_id": f"{gateway_id}-{seq}",
            "batch_seq": seq,
            "sent_at": format_ts(datetime.now(UTC)),
            "readings": [
                {
                    "device_id": d,
                    "metric": "spo2",
                    "value": v,
                    "unit": "%",
                    "ts": format_ts(ts),
                    "seq": s,
                    "flags": [],
                }
                for d, v, ts, s in readings
            ],
        },
        separators=(",", ":"),
    ).encode()


def _background(
    mqtt_url: str, site: str, gateways: list[tuple[str, list[str]]], rate: int, until: float
) -> None:
    """Each gateway sends one batch a second, gateways staggered evenly over the second."""
    client = _client(mqtt_url, "bench-background")
    per_batch = max(1, rate // len(gateways))
    step = 1.0 / len(gateways)
    tick = 0
    start = time.monotonic()
    while time.monotonic() < until:
        gw, devs = gateways[tick % len(gateways)]
        second = tick // len(gateways)
        now = datetime.now(UTC)
        readings = [
            (
                devs[0],
                HEALTHY_PCT,
                now - timedelta(seconds=1) + timedelta(seconds=i / per_batch),
                second * per_batch + i,
            )
            for i in range(per_batch)
        ]
        client.publish(f"homeward/v1/{site}/{gw}/readings", _doc(gw, readings, second), qos=1)
        tick += 1
        delay = start + tick * step - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    client.disconnect()
    client.loop_stop()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p99_ms": round(_percentile(values, 99) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def _serve(world: BenchWorld, log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HOMEWARD_DATABASE_URL": world.url,
        "HOMEWARD_HTTP_PORT": str(free_port()),
        "HOMEWARD_LOG_LEVEL": "WARNING",
    }
    script = Path(sys.executable).with_name("homeward")
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [str(script), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )


def measure(
    world: BenchWorld, *, rate: int, probes: int, background: int, workers: int
) -> dict[str, Any]:
    bg_gateways = world.gateways[:background]
    probe_gateways = world.gateways[background : background + probes]
    warmup_s = 5.0
    spacing_s = 0.5
    log_path = Path(tempfile.gettempdir()) / f"bench-serve-{uuid.uuid4().hex[:6]}.log"
    with private_broker() as broker:
        procs = start_workers(
            workers,
            database_url=world.url,
            mqtt_url=broker.url,
            site=world.site,
            group_messages=32,
            tag=uuid.uuid4().hex[:6],
        )
        serve = _serve(world, log_path)
        listener = psycopg.connect(world.url, autocommit=True)
        try:
            listener.execute("LISTEN alerts_changed")
            start = time.time()
            moments = [start + warmup_s + i * spacing_s for i in range(probes)]
            duration = warmup_s + probes * spacing_s + 10.0
            ctx = mp.get_context("fork")
            bg = ctx.Process(
                target=_background,
                args=(broker.url, world.site, bg_gateways, rate, time.monotonic() + duration),
            )
            bg.start()
            probe_client = _client(broker.url, "bench-probe")
            # The history of every probe: low readings over 4.5 minutes up to 30 s before its
            # moment, committed long before the moment comes.
            for (gw, devs), moment in zip(probe_gateways, moments, strict=True):
                at = datetime.fromtimestamp(moment, UTC)
                first = at - HISTORY - HISTORY_EVERY
                history = [
                    (devs[0], LOW_PCT, first + k * HISTORY_EVERY, k)
                    for k in range(int(HISTORY / HISTORY_EVERY) + 1)
                ]
                probe_client.publish(
                    f"homeward/v1/{world.site}/{gw}/readings", _doc(gw, history, 0), qos=1
                ).wait_for_publish(10)
            patient_of_gateway = {gw: world.patient_of[devs[0]] for gw, devs in probe_gateways}
            sent: dict[int, float] = {}
            notified: dict[int, float] = {}
            alert_patient: dict[int, int] = {}
            pending = list(zip(probe_gateways, moments, strict=True))
            deadline = start + duration + 20.0
            while time.time() < deadline and len(notified) < probes:
                now = time.time()
                while pending and pending[0][1] <= now:
                    (gw, devs), moment = pending.pop(0)
                    k = int(HISTORY / HISTORY_EVERY) + 1
                    final = [(devs[0], LOW_PCT, datetime.fromtimestamp(moment, UTC), k)]
                    probe_client.publish(
                        f"homeward/v1/{world.site}/{gw}/readings", _doc(gw, final, 1), qos=1
                    )
                    sent[patient_of_gateway[gw]] = moment
                wait = min(0.05, max(0.0, pending[0][1] - time.time())) if pending else 0.05
                # Collect first: the connection is busy while notifies() iterates.
                notes = [
                    (time.time(), json.loads(note.payload))
                    for note in listener.notifies(timeout=wait, stop_after=50)
                ]
                for got, doc in notes:
                    alert_id = int(doc["alert_id"])
                    if alert_id not in alert_patient:
                        row = listener.execute(
                            "SELECT patient_id FROM alerts WHERE id = %s", (alert_id,)
                        ).fetchone()
                        alert_patient[alert_id] = int(row[0]) if row else -1
                    patient = alert_patient[alert_id]
                    if patient in sent and patient not in notified:
                        notified[patient] = got
            bg.join(timeout=60)
            probe_client.disconnect()
            probe_client.loop_stop()
            rows = listener.execute(
                "SELECT patient_id, extract(epoch FROM opened_at) FROM alerts"
                " WHERE patient_id = ANY(%s)",
                (list(sent),),
            ).fetchall()
            opened = {int(p): float(t) for p, t in rows}
            background_stored = listener.execute(
                "SELECT count(*) FROM readings WHERE patient_id <> ALL(%s)", (list(sent),)
            ).fetchone()
            false_alerts = listener.execute(
                "SELECT count(*) FROM alerts WHERE NOT (patient_id = ANY(%s))", (list(sent),)
            ).fetchone()
        finally:
            listener.close()
            serve.terminate()
            serve.wait(30)
            stop_workers(procs, broker.url)
    notify_lat = [notified[p] - sent[p] for p in notified]
    opened_lat = [opened[p] - sent[p] for p in opened]
    return {
        "probes": probes,
        "alerted": len(notified),
        "false_alerts": false_alerts[0] if false_alerts else None,
        "background_readings_per_s": round(
            (background_stored[0] if background_stored else 0) / duration
        ),
        "notify": _summary(notify_lat) if notify_lat else None,
        "opened_at": _summary(opened_lat) if opened_lat else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default=LOCAL_PG)
    ap.add_argument("--rate", type=int, default=1000, help="background readings/s")
    ap.add_argument("--background-gateways", type=int, default=200)
    ap.add_argument("--probes", type=int, default=60)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    n = args.background_gateways + args.probes
    with scratch_world(args.server, gateways=n, devices_per_gateway=1) as world:
        load = machine_load()
        result = measure(
            world,
            rate=args.rate,
            probes=args.probes,
            background=args.background_gateways,
            workers=args.workers,
        )
    print(
        json.dumps(
            {
                "benchmark": "alert_latency",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "host": platform.node(),
                "cpus": psutil.cpu_count(),
                "load_1min_before": round(load, 2),
                "background_target_readings_per_s": args.rate,
                "workers": args.workers,
                **result,
            }
        )
    )


if __name__ == "__main__":
    main()
