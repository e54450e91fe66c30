"""A glucometer read over the emulated radio: every record once, resumed where it stopped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ble_home import home, run

from devices import Quality
from firmware_sim.ble import DeviceClock, Faults
from firmware_sim.ble.glucometer import Glucometer
from gateway import Outbox
from gateway.ble import DeviceKind

METER = "C0:00:00:00:01:01"


def test_glucometer_with_500_records_is_fully_synced_with_true_utc_times(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            home(tmp_path) as h,
            Glucometer(h.link, address=METER, records=500, seed=3) as meter,
        ):
            await h.central.enroll("gluco-1", METER, DeviceKind.GLUCOMETER)
            report = await h.central.sync("gluco-1")
            assert report.complete, report.reason
            assert report.stored == 500
            assert (report.first_seq, report.last_seq) == (1, 500)
            readings = h.readings("gluco-1")
            assert [r.seq for r in readings] == list(range(1, 501))
            for reading, record in zip(readings, meter.records, strict=True):
                assert reading.metric == "glucose"
                assert reading.value is not None
                assert abs(reading.value - record.mmol_l) < 1e-6
                assert reading.ts == datetime.fromtimestamp(round(record.taken_s), UTC)
            assert h.outbox.cursor("gluco-1") == 500

    run(scenario())


def test_second_sync_fetches_only_the_new_records(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with home(tmp_path) as h, Glucometer(h.link, address=METER, records=500) as meter:
            await h.central.enroll("gluco-1", METER, DeviceKind.GLUCOMETER)
            first = await h.central.sync("gluco-1")
            assert first.stored == 500
            meter.add_records(20)
            second = await h.central.sync("gluco-1")
            assert second.complete, second.reason
            assert (second.received, second.stored) == (20, 20)
            assert (second.first_seq, second.last_seq) == (501, 520)
            # "report stored records, sequence number >= 501" (Glucose Service 3.4.1).
            assert meter.requests[-1] == bytes([0x01, 0x03, 0x01]) + (501).to_bytes(2, "little")
            third = await h.central.sync("gluco-1")
            assert (third.complete, third.received, third.stored) == (True, 0, 0)
            assert meter.responses[-1].response_code == 6  # no records found
            assert [r.seq for r in h.readings("gluco-1")] == list(range(1, 521))

    run(scenario())


def test_transfer_cut_after_record_250_resumes_at_251_without_loss_or_duplicates(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        faults = Faults(disconnect_after=250)
        async with (
            home(tmp_path) as h,
            Glucometer(h.link, address=METER, records=500, faults=faults) as meter,
        ):
            await h.central.enroll("gluco-1", METER, DeviceKind.GLUCOMETER)
            cut = await h.central.sync("gluco-1")
            assert not cut.complete
            assert "link lost" in cut.reason
            assert (cut.stored, h.outbox.cursor("gluco-1")) == (250, 250)
            resumed = await h.central.sync("gluco-1")
            assert resumed.complete, resumed.reason
            assert meter.requests[-1] == bytes([0x01, 0x03, 0x01, 251, 0])
            assert (resumed.first_seq, resumed.last_seq, resumed.stored) == (251, 500, 250)
            readings = h.readings("gluco-1")
            assert [r.seq for r in readings] == list(range(1, 501))
            assert len({r.key for r in readings}) == 500
            assert meter.stats.injected_disconnects == 1

    run(scenario())


def test_meter_clock_three_years_off_yields_correct_utc_times(tmp_path: Path) -> None:
    three_years_s = 3 * 365 * 86400 + 86400  # one leap day in any three years

    async def scenario() -> None:
        clock = DeviceClock(error_s=-three_years_s, writable=False)
        async with (
            home(tmp_path) as h,
            Glucometer(h.link, address=METER, records=40, clock=clock) as meter,
        ):
            await h.central.enroll("gluco-1", METER, DeviceKind.GLUCOMETER)
            report = await h.central.sync("gluco-1")
            assert report.complete, report.reason
            assert not report.clock_written  # the meter does not allow it
            readings = h.readings("gluco-1")
            assert len(readings) == 40
            for reading, record in zip(readings, meter.records, strict=True):
                assert record.device_time.year < reading.ts.year - 2  # the meter's stamp
                assert reading.ts == datetime.fromtimestamp(round(record.taken_s), UTC)
                assert Quality.CLOCK_ESTIMATED in reading.flags

    run(scenario())


def test_a_writable_wrong_clock_is_set_after_a_complete_sync(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = DeviceClock(error_s=5000.0, writable=True)
        async with (
            home(tmp_path) as h,
            Glucometer(h.link, address=METER, records=10, clock=clock) as meter,
        ):
            await h.central.enroll("gluco-1", METER, DeviceKind.GLUCOMETER)
            report = await h.central.sync("gluco-1")
            assert report.complete, report.reason
            assert report.clock_written
            assert abs(meter.clock.error_s) < 2.0
            # Records taken before the clock was set kept their wrong stamps; the gateway
            # corrected them with the offset it measured before writing.
            for reading, record in zip(h.readings("gluco-1"), meter.records, strict=True):
                assert reading.ts == datetime.fromtimestamp(round(record.taken_s), UTC)

    run(scenario())


def test_damaged_record_is_counted_and_read_again_and_nothing_is_lost(tmp_path: Path) -> None:
    async def scenario() -> None:
        faults = Faults(corrupt=frozenset({100, 300}))
        async with (
            home(tmp_path) as h,
            Glucometer(h.link, address=METER, records=400, faults=faults) as meter,
        ):
            await h.central.enroll("gluco-1", METER, DeviceKind.GLUCOMETER)
            report = await h.central.sync("gluco-1")
            assert report.complete, report.reason
            assert (report.decode_errors, report.recovered, report.lost) == (2, 2, 0)
            assert [r.seq for r in h.readings("gluco-1")] == list(range(1, 401))
            # The gap was asked for again with "within range" (01 04 01 low high).
            assert bytes([0x01, 0x04, 0x01, 100, 0, 100, 0]) in meter.requests

    run(scenario())


def test_record_damaged_in_the_meters_memory_is_reported_lost_and_the_rest_kept(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        faults = Faults(corrupt=frozenset({7}), corrupt_repeats=True)
        async with (
            home(tmp_path) as h,
            Glucometer(h.link, address=METER, records=20, faults=faults),
        ):
            await h.central.enroll("gluco-1", METER, DeviceKind.GLUCOMETER)
            report = await h.central.sync("gluco-1")
            assert report.complete, report.reason
            assert (report.lost, report.lost_sequences) == (1, [7])
            assert [r.seq for r in h.readings("gluco-1")] == [s for s in range(1, 21) if s != 7]
            assert any(e.kind == "ble_records_lost" and e.count == 1 for e in h.events)
            codes = [p["code"] for p in h.central.problems()]
            assert "ble_records_lost" in codes

    run(scenario())


def test_full_outbox_aborts_the_transfer_and_the_meter_keeps_the_records(tmp_path: Path) -> None:
    async def scenario() -> None:
        outbox = Outbox(tmp_path / "outbox.sqlite3", max_readings=150)
        try:
            async with (
                home(tmp_path, outbox=outbox) as h,
                Glucometer(h.link, address=METER, records=300) as meter,
            ):
                await h.central.enroll("gluco-1", METER, DeviceKind.GLUCOMETER)
                report = await h.central.sync("gluco-1")
                assert not report.complete
                assert "outbox full" in report.reason
                # Glucose is clinical: refused, never thinned; the cursor stays on what is held:
                # the first group of flush_every (100) records fitted, the second did not.
                cursor = h.outbox.cursor("gluco-1")
                assert cursor == 100
                assert report.stored == cursor
                assert bytes([0x03, 0x00]) in meter.requests  # RACP Abort Operation
                for batch in list(h.outbox.pending_batches()):
                    h.outbox.ack(batch.batch_id)
                while (batch := h.outbox.form_batch(1000)) is not None:
                    h.outbox.ack(batch.batch_id)  # the uplink delivered them
                h.outbox.set_max_readings(1000)
                again = await h.central.sync("gluco-1")
                assert again.complete, again.reason
                assert (again.first_seq, again.last_seq) == (cursor + 1, 300)
                assert again.stored == 300 - cursor
        finally:
            outbox.close()

    run(scenario())
