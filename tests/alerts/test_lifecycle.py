"""The alert lifecycle on the real database: one active alert per patient+rule, events, NOTIFY."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from alerts import lifecycle
from alerts.errors import AlertNotFoundError, AlertStateError
from alerts.request import AlertRequest, Severity
from alerts.rules.spo2 import RULE

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def request(
    patient_id: int,
    start_min: float,
    end_min: float,
    severity: Severity = Severity.HIGH,
) -> AlertRequest:
    return AlertRequest(
        patient_id=patient_id,
        rule=RULE,
        severity=severity,
        title=f"SpO2 low for {end_min - start_min:g} min",
        evidence_start=T0 + timedelta(minutes=start_min),
        evidence_end=T0 + timedelta(minutes=end_min),
        detail={"nadir_pct": 85.0},
    )


def active_alerts(conn: psycopg.Connection[Any], patient_id: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM alerts WHERE patient_id = %s AND state <> 'resolved'", (patient_id,)
    ).fetchall()


def events(conn: psycopg.Connection[Any], alert_id: int) -> list[str]:
    rows = conn.execute(
        "SELECT action FROM alert_events WHERE alert_id = %s ORDER BY id", (alert_id,)
    ).fetchall()
    return [r["action"] for r in rows]


def test_repeated_requests_update_one_alert_and_escalate_it(conn: Any, make: Any) -> None:
    world = make.site()
    pid = make.patient(world, "li")
    opened = lifecycle.open_or_update(conn, request(pid, 0, 5), site_id=world.site_id)
    assert opened.outcome == "opened"
    assert opened.alert_id is not None
    # The same evidence again changes nothing and writes nothing.
    same = lifecycle.open_or_update(conn, request(pid, 0, 5), site_id=world.site_id)
    assert (same.alert_id, same.outcome) == (opened.alert_id, "unchanged")
    longer = lifecycle.open_or_update(conn, request(pid, 0, 9), site_id=world.site_id)
    assert (longer.alert_id, longer.outcome) == (opened.alert_id, "updated")
    deeper = lifecycle.open_or_update(
        conn, request(pid, 0, 12, Severity.CRITICAL), site_id=world.site_id
    )
    assert (deeper.alert_id, deeper.outcome) == (opened.alert_id, "escalated")
    # A milder request never lowers the severity.
    milder = lifecycle.open_or_update(conn, request(pid, 0, 14), site_id=world.site_id)
    assert milder.outcome == "updated"

    [alert] = active_alerts(conn, pid)
    assert alert["id"] == opened.alert_id
    assert alert["severity"] == "critical"
    assert alert["evidence_start"] == T0
    assert alert["evidence_end"] == T0 + timedelta(minutes=14)
    assert alert["site_id"] == world.site_id
    assert events(conn, alert["id"]) == ["opened", "updated", "escalated", "updated"]
    escalation = conn.execute(
        "SELECT detail FROM alert_events WHERE alert_id = %s AND action = 'escalated'",
        (alert["id"],),
    ).fetchone()
    assert escalation is not None
    assert escalation["detail"]["from"] == "high"
    assert escalation["detail"]["to"] == "critical"


def test_escalation_of_an_acknowledged_alert_reopens_it(conn: Any, make: Any) -> None:
    world = make.site()
    pid = make.patient(world, "li")
    uid = make.user(world, "drwang")
    alert_id = lifecycle.open_or_update(conn, request(pid, 0, 5), site_id=world.site_id).alert_id
    assert alert_id is not None
    assert lifecycle.acknowledge(conn, alert_id, user_id=uid).outcome == "acknowledged"
    # More of the same keeps it acknowledged; worse brings it back for a new acknowledgement.
    assert lifecycle.open_or_update(conn, request(pid, 0, 8), site_id=world.site_id).state == (
        "acknowledged"
    )
    change = lifecycle.open_or_update(
        conn, request(pid, 0, 10, Severity.CRITICAL), site_id=world.site_id
    )
    assert (change.outcome, change.state) == ("escalated", "open")
    [alert] = active_alerts(conn, pid)
    assert alert["acknowledged_by"] is None


def test_acknowledge_and_resolve_record_who_and_why(conn: Any, make: Any) -> None:
    world = make.site()
    pid = make.patient(world, "li")
    uid = make.user(world, "drwang")
    alert_id = lifecycle.open_or_update(conn, request(pid, 0, 5), site_id=world.site_id).alert_id
    assert alert_id is not None
    assert lifecycle.acknowledge(conn, alert_id, user_id=uid).outcome == "acknowledged"
    # A second press (another doctor, a double click) is harmless.
    assert lifecycle.acknowledge(conn, alert_id, user_id=uid).outcome == "unchanged"
    with pytest.raises(ValueError, match="note"):
        lifecycle.resolve(conn, alert_id, user_id=uid, note="   ")
    done = lifecycle.resolve(conn, alert_id, user_id=uid, note=" Phoned; probe was loose. ")
    assert (done.outcome, done.state) == ("resolved", "resolved")
    row = conn.execute("SELECT * FROM alerts WHERE id = %s", (alert_id,)).fetchone()
    assert row["acknowledged_by"] == uid
    assert row["resolved_by"] == uid
    assert row["resolution_note"] == "Phoned; probe was loose."
    assert events(conn, alert_id) == ["opened", "acknowledged", "resolved"]
    with pytest.raises(AlertStateError) as exc:
        lifecycle.acknowledge(conn, alert_id, user_id=uid)
    assert (exc.value.alert_id, exc.value.state) == (alert_id, "resolved")
    with pytest.raises(AlertStateError):
        lifecycle.resolve(conn, alert_id, user_id=uid, note="again")
    with pytest.raises(AlertNotFoundError):
        lifecycle.acknowledge(conn, 2**62, user_id=uid)


def test_a_resolved_alert_reopens_only_on_evidence_after_the_resolution(
    conn: Any, make: Any
) -> None:
    world = make.site()
    pid = make.patient(world, "li")
    uid = make.user(world, "drwang")
    # Evidence in the recent past, so that "after the resolution" is reachable.
    now = datetime.now(UTC)
    old = AlertRequest(pid, RULE, Severity.HIGH, "old", now - timedelta(minutes=20), now)
    alert_id = lifecycle.open_or_update(conn, old, site_id=world.site_id).alert_id
    assert alert_id is not None
    lifecycle.resolve(conn, alert_id, user_id=uid, note="seen")
    resolved_at = conn.execute("SELECT resolved_at FROM alerts WHERE id = %s", (alert_id,))
    at = resolved_at.fetchone()["resolved_at"]
    assert lifecycle.last_resolved(conn, [pid], RULE) == {pid: at}

    # The same evidence, or evidence that began before the resolution, opens nothing.
    assert lifecycle.open_or_update(conn, old, site_id=world.site_id).outcome == "stale"
    straddling = AlertRequest(
        pid, RULE, Severity.HIGH, "x", at - timedelta(minutes=1), at + timedelta(minutes=5)
    )
    assert lifecycle.open_or_update(conn, straddling, site_id=world.site_id).outcome == "stale"
    assert active_alerts(conn, pid) == []

    fresh = AlertRequest(
        pid, RULE, Severity.HIGH, "new", at + timedelta(seconds=1), at + timedelta(minutes=6)
    )
    change = lifecycle.open_or_update(conn, fresh, site_id=world.site_id)
    assert change.outcome == "opened"
    assert change.alert_id != alert_id
    assert len(active_alerts(conn, pid)) == 1


def test_every_transition_notifies_alerts_changed_at_commit(
    conn: Any, db_url: str, make: Any
) -> None:
    world = make.site()
    pid = make.patient(world, "li")
    uid = make.user(world, "drwang")
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {lifecycle.CHANNEL}")
        alert_id = lifecycle.open_or_update(
            conn, request(pid, 0, 5), site_id=world.site_id
        ).alert_id
        lifecycle.open_or_update(conn, request(pid, 0, 6, Severity.CRITICAL), site_id=world.site_id)
        lifecycle.acknowledge(conn, alert_id or 0, user_id=uid)
        lifecycle.resolve(conn, alert_id or 0, user_id=uid, note="ok")
        got = []
        for n in listener.notifies(timeout=5.0, stop_after=4):
            got.append(json.loads(n.payload))
    mine = [g for g in got if g["alert_id"] == alert_id]
    assert [g["action"] for g in mine] == ["opened", "escalated", "acknowledged", "resolved"]
    assert {g["site_id"] for g in mine} == {world.site_id}


def test_a_rolled_back_transition_leaves_no_event_and_no_notification(
    conn: Any, db_url: str, make: Any
) -> None:
    world = make.site()
    pid = make.patient(world, "li")
    with (
        psycopg.connect(db_url, autocommit=True) as listener,
        psycopg.connect(db_url, row_factory=dict_row) as tx,
    ):
        listener.execute(f"LISTEN {lifecycle.CHANNEL}")
        with tx.transaction():
            lifecycle.open_or_update(tx, request(pid, 0, 5), site_id=world.site_id)
            raise psycopg.Rollback()
        assert list(listener.notifies(timeout=0.5)) == []
    assert active_alerts(conn, pid) == []


def test_two_evaluators_racing_to_open_the_same_alert_make_one(
    conn: Any, db_url: str, make: Any
) -> None:
    world = make.site()
    pid = make.patient(world, "li")
    outcomes: list[str] = []
    with (
        psycopg.connect(db_url, row_factory=dict_row) as a,
        psycopg.connect(db_url, row_factory=dict_row) as b,
    ):
        with a.transaction():
            # A opens inside a transaction it has not committed yet.
            first = lifecycle.open_or_update(a, request(pid, 0, 5), site_id=world.site_id)
            assert first.outcome == "opened"

            def other() -> None:
                change = lifecycle.open_or_update(b, request(pid, 0, 7), site_id=world.site_id)
                outcomes.append(change.outcome)

            t = threading.Thread(target=other)
            t.start()
            time.sleep(0.5)  # B is now blocked on A's row in the unique index
            assert outcomes == []
        t.join(10)
    assert outcomes == ["updated"]
    [alert] = active_alerts(conn, pid)
    assert alert["id"] == first.alert_id
    assert alert["evidence_end"] == T0 + timedelta(minutes=7)
