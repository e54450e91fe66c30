"""The walking skeleton, whole: simulated wearables -> MQTT -> ingest -> PostgreSQL -> SpO2 rule
-> alert API, on the real broker and database, every part in its real form.

Three wearables of one site publish through Mosquitto; an ingest worker stores their batches;
the alert evaluator and the HTTP app run as ``homeward serve`` runs them. The patient whose
wearable desaturates gets exactly one alert, visible to their doctor through the API; every
reading each wearable had acknowledged is in the database exactly once; the healthy patients
get no alert.
"""

from __future__ import annotations

from typing import Any

import httpx
from e2e_system import wait_for
from worlds import Make, World

from firmware_sim import Scenario, WearableConfig, WearableFleet
from homeward.settings import Settings


def test_simulated_desaturation_reaches_the_database_and_the_doctors_alert_list(
    running_system: tuple[Settings, str], make: Make, conn: Any
) -> None:
    settings, base = running_system
    world: World = make.site()
    make.patient(world, "zhang", spo2=(88.0, None))  # COPD floor, BTS 2017
    make.patient(world, "wang")
    make.patient(world, "li")
    sick = make.device(world, "zhang", "wr-sick")
    well1 = make.device(world, "wang", "wr-well1")
    well2 = make.device(world, "li", "wr-well2")
    make.user(world, "drchen")

    # Ten minutes of history: the episode starts 60 s after boot, so the wearable arrives
    # holding about nine minutes of it - more than the rule's five sustained minutes.
    config = WearableConfig(history_s=600, ack_timeout_s=2.0, ack_timeout_max_s=10.0)
    fleet = WearableFleet(
        [
            (
                sick,
                Scenario.copd(
                    desaturations=Scenario.desaturating(
                        after_s=60, duration_min=30, nadir_pct=80
                    ).desaturations
                ),
            ),
            (well1, Scenario()),
            (well2, Scenario()),
        ],
        site=world.site_code,
        broker_url=settings.mqtt_url or "",
        config=config,
        tick_s=0.05,
    )
    fleet.start()
    try:
        with httpx.Client(base_url=base, timeout=10) as api:
            r = api.post(
                "/api/v1/auth/login",
                json={"username": make.username("drchen"), "password": make.password("drchen")},
            )
            assert r.status_code == 200

            def alert_listed() -> bool:
                items = api.get("/api/v1/alerts").json()["items"]
                return any(a["patient"]["id"] == world.patients["zhang"] for a in items)

            assert wait_for(alert_listed, 60), "the desaturation alert never reached the API"
            items = api.get("/api/v1/alerts").json()["items"]
    finally:
        assert fleet.stop(drain_timeout_s=20), "wearables kept unacknowledged readings"

    assert len(items) == 1
    alert = items[0]
    assert alert["rule"] == "spo2_low_sustained"
    assert alert["state"] == "open"
    assert alert["severity"] in ("high", "critical")
    assert alert["evidence"]["detail"]["floor_pct"] == 88.0

    # Every reading a wearable had acknowledged is stored, exactly once, on the right patient.
    stats = fleet.stats()
    for device, patient in ((sick, "zhang"), (well1, "wang"), (well2, "li")):
        row = conn.execute(
            "SELECT count(*) AS n, count(DISTINCT (metric, seq, ts)) AS distinct_keys,"
            " bool_and(patient_id = %s) AS right_patient FROM readings WHERE device_id = %s",
            (world.patients[patient], device),
        ).fetchone()
        assert row["n"] == stats[device].acked_readings
        assert row["n"] == row["distinct_keys"]
        assert row["right_patient"]
        assert row["n"] >= 2 * 60  # ten minutes of HR + SpO2 at 10 s
    dead = conn.execute(
        "SELECT count(*) AS n FROM dead_letters WHERE gateway_id = ANY(%s)",
        ([sick, well1, well2],),
    ).fetchone()
    assert dead["n"] == 0
