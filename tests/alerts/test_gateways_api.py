"""``GET /api/v1/gateways``: who sees which home gateways, in which order, and the audit trail.

Statuses are stored with :func:`monitoring.gateway_status.store_status`, exactly as the
gateway-health consumer stores what it receives (tests/monitoring/test_gateway_health.py runs
that consumer on the broker).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from status_docs import heartbeat, offline, status_topic
from test_api import assert_problem, audit_rows

from monitoring import registry
from monitoring.gateway_status import store_status


def register(conn: Any, world: Any, make: Any, name: str) -> str:
    gateway_id = f"{name}-{make.tag}"
    registry.register_gateway(conn, gateway_id=gateway_id, site_id=world.site_id, label=None)
    return gateway_id


def publish(conn: Any, site_code: str, gateway_id: str, payload: bytes, at: datetime) -> None:
    with conn.transaction():
        result = store_status(
            conn, topic=status_topic(site_code, gateway_id), payload=payload, received_at=at
        )
    assert result.outcome == "stored", result


def test_gateways_need_a_session(client: httpx.Client) -> None:
    assert_problem(client.get("/api/v1/gateways"), 401, "unauthenticated")


def test_a_doctor_sees_the_site_s_gateways_most_urgent_first(
    client: httpx.Client, conn: Any, make: Any, login: Any
) -> None:
    world = make.site()
    make.user(world, "drwang")
    make.patient(world, "li")
    now = datetime.now(UTC).replace(microsecond=0)
    healthy = register(conn, world, make, "gw-healthy")
    full = register(conn, world, make, "gw-full")
    gone = register(conn, world, make, "gw-gone")
    never = register(conn, world, make, "gw-never")
    make.device(world, "li", "gm", kind="glucometer", gateway_id=full)
    publish(conn, world.site_code, healthy, heartbeat(healthy, sent_at=now), now)
    publish(
        conn,
        world.site_code,
        full,
        heartbeat(
            full,
            sent_at=now,
            readings=1000,
            refused=3,
            refused_clinical=3,
            last_refused_at=now - timedelta(minutes=1),
        ),
        now,
    )
    earlier = now - timedelta(minutes=30)
    publish(conn, world.site_code, gone, heartbeat(gone, sent_at=earlier, readings=12), earlier)
    publish(conn, world.site_code, gone, offline(gone), now - timedelta(minutes=20))

    r = client.get("/api/v1/gateways", headers=login("drwang"))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["attention"] is False
    items = {g["gateway_id"]: g for g in body["items"]}
    # Both critical: the newest trouble (refusals a minute ago) before the older (offline 20 min).
    assert [g["gateway_id"] for g in body["items"]] == [full, gone, never, healthy]
    assert [(g["state"], g["urgency"], g["attention"]) for g in body["items"]] == [
        ("online", "critical", True),
        ("offline", "critical", True),
        ("unknown", "info", False),
        ("online", "ok", False),
    ]
    refused = items[full]["issues"][0]
    assert refused["code"] == "readings_refused"
    assert refused["severity"] == "critical"
    assert refused["text"].startswith("Outbox full: 3 clinical readings refused since ")
    assert items[full]["patients"] == [{"id": world.patients["li"], "display_name": "Li"}]
    assert items[full]["outbox"]["fill_pct"] == 100.0
    assert items[full]["outbox"]["refused_clinical_readings"] == 3
    assert items[full]["site"] == world.site_code
    assert items[gone]["issues"][0]["text"].startswith("Offline since ")
    assert items[gone]["outbox"]["readings"] == 12
    assert items[never]["issues"] == [
        {"code": "never_reported", "severity": "info", "text": "Never reported", "since": None}
    ]

    attention = client.get("/api/v1/gateways?attention=true", headers=login("drwang")).json()
    assert attention["attention"] is True
    assert [g["gateway_id"] for g in attention["items"]] == [full, gone]


def test_a_doctor_of_another_site_sees_nothing(
    client: httpx.Client, conn: Any, make: Any, login: Any, other_site: Any
) -> None:
    world = make.site()
    gw = register(conn, world, make, "gw")
    now = datetime.now(UTC)
    publish(conn, world.site_code, gw, offline(gw), now)
    # A doctor of the other site, even one who is a member of this site's panel.
    stranger = make.user(world, "drzhao")
    conn.execute("UPDATE users SET site_id = %s WHERE id = %s", (other_site.site_id, stranger))
    r = client.get("/api/v1/gateways", headers=login("drzhao"))
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []
    nobody = make.user(world, "nosite", role="site_admin", panel=False)
    conn.execute("UPDATE users SET site_id = NULL WHERE id = %s", (nobody,))
    assert client.get("/api/v1/gateways", headers=login("nosite")).json()["items"] == []


def test_an_operator_sees_the_gateways_but_no_patient_and_a_doctor_only_their_patients(
    client: httpx.Client, conn: Any, make: Any, login: Any
) -> None:
    world = make.site()
    make.user(world, "ops", role="operator", panel=False)
    make.user(world, "drwang")
    make.patient(world, "li")
    panel_b = registry.create_panel(conn, site_id=world.site_id, name="Panel B")
    sun = registry.create_patient(
        conn, site_id=world.site_id, panel_id=panel_b, mrn=f"sun-{make.tag}", display_name="Sun"
    )
    world.patients["sun"] = sun
    gw = register(conn, world, make, "gw")
    make.device(world, "li", "gm", kind="glucometer", gateway_id=gw)
    make.device(world, "sun", "bp", kind="bp_cuff", gateway_id=gw)
    publish(conn, world.site_code, gw, offline(gw), datetime.now(UTC))

    (seen,) = client.get("/api/v1/gateways", headers=login("ops")).json()["items"]
    assert (seen["gateway_id"], seen["state"], seen["patients"]) == (gw, "offline", [])
    (seen,) = client.get("/api/v1/gateways", headers=login("drwang")).json()["items"]
    assert seen["patients"] == [{"id": world.patients["li"], "display_name": "Li"}]


def test_every_listing_is_audited_per_gateway_and_patient_shown(
    client: httpx.Client, conn: Any, make: Any, login: Any
) -> None:
    world = make.site()
    make.user(world, "drwang")
    make.patient(world, "li")
    served = register(conn, world, make, "gw-a")
    bare = register(conn, world, make, "gw-b")
    make.device(world, "li", "gm", kind="glucometer", gateway_id=served)
    now = datetime.now(UTC)
    publish(conn, world.site_code, served, offline(served), now)
    publish(conn, world.site_code, bare, offline(bare), now)
    client.get("/api/v1/gateways?attention=true", headers=login("drwang"))
    rows = [r for r in audit_rows(conn, make.username("drwang")) if r["action"] == "gateway.list"]
    assert sorted((r["object_id"], r["patient_id"]) for r in rows) == [
        (served, world.patients["li"]),
        (bare, None),
    ]
    assert {r["object_type"] for r in rows} == {"gateway"}
    assert {r["detail"]["attention"] for r in rows} == {True}
    assert {r["actor_user_id"] for r in rows} == {world.users["drwang"]}


def test_invalid_queries_are_problem_details(client: httpx.Client, make: Any, login: Any) -> None:
    world = make.site()
    make.user(world, "drwang")
    r = client.get("/api/v1/gateways?limit=0", headers=login("drwang"))
    body = assert_problem(r, 422, "validation-error")
    assert body["errors"][0]["loc"] == ["query", "limit"]
