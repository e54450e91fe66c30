"""The gateway's durable outbox: stored before acknowledged, deleted only on the ingest's ack."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices import Quality, Reading, make_reading
from gateway import ClockCorrection, DeviceRecord, Provenance, _outbox_schema
from gateway.errors import (
    ClockError,
    ConfigError,
    OutboxClosedError,
    OutboxCorruptError,
    OutboxFullError,
    OutboxLockedError,
    OutboxSchemaError,
)
from gateway.outbox import SCHEMA_VERSION, Outbox

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def spo2_readings(device_id: str, n: int, *, first_seq: int = 1) -> list[Reading]:
    return [
        make_reading(
            device_id=device_id,
            metric="spo2",
            value=95 + i % 3,
            unit="%",
            ts=T0 + timedelta(seconds=10 * i),
            seq=first_seq + i,
        )
        for i in range(n)
    ]


def test_outbox_commits_in_wal_mode_with_full_fsync(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        assert outbox.pragma("journal_mode") == "wal"
        assert outbox.pragma("synchronous") == "2"  # FULL


def test_readings_put_survive_the_process_being_killed_right_after(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    child = textwrap.dedent(
        f"""
        import os, signal
        from datetime import UTC, datetime, timedelta
        from devices import make_reading
        from gateway.outbox import Outbox
        outbox = Outbox({str(path)!r})
        t0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
        stored = outbox.put(
            make_reading(device_id="gm-1", metric="glucose", value=5.5, unit="mmol/L",
                         ts=t0 + timedelta(minutes=i), seq=i)
            for i in range(1, 101)
        )
        print(stored, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no close(), no clean shutdown
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == -9
    assert done.stdout.strip() == "100"
    with Outbox(path) as outbox:
        assert outbox.depth().readings == 100
        assert outbox.cursor("gm-1") == 100


def test_a_reading_put_twice_is_stored_once(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        readings = spo2_readings("ox-1", 10)
        assert outbox.put(readings) == 10
        assert outbox.put(readings[5:] + spo2_readings("ox-1", 3, first_seq=11)) == 3
        assert outbox.depth().readings == 13
        assert outbox.put([]) == 0


def test_readings_round_trip_with_flags_special_values_and_microseconds(tmp_path: Path) -> None:
    odd = [
        make_reading(
            device_id="gm-2",
            metric="glucose",
            value=None,
            unit="mmol/L",
            ts=T0 + timedelta(microseconds=123_457),
            seq=7,
            flags={Quality.POS_INF},
        ),
        make_reading(
            device_id="gm-2",
            metric="glucose",
            value=180,
            unit="mg/dL",
            ts=T0,
            seq=8,
            flags={Quality.CLOCK_ESTIMATED, Quality.MEASUREMENT_ISSUE},
        ),
    ]
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put(odd)
        batch = outbox.form_batch(10)
    assert batch is not None
    assert batch.readings == tuple(odd)


def test_batches_take_readings_in_outbox_order_with_increasing_batch_seq(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put(spo2_readings("ox-b", 5, first_seq=100))
        outbox.put(spo2_readings("ox-a", 5, first_seq=1))
        first, second = outbox.form_batch(7), outbox.form_batch(7)
        assert outbox.form_batch(7) is None
    assert first is not None
    assert second is not None
    assert second.batch_seq == first.batch_seq + 1
    assert first.batch_id != second.batch_id
    order = [(r.device_id, r.seq) for r in first.readings + second.readings]
    assert order == [("ox-b", s) for s in range(100, 105)] + [("ox-a", s) for s in range(1, 6)]
    assert len(first.readings) == 7


def test_nothing_is_deleted_until_its_batch_is_acknowledged(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put(spo2_readings("ox-1", 30))
        one, two = outbox.form_batch(10), outbox.form_batch(10)
        assert one is not None
        assert two is not None
        depth = outbox.depth()
        assert (depth.readings, depth.unbatched, depth.batches) == (30, 10, 2)
        assert outbox.ack("no-such-batch") == 0
        assert outbox.ack(two.batch_id) == 10
        assert [b.batch_id for b in outbox.pending_batches()] == [one.batch_id]
        assert outbox.ack(two.batch_id) == 0  # a second ack after a resend changes nothing
        assert outbox.depth().readings == 20


def test_reopened_outbox_returns_unacknowledged_batches_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    with Outbox(path, clock=lambda: 1_800_000_000.0) as outbox:
        outbox.put(spo2_readings("ox-1", 25))
        formed = [outbox.form_batch(10), outbox.form_batch(10)]
        outbox.ack(formed[0].batch_id)  # type: ignore[union-attr]
    with Outbox(path, clock=lambda: 1_900_000_000.0) as outbox:
        (again,) = outbox.pending_batches()
        assert again == formed[1]
        assert again.encode("gw-1") == formed[1].encode("gw-1")  # type: ignore[union-attr]
        # The batch sequence continues after the restart; nothing is ever numbered twice.
        third = outbox.form_batch(10)
    assert third is not None
    assert third.batch_seq == formed[1].batch_seq + 1  # type: ignore[union-attr]
    assert len(third.readings) == 5


def test_device_cursor_advances_with_stored_readings_and_survives_acks(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        assert outbox.cursor("gm-1") is None
        outbox.put(spo2_readings("gm-1", 20, first_seq=480))
        outbox.put(spo2_readings("gm-1", 3, first_seq=10))  # older records re-read: no step back
        assert outbox.cursor("gm-1") == 499
        batch = outbox.form_batch(100)
        assert batch is not None
        outbox.ack(batch.batch_id)
        assert outbox.depth().readings == 0
        assert outbox.cursor("gm-1") == 499


def test_one_outbox_file_has_one_owner(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    first = Outbox(path)
    with pytest.raises(OutboxLockedError) as err:
        Outbox(path)
    assert err.value.path == path
    first.close()
    Outbox(path).close()


def test_a_file_that_is_not_an_outbox_is_moved_aside_kept_and_replaced(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    garbage = b"this is not a database, it is a shopping list" * 100
    path.write_bytes(garbage)
    with Outbox(path, clock=lambda: 1_795_000_000.5) as outbox:
        (event,) = outbox.health().corruption_events
        assert event.moved_to.name == "o.sqlite3.corrupt-20261118T110640500000Z"
        assert event.moved_to.read_bytes() == garbage  # kept, byte for byte
        assert "not a database" in event.detail
        assert outbox.put(spo2_readings("ox-1", 3)) == 3  # and a fresh outbox works
    with Outbox(path) as outbox:  # the event stays on record in the fresh file
        assert outbox.health().corruption_events == (event,)


def test_a_corrupt_file_can_be_refused_instead_of_replaced(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    path.write_bytes(b"\x00" * 8192)
    with pytest.raises(OutboxCorruptError) as err:
        Outbox(path, recover_corrupt=False)
    assert err.value.path == path
    assert path.read_bytes() == b"\x00" * 8192
    Outbox(tmp_path / "fresh.sqlite3").close()  # and the lock was released for the next try


def _corrupt_pages(path: Path) -> bytes:
    """Overwrite everything after the first page (the header stays valid): quick_check fails."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for i in range(page, len(data)):
        data[i] = (i * 7 + 13) % 256
    path.write_bytes(bytes(data))
    return bytes(data)


def test_damaged_pages_are_caught_at_boot_by_quick_check(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    with Outbox(path) as outbox:
        outbox.put(spo2_readings("ox-1", 500))
    damaged = _corrupt_pages(path)
    with Outbox(path) as outbox:
        (event,) = outbox.health().corruption_events
        assert event.moved_to.read_bytes() == damaged
        assert outbox.depth().readings == 0
        assert outbox.cursor("ox-1") is None
    siblings = sorted(p.name for p in tmp_path.iterdir())
    assert event.moved_to.name in siblings


def test_an_unclean_wal_travels_with_the_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    child = textwrap.dedent(
        f"""
        import os, signal
        from gateway.outbox import Outbox
        from datetime import UTC, datetime
        from devices import make_reading
        def reading(seq):
            return make_reading(device_id="gm-1", metric="glucose", value=6.1, unit="mmol/L",
                                ts=datetime(2026, 11, 23, tzinfo=UTC), seq=seq)
        with Outbox({str(path)!r}) as outbox:  # a clean close checkpoints the WAL
            outbox.put(reading(seq) for seq in range(1, 2001))
        outbox = Outbox({str(path)!r})
        outbox.put([reading(2001)])
        os.kill(os.getpid(), signal.SIGKILL)  # leaves that last commit in the WAL
        """
    )
    subprocess.run([sys.executable, "-c", child], check=False, timeout=60)
    wal = Path(f"{path}-wal")
    assert wal.exists()
    assert wal.stat().st_size > 0
    wal_bytes = wal.read_bytes()
    _corrupt_pages(path)
    with Outbox(path) as outbox:
        (event,) = outbox.health().corruption_events
        assert Path(f"{event.moved_to}-wal").read_bytes() == wal_bytes
        assert outbox.depth().readings == 0  # the old WAL was not replayed into the fresh file


def test_a_foreign_sqlite_database_is_not_taken_for_an_outbox(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
    with Outbox(path) as outbox:
        (event,) = outbox.health().corruption_events
        assert "not an outbox" in event.detail
    with sqlite3.connect(event.moved_to) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("recipes",)]


def test_an_outbox_from_a_newer_gateway_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    Outbox(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(OutboxSchemaError) as err:
        Outbox(path)
    assert (err.value.found, err.value.supported) == (99, SCHEMA_VERSION)
    assert path.exists()  # a newer outbox is not corrupt: it is left where it is


def test_a_version_1_outbox_is_upgraded_keeping_its_readings_and_batches(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    with sqlite3.connect(path) as conn:
        for statement in _outbox_schema._V1:
            conn.execute(statement)
        conn.execute("PRAGMA user_version=1")
        conn.execute("INSERT INTO batches VALUES (1, 'b-1', 0)")
        conn.executemany(
            "INSERT INTO readings (device_id, metric, value, unit, ts_us, seq, flags,"
            " stored_at_us, batch_seq) VALUES (?, ?, ?, ?, ?, ?, '', 0, ?)",
            [
                ("ox-1", "spo2", 97.0, "%", 1_000_000, 1, 1),
                ("gm-1", "glucose", 5.5, "mmol/L", 2_000_000, 1, None),
                ("ox-1", "spo2", 96.0, "%", 3_000_000, 2, None),
            ],
        )
        conn.execute("INSERT INTO device_cursors VALUES ('ox-1', 2, 0)")
        conn.execute("UPDATE outbox_meta SET value = 2 WHERE key = 'next_batch_seq'")
    with Outbox(path) as outbox:
        assert outbox.pragma("user_version") == str(SCHEMA_VERSION)
        assert [b.batch_id for b in outbox.pending_batches()] == ["b-1"]
        assert outbox.cursor("ox-1") == 2
        batch = outbox.form_batch(10)
        assert batch is not None
        assert batch.batch_seq == 2
        assert [(r.device_id, r.seq) for r in batch.readings] == [("gm-1", 1), ("ox-1", 2)]
    with sqlite3.connect(path) as conn:
        thinnable = dict(conn.execute("SELECT metric, thinnable FROM readings"))
    assert thinnable == {"spo2": 1, "glucose": 0}


def test_a_closed_outbox_refuses_work(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.close()
    outbox.close()
    with pytest.raises(OutboxClosedError):
        outbox.put(spo2_readings("ox-1", 1))


# -- group commit ---------------------------------------------------------------------------------


def test_concurrent_puts_share_commits_and_each_caller_gets_its_own_answer(
    tmp_path: Path,
) -> None:
    threads, puts_each = 16, 25
    barrier = threading.Barrier(threads)
    answers: dict[int, list[int]] = {}

    with Outbox(tmp_path / "o.sqlite3") as outbox:

        def device(n: int) -> None:
            barrier.wait()
            answers[n] = [
                outbox.put(spo2_readings(f"ox-{n}", 2, first_seq=1 + 2 * i))
                for i in range(puts_each)
            ]

        workers = [threading.Thread(target=device, args=(n,)) for n in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        health = outbox.health()
        assert outbox.depth().readings == threads * puts_each * 2
        assert all(outbox.cursor(f"ox-{n}") == 2 * puts_each for n in range(threads))
    assert answers == {n: [2] * puts_each for n in range(threads)}
    assert health.put_calls == threads * puts_each
    # Callers that arrive while a commit is running wait and share the next one.
    assert health.put_commits < health.put_calls


def test_without_group_commit_every_put_is_its_own_commit(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3", group_commit=False) as outbox:
        for i in range(5):
            outbox.put(spo2_readings("ox-1", 1, first_seq=i + 1))
        assert (outbox.health().put_calls, outbox.health().put_commits) == (5, 5)


# -- the size bound -------------------------------------------------------------------------------


def glucose_readings(device_id: str, n: int, *, first_seq: int = 1) -> list[Reading]:
    return [
        make_reading(
            device_id=device_id,
            metric="glucose",
            value=5.0 + i % 10 / 10,
            unit="mmol/L",
            ts=T0 + timedelta(minutes=i),
            seq=first_seq + i,
        )
        for i in range(n)
    ]


def test_full_outbox_thins_old_high_rate_samples_and_flags_their_neighbours(
    tmp_path: Path,
) -> None:
    with Outbox(tmp_path / "o.sqlite3", max_readings=100) as outbox:
        outbox.put(glucose_readings("gm-1", 10))
        outbox.put(spo2_readings("ox-1", 90))
        assert outbox.health().thinned_readings == 0
        assert outbox.put(spo2_readings("ox-1", 10, first_seq=91)) == 10  # room was made
        health = outbox.health()
        # The older half of the 110 waiting readings (10 glucose, SpO2 1-45) lost every second
        # SpO2 sample: 22 freed, which leaves room for the next readings too.
        assert (health.readings, health.thinned_readings, health.refused_readings) == (88, 22, 0)
        batch = outbox.form_batch(1000)
    assert batch is not None
    glucose = [r for r in batch.readings if r.metric == "glucose"]
    spo2 = [r for r in batch.readings if r.metric == "spo2"]
    assert [r.seq for r in glucose] == list(range(1, 11))  # clinical readings all kept ...
    assert all(not r.flags for r in glucose)  # ... and untouched
    # The recent samples keep full resolution; the old ones lost every second sample and the
    # survivors say so.
    assert [r.seq for r in spo2] == list(range(1, 46, 2)) + list(range(46, 101))
    assert [r.seq for r in spo2 if Quality.THINNED in r.flags] == list(range(1, 46, 2))
    assert all(not r.flags for r in spo2 if r.seq >= 46)


def test_clinical_readings_are_refused_never_dropped_when_nothing_can_be_thinned(
    tmp_path: Path,
) -> None:
    with Outbox(tmp_path / "o.sqlite3", max_readings=20, clock=lambda: 1_800_000_000.0) as outbox:
        assert outbox.put(glucose_readings("gm-1", 20)) == 20
        with pytest.raises(OutboxFullError) as err:
            outbox.put(glucose_readings("gm-1", 3, first_seq=21))
        assert (err.value.capacity, err.value.readings, err.value.clinical) == (20, 3, 3)
        # Nothing of the refused call is stored and the device's cursor did not move: the
        # glucometer still holds records 21-23 and hands them over on the next sync.
        assert outbox.depth().readings == 20
        assert outbox.cursor("gm-1") == 20
        health = outbox.health()
        assert (health.refused_readings, health.refused_clinical_readings) == (3, 3)
        assert health.refused_puts == 1
        assert health.last_refused_at == datetime.fromtimestamp(1_800_000_000, UTC)
        assert health.thinned_readings == 0
        # Once the ingest acknowledges a batch there is room again.
        batch = outbox.form_batch(10)
        assert batch is not None
        outbox.ack(batch.batch_id)
        assert outbox.put(glucose_readings("gm-1", 3, first_seq=21)) == 3
        assert outbox.cursor("gm-1") == 23
    with Outbox(tmp_path / "o.sqlite3") as outbox:  # the counters survive a restart
        assert outbox.health().refused_clinical_readings == 3


def test_spot_checks_put_as_clinical_are_never_thinned(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3", max_readings=30) as outbox:
        outbox.put(spo2_readings("ox-spot", 30), clinical=True)
        with pytest.raises(OutboxFullError) as err:
            outbox.put(spo2_readings("ox-cont", 5))
        assert err.value.clinical == 0
        assert outbox.depth().readings == 30
        assert outbox.health().thinned_readings == 0


def test_readings_already_in_a_batch_are_never_thinned(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3", max_readings=40) as outbox:
        outbox.put(spo2_readings("ox-1", 40))
        sent = outbox.form_batch(40)
        with pytest.raises(OutboxFullError):
            outbox.put(spo2_readings("ox-1", 1, first_seq=41))
        assert outbox.pending_batches() == [sent]  # the resend must stay byte-identical


def test_a_refusal_in_a_group_commit_does_not_touch_the_other_callers(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3", max_readings=100) as outbox:
        outbox.put(glucose_readings("gm-0", 95))
        barrier = threading.Barrier(10)
        outcomes: list[str] = []

        def sync(n: int) -> None:
            barrier.wait()
            try:
                outbox.put(glucose_readings(f"gm-{n + 1}", 1))
                outcomes.append("stored")
            except OutboxFullError:
                outcomes.append("refused")

        workers = [threading.Thread(target=sync, args=(n,)) for n in range(10)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert sorted(outcomes) == ["refused"] * 5 + ["stored"] * 5
        assert outbox.depth().readings == 100
        stored = [outbox.cursor(f"gm-{n + 1}") for n in range(10)]
        assert stored.count(1) == 5
        assert stored.count(None) == 5


def test_the_bound_can_change_at_run_time(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3", max_readings=1000) as outbox:
        outbox.put(glucose_readings("gm-1", 10))
        outbox.set_max_readings(10)
        assert outbox.max_readings == 10
        with pytest.raises(OutboxFullError):
            outbox.put(glucose_readings("gm-1", 1, first_seq=11))
        with pytest.raises(ConfigError):
            outbox.set_max_readings(0)
    with pytest.raises(ConfigError):
        Outbox(tmp_path / "p.sqlite3", max_readings=-5)


# -- provenance, devices, settings ----------------------------------------------------------------


def test_each_reading_keeps_the_provenance_of_its_time(tmp_path: Path) -> None:
    device_now = datetime(2026, 11, 23, 1, 59, 0)  # the meter's clock: naive and 61 s slow
    gateway_now = datetime(2026, 11, 23, 2, 0, 1, tzinfo=UTC)
    correction = ClockCorrection.measure(device_now, gateway_now, 5000.25, "boot-a")
    assert correction.offset_s == 61
    ts, flags = correction.correct(datetime(2026, 11, 23, 1, 0, 0))
    reading = make_reading(
        device_id="gm-1", metric="glucose", value=6.2, unit="mmol/L", ts=ts, seq=5, flags=flags
    )
    plain = spo2_readings("ox-1", 1)[0]
    with Outbox(
        tmp_path / "o.sqlite3",
        boot_id="boot-b",
        clock=lambda: 1_800_000_000.0,
        monotonic=lambda: 42.5,
    ) as outbox:
        outbox.put([reading], clock=correction)
        outbox.put([plain])
        assert outbox.provenance(reading.key) == Provenance(
            device_time=datetime(2026, 11, 23, 1, 0, 0, tzinfo=UTC),
            gateway_utc=gateway_now,
            monotonic_s=5000.25,
            boot_id="boot-a",
            clock_offset_s=61,
        )
        assert outbox.provenance(plain.key) == Provenance(
            device_time=plain.ts,
            gateway_utc=datetime.fromtimestamp(1_800_000_000, UTC),
            monotonic_s=42.5,
            boot_id="boot-b",
            clock_offset_s=0,
        )
        assert outbox.clock("gm-1") == correction
        assert outbox.clock("ox-1") is None
        assert outbox.provenance(("gm-1", "glucose", 6, ts)) is None


def test_readings_not_corrected_by_the_clock_given_are_refused(tmp_path: Path) -> None:
    correction = ClockCorrection.measure(
        datetime(2026, 11, 23, 1, 0, tzinfo=UTC), datetime(2026, 11, 23, 2, 0, tzinfo=UTC), 1.0, "b"
    )
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        with pytest.raises(ClockError):
            outbox.put(glucose_readings("gm-1", 1), clock=correction)
        assert outbox.depth().readings == 0


def test_devices_report_last_seen_battery_cursor_and_clock(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    with Outbox(tmp_path / "o.sqlite3", clock=lambda: now[0]) as outbox:
        outbox.put(glucose_readings("gm-1", 3))
        now[0] += 60
        outbox.device_seen("gm-1", battery_pct=64.0)
        outbox.device_seen("bp-1")
        with pytest.raises(ValueError, match="battery"):
            outbox.device_seen("bp-1", battery_pct=130.0)
        records = {r.device_id: r for r in outbox.devices()}
    seen = datetime.fromtimestamp(now[0], UTC)
    assert records["gm-1"] == DeviceRecord("gm-1", 3, seen, 64.0, seen, None)
    assert records["bp-1"] == DeviceRecord("bp-1", None, seen, None, None, None)


def test_settings_survive_a_restart(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        assert outbox.load_setting("x") is None
        outbox.save_setting("x", '{"version": 3}')
        outbox.save_setting("x", '{"version": 4}')
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        assert outbox.load_setting("x") == '{"version": 4}'
