"""Device clock correction: deterministic, so a record read twice keeps its idempotency key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices import Quality
from gateway import CLOCK_TOLERANCE_S, ClockCorrection, ClockError, Provenance

NOW = datetime(2026, 11, 23, 2, 0, 0, tzinfo=UTC)


def test_a_device_clock_within_tolerance_is_left_alone() -> None:
    c = ClockCorrection.measure(NOW - timedelta(seconds=1.4), NOW, 100.0, "boot")
    assert c.offset_s == 0
    assert not c.estimated
    record = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    assert c.correct(record) == (record, frozenset())


def test_a_slow_device_clock_is_corrected_in_whole_seconds_and_flagged() -> None:
    c = ClockCorrection.measure(NOW - timedelta(minutes=37, seconds=12.3), NOW, 100.0, "boot")
    assert c.offset_s == 37 * 60 + 12
    assert c.measured_offset_s == pytest.approx(2232.3)
    ts, flags = c.correct(datetime(2026, 11, 22, 23, 0, 0, 250_000, tzinfo=UTC))
    assert ts == datetime(2026, 11, 22, 23, 37, 12, 250_000, tzinfo=UTC)
    assert flags == {Quality.CLOCK_ESTIMATED}


def test_a_device_set_to_local_time_comes_out_in_utc() -> None:
    # The meter shows Beijing wall-clock time without a zone (GATT Date Time has none).
    device_now = datetime(2026, 11, 23, 10, 0, 0)
    c = ClockCorrection.measure(device_now, NOW, 0.0, "boot")
    assert c.offset_s == -8 * 3600
    ts, _ = c.correct(datetime(2026, 11, 23, 7, 30, 0))
    assert ts == datetime(2026, 11, 22, 23, 30, tzinfo=UTC)


def test_a_clock_reset_to_2000_is_corrected() -> None:
    device_now = datetime(2000, 1, 1, 0, 5, 0, tzinfo=UTC)
    c = ClockCorrection.measure(device_now, NOW, 0.0, "boot")
    ts, flags = c.correct(datetime(2000, 1, 1, 0, 1, 0, tzinfo=UTC))
    assert ts == NOW - timedelta(minutes=4)
    assert Quality.CLOCK_ESTIMATED in flags


def test_aware_device_times_in_any_zone_mean_the_same_instant() -> None:
    shanghai = timezone(timedelta(hours=8))
    a = ClockCorrection.measure(NOW - timedelta(seconds=90), NOW, 0.0, "b")
    b = ClockCorrection.measure((NOW - timedelta(seconds=90)).astimezone(shanghai), NOW, 0.0, "b")
    assert a.offset_s == b.offset_s == 90


def test_remeasuring_keeps_the_previous_offset_so_a_reread_record_keeps_its_time() -> None:
    first = ClockCorrection.measure(NOW - timedelta(seconds=100.4), NOW, 10.0, "boot")
    assert first.offset_s == 100
    later = NOW + timedelta(hours=3)
    # Three hours later the clock has drifted 1.3 s and the read took longer: still the same
    # offset, so a record re-read now gets the timestamp it got the first time.
    again = ClockCorrection.measure(
        later - timedelta(seconds=101.7), later, 10_810.0, "boot", previous=first
    )
    assert again.offset_s == 100
    record = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert again.correct(record) == first.correct(record)
    # Beyond the tolerance the offset follows the clock.
    moved = ClockCorrection.measure(later - timedelta(seconds=130), later, 1.0, "b", previous=first)
    assert moved.offset_s == 130


def test_a_device_without_a_clock_is_stamped_by_the_gateway() -> None:
    c = ClockCorrection.gateway_clock(NOW, 12.5, "boot")
    assert c.device_time is None
    assert c.correct(NOW) == (NOW, frozenset())
    assert c.provenance(NOW) == Provenance(NOW, NOW, 12.5, "boot", 0)


def test_provenance_gives_back_the_device_time() -> None:
    c = ClockCorrection.measure(NOW - timedelta(seconds=300), NOW, 7.0, "boot-1")
    record = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    ts, _ = c.correct(record)
    assert c.provenance(ts) == Provenance(record, NOW, 7.0, "boot-1", 300)


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"gateway_utc": datetime(2026, 11, 23)}, "gateway_utc"),
        ({"monotonic_s": float("nan")}, "monotonic_s"),
        ({"boot_id": ""}, "boot_id"),
        ({"tolerance_s": -1.0}, "tolerance_s"),
    ],
)
def test_unusable_clock_readings_are_refused(kwargs: dict[str, object], bad: str) -> None:
    args: dict[str, object] = {
        "device_time": NOW,
        "gateway_utc": NOW,
        "monotonic_s": 1.0,
        "boot_id": "boot",
    }
    args.update(kwargs)
    with pytest.raises(ClockError, match=bad):
        ClockCorrection.measure(**args)  # type: ignore[arg-type]


@given(
    skew_s=st.integers(min_value=-10 * 365 * 86400, max_value=10 * 365 * 86400),
    noise_1=st.floats(min_value=0.0, max_value=0.45),
    noise_2=st.floats(min_value=-CLOCK_TOLERANCE_S + 0.5, max_value=CLOCK_TOLERANCE_S - 0.5),
    record_s=st.integers(min_value=0, max_value=86400 * 30),
)
def test_correction_is_deterministic_across_syncs(
    skew_s: int, noise_1: float, noise_2: float, record_s: int
) -> None:
    """Whatever the skew, a record corrected at one sync and re-read at a later sync (with the
    previous correction remembered) gets the same UTC time."""
    device_now = NOW + timedelta(seconds=skew_s)
    first = ClockCorrection.measure(device_now - timedelta(seconds=noise_1), NOW, 0.0, "a")
    second = ClockCorrection.measure(
        device_now - timedelta(seconds=noise_2), NOW, 5.0, "b", previous=first
    )
    record = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=record_s)
    assert first.correct(record) == second.correct(record)
    assert abs(first.offset_s - (-skew_s)) <= 1
