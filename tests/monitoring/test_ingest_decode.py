"""The ingest's fast decoding path agrees with the validator on every batch, ordinary or not."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices import PayloadError, parse_batch
from monitoring.ingest._decode import decode_batch, rows_of

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def _ts(offset_s: float, tz: timezone = UTC) -> str:
    return (NOW + timedelta(seconds=offset_s)).astimezone(tz).isoformat()


ordinary_reading = st.fixed_dictionaries(
    {
        "device_id": st.sampled_from(["ox-1", "bp-2", "glu-3"]),
        "metric": st.just("spo2"),
        "value": st.one_of(st.integers(0, 120), st.floats(0, 120)),
        "unit": st.just("%"),
        "ts": st.integers(-86_400 * 30, 500).map(_ts),
        "seq": st.integers(0, 2**63 - 1),
        "flags": st.lists(st.sampled_from(["measurement_issue", "thinned"]), max_size=2),
    }
)

# Everything the validator distinguishes: wrong types, special values, other units, odd
# timestamps, out-of-range numbers, unknown metrics and flags, missing fields.
odd_value = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=3),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.just(1e308),
)
odd_ts = st.one_of(
    st.integers(-86_400 * 365 * 30, 86_400).map(_ts),
    st.integers(-3600, 3600).map(lambda s: _ts(s, timezone(timedelta(hours=8)))),
    st.just("2026-11-23T02:00:00"),  # no offset
    st.just("2026-11-23 02:00:00Z"),
    st.just("1999-12-31T23:59:59Z"),
    st.just("2026-11-23T02:30:00.123456+00:00"),
    st.text(max_size=45),
    st.integers(),
)
odd_reading = st.fixed_dictionaries(
    {},
    optional={
        "device_id": st.one_of(st.sampled_from(["ox-1", "bad id", "-x", ""]), st.integers()),
        "metric": st.sampled_from(["spo2", "glucose", "bp_systolic", "cholesterol", 7]),
        "value": odd_value,
        "unit": st.sampled_from(["%", "mmol/L", "mg/dL", "mm[Hg]", "kPa", "mmHg", 1]),
        "ts": odd_ts,
        "seq": st.one_of(st.integers(-5, 2**64), st.booleans(), st.floats(0, 10)),
        "flags": st.one_of(
            st.lists(st.sampled_from(["nan", "pos_inf", "thinned", "Bad", "x,y", 3])),
            st.none(),
            st.just(""),
            st.just({}),
        ),
    },
)


def _doc(readings: list[Any], **over: Any) -> bytes:
    doc: dict[str, Any] = {
        "schema": "homeward.readings/1",
        "gateway_id": "gw-1",
        "batch_id": "b-1",
        "batch_seq": 1,
        "sent_at": "2026-11-23T02:00:05Z",
        "readings": readings,
    }
    doc.update(over)
    return json.dumps(doc).encode()


def _agree(raw: bytes) -> bool:
    """Assert decode_batch says what parse_batch says; True when the fast path decided."""
    try:
        expected = parse_batch(raw, now=NOW)
    except PayloadError as exc:
        refused = (exc.reason, exc.detail)
    else:
        refused = None
    if refused is not None:
        with pytest.raises(PayloadError) as got:
            decode_batch(raw, now=NOW)
        assert (got.value.reason, got.value.detail) == refused
        return False
    decoded = decode_batch(raw, now=NOW)
    assert decoded.rows == rows_of(expected)
    assert decoded.rejected == expected.rejected
    assert (decoded.gateway_id, decoded.batch_id, decoded.batch_seq) == (
        expected.gateway_id,
        expected.batch_id,
        expected.batch_seq,
    )
    assert decoded.days == {r.ts.date() for r in expected.readings}
    return decoded.fast


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ordinary_reading, min_size=1, max_size=20))
def test_ordinary_batches_take_the_fast_path_with_the_validators_result(
    readings: list[dict[str, Any]],
) -> None:
    assert _agree(_doc(readings))


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(ordinary_reading, odd_reading), min_size=1, max_size=8))
def test_any_batch_decodes_exactly_as_the_validator_decides(readings: list[Any]) -> None:
    _agree(_doc(readings))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"schema": "homeward.readings/1"',
        b"\xef\xbb\xbf" + _doc([{"device_id": "ox-1"}]),
        _doc([]),
        _doc([{"device_id": "ox-1"}], gateway_id="bad id"),
        _doc([{"device_id": "ox-1"}], batch_seq=True),
        _doc([{"device_id": "ox-1"}], sent_at="yesterday"),
        _doc([{"device_id": "ox-1"}], schema="homeward.readings/2"),
        # Integers past 64 bits and lone surrogates: orjson and the standard library differ.
        _doc(
            [
                {
                    "device_id": "ox-1",
                    "metric": "spo2",
                    "value": 2**64 + 1,
                    "unit": "%",
                    "ts": "2026-11-23T01:00:00Z",
                    "seq": 1,
                }
            ]
        ),
        _doc([{"device_id": "ox-1", "note": "\ud800"}]),
        b'{"schema":"homeward.readings/1","gateway_id":"gw-1","batch_id":"b","batch_seq":1,'
        b'"sent_at":"2026-11-23T02:00:05Z","readings":[{"device_id":"ox-1","metric":"spo2",'
        b'"value":NaN,"unit":"%","ts":"2026-11-23T01:00:00Z","seq":1}]}',
    ],
)
def test_envelopes_and_json_the_fast_path_does_not_know_go_to_the_validator(raw: bytes) -> None:
    assert not _agree(raw)


def test_a_glucose_reading_in_mg_dl_is_converted_and_flagged_like_the_validator_does() -> None:
    raw = _doc(
        [
            {
                "device_id": "glu-1",
                "metric": "glucose",
                "value": 99,
                "unit": "mg/dL",
                "ts": "2026-11-23T09:00:00+08:00",
                "seq": 4,
            },
            {
                "device_id": "glu-1",
                "metric": "glucose",
                "value": 5,
                "unit": "mg/dL",
                "ts": "2026-11-23T09:05:00+08:00",
                "seq": 5,
                "flags": ["measurement_issue"],
            },
        ]
    )
    assert _agree(raw)
    [first, second] = decode_batch(raw, now=NOW).rows
    assert first[4] == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert first[6:] == ("mmol/L", None)
    assert second[7] == "implausible,measurement_issue"


def test_a_batch_crossing_utc_midnight_back_and_forth_names_every_day_it_needs() -> None:
    # Out of order across midnight, and one reading whose local date (+08:00) is not its UTC day:
    # the partitions to create are the UTC days of the readings, each once.
    stamps = [
        "2026-11-22T23:59:59Z",
        "2026-11-23T00:00:00Z",
        "2026-11-22T23:59:58.5+00:00",
        "2026-11-23T07:30:00+08:00",
        "2026-11-21T12:00:00Z",
        "2026-11-23T01:00:00Z",
    ]
    raw = _doc(
        [
            {"device_id": "ox-1", "metric": "spo2", "value": 97, "unit": "%", "ts": ts, "seq": i}
            for i, ts in enumerate(stamps)
        ]
    )
    assert _agree(raw)
    decoded = decode_batch(raw, now=NOW)
    assert decoded.days == {date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 23)}
    assert [row[4].tzinfo for row in decoded.rows] == [UTC] * len(stamps)
