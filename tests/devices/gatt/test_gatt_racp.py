"""Record Access Control Point: the requests a gateway sends and the answers a device gives."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from gatt_golden import (
    RACP_ABORT,
    RACP_DELETE_ALL,
    RACP_NO_RECORDS_FOUND,
    RACP_NUMBER_OF_RECORDS_500,
    RACP_REPORT_ALL,
    RACP_REPORT_NUMBER_ALL,
    RACP_REPORT_SEQ_AT_LEAST_251,
    RACP_REPORT_TIME_RANGE,
    RACP_SUCCESS,
)
from gatt_strategies import device_times, u16
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import DecodeError
from devices.gatt import (
    AbortOperation,
    DeleteStoredRecords,
    EncodeError,
    FilterType,
    NumberOfStoredRecords,
    OpCode,
    Operator,
    RacpRequest,
    RacpRequestError,
    RecordAccessResponse,
    RecordFilter,
    ReportNumberOfStoredRecords,
    ReportStoredRecords,
    ResponseCode,
    decode_racp_request,
    decode_racp_response,
    encode_racp_request,
    encode_racp_response,
    refusal_for,
    select_records,
)


def test_report_records_at_least_n_is_01_03_01_n() -> None:
    request = ReportStoredRecords(RecordFilter.seq_at_least(251))
    assert encode_racp_request(request) == RACP_REPORT_SEQ_AT_LEAST_251
    assert decode_racp_request(RACP_REPORT_SEQ_AT_LEAST_251) == request


@pytest.mark.parametrize(
    ("data", "request_"),
    [
        (RACP_REPORT_ALL, ReportStoredRecords(RecordFilter.all_records())),
        (RACP_REPORT_NUMBER_ALL, ReportNumberOfStoredRecords(RecordFilter.all_records())),
        (RACP_DELETE_ALL, DeleteStoredRecords(RecordFilter.all_records())),
        (RACP_ABORT, AbortOperation()),
        (
            RACP_REPORT_TIME_RANGE,
            ReportStoredRecords(
                RecordFilter.time_between(
                    datetime(2026, 11, 23, 0, 0, 0), datetime(2026, 11, 23, 23, 59, 59)
                )
            ),
        ),
        (bytes([0x01, 0x05]), ReportStoredRecords(RecordFilter.first_record())),
        (bytes([0x01, 0x06]), ReportStoredRecords(RecordFilter.last_record())),
        (
            bytes([0x04, 0x02, 0x01, 0x0A, 0x00]),
            ReportNumberOfStoredRecords(RecordFilter.seq_at_most(10)),
        ),
    ],
)
def test_golden_requests(data: bytes, request_: RacpRequest) -> None:
    assert encode_racp_request(request_) == data
    assert decode_racp_request(data) == request_


def test_completion_and_no_records_answers() -> None:
    done = decode_racp_response(RACP_SUCCESS)
    assert done == RecordAccessResponse(OpCode.REPORT_STORED_RECORDS, ResponseCode.SUCCESS)
    assert isinstance(done, RecordAccessResponse)
    assert done.ok
    none = decode_racp_response(RACP_NO_RECORDS_FOUND)
    assert none == RecordAccessResponse(OpCode.REPORT_STORED_RECORDS, ResponseCode.NO_RECORDS_FOUND)
    assert isinstance(none, RecordAccessResponse)
    assert not none.ok
    assert encode_racp_response(done) == RACP_SUCCESS
    assert encode_racp_response(none) == RACP_NO_RECORDS_FOUND


def test_number_of_records_response() -> None:
    assert decode_racp_response(RACP_NUMBER_OF_RECORDS_500) == NumberOfStoredRecords(500)
    assert encode_racp_response(NumberOfStoredRecords(500)) == RACP_NUMBER_OF_RECORDS_500
    # A uint32 count (later services) is read too.
    assert decode_racp_response(bytes.fromhex("0500 a0860100")) == NumberOfStoredRecords(100_000)
    assert encode_racp_response(NumberOfStoredRecords(100_000)) == bytes.fromhex("0500a0860100")


def test_every_response_code_has_its_spec_value() -> None:
    assert {c.name: c.value for c in ResponseCode} == {
        "SUCCESS": 1,
        "OP_CODE_NOT_SUPPORTED": 2,
        "INVALID_OPERATOR": 3,
        "OPERATOR_NOT_SUPPORTED": 4,
        "INVALID_OPERAND": 5,
        "NO_RECORDS_FOUND": 6,
        "ABORT_UNSUCCESSFUL": 7,
        "PROCEDURE_NOT_COMPLETED": 8,
        "OPERAND_NOT_SUPPORTED": 9,
    }


@pytest.mark.parametrize("code", list(ResponseCode))
def test_every_response_code_round_trips(code: ResponseCode) -> None:
    for op in (OpCode.REPORT_STORED_RECORDS, OpCode.ABORT_OPERATION, 0x77):
        r = RecordAccessResponse(op, code)
        assert decode_racp_response(encode_racp_response(r)) == r


def test_reserved_response_code_is_kept_and_is_not_success() -> None:
    r = decode_racp_response(bytes([0x06, 0x00, 0x01, 0x0A]))
    assert isinstance(r, RecordAccessResponse)
    assert r.response_code == 10
    assert not r.ok


@pytest.mark.parametrize(
    ("data", "op_code", "code"),
    [
        (bytes([0x07, 0x01]), 0x07, ResponseCode.OP_CODE_NOT_SUPPORTED),
        (bytes([0x00, 0x01]), 0x00, ResponseCode.OP_CODE_NOT_SUPPORTED),
        (bytes([0x06, 0x00, 0x01, 0x01]), 0x06, ResponseCode.OP_CODE_NOT_SUPPORTED),
        (bytes([0x01]), 0x01, ResponseCode.INVALID_OPERATOR),
        (bytes([0x01, 0x00]), 0x01, ResponseCode.INVALID_OPERATOR),
        (bytes([0x03, 0x01]), 0x03, ResponseCode.INVALID_OPERATOR),
        (bytes([0x01, 0x07]), 0x01, ResponseCode.OPERATOR_NOT_SUPPORTED),
        (bytes([0x03, 0x00, 0x00]), 0x03, ResponseCode.INVALID_OPERAND),
        (bytes([0x01, 0x01, 0x01]), 0x01, ResponseCode.INVALID_OPERAND),
        (bytes([0x01, 0x03]), 0x01, ResponseCode.INVALID_OPERAND),
        (bytes([0x01, 0x03, 0x01, 0xFB]), 0x01, ResponseCode.INVALID_OPERAND),
        (bytes([0x01, 0x03, 0x01, 0xFB, 0x00, 0x00]), 0x01, ResponseCode.INVALID_OPERAND),
        (bytes([0x01, 0x04, 0x01, 0x05, 0x00, 0x03, 0x00]), 0x01, ResponseCode.INVALID_OPERAND),
        (bytes([0x01, 0x03, 0x02]) + bytes(7), 0x01, ResponseCode.INVALID_OPERAND),
        (bytes([0x01, 0x03, 0x09, 0x01, 0x00]), 0x01, ResponseCode.OPERAND_NOT_SUPPORTED),
    ],
)
def test_a_device_refuses_bad_requests_with_the_right_response_code(
    data: bytes, op_code: int, code: ResponseCode
) -> None:
    with pytest.raises(RacpRequestError) as e:
        decode_racp_request(data)
    assert (e.value.op_code, e.value.response_code) == (op_code, code)
    assert isinstance(e.value, DecodeError)
    answer = refusal_for(e.value)
    assert answer == RecordAccessResponse(op_code, code)
    assert encode_racp_response(answer) == bytes([0x06, 0x00, op_code, code])


def test_an_empty_write_gets_no_answer() -> None:
    with pytest.raises(RacpRequestError) as e:
        decode_racp_request(b"")
    assert refusal_for(e.value) is None


@pytest.mark.parametrize(
    "data",
    [b"", b"\x06", b"\x06\x01\x01\x01", b"\x06\x00\x01", b"\x05\x00\x01", b"\x01\x01", b"\x05\x00"],
)
def test_malformed_responses_are_decode_errors(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_racp_response(data)


def test_impossible_filters_are_not_encoded() -> None:
    for bad in (
        RecordFilter(Operator.ALL_RECORDS, FilterType.SEQUENCE_NUMBER, low=1),
        RecordFilter(Operator.GREATER_THAN_OR_EQUAL),
        RecordFilter(Operator.GREATER_THAN_OR_EQUAL, FilterType.SEQUENCE_NUMBER, low=70_000),
        RecordFilter(Operator.GREATER_THAN_OR_EQUAL, FilterType.SEQUENCE_NUMBER, low=1, high=2),
        RecordFilter.seq_between(5, 3),
        RecordFilter(Operator.NULL),
        RecordFilter(Operator.GREATER_THAN_OR_EQUAL, FilterType.USER_FACING_TIME, low=3),
    ):
        with pytest.raises(EncodeError):
            encode_racp_request(ReportStoredRecords(bad))


filters = st.one_of(
    st.sampled_from(
        [RecordFilter.all_records(), RecordFilter.first_record(), RecordFilter.last_record()]
    ),
    u16.map(RecordFilter.seq_at_least),
    u16.map(RecordFilter.seq_at_most),
    st.tuples(u16, u16).map(lambda t: RecordFilter.seq_between(min(t), max(t))),
    device_times.map(RecordFilter.time_at_least),
    device_times.map(RecordFilter.time_at_most),
    st.tuples(device_times, device_times).map(lambda t: RecordFilter.time_between(min(t), max(t))),
)
requests = st.one_of(
    filters.map(ReportStoredRecords),
    filters.map(DeleteStoredRecords),
    filters.map(ReportNumberOfStoredRecords),
    st.just(AbortOperation()),
)


@given(requests)
def test_requests_round_trip(request_: RacpRequest) -> None:
    assert decode_racp_request(encode_racp_request(request_)) == request_


@given(st.integers(0, 0xFFFFFFFF))
def test_number_of_records_round_trips(count: int) -> None:
    r = NumberOfStoredRecords(count)
    assert decode_racp_response(encode_racp_response(r)) == r


def _refusal_code(data: bytes) -> int | None:
    try:
        decode_racp_request(data)
    except RacpRequestError as e:
        return e.response_code
    return None


@given(st.binary(max_size=24))
def test_any_write_to_the_control_point_decodes_or_is_refused_with_a_code(data: bytes) -> None:
    code = _refusal_code(data)
    assert code is None or code in set(ResponseCode)
    with contextlib.suppress(DecodeError):
        decode_racp_response(data)


@dataclass(frozen=True)
class Rec:
    seq: int
    time: datetime | None


T0 = datetime(2026, 11, 23, 8, 0)
RECORDS = [Rec(s, T0 + timedelta(hours=s)) for s in range(1, 11)] + [Rec(11, None)]


def pick(f: RecordFilter) -> list[int]:
    chosen = select_records(
        f, RECORDS, sequence_number=lambda r: r.seq, user_facing_time=lambda r: r.time
    )
    return [r.seq for r in chosen]


def test_select_records_as_the_glucose_service_defines() -> None:
    assert pick(RecordFilter.all_records()) == list(range(1, 12))
    assert pick(RecordFilter.seq_at_least(9)) == [9, 10, 11]
    assert pick(RecordFilter.seq_at_most(2)) == [1, 2]
    assert pick(RecordFilter.seq_between(4, 5)) == [4, 5]
    assert pick(RecordFilter.first_record()) == [1]
    assert pick(RecordFilter.last_record()) == [11]
    assert pick(RecordFilter.seq_at_least(12)) == []
    # Records with an unknown time never match a time filter.
    assert pick(RecordFilter.time_at_least(T0 + timedelta(hours=9))) == [9, 10]
    assert pick(RecordFilter.time_between(T0 + timedelta(hours=2), T0 + timedelta(hours=3))) == [
        2,
        3,
    ]
