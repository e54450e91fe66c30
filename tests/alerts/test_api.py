"""The alerts API: who sees what, ordering, acknowledge/resolve, audit, problem details."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from alerts import lifecycle
from alerts.request import AlertRequest, Severity
from alerts.rules.spo2 import RULE
from homeward.users import create_user
from monitoring import registry


def open_alert(
    conn: Any, patient_id: int, site_id: int, severity: Severity = Severity.HIGH, minutes: int = 7
) -> int:
    end = datetime.now(UTC) - timedelta(minutes=1)
    change = lifecycle.open_or_update(
        conn,
        AlertRequest(
            patient_id=patient_id,
            rule=RULE,
            severity=severity,
            title=f"SpO2 below 90 % for {minutes} min",
            evidence_start=end - timedelta(minutes=minutes),
            evidence_end=end,
            detail={
                "median_pct": 86.0,
                "nadir_pct": 84.0,
                "floor_pct": 90.0,
                "duration_s": minutes * 60.0,
            },
        ),
        site_id=site_id,
    )
    assert change.alert_id is not None
    return change.alert_id


def audit_rows(conn: Any, actor: str) -> list[dict[str, Any]]:
    return conn.execute("SELECT * FROM audit_log WHERE actor = %s ORDER BY id", (actor,)).fetchall()


def assert_problem(r: Any, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


def test_alerts_need_a_session(client: httpx.Client) -> None:
    r = client.get("/api/v1/alerts")
    assert_problem(r, 401, "unauthenticated")
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = client.get("/api/v1/alerts", headers={"Authorization": "Bearer not-a-token"})
    assert_problem(r, 401, "unauthenticated")


def test_the_list_is_most_severe_first_then_newest(
    client: httpx.Client, conn: Any, make: Any, login: Any
) -> None:
    world = make.site()
    make.user(world, "drwang")
    older_high = open_alert(conn, make.patient(world, "li"), world.site_id)
    critical = open_alert(conn, make.patient(world, "zhao"), world.site_id, Severity.CRITICAL)
    newer_high = open_alert(conn, make.patient(world, "chen"), world.site_id)
    r = client.get("/api/v1/alerts", headers=login("drwang"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "active"
    assert [a["id"] for a in body["items"]] == [critical, newer_high, older_high]
    first = body["items"][0]
    assert first["patient"]["display_name"] == "Zhao"
    assert first["severity"] == "critical"
    assert first["state"] == "open"
    assert first["evidence"]["summary"] == "SpO2 86 % for 7 min, nadir 84 % (floor 90 %)"
    assert first["evidence"]["detail"]["nadir_pct"] == 84.0
    assert r.headers["cache-control"] == "no-store"


def test_a_doctor_sees_only_their_panels_patients(
    client: httpx.Client, conn: Any, make: Any, login: Any, other_site: Any
) -> None:
    world = make.site()
    make.user(world, "drwang")
    make.user(world, "admin", role="site_admin", panel=False)
    make.user(world, "ops", role="operator", panel=False)
    mine = open_alert(conn, make.patient(world, "li"), world.site_id)
    # Another panel of the same site, and a patient of another site.
    panel_b = registry.create_panel(conn, site_id=world.site_id, name="Panel B")
    pid_b = registry.create_patient(
        conn, site_id=world.site_id, panel_id=panel_b, mrn=f"b-{make.tag}", display_name="Sun"
    )
    same_site_other_panel = open_alert(conn, pid_b, world.site_id)
    pid_x = registry.create_patient(
        conn, site_id=other_site.site_id, panel_id=other_site.panel_id, mrn="x", display_name="Ma"
    )
    other_site_alert = open_alert(conn, pid_x, other_site.site_id)

    doctor = login("drwang")
    ids = {a["id"] for a in client.get("/api/v1/alerts", headers=doctor).json()["items"]}
    assert mine in ids
    assert not ids & {same_site_other_panel, other_site_alert}
    for hidden in (same_site_other_panel, other_site_alert, 2**62):
        r = client.get(f"/api/v1/alerts/{hidden}", headers=doctor)
        body = assert_problem(r, 404, "not-found")
        assert body["detail"] == f"No alert {hidden} that you may see."
        r = client.post(f"/api/v1/alerts/{hidden}/acknowledge", headers=doctor)
        assert_problem(r, 404, "not-found")
        r = client.post(f"/api/v1/alerts/{hidden}/resolve", headers=doctor, json={"note": "x"})
        assert_problem(r, 404, "not-found")
    # Nothing was changed by the refused attempts.
    row = conn.execute("SELECT state FROM alerts WHERE id = %s", (other_site_alert,)).fetchone()
    assert row["state"] == "open"

    admin = login("admin")
    ids = {a["id"] for a in client.get("/api/v1/alerts", headers=admin).json()["items"]}
    assert {mine, same_site_other_panel} <= ids
    assert other_site_alert not in ids
    assert client.get(f"/api/v1/alerts/{same_site_other_panel}", headers=admin).status_code == 200
    r = client.get(f"/api/v1/alerts/{other_site_alert}", headers=admin)
    assert_problem(r, 404, "not-found")

    ops = login("ops")
    assert_problem(client.get("/api/v1/alerts", headers=ops), 403, "forbidden")
    assert_problem(client.get(f"/api/v1/alerts/{mine}", headers=ops), 404, "not-found")
    assert_problem(client.post(f"/api/v1/alerts/{mine}/acknowledge", headers=ops), 404, "not-found")

    # A user of the other site sees only that site.
    create_user(
        conn,
        username=f"far-{make.tag}",
        display_name="Far",
        role="site_admin",
        password="far-away-pw",
        site_id=other_site.site_id,
    )
    r = client.post(
        "/api/v1/auth/login", json={"username": f"far-{make.tag}", "password": "far-away-pw"}
    )
    far = {"Authorization": f"Bearer {r.json()['token']}"}
    ids = {a["id"] for a in client.get("/api/v1/alerts", headers=far).json()["items"]}
    assert ids == {other_site_alert}


def test_acknowledge_then_resolve_with_a_note(
    client: httpx.Client, conn: Any, make: Any, login: Any
) -> None:
    world = make.site()
    make.user(world, "drwang")
    alert_id = open_alert(conn, make.patient(world, "li"), world.site_id)
    doctor = login("drwang")

    r = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=doctor)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "acknowledged"
    assert r.json()["acknowledged_by"]["display_name"] == "Drwang"
    # Pressing again is harmless.
    again = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=doctor)
    assert again.status_code == 200

    r = client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=doctor, json={"note": "  "})
    body = assert_problem(r, 422, "validation-error")
    assert body["errors"][0]["loc"] == ["body", "note"]
    r = client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=doctor, json={})
    assert_problem(r, 422, "validation-error")

    r = client.post(
        f"/api/v1/alerts/{alert_id}/resolve", headers=doctor, json={"note": "Visited; probe loose."}
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "resolved"
    assert r.json()["resolution_note"] == "Visited; probe loose."

    detail = client.get(f"/api/v1/alerts/{alert_id}", headers=doctor).json()
    assert [e["action"] for e in detail["events"]] == ["opened", "acknowledged", "resolved"]
    assert detail["events"][0]["actor"] is None  # the rule opened it
    assert detail["events"][2]["actor"]["display_name"] == "Drwang"
    assert detail["events"][2]["note"] == "Visited; probe loose."

    active = client.get("/api/v1/alerts", headers=doctor).json()["items"]
    assert alert_id not in {a["id"] for a in active}
    resolved = client.get("/api/v1/alerts?state=resolved", headers=doctor).json()["items"]
    assert alert_id in {a["id"] for a in resolved}

    r = client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=doctor, json={"note": "again"})
    body = assert_problem(r, 409, "alert-state-conflict")
    assert "resolved" in body["detail"]
    assert_problem(
        client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=doctor),
        409,
        "alert-state-conflict",
    )
    r = client.get("/api/v1/alerts?state=bogus", headers=doctor)
    assert_problem(r, 422, "validation-error")


def test_every_patient_touching_request_leaves_an_audit_row(
    client: httpx.Client, conn: Any, make: Any, login: Any, other_site: Any
) -> None:
    world = make.site()
    make.user(world, "drwang")
    pid = make.patient(world, "li")
    alert_id = open_alert(conn, pid, world.site_id)
    pid_x = registry.create_patient(
        conn, site_id=other_site.site_id, panel_id=other_site.panel_id, mrn="x", display_name="Ma"
    )
    hidden = open_alert(conn, pid_x, other_site.site_id)
    doctor = login("drwang")
    client.get("/api/v1/alerts", headers=doctor)
    client.get(f"/api/v1/alerts/{alert_id}", headers=doctor)
    client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=doctor)
    client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=doctor, json={"note": "ok"})
    client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=doctor, json={"note": "twice"})
    client.get(f"/api/v1/alerts/{hidden}", headers=doctor)

    rows = audit_rows(conn, make.username("drwang"))
    got = [(r["action"], r["patient_id"], r["object_id"], r["detail"].get("outcome")) for r in rows]
    assert got == [
        ("auth.login", None, None, None),
        ("alert.list", pid, str(alert_id), None),
        ("alert.read", pid, str(alert_id), None),
        ("alert.acknowledge", pid, str(alert_id), "acknowledged"),
        ("alert.resolve", pid, str(alert_id), "resolved"),
        ("alert.resolve", pid, str(alert_id), "conflict"),
        # An attempt on an alert the caller may not see is recorded, without the patient.
        ("alert.read", None, str(hidden), "not-found"),
    ]
    for r in rows:
        assert r["actor_user_id"] == world.users["drwang"]
        assert r["client_addr"] == "127.0.0.1"
        if r["object_id"] is not None:
            assert r["object_type"] == "alert"
