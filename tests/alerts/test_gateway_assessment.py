"""What the panel says about a home gateway, worded for someone on call at night.

Rows are built the way the consumer builds them (:func:`monitoring.gateway_status.next_status`
over documents encoded by the gateway's own code), then assessed at a chosen time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from status_docs import corruption_event, heartbeat, offline

from alerts.gateways import GatewayAssessment, assess_gateway, urgency_order
from gateway import ConfigState
from monitoring.gateway_status import (
    StoredStatus,
    next_status,
    parse_status_document,
    supersedes,
)

UTC_ZONE = ZoneInfo("UTC")
SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
GW = "gw-7f3a"


def row_after(*deliveries: tuple[bytes, datetime]) -> dict[str, Any]:
    """The stored row after each ``(payload, received_at)`` was delivered live, in order."""
    stored: Any = None
    row: dict[str, Any] = {}
    for payload, at in deliveries:
        report = parse_status_document(payload, gateway_id=GW)
        if supersedes(report, stored):
            row = next_status(stored, report, site_id=1, received_at=at, retained=False)
            stored = StoredStatus(**{k: row[k] for k in StoredStatus.__slots__})
    return row


def assess(row: dict[str, Any], now: datetime, zone: ZoneInfo = UTC_ZONE) -> GatewayAssessment:
    return assess_gateway(row, now=now, zone=zone)


def texts(a: GatewayAssessment) -> list[str]:
    return [i.text for i in a.issues]


def test_a_full_outbox_refusing_clinical_readings_is_urgent_and_says_since_when() -> None:
    first = T0 + timedelta(minutes=14)
    latest = T0 + timedelta(minutes=20)
    row = row_after(
        (heartbeat(GW, seq=1, sent_at=T0, readings=10, max_readings=1000), T0),
        (
            heartbeat(
                GW,
                seq=2,
                sent_at=first,
                readings=1000,
                refused=1,
                refused_clinical=1,
                last_refused_at=first,
            ),
            first,
        ),
        (
            heartbeat(
                GW,
                seq=3,
                sent_at=latest,
                readings=1000,
                refused=3,
                refused_clinical=3,
                last_refused_at=latest,
            ),
            latest,
        ),
    )
    a = assess(row, latest + timedelta(seconds=30))
    assert (a.state, a.urgency, a.attention) == ("online", "critical", True)
    assert texts(a) == [
        "Outbox full: 3 clinical readings refused since 02:14 (latest 02:20); the devices keep"
        " them until there is room",
        "Outbox full: 1,000 of 1,000 readings waiting",
    ]
    assert a.issues[0].since == first


def test_refused_readings_that_were_not_clinical_are_a_warning() -> None:
    row = row_after(
        (heartbeat(GW, sent_at=T0, readings=999, refused=40, last_refused_at=T0), T0),
    )
    a = assess(row, T0)
    assert a.issues[0].severity == "warning"
    assert a.issues[0].text.startswith("Outbox full: 40 readings refused since 02:00")


def test_a_refusal_long_past_with_room_again_is_history_not_attention() -> None:
    then = T0 - timedelta(hours=30)
    row = row_after(
        (heartbeat(GW, sent_at=then, refused=3, refused_clinical=3, last_refused_at=then), then),
        (
            heartbeat(
                GW,
                seq=2,
                sent_at=T0,
                readings=5,
                refused=3,
                refused_clinical=3,
                last_refused_at=then,
            ),
            T0,
        ),
    )
    a = assess(row, T0 + timedelta(seconds=10))
    assert (a.urgency, a.attention) == ("info", False)
    assert texts(a) == [
        "Outbox was full: 3 clinical readings refused since 21 Nov 20:00; the devices kept them"
    ]


def test_a_gateway_whose_connection_died_is_offline_since_its_will_arrived() -> None:
    heard = T0 - timedelta(minutes=12)
    lost = T0 - timedelta(minutes=10)
    row = row_after(
        (heartbeat(GW, seq=5, sent_at=heard, readings=1250, max_readings=1_000_000), heard),
        (offline(GW), lost),
    )
    a = assess(row, T0)
    assert (a.state, a.urgency) == ("offline", "critical")
    assert texts(a) == [
        "Offline since 01:50 (connection lost; last heartbeat 01:48); 1,250 readings waiting to be"
        " sent"
    ]


def test_a_cleanly_stopped_gateway_says_so() -> None:
    row = row_after(
        (heartbeat(GW, sent_at=T0 - timedelta(minutes=5)), T0 - timedelta(minutes=5)),
        (offline(GW, sent_at=T0 - timedelta(minutes=4)), T0 - timedelta(minutes=4)),
    )
    assert texts(assess(row, T0)) == ["Offline since 01:56 (shut down cleanly)"]


def test_a_connected_gateway_without_heartbeats_for_three_intervals_is_silent() -> None:
    row = row_after((heartbeat(GW, sent_at=T0, interval_s=60.0), T0))
    assert assess(row, T0 + timedelta(seconds=179)).state == "online"
    a = assess(row, T0 + timedelta(seconds=181))
    assert (a.state, a.urgency) == ("silent", "critical")
    assert texts(a) == [
        "No heartbeat since 02:00 (expected every 1 min): connected but not reporting"
    ]


def test_a_corrupt_outbox_file_is_reported_with_where_it_was_kept() -> None:
    event = corruption_event(T0 - timedelta(minutes=1), "/data/gateway/outbox.sqlite3.corrupt-7")
    row = row_after((heartbeat(GW, sent_at=T0, corruption=[event]), T0))
    a = assess(row, T0)
    assert (a.urgency, a.attention) == ("warning", True)
    assert texts(a) == [
        "Outbox file was corrupt at 01:59; moved aside to /data/gateway/outbox.sqlite3.corrupt-7,"
        " started fresh"
    ]
    # A week on, it is history (the file stays on the gateway; the line stays, quietly).
    later = assess(row, T0 + timedelta(days=8))
    (corrupt,) = [i for i in later.issues if i.code == "outbox_corrupt"]
    assert corrupt.severity == "info"


def test_a_nearly_full_outbox_says_how_full_and_how_old_its_oldest_reading_is() -> None:
    row = row_after((heartbeat(GW, sent_at=T0, readings=950, oldest_age_s=3 * 3600 + 540), T0))
    a = assess(row, T0 + timedelta(seconds=60))
    assert texts(a) == ["Outbox 95 % full: 950 of 1,000 readings waiting, oldest 3 h 10 min old"]


def test_a_gateway_clock_far_off_is_reported() -> None:
    sent = T0 + timedelta(minutes=12)
    row = row_after((heartbeat(GW, sent_at=sent), T0))
    assert texts(assess(row, T0)) == [
        "Gateway clock is 12 min fast: the times of its readings may be off by as much"
    ]


def test_a_refused_cloud_config_is_reported_with_the_gateway_s_reason() -> None:
    config = ConfigState(
        version=3,
        rejected_version=4,
        rejected_error="uplink.max_batch_readings: must be 1-10000",
        rejected_at=T0,
    )
    row = row_after((heartbeat(GW, sent_at=T0, config=config), T0))
    assert texts(assess(row, T0)) == [
        "Cloud settings version 4 refused at 02:00: uplink.max_batch_readings: must be 1-10000;"
        " the previous settings stay in force"
    ]


def test_problem_codes_this_version_does_not_know_are_shown_with_their_code_and_message() -> None:
    row = row_after(
        (
            heartbeat(
                GW,
                sent_at=T0,
                extra_problems=[
                    {
                        "code": "bond_lost",
                        "device_id": "gm-0007",
                        "at": "2026-11-23T01:58:00Z",
                        "message": "the meter no longer accepts the gateway's bond",
                    },
                    {"code": "radio_unavailable", "detail": "hci0: no such adapter"},
                    {"code": "ble_low_battery", "device_id": "bp-0002", "battery_pct": 8},
                    {
                        "code": "ble_not_seen",
                        "device_id": "wr-0001",
                        "since": "2026-11-22T23:00:00Z",
                        "seen": True,
                    },
                    {"code": "mystery"},
                ],
            ),
            T0,
        )
    )
    a = assess(row, T0)
    assert (a.urgency, a.attention) == ("warning", True)
    assert texts(a) == [
        "Gateway reports bond_lost for device gm-0007: the meter no longer accepts the gateway's"
        " bond (01:58)",
        "Gateway reports radio_unavailable: hci0: no such adapter",
        "Gateway reports ble_low_battery for device bp-0002 (battery pct 8)",
        "Gateway reports ble_not_seen for device wr-0001 (since 22 Nov 23:00, seen yes)",
        "Gateway reports mystery",
    ]


def test_times_are_the_site_s_wall_clock_with_the_date_when_not_today() -> None:
    # 02:00 UTC is 10:00 in Shanghai; the will arrived 23:50 Shanghai the day before.
    lost = datetime(2026, 11, 22, 15, 50, tzinfo=UTC)
    row = row_after((heartbeat(GW, sent_at=lost), lost), (offline(GW), lost))
    assert texts(assess(row, T0, SHANGHAI))[0].startswith("Offline since 22 Nov 23:50")


def test_a_healthy_gateway_needs_no_attention_and_one_never_heard_is_listed_quietly() -> None:
    row = row_after((heartbeat(GW, sent_at=T0, readings=20), T0))
    a = assess(row, T0 + timedelta(seconds=30))
    assert (a.state, a.urgency, a.issues, a.attention) == ("online", "ok", (), False)
    never = assess({"state": None}, T0)
    assert (never.state, never.urgency, texts(never)) == ("unknown", "info", ["Never reported"])


def test_the_most_urgent_gateways_come_first_then_the_newest_trouble() -> None:
    ok = assess(row_after((heartbeat(GW, sent_at=T0), T0)), T0)
    old_offline = assess(
        row_after((heartbeat(GW, sent_at=T0), T0), (offline(GW), T0 + timedelta(minutes=1))),
        T0 + timedelta(hours=1),
    )
    new_offline = assess(
        row_after((heartbeat(GW, sent_at=T0), T0), (offline(GW), T0 + timedelta(minutes=30))),
        T0 + timedelta(hours=1),
    )
    corrupt = assess(
        row_after((heartbeat(GW, sent_at=T0, corruption=[corruption_event(T0)]), T0)), T0
    )
    ranked = sorted(
        [("a-ok", ok), ("b-old", old_offline), ("c-corrupt", corrupt), ("d-new", new_offline)],
        key=urgency_order,
    )
    assert [name for name, _ in ranked] == ["d-new", "b-old", "c-corrupt", "a-ok"]
