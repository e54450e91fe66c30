"""A hypoglycaemia on a glucometer, whole: the meter's "LO" and a 3.2 mmol/L travel over the
emulated radio, the gateway's outbox and uplink, Mosquitto and the real ingest, and the running
evaluator opens one critical hypoglycaemia alert the doctor sees through the API."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from e2e_system import wait_for
from test_ble_glucometer_to_database import ble_home
from worlds import Make

from firmware_sim.ble.glucometer import Glucometer, GlucoseRecord
from firmware_sim.signals.glucose import METER_MIN_MMOL_L
from gateway import Outbox, Uplink
from gateway.ble import DeviceKind
from homeward.settings import Settings

METER = "C0:00:00:00:0E:21"


def test_meter_lo_and_a_low_value_become_one_critical_alert_on_the_panel(
    running_system: tuple[Settings, str], make: Make, conn: Any, tmp_path: Path
) -> None:
    settings, base = running_system
    world = make.site()
    make.patient(world, "zhang")
    make.user(world, "drwang")
    gateway_id = f"gw-{make.tag}"
    device_id = make.device(
        world,
        "zhang",
        "gluco",
        kind="glucometer",
        gateway_id=gateway_id,
        since=datetime.now(UTC) - timedelta(days=30),
    )
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    uplink = Uplink(
        outbox, site=world.site_code, gateway_id=gateway_id, broker_url=settings.mqtt_url or ""
    )
    uplink.start()
    try:
        lo, low = asyncio.run(_sync(tmp_path, outbox, device_id, time.time()))
        with httpx.Client(base_url=base, timeout=10) as api:
            r = api.post(
                "/api/v1/auth/login",
                json={"username": make.username("drwang"), "password": make.password("drwang")},
            )
            assert r.status_code == 200

            def listed() -> list[dict[str, Any]]:
                items = api.get("/api/v1/alerts").json()["items"]
                return [a for a in items if a["patient"]["id"] == world.patients["zhang"]]

            assert wait_for(lambda: bool(listed()), 60), "no hypoglycaemia alert reached the API"
            # Both readings may arrive in one batch or two; wait until the alert holds both.
            assert wait_for(lambda: listed()[0]["evidence"]["detail"]["readings"] == 2, 30)
            [alert] = listed()
    finally:
        uplink.stop()
        outbox.close()

    rows = conn.execute(
        "SELECT seq, value, flags FROM readings WHERE device_id = %s AND seq = ANY(%s)"
        " ORDER BY seq",
        (device_id, [lo.sequence_number, low.sequence_number]),
    ).fetchall()
    assert [(r["seq"], r["value"]) for r in rows] == [
        (lo.sequence_number, None),
        (low.sequence_number, 3.2),
    ]
    assert "neg_inf" in rows[0]["flags"]
    assert alert["rule"] == "glucose_low"
    assert alert["severity"] == "critical"
    assert "LO" in alert["title"]
    detail = alert["evidence"]["detail"]
    assert detail["out_of_range_readings"] == 1
    assert detail["extreme_mmol_l"] == 3.2
    assert alert["evidence"]["summary"] == (
        "meter showed LO (below its range), 2 readings <= 3.9 mmol/L"
    )


async def _sync(
    tmp_path: Path, outbox: Outbox, device_id: str, now: float
) -> tuple[GlucoseRecord, GlucoseRecord]:
    async with (
        ble_home.home(tmp_path, outbox=outbox) as h,
        Glucometer(h.link, address=METER, records=12) as meter,
    ):
        lo = meter.record(now - 1800, METER_MIN_MMOL_L)
        low = meter.record(now - 600, 3.2)
        await h.central.enroll(device_id, METER, DeviceKind.GLUCOMETER)
        report = await h.central.sync(device_id)
        assert report.complete, report.reason
        return lo, low
