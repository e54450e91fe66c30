"""Glucose readings in the database become hypo/hyperglycaemia alerts through the evaluator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from alerts import lifecycle
from alerts.evaluator import evaluate_pending
from monitoring.evaluations import ChangedSeries, mark_changed

# One "now" for the module: times computed again at assertion time could fall in the next second.
NOW = datetime.now(UTC).replace(microsecond=0)


def minutes_ago(n: float) -> datetime:
    return NOW - timedelta(minutes=n)


def alerts_of(conn: psycopg.Connection[Any], patient_id: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM alerts WHERE patient_id = %s ORDER BY rule, id", (patient_id,)
    ).fetchall()


def test_a_single_low_fingerstick_opens_a_hypoglycaemia_alert(
    conn: Any, make: Any, glucose: Any
) -> None:
    world = make.site()
    pid = make.patient(world, "zhao")
    dev = make.device(world, "zhao", "meter")
    glucose.write(pid, dev, [(minutes_ago(50), 6.2), (minutes_ago(20), 3.6)])
    assert evaluate_pending(conn) >= 1
    [alert] = alerts_of(conn, pid)
    assert alert["rule"] == "glucose_low"
    assert alert["severity"] == "high"
    assert alert["evidence_start"] == alert["evidence_end"] == minutes_ago(20)
    assert alert["detail"]["extreme_mmol_l"] == 3.6
    # Evaluated again, nothing changes and nothing is duplicated.
    mark_changed(conn, [ChangedSeries(pid, "glucose", minutes_ago(60))])
    evaluate_pending(conn)
    [same] = alerts_of(conn, pid)
    assert same["updated_at"] == alert["updated_at"]


def test_meter_lo_opens_a_critical_alert_unless_it_was_control_solution(
    conn: Any, make: Any, glucose: Any
) -> None:
    world = make.site()
    lo = make.patient(world, "qian")
    control = make.patient(world, "sun")
    dev_lo = make.device(world, "qian", "meter-q", kind="glucometer")
    dev_control = make.device(world, "sun", "meter-s", kind="glucometer")
    glucose.write(lo, dev_lo, [(minutes_ago(5), None, ["neg_inf"])])
    glucose.write(control, dev_control, [(minutes_ago(5), None, ["neg_inf", "test_data"])])
    evaluate_pending(conn)
    [alert] = alerts_of(conn, lo)
    assert alert["rule"] == "glucose_low"
    assert alert["severity"] == "critical"
    assert "LO" in alert["title"]
    assert alerts_of(conn, control) == []


def test_a_deeper_low_escalates_the_same_alert_and_highs_get_their_own(
    conn: Any, make: Any, glucose: Any
) -> None:
    world = make.site()
    pid = make.patient(world, "zhou")
    dev = make.device(world, "zhou", "meter")
    glucose.write(pid, dev, [(minutes_ago(90), 3.8)])
    evaluate_pending(conn)
    [first] = alerts_of(conn, pid)
    glucose.write(pid, dev, [(minutes_ago(30), 2.7), (minutes_ago(10), 19.4)])
    evaluate_pending(conn)
    high, low = alerts_of(conn, pid)
    assert low["id"] == first["id"]
    assert low["severity"] == "critical"
    assert low["evidence_start"] == minutes_ago(90)
    assert low["evidence_end"] == minutes_ago(30)
    assert high["rule"] == "glucose_high"
    assert high["severity"] == "high"
    assert high["detail"]["extreme_mmol_l"] == 19.4


def test_after_resolution_only_new_lows_reopen(conn: Any, make: Any, glucose: Any) -> None:
    world = make.site()
    pid = make.patient(world, "wu")
    uid = make.user(world, "drzheng")
    dev = make.device(world, "wu", "meter")
    glucose.write(pid, dev, [(minutes_ago(40), 3.1)])
    evaluate_pending(conn)
    [alert] = alerts_of(conn, pid)
    lifecycle.resolve(conn, alert["id"], user_id=uid, note="ate; rechecked 6.0 by phone")
    # The same old reading, delivered late again, reopens nothing.
    mark_changed(conn, [ChangedSeries(pid, "glucose", minutes_ago(45))])
    evaluate_pending(conn)
    assert [a["state"] for a in alerts_of(conn, pid)] == ["resolved"]
    # A new low after the resolution does.
    glucose.write(pid, dev, [(datetime.now(UTC) + timedelta(seconds=1), 3.3)])
    evaluate_pending(conn)
    assert [a["state"] for a in alerts_of(conn, pid)] == ["resolved", "open"]


def test_one_pass_serves_spo2_and_glucose_together(
    conn: Any, make: Any, glucose: Any, spo2: Any
) -> None:
    world = make.site()
    pid = make.patient(world, "lin")
    meter = make.device(world, "lin", "meter")
    ox = make.device(world, "lin", "ox")
    glucose.write(pid, meter, [(minutes_ago(15), 2.9)])
    spo2.minutes(pid, ox, minutes_ago(30), [85] * 8)
    assert evaluate_pending(conn) >= 2
    assert [a["rule"] for a in alerts_of(conn, pid)] == ["glucose_low", "spo2_low_sustained"]
