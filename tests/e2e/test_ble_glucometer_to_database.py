"""The BLE path, whole: emulated glucometer -> gateway BLE sync -> outbox -> uplink -> Mosquitto
-> the real ingest -> PostgreSQL, and the exact row set arrives (no loss, no duplicate), even
when the transfer is cut halfway and read again."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from worlds import Make

from firmware_sim.ble import Faults
from firmware_sim.ble.glucometer import Glucometer
from gateway import Outbox, Uplink
from gateway.ble import DeviceKind
from homeward.settings import Settings
from monitoring.ingest import IngestWorker


def _ble_home() -> ModuleType:
    """tests/gateway/ble/ble_home.py, under the name the BLE tests import it by."""
    module = sys.modules.get("ble_home")
    if module is None:
        path = Path(__file__).resolve().parents[1] / "gateway" / "ble" / "ble_home.py"
        spec = importlib.util.spec_from_file_location("ble_home", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["ble_home"] = module
        spec.loader.exec_module(module)
    return module


ble_home = _ble_home()

METER = "C0:00:00:00:0E:01"
DAY_S = 86400.0


def test_glucometer_records_reach_postgres_exactly_once_through_the_whole_path(
    settings: Settings, make: Make, conn: Any, tmp_path: Path
) -> None:
    world = make.site()
    make.patient(world, "zhang")
    gateway_id = f"gw-{make.tag}"
    device_id = make.device(
        world,
        "zhang",
        "gluco",
        kind="glucometer",
        since=datetime.now(UTC) - timedelta(days=60),
        gateway_id=gateway_id,
    )
    stop = threading.Event()
    worker = IngestWorker(settings)
    ingest = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    ingest.start()
    assert worker.subscribed.wait(15), "ingest did not subscribe"
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    uplink = Uplink(
        outbox, site=world.site_code, gateway_id=gateway_id, broker_url=settings.mqtt_url or ""
    )
    uplink.start()
    try:
        first_day = (time.time() // DAY_S - 20) * DAY_S - 8 * 3600  # local midnight, 20 days ago
        records = asyncio.run(_sync_twice(tmp_path, outbox, device_id, first_day))
        deadline = time.monotonic() + 30
        while outbox.depth().readings and time.monotonic() < deadline:
            time.sleep(0.2)
        assert outbox.depth().readings == 0, "the ingest never acknowledged every batch"
    finally:
        uplink.stop()
        outbox.close()
        stop.set()
        ingest.join(20)

    rows = conn.execute(
        "SELECT metric, seq, ts, value, patient_id, gateway_id FROM readings"
        " WHERE device_id = %s ORDER BY seq",
        (device_id,),
    ).fetchall()
    expected = {
        ("glucose", r.sequence_number, datetime.fromtimestamp(round(r.taken_s), UTC), r.mmol_l)
        for r in records
    }
    got = {(row["metric"], row["seq"], row["ts"], round(row["value"], 6)) for row in rows}
    assert got == {(m, s, t, round(v, 6)) for m, s, t, v in expected}
    assert len(rows) == len(records) == 80
    assert {row["patient_id"] for row in rows} == {world.patients["zhang"]}
    assert {row["gateway_id"] for row in rows} == {gateway_id}


async def _sync_twice(
    tmp_path: Path, outbox: Outbox, device_id: str, first_day: float
) -> list[Any]:
    """Enrol, sync with the link cut after record 40, sync again; the meter's records."""
    async with (
        ble_home.home(tmp_path, outbox=outbox) as h,
        Glucometer(
            h.link,
            address=METER,
            records=80,
            first_day_s=first_day,
            faults=Faults(disconnect_after=40),
        ) as meter,
    ):
        await h.central.enroll(device_id, METER, DeviceKind.GLUCOMETER)
        cut = await h.central.sync(device_id)
        assert not cut.complete
        assert cut.last_seq == 40
        rest = await h.central.sync(device_id)
        assert rest.complete, rest.reason
        assert (rest.first_seq, rest.last_seq) == (41, 80)
        return list(meter.records)
