"""The evaluator: readings in the database become alerts, once per episode, crash-safely."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from alerts import lifecycle
from alerts.evaluator import AlertEvaluator, evaluate_pass, evaluate_pending
from homeward.settings import Settings
from monitoring.evaluations import ChangedSeries, mark_changed


def minutes_ago(n: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=n)


def alerts_of(conn: psycopg.Connection[Any], patient_id: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM alerts WHERE patient_id = %s ORDER BY id", (patient_id,)
    ).fetchall()


def pending(conn: psycopg.Connection[Any], patient_id: int) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM pending_evaluations WHERE patient_id = %s", (patient_id,)
    ).fetchone()
    return int(row["n"])


def test_sustained_desaturation_opens_exactly_one_alert(conn: Any, make: Any, spo2: Any) -> None:
    world = make.site()
    pid = make.patient(world, "li")
    dev = make.device(world, "li", "ox")
    # 8 minutes at 86-87 %, one reading a minute.
    last = spo2.minutes(pid, dev, minutes_ago(30), [87, 86, 86, 87, 86, 86, 87, 86, 86])
    assert evaluate_pending(conn) >= 1
    [alert] = alerts_of(conn, pid)
    assert alert["state"] == "open"
    assert alert["rule"] == "spo2_low_sustained"
    assert alert["severity"] == "high"
    assert alert["evidence_end"] == last
    assert alert["detail"]["nadir_pct"] == 86.0
    assert alert["detail"]["floor_pct"] == 90.0
    assert pending(conn, pid) == 0
    # Evaluating again (the same readings re-marked) opens nothing new and writes nothing.
    mark_changed(conn, [ChangedSeries(pid, "spo2", minutes_ago(30))])
    evaluate_pending(conn)
    [same] = alerts_of(conn, pid)
    assert same["updated_at"] == alert["updated_at"]


def test_continued_desaturation_updates_then_escalates_the_same_alert(
    conn: Any, make: Any, spo2: Any
) -> None:
    world = make.site()
    pid = make.patient(world, "li")
    dev = make.device(world, "li", "ox")
    start = minutes_ago(40)
    spo2.minutes(pid, dev, start, [88] * 6)
    evaluate_pending(conn)
    [alert] = alerts_of(conn, pid)
    assert alert["severity"] == "high"

    # The next batch continues the episode: same alert, later evidence_end.
    spo2.minutes(pid, dev, start + timedelta(minutes=6), [88] * 3)
    evaluate_pending(conn)
    [alert2] = alerts_of(conn, pid)
    assert alert2["id"] == alert["id"]
    assert alert2["evidence_end"] == start + timedelta(minutes=8)

    # Then it deepens: the run's median falls below 85 % -> critical, still the same alert.
    spo2.minutes(pid, dev, start + timedelta(minutes=9), [82] * 12)
    evaluate_pending(conn)
    [alert3] = alerts_of(conn, pid)
    assert alert3["id"] == alert["id"]
    assert alert3["severity"] == "critical"
    actions = [
        r["action"]
        for r in conn.execute(
            "SELECT action FROM alert_events WHERE alert_id = %s ORDER BY id", (alert["id"],)
        )
    ]
    assert actions == ["opened", "updated", "escalated"]


def test_short_dips_and_untrusted_readings_open_nothing(conn: Any, make: Any, spo2: Any) -> None:
    world = make.site()
    pid = make.patient(world, "li")
    dev = make.device(world, "li", "ox")
    t = minutes_ago(60)
    spo2.minutes(pid, dev, t, [86, 86, 86, 86, 95, 86, 86, 86])  # broken by one good reading
    # Ten minutes of readings a device flagged as faulty, and a probe-off special value.
    spo2.write(
        pid,
        dev,
        [(t + timedelta(minutes=20 + m), 70.0, ["device_fault"]) for m in range(10)]
        + [(t + timedelta(minutes=31), None, ["nan"])],
    )
    evaluate_pending(conn)
    assert alerts_of(conn, pid) == []


def test_the_patients_own_floor_is_used(conn: Any, make: Any, spo2: Any) -> None:
    world = make.site()
    copd = make.patient(world, "zhang", spo2=(88.0, None))
    other = make.patient(world, "li")
    dev_copd = make.device(world, "zhang", "ox1")
    dev_other = make.device(world, "li", "ox2")
    spo2.minutes(copd, dev_copd, minutes_ago(20), [89] * 10)
    spo2.minutes(other, dev_other, minutes_ago(20), [89] * 10)
    evaluate_pending(conn)
    assert alerts_of(conn, copd) == []
    [alert] = alerts_of(conn, other)
    assert alert["detail"]["floor_source"] == "default"


def test_a_resolved_alert_reopens_only_on_new_evidence(conn: Any, make: Any, spo2: Any) -> None:
    world = make.site()
    pid = make.patient(world, "li")
    uid = make.user(world, "drwang")
    dev = make.device(world, "li", "ox")
    spo2.minutes(pid, dev, minutes_ago(30), [86] * 8)
    evaluate_pending(conn)
    [alert] = alerts_of(conn, pid)
    lifecycle.resolve(conn, alert["id"], user_id=uid, note="called the family")

    # The old readings evaluated again (late data for the same window) reopen nothing.
    mark_changed(conn, [ChangedSeries(pid, "spo2", minutes_ago(30))])
    evaluate_pending(conn)
    assert [a["state"] for a in alerts_of(conn, pid)] == ["resolved"]

    # Four minutes of low readings after the resolution are not enough...
    resolved_at = alerts_of(conn, pid)[0]["resolved_at"]
    start = resolved_at + timedelta(seconds=1)
    spo2.minutes(pid, dev, start, [86] * 5)
    evaluate_pending(conn)
    assert [a["state"] for a in alerts_of(conn, pid)] == ["resolved"]
    # ...five are: a new alert, whose evidence starts after the resolution.
    spo2.minutes(pid, dev, start + timedelta(minutes=5), [86])
    evaluate_pending(conn)
    old, new = alerts_of(conn, pid)
    assert (old["state"], new["state"]) == ("resolved", "open")
    assert new["evidence_start"] > resolved_at


def test_a_crashed_pass_returns_its_claims(db_url: str, conn: Any, make: Any, spo2: Any) -> None:
    world = make.site()
    pid = make.patient(world, "li")
    dev = make.device(world, "li", "ox")
    spo2.minutes(pid, dev, minutes_ago(30), [86] * 8)

    class CrashError(Exception):
        pass

    def crash_during_pass(worker: psycopg.Connection[Any]) -> None:
        with worker.transaction():
            assert evaluate_pass(worker).claimed >= 1
            raise CrashError  # the process dies before committing

    with psycopg.connect(db_url, row_factory=dict_row) as worker, pytest.raises(CrashError):
        crash_during_pass(worker)
    assert pending(conn, pid) == 1
    assert alerts_of(conn, pid) == []
    evaluate_pending(conn)
    assert len(alerts_of(conn, pid)) == 1


def test_one_failing_series_does_not_block_other_patients(conn: Any, make: Any, spo2: Any) -> None:
    world = make.site()
    broken = make.patient(world, "wu")
    fine = make.patient(world, "li")
    # A floor of 0 % cannot be evaluated: the rule refuses it.
    conn.execute(
        "INSERT INTO patient_targets (patient_id, metric, low) VALUES (%s, 'spo2', 0)", (broken,)
    )
    dev_b = make.device(world, "wu", "ox1")
    dev_f = make.device(world, "li", "ox2")
    spo2.minutes(broken, dev_b, minutes_ago(20), [80] * 8)
    spo2.minutes(fine, dev_f, minutes_ago(20), [80] * 8)
    result = evaluate_pass(conn)
    assert result.failed >= 1
    assert len(alerts_of(conn, fine)) == 1
    assert pending(conn, broken) == 1  # queued again, not lost


def test_the_running_evaluator_wakes_on_new_readings(
    settings: Settings, conn: Any, make: Any, spo2: Any
) -> None:
    world = make.site()
    pid = make.patient(world, "li")
    dev = make.device(world, "li", "ox")
    # A long poll interval: only the notification can wake it in time.
    evaluator = AlertEvaluator(settings, poll_interval_s=600)
    stop = threading.Event()
    thread = threading.Thread(target=evaluator.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while evaluator.passes == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        spo2.minutes(pid, dev, minutes_ago(20), [85] * 7)
        while not alerts_of(conn, pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(alerts_of(conn, pid)) == 1
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
