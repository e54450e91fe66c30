"""Storing gateway status documents: the newest word of each gateway wins, whatever the delivery.

Documents are encoded by the gateway's own code (tests/status_docs.py) and stored with
:func:`monitoring.gateway_status.store_status` on the session's database, as the consumer does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from status_docs import corruption_event, heartbeat, offline, status_topic
from worlds import Make, World

from monitoring import registry
from monitoring.gateway_status import (
    CHANNEL,
    DEVICE_STATUS,
    EMPTY,
    GATEWAY_MISMATCH,
    INVALID_TOPIC,
    MALFORMED,
    OTHER_SITE,
    STORED,
    UNCHANGED,
    UNKNOWN_GATEWAY,
    UNKNOWN_SCHEMA,
    StoreResult,
    parse_status_document,
    store_status,
)

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class Gw:
    """One registered gateway of a test site, and a way to store its status documents."""

    def __init__(self, conn: Any, world: World, gateway_id: str) -> None:
        self.conn = conn
        self.world = world
        self.id = gateway_id
        self.topic = status_topic(world.site_code, gateway_id)

    def store(
        self, payload: bytes, *, at: datetime | None = None, retained: bool = False
    ) -> StoreResult:
        with self.conn.transaction():
            return store_status(
                self.conn,
                topic=self.topic,
                payload=payload,
                received_at=at or T0,
                retained=retained,
            )

    def row(self) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.conn.execute(
            "SELECT * FROM gateway_status WHERE gateway_id = %s", (self.id,)
        ).fetchone()
        return found


@pytest.fixture
def gw(conn: Any, make: Make) -> Gw:
    world = make.site()
    gateway_id = f"gw-{make.tag}"
    registry.register_gateway(conn, gateway_id=gateway_id, site_id=world.site_id)
    return Gw(conn, world, gateway_id)


class Notices:
    """A connection listening on ``gateways_changed``."""

    def __init__(self, db_url: str) -> None:
        self.listener = psycopg.connect(db_url, autocommit=True)
        self.listener.execute(f"LISTEN {CHANNEL}")

    def drain(self) -> list[dict[str, Any]]:
        """The payloads of the notifications committed so far."""
        return [json.loads(n.payload) for n in self.listener.notifies(timeout=0.2)]


@pytest.fixture
def notices(db_url: str) -> Iterator[Notices]:
    n = Notices(db_url)
    try:
        yield n
    finally:
        n.listener.close()


def test_a_heartbeat_of_a_registered_gateway_is_stored_and_announced(
    gw: Gw, notices: Notices
) -> None:
    payload = heartbeat(
        gw.id,
        seq=3,
        sent_at=T0,
        readings=1250,
        refused=2,
        refused_clinical=2,
        last_refused_at=T0 - timedelta(seconds=7),
    )
    result = gw.store(payload, at=T0 + timedelta(seconds=1))
    assert (result.outcome, result.gateway_id, result.notified) == (STORED, gw.id, True)
    row = gw.row()
    assert row is not None
    assert row["site_id"] == gw.world.site_id
    assert (row["state"], row["boot_id"], row["seq"]) == ("online", "boot-a", 3)
    assert row["reported_at"] == T0
    assert row["received_at"] == row["last_heard_at"] == T0 + timedelta(seconds=1)
    assert row["clock_offset_s"] == -1.0  # sent one second before it arrived
    assert row["problems"] == [
        {
            "code": "readings_refused",
            "at": "2026-11-23T01:59:53Z",
            "readings": 2,
            "clinical_readings": 2,
        }
    ]
    assert row["raw"] == json.loads(payload)
    assert row["last_heartbeat"]["outbox"]["readings"] == 1250
    assert row["problem_since"]["readings_refused"]["since"] == "2026-11-23T01:59:53Z"
    assert notices.drain() == [{"gateway_id": gw.id, "site_id": gw.world.site_id}]


def test_an_older_or_repeated_heartbeat_never_replaces_a_newer_one(gw: Gw) -> None:
    run = T0 - timedelta(hours=1)
    assert gw.store(heartbeat(gw.id, seq=5, sent_at=T0, run_start=run)).outcome == STORED
    late = heartbeat(gw.id, seq=4, sent_at=T0 - timedelta(seconds=60), run_start=run)
    assert gw.store(late, at=T0 + timedelta(seconds=5)).outcome == UNCHANGED
    again = heartbeat(gw.id, seq=5, sent_at=T0, run_start=run)
    assert gw.store(again, at=T0 + timedelta(seconds=6)).outcome == UNCHANGED
    row = gw.row()
    assert row is not None
    assert (row["seq"], row["reported_at"], row["received_at"]) == (5, T0, T0)
    newer = heartbeat(gw.id, seq=6, sent_at=T0 + timedelta(seconds=60), run_start=run)
    assert gw.store(newer, at=T0 + timedelta(seconds=61)).outcome == STORED
    assert gw.row()["seq"] == 6  # type: ignore[index]


def test_the_sequence_is_trusted_over_a_clock_that_stepped_back_within_a_run(gw: Gw) -> None:
    run = T0 - timedelta(hours=1)
    assert gw.store(heartbeat(gw.id, seq=5, sent_at=T0, run_start=run)).outcome == STORED
    # The gateway's clock steps back 30 s (NTP); uptime keeps counting, so the run moves too,
    # but by less than a restart would: within the run the higher seq is newer.
    stepped = heartbeat(
        gw.id,
        seq=6,
        sent_at=T0 + timedelta(seconds=59.5),
        run_start=run + timedelta(seconds=-0.5),
    )
    assert gw.store(stepped, at=T0 + timedelta(seconds=60)).outcome == STORED


def test_a_restarted_gateway_process_counts_again_from_one_and_is_stored(gw: Gw) -> None:
    run = T0 - timedelta(hours=1)
    assert gw.store(heartbeat(gw.id, seq=60, sent_at=T0, run_start=run)).outcome == STORED
    # Killed and started again without a reboot: same boot, seq restarts, a new run.
    restart = T0 + timedelta(seconds=20)
    first = heartbeat(gw.id, seq=1, sent_at=restart + timedelta(seconds=1), run_start=restart)
    assert gw.store(first, at=restart + timedelta(seconds=1)).outcome == STORED
    row = gw.row()
    assert row is not None
    assert row["seq"] == 1
    # The old run's heartbeats arriving late are older than the new run's.
    stale = heartbeat(gw.id, seq=61, sent_at=T0 + timedelta(seconds=10), run_start=run)
    assert gw.store(stale, at=restart + timedelta(seconds=2)).outcome == UNCHANGED


def test_a_status_of_another_boot_sent_earlier_is_ignored(gw: Gw) -> None:
    assert gw.store(heartbeat(gw.id, boot_id="boot-b", seq=1, sent_at=T0)).outcome == STORED
    earlier = heartbeat(gw.id, boot_id="boot-a", seq=900, sent_at=T0 - timedelta(minutes=5))
    assert gw.store(earlier, at=T0 + timedelta(seconds=1)).outcome == UNCHANGED
    assert gw.row()["boot_id"] == "boot-b"  # type: ignore[index]


def test_the_last_will_marks_the_gateway_offline_until_it_reports_again(
    gw: Gw, notices: Notices
) -> None:
    run = T0 - timedelta(hours=1)
    gw.store(heartbeat(gw.id, seq=7, sent_at=T0, run_start=run, readings=40))
    notices.drain()
    lost = T0 + timedelta(seconds=75)
    result = gw.store(offline(gw.id), at=lost)
    assert (result.outcome, result.notified) == (STORED, True)
    row = gw.row()
    assert row is not None
    assert (row["state"], row["offline_since"], row["last_heard_at"]) == ("offline", lost, T0)
    # What the gateway said last stays: its outbox held 40 readings.
    assert row["last_heartbeat"]["outbox"]["readings"] == 40
    assert row["raw"]["sent_at"] is None
    assert notices.drain() == [{"gateway_id": gw.id, "site_id": gw.world.site_id}]
    # The broker delivers the will again (a consumer resubscribed): nothing changes.
    assert gw.store(offline(gw.id), at=lost + timedelta(minutes=5)).outcome == UNCHANGED
    assert gw.row()["offline_since"] == lost  # type: ignore[index]
    # A heartbeat from before the connection died changes nothing either.
    assert gw.store(heartbeat(gw.id, seq=7, sent_at=T0, run_start=run)).outcome == UNCHANGED
    # Reconnected (same run, next heartbeat): online again.
    back = T0 + timedelta(seconds=120)
    assert gw.store(heartbeat(gw.id, seq=8, sent_at=back, run_start=run), at=back).outcome == STORED
    row = gw.row()
    assert row is not None
    assert (row["state"], row["offline_since"]) == ("online", None)


def test_a_clean_stop_is_offline_with_the_gateway_s_own_time(gw: Gw) -> None:
    gw.store(heartbeat(gw.id, seq=2, sent_at=T0))
    stopped = T0 + timedelta(seconds=30)
    assert gw.store(offline(gw.id, sent_at=stopped), at=stopped).outcome == STORED
    row = gw.row()
    assert row is not None
    assert (row["state"], row["reported_at"]) == ("offline", stopped)
    assert gw.store(offline(gw.id, sent_at=stopped), at=stopped).outcome == UNCHANGED


def test_a_retained_copy_seen_again_does_not_make_a_silent_gateway_look_alive(gw: Gw) -> None:
    payload = heartbeat(gw.id, seq=9, sent_at=T0)
    gw.store(payload, at=T0)
    # A consumer restarts an hour later and the broker hands it the retained copy.
    later = T0 + timedelta(hours=1)
    assert gw.store(payload, at=later, retained=True).outcome == UNCHANGED
    row = gw.row()
    assert row is not None
    assert (row["received_at"], row["last_heard_at"]) == (T0, T0)


def test_a_retained_status_first_seen_late_is_dated_by_when_it_was_sent(gw: Gw) -> None:
    later = T0 + timedelta(hours=1)
    assert gw.store(heartbeat(gw.id, seq=9, sent_at=T0), at=later, retained=True).outcome == STORED
    row = gw.row()
    assert row is not None
    assert (row["received_at"], row["last_heard_at"]) == (later, T0)
    assert row["clock_offset_s"] is None  # cannot be measured on a copy of unknown age


def test_a_gateway_clock_error_is_measured_on_live_heartbeats(gw: Gw) -> None:
    fast = T0 + timedelta(minutes=12)
    gw.store(heartbeat(gw.id, seq=1, sent_at=fast), at=T0)
    assert gw.row()["clock_offset_s"] == 720.0  # type: ignore[index]


def test_problems_remember_when_they_started_while_their_counters_grow(
    gw: Gw, notices: Notices
) -> None:
    run = T0 - timedelta(hours=1)
    first_refusal = T0 - timedelta(seconds=30)
    gw.store(heartbeat(gw.id, seq=1, sent_at=T0 - timedelta(minutes=1), run_start=run))
    notices.drain()
    gw.store(
        heartbeat(
            gw.id,
            seq=2,
            sent_at=T0,
            run_start=run,
            refused=1,
            refused_clinical=1,
            last_refused_at=first_refusal,
        ),
        at=T0,
    )
    assert len(notices.drain()) == 1
    later = T0 + timedelta(minutes=10)
    gw.store(
        heartbeat(
            gw.id,
            seq=3,
            sent_at=later,
            run_start=run,
            refused=3,
            refused_clinical=3,
            last_refused_at=later - timedelta(seconds=5),
        ),
        at=later,
    )
    assert len(notices.drain()) == 1  # what the panel shows changed
    since = gw.row()["problem_since"]["readings_refused"]  # type: ignore[index]
    assert since == {"since": "2026-11-23T01:59:30Z", "changed_at": "2026-11-23T02:10:00Z"}
    # A routine heartbeat (same problems, other counters) is stored without a notification.
    routine = heartbeat(
        gw.id,
        seq=4,
        sent_at=later + timedelta(minutes=1),
        run_start=run,
        readings=3,
        refused=3,
        refused_clinical=3,
        last_refused_at=later - timedelta(seconds=5),
    )
    result = gw.store(routine, at=later + timedelta(minutes=1))
    assert (result.outcome, result.notified) == (STORED, False)
    assert notices.drain() == []


def test_a_corrupt_outbox_report_is_kept(gw: Gw) -> None:
    event = corruption_event(T0 - timedelta(minutes=3))
    gw.store(heartbeat(gw.id, sent_at=T0, corruption=[event]))
    (problem,) = gw.row()["problems"]  # type: ignore[index]
    assert problem["code"] == "outbox_corrupt"
    assert problem["moved_to"] == "/var/lib/homeward/outbox.sqlite3.corrupt-1"


def test_status_of_an_unknown_gateway_is_refused_and_not_stored(
    conn: Any, make: Make, notices: Notices
) -> None:
    world = make.site()
    stranger = f"gw-stranger-{make.tag}"
    with conn.transaction():
        result = store_status(
            conn,
            topic=status_topic(world.site_code, stranger),
            payload=heartbeat(stranger),
            received_at=T0,
        )
    assert (result.outcome, result.gateway_id) == (UNKNOWN_GATEWAY, stranger)
    assert conn.execute(
        "SELECT count(*) AS n FROM gateway_status WHERE gateway_id = %s", (stranger,)
    ).fetchone() == {"n": 0}
    assert notices.drain() == []


def test_status_naming_another_site_than_the_gateway_s_is_refused(gw: Gw, make: Make) -> None:
    other = registry.create_site(gw.conn, code=f"other-{make.tag}", name="Other")
    assert other != gw.world.site_id
    with gw.conn.transaction():
        result = store_status(
            gw.conn,
            topic=status_topic(f"other-{make.tag}", gw.id),
            payload=heartbeat(gw.id),
            received_at=T0,
        )
    assert result.outcome == OTHER_SITE
    assert gw.world.site_code in result.detail
    assert gw.row() is None


@pytest.mark.parametrize(
    ("payload", "outcome"),
    [
        (b"", EMPTY),
        (b"{not json", MALFORMED),
        (b"\xff\xfe", MALFORMED),
        (b"[1, 2]", MALFORMED),
        (b'{"state": "online"}', MALFORMED),
        (b'{"schema": "homeward.gateway-status/2", "state": "online"}', UNKNOWN_SCHEMA),
        (b'{"schema": "homeward.readings/1"}', UNKNOWN_SCHEMA),
        (
            b'{"schema": "homeward.gateway-status/1", "state": "asleep", "gateway_id": "x",'
            b' "boot_id": "b"}',
            MALFORMED,
        ),
        (b'{"schema": "homeward.gateway-status/1", "state": "online", "seq": NaN}', MALFORMED),
        (b"x" * 300_000, MALFORMED),
    ],
)
def test_unusable_messages_are_refused_without_storing_anything(
    gw: Gw, payload: bytes, outcome: str
) -> None:
    result = gw.store(payload)
    assert result.outcome == outcome
    assert gw.row() is None


@pytest.mark.parametrize("payload", [b"online", b"offline"])
def test_a_wifi_device_s_own_plain_status_is_passed_over_as_such(gw: Gw, payload: bytes) -> None:
    # MQTT-native wearables publish a retained plain online/offline under the same topic shape.
    result = gw.store(payload)
    assert result.outcome == DEVICE_STATUS
    assert gw.row() is None


def test_heartbeats_missing_what_ordering_needs_are_refused(gw: Gw) -> None:
    doc = json.loads(heartbeat(gw.id, sent_at=T0))
    for field, value in [
        ("seq", None),
        ("seq", "7"),
        ("seq", True),
        ("sent_at", "2026-11-23 02:00"),
        ("uptime_s", -1),
        ("boot_id", ""),
        ("problems", [{"at": "2026-11-23T02:00:00Z"}]),
        ("outbox", {"readings": "many"}),
        ("devices", "gm-1"),
        ("boot_id", "nul\u0000byte"),
    ]:
        broken = {**doc, field: value}
        assert gw.store(json.dumps(broken).encode()).outcome == MALFORMED, (field, value)
    assert gw.row() is None


def test_a_document_naming_another_gateway_than_its_topic_is_refused(gw: Gw) -> None:
    assert gw.store(heartbeat("gw-someone-else")).outcome == GATEWAY_MISMATCH
    with gw.conn.transaction():
        result = store_status(
            gw.conn, topic="homeward/v1/a/b/readings", payload=heartbeat(gw.id), received_at=T0
        )
    assert result.outcome == INVALID_TOPIC
    assert gw.row() is None


def test_fields_the_schema_adds_later_are_kept_and_ignored(gw: Gw) -> None:
    doc = json.loads(heartbeat(gw.id, sent_at=T0))
    doc["ble"] = {"radio": "host", "state": "running", "devices": []}
    doc["future_field"] = [1, 2, 3]
    assert gw.store(json.dumps(doc).encode()).outcome == STORED
    assert gw.row()["raw"]["future_field"] == [1, 2, 3]  # type: ignore[index]


def test_two_consumers_storing_the_same_status_store_it_once(gw: Gw, db_url: str) -> None:
    payload = heartbeat(gw.id, seq=1, sent_at=T0)
    other = psycopg.connect(db_url, row_factory=dict_row)
    results: list[StoreResult] = []
    try:
        with gw.conn.transaction():
            first = store_status(gw.conn, topic=gw.topic, payload=payload, received_at=T0)

            def second() -> None:
                with other.transaction():
                    results.append(
                        store_status(other, topic=gw.topic, payload=payload, received_at=T0)
                    )

            thread = threading.Thread(target=second)
            thread.start()
            thread.join(0.5)
            assert thread.is_alive()  # waits for the first consumer's row
        thread.join(10)
    finally:
        other.close()
    assert (first.outcome, [r.outcome for r in results]) == (STORED, [UNCHANGED])


def test_the_parser_reads_what_the_gateway_encodes() -> None:
    report = parse_status_document(
        heartbeat("gw-1", seq=4, sent_at=T0, run_start=T0 - timedelta(seconds=300)),
        gateway_id="gw-1",
    )
    assert (report.state, report.seq, report.sent_at) == ("online", 4, T0)
    assert report.run_started_at == T0 - timedelta(seconds=300)
    assert report.heartbeat_interval_s == 60.0
    will = parse_status_document(offline("gw-1"))
    assert will.last_will
    assert will.seq is None
