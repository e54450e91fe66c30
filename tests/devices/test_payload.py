"""The homeward.readings/1 validator: what a gateway may send, and what the ingest refuses."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices import (
    SCHEMA,
    Ack,
    PayloadError,
    Quality,
    encode_ack,
    encode_batch,
    make_reading,
    mmol_l_to_mg_dl,
    parse_ack,
    parse_batch,
)

NOW = datetime(2026, 11, 23, 2, 0, 0, tzinfo=UTC)


def reading(**over: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "device_id": "ox-0042",
        "metric": "spo2",
        "value": 94,
        "unit": "%",
        "ts": "2026-11-23T01:59:00Z",
        "seq": 1234,
        "flags": [],
    }
    r.update(over)
    return r


def batch(*readings: dict[str, Any], **over: Any) -> bytes:
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "gateway_id": "gw-7f3a",
        "batch_id": "b-1",
        "batch_seq": 17,
        "sent_at": "2026-11-23T02:00:00Z",
        "readings": list(readings) or [reading()],
    }
    doc.update(over)
    return json.dumps(doc).encode()


def test_good_batch_is_accepted_with_every_field() -> None:
    b = parse_batch(batch(reading(), reading(metric="heart_rate", value=71, unit="/min")), now=NOW)
    assert (b.gateway_id, b.batch_id, b.batch_seq) == ("gw-7f3a", "b-1", 17)
    assert b.sent_at == NOW
    assert [r.metric for r in b.readings] == ["spo2", "heart_rate"]
    r = b.readings[0]
    assert (r.value, r.unit, r.seq) == (94.0, "%", 1234)
    assert r.ts == datetime(2026, 11, 23, 1, 59, tzinfo=UTC)
    assert b.rejected == ()


def test_glucose_in_mg_dl_is_stored_in_mmol_l() -> None:
    b = parse_batch(batch(reading(metric="glucose", value=180, unit="mg/dL")), now=NOW)
    assert b.readings[0].unit == "mmol/L"
    assert b.readings[0].value == pytest.approx(9.991, abs=1e-3)
    assert mmol_l_to_mg_dl(b.readings[0].value or 0) == pytest.approx(180)


def test_glucose_in_mmol_l_is_kept_as_is() -> None:
    b = parse_batch(batch(reading(metric="glucose", value=5.6, unit="mmol/L")), now=NOW)
    assert b.readings[0].value == 5.6


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"\xff\xfe\x00", "malformed_json"),
        (b'{"schema": "homeward.readings/1", "value": NaN}', "malformed_json"),
        (b"[1, 2]", "not_an_object"),
        (batch(schema="homeward.readings/2"), "unknown_schema"),
        (json.dumps({"schema": SCHEMA}).encode(), "missing_field"),
        (batch(batch_seq="17"), "invalid_field"),
        (batch(batch_seq=True), "invalid_field"),
        (batch(sent_at="2026-11-23 02:00:00"), "invalid_field"),
        (batch(gateway_id="gw/../x"), "invalid_field"),
        (batch(readings={}), "invalid_field"),
        (
            batch(readings=[])
            if False
            else json.dumps(
                {
                    "schema": SCHEMA,
                    "gateway_id": "g",
                    "batch_id": "b",
                    "batch_seq": 1,
                    "sent_at": "2026-11-23T02:00:00Z",
                    "readings": [],
                }
            ).encode(),
            "empty_batch",
        ),
    ],
)
def test_a_document_that_is_not_a_batch_is_refused_whole(raw: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as exc:
        parse_batch(raw, now=NOW)
    assert exc.value.reason == reason
    assert exc.value.detail


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (reading(metric="cholesterol"), "unknown_metric"),
        (reading(unit="mmHg"), "invalid_unit"),
        (reading(metric="glucose", value=100, unit="%"), "invalid_unit"),
        (reading(value="94"), "invalid_value"),
        (reading(value=None), "invalid_value"),
        (reading(value=True), "invalid_value"),
        (reading(ts="2026-11-23T01:59:00"), "invalid_timestamp"),
        (reading(ts="yesterday"), "invalid_timestamp"),
        (reading(ts="1999-12-31T23:59:59Z"), "timestamp_before_2000"),
        (reading(ts="1970-01-01T00:00:00Z"), "timestamp_before_2000"),
        (reading(ts="2027-11-23T02:00:00Z"), "timestamp_in_future"),
        (reading(seq=-1), "invalid_seq"),
        (reading(seq=2**64), "invalid_seq"),
        (reading(device_id=""), "invalid_device_id"),
        (reading(flags="bad"), "invalid_flags"),
        ("not an object", "not_an_object"),
        ({k: v for k, v in reading().items() if k != "ts"}, "missing_field"),
    ],
)
def test_a_bad_reading_is_rejected_alone_and_its_neighbours_are_kept(bad: Any, reason: str) -> None:
    b = parse_batch(batch(reading(seq=1), bad, reading(seq=3)), now=NOW)
    assert [r.seq for r in b.readings] == [1, 3]
    assert b.indexes == (0, 2)
    assert len(b.rejected) == 1
    rej = b.rejected[0]
    assert (rej.index, rej.reason) == (1, reason)
    assert rej.raw == bad


def test_value_outside_the_plausible_range_is_kept_with_a_flag() -> None:
    b = parse_batch(
        batch(reading(value=12), reading(seq=2, metric="bp_systolic", value=0, unit="mm[Hg]")),
        now=NOW,
    )
    assert all(Quality.IMPLAUSIBLE in r.flags for r in b.readings)
    assert not any(r.trusted for r in b.readings)
    assert b.rejected == ()


def test_special_value_travels_as_null_with_its_flag() -> None:
    b = parse_batch(
        batch(reading(metric="glucose", value=None, unit="mmol/L", flags=["pos_inf"])), now=NOW
    )
    assert b.readings[0].value is None
    assert b.readings[0].flags == {"pos_inf"}
    assert not b.readings[0].trusted


def test_small_clock_skew_ahead_is_accepted() -> None:
    ahead = (NOW + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert parse_batch(batch(reading(ts=ahead)), now=NOW).rejected == ()


def test_timestamps_with_an_offset_are_converted_to_utc() -> None:
    b = parse_batch(batch(reading(ts="2026-11-23T09:59:00+08:00")), now=NOW)
    assert b.readings[0].ts == datetime(2026, 11, 23, 1, 59, tzinfo=UTC)


def test_temperature_in_fahrenheit_is_stored_in_celsius() -> None:
    b = parse_batch(batch(reading(metric="body_temperature", value=98.6, unit="[degF]")), now=NOW)
    assert b.readings[0].value == pytest.approx(37.0)


_readings = st.builds(
    lambda seq, v, minutes: make_reading(
        device_id="ox-1",
        metric="spo2",
        value=v,
        unit="%",
        ts=NOW - timedelta(minutes=minutes),
        seq=seq,
    ),
    st.integers(0, 2**63 - 1),
    st.floats(50, 100, allow_nan=False),
    st.integers(0, 60 * 24 * 365 * 20),
)


@given(st.lists(_readings, min_size=1, max_size=50))
def test_encode_then_parse_returns_the_same_readings(readings: list[Any]) -> None:
    raw = encode_batch(
        gateway_id="gw-1", batch_id="b-9", batch_seq=9, readings=readings, sent_at=NOW
    )
    b = parse_batch(raw, now=NOW)
    assert b.readings == tuple(readings)
    assert b.rejected == ()


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_payload_error(raw: bytes) -> None:
    with contextlib.suppress(PayloadError):
        parse_batch(raw, now=NOW)


def test_ack_round_trips() -> None:
    ack = Ack(batch_id="b-1", batch_seq=4, stored=10, duplicates=2, rejected=1)
    assert parse_ack(encode_ack(ack)) == ack
    with pytest.raises(PayloadError):
        parse_ack(b'{"schema": "other"}')
