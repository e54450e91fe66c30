"""Record Access Control Point 0x2A52: how a collector asks a device for its stored records.

Layout (GATT Specification Supplement, "Record Access Control Point"; procedures in the Glucose
Service v1.0, which the Pulse Oximeter, Weight Scale and our chopsticks reuse)::

    op code   uint8    1 report stored records        (request, operator from the table)
                       2 delete stored records        (request, operator from the table)
                       3 abort operation              (request, operator Null)
                       4 report number of records     (request, operator from the table)
                       5 number of records response   (response, operator Null, operand uint16)
                       6 response code                (response, operator Null,
                                                       operand: request op code, response code)
    operator  uint8    0 Null, 1 all records, 2 <=, 3 >=, 4 within range (inclusive),
                       5 first (oldest) record, 6 last (most recent) record
    operand   ...      for <=, >= and within range: filter type (uint8) then the bound(s):
                       1 = sequence number (uint16 each), 2 = user-facing time (Date Time each)

Examples (``tests/devices/gatt/gatt_golden.py``): "report records with sequence number >= 251" is
``01 03 01 FB 00``; the completion of a report is ``06 00 01 01``, "no records found" is
``06 00 01 06``.

A **server** (``firmware_sim``) decodes requests with :func:`decode_racp_request`. A request it
must refuse raises :class:`~devices.gatt.errors.RacpRequestError` (a ``DecodeError``) whose
``response_code`` and ``op_code`` are exactly what to send back in a Response Code
(:func:`refusal_for`); an empty write has no op code and gets no answer. A **client** (the
gateway) encodes requests and decodes responses with :func:`decode_racp_response`; anything that
is not a well-formed response raises ``DecodeError``. Unlike the measurement characteristics, the
control point takes no trailing bytes: an operand of the wrong length is ``Invalid Operand``.

:func:`select_records` applies a :class:`RecordFilter` to a device's records in storage order,
so the simulated devices answer the way the spec says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import TypeAlias, TypeVar

from devices.errors import DecodeError
from devices.gatt._wire import U16, U32, check_uint, enum_or_int
from devices.gatt.current_time import DATE_TIME_SIZE, date_time_from_bytes, date_time_to_bytes
from devices.gatt.errors import EncodeError, RacpRequestError

__all__ = [
    "AbortOperation",
    "DeleteStoredRecords",
    "FilterType",
    "NumberOfStoredRecords",
    "OpCode",
    "Operator",
    "RacpRequest",
    "RacpResponse",
    "RecordAccessResponse",
    "RecordFilter",
    "ReportNumberOfStoredRecords",
    "ReportStoredRecords",
    "ResponseCode",
    "decode_racp_request",
    "decode_racp_response",
    "encode_racp_request",
    "encode_racp_response",
    "refusal_for",
    "select_records",
]


class OpCode(IntEnum):
    """RACP op codes (0 and 7-255 reserved here; newer services add Combined Report 7/8)."""

    REPORT_STORED_RECORDS = 1
    DELETE_STORED_RECORDS = 2
    ABORT_OPERATION = 3
    REPORT_NUMBER_OF_STORED_RECORDS = 4
    NUMBER_OF_STORED_RECORDS_RESPONSE = 5
    RESPONSE_CODE = 6


class Operator(IntEnum):
    """RACP operators (7-255 reserved)."""

    NULL = 0
    ALL_RECORDS = 1
    LESS_THAN_OR_EQUAL = 2
    GREATER_THAN_OR_EQUAL = 3
    WITHIN_RANGE = 4  # inclusive
    FIRST_RECORD = 5  # the oldest
    LAST_RECORD = 6  # the most recent


class FilterType(IntEnum):
    """Operand filter types of the Glucose Service: what <=, >= and ranges compare."""

    SEQUENCE_NUMBER = 1
    USER_FACING_TIME = 2  # base time + time offset


class ResponseCode(IntEnum):
    """Response Code values (0 and 10-255 reserved)."""

    SUCCESS = 1
    OP_CODE_NOT_SUPPORTED = 2
    INVALID_OPERATOR = 3
    OPERATOR_NOT_SUPPORTED = 4
    INVALID_OPERAND = 5
    NO_RECORDS_FOUND = 6
    ABORT_UNSUCCESSFUL = 7
    PROCEDURE_NOT_COMPLETED = 8
    OPERAND_NOT_SUPPORTED = 9


Bound: TypeAlias = int | datetime

_BOUNDED = (
    Operator.LESS_THAN_OR_EQUAL,
    Operator.GREATER_THAN_OR_EQUAL,
    Operator.WITHIN_RANGE,
)
_UNBOUNDED = (Operator.ALL_RECORDS, Operator.FIRST_RECORD, Operator.LAST_RECORD)


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which records a request is about: an operator and, for <=, >= and ranges, the bounds.

    ``low`` is the lower bound (``>=``, and the start of a range), ``high`` the upper bound
    (``<=``, and the end of a range). Bounds are sequence numbers (0 ... 65535) for
    :attr:`FilterType.SEQUENCE_NUMBER` and naive device-local datetimes for
    :attr:`FilterType.USER_FACING_TIME`. Build them with the class methods
    (``RecordFilter.seq_at_least(251)``).
    """

    operator: Operator
    filter_type: FilterType | None = None
    low: Bound | None = None
    high: Bound | None = None

    @classmethod
    def all_records(cls) -> RecordFilter:
        return cls(Operator.ALL_RECORDS)

    @classmethod
    def first_record(cls) -> RecordFilter:
        return cls(Operator.FIRST_RECORD)

    @classmethod
    def last_record(cls) -> RecordFilter:
        return cls(Operator.LAST_RECORD)

    @classmethod
    def seq_at_least(cls, seq: int) -> RecordFilter:
        """Records with sequence number >= ``seq``: the gateway's resume-after-cursor request."""
        return cls(Operator.GREATER_THAN_OR_EQUAL, FilterType.SEQUENCE_NUMBER, low=seq)

    @classmethod
    def seq_at_most(cls, seq: int) -> RecordFilter:
        return cls(Operator.LESS_THAN_OR_EQUAL, FilterType.SEQUENCE_NUMBER, high=seq)

    @classmethod
    def seq_between(cls, low: int, high: int) -> RecordFilter:
        return cls(Operator.WITHIN_RANGE, FilterType.SEQUENCE_NUMBER, low=low, high=high)

    @classmethod
    def time_at_least(cls, when: datetime) -> RecordFilter:
        return cls(Operator.GREATER_THAN_OR_EQUAL, FilterType.USER_FACING_TIME, low=when)

    @classmethod
    def time_at_most(cls, when: datetime) -> RecordFilter:
        return cls(Operator.LESS_THAN_OR_EQUAL, FilterType.USER_FACING_TIME, high=when)

    @classmethod
    def time_between(cls, low: datetime, high: datetime) -> RecordFilter:
        return cls(Operator.WITHIN_RANGE, FilterType.USER_FACING_TIME, low=low, high=high)

    def matches(self, sequence_number: int, user_facing_time: datetime | None) -> bool:
        """Whether one record passes a <=, >= or range filter (all records pass the others).

        A record whose time is not known never passes a time filter.
        """
        if self.operator not in _BOUNDED:
            return True
        key: Bound | None
        if self.filter_type == FilterType.SEQUENCE_NUMBER:
            key = sequence_number
        else:
            key = user_facing_time
            if key is None:
                return False
        low, high = self.low, self.high
        if low is not None and _lt(key, low):
            return False
        return not (high is not None and _lt(high, key))


def _lt(a: Bound, b: Bound) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a < b
    if isinstance(a, int) and isinstance(b, int):
        return a < b
    raise TypeError(f"cannot compare {a!r} with {b!r}")


R = TypeVar("R")


def select_records(
    record_filter: RecordFilter,
    records: Sequence[R],
    *,
    sequence_number: Callable[[R], int],
    user_facing_time: Callable[[R], datetime | None],
) -> list[R]:
    """The records a request selects, in storage order (``records`` is oldest first)."""
    op = record_filter.operator
    if op == Operator.ALL_RECORDS:
        return list(records)
    if op == Operator.FIRST_RECORD:
        return list(records[:1])
    if op == Operator.LAST_RECORD:
        return list(records[-1:])
    return [r for r in records if record_filter.matches(sequence_number(r), user_facing_time(r))]


@dataclass(frozen=True, slots=True)
class ReportStoredRecords:
    """Op code 1: send the selected records (then a Response Code)."""

    filter: RecordFilter


@dataclass(frozen=True, slots=True)
class DeleteStoredRecords:
    """Op code 2: delete the selected records (then a Response Code)."""

    filter: RecordFilter


@dataclass(frozen=True, slots=True)
class ReportNumberOfStoredRecords:
    """Op code 4: count the selected records (answered by a Number of Stored Records)."""

    filter: RecordFilter


@dataclass(frozen=True, slots=True)
class AbortOperation:
    """Op code 3: stop the procedure in progress (answered by a Response Code)."""


RacpRequest: TypeAlias = (
    ReportStoredRecords | DeleteStoredRecords | ReportNumberOfStoredRecords | AbortOperation
)


@dataclass(frozen=True, slots=True)
class NumberOfStoredRecords:
    """Op code 5: the answer to :class:`ReportNumberOfStoredRecords`.

    The Glucose Service sends the count as uint16; a 4-byte operand (uint32, used by later
    services) is accepted too, and a count above 65535 is encoded that way.
    """

    count: int


@dataclass(frozen=True, slots=True)
class RecordAccessResponse:
    """Op code 6: the outcome of a request (``request_op_code`` names it).

    ``request_op_code`` and ``response_code`` are the enum members, or bare integers for values
    the spec reserves (a device answering with one is treated as a failure by :attr:`ok`).
    """

    request_op_code: OpCode | int
    response_code: ResponseCode | int

    @property
    def ok(self) -> bool:
        return self.response_code == ResponseCode.SUCCESS


RacpResponse: TypeAlias = NumberOfStoredRecords | RecordAccessResponse


def _refuse(message: str, data: bytes, op: int | None, code: ResponseCode) -> RacpRequestError:
    return RacpRequestError(message, data, op_code=op, response_code=code)


def _decode_bound(data: bytes, at: int, filter_type: FilterType, op: int) -> Bound:
    if filter_type == FilterType.SEQUENCE_NUMBER:
        return int(U16.unpack_from(data, at)[0])
    try:
        when = date_time_from_bytes(data, at)
    except DecodeError as e:
        raise _refuse(f"bad time bound: {e}", data, op, ResponseCode.INVALID_OPERAND) from None
    if when is None:
        raise _refuse("time bound not known", data, op, ResponseCode.INVALID_OPERAND)
    return when


def _decode_filter(data: bytes, op: int) -> RecordFilter:
    operator_byte = data[1]
    operand = data[2:]
    if operator_byte == Operator.NULL:
        raise _refuse("operator Null for a record request", data, op, ResponseCode.INVALID_OPERATOR)
    if operator_byte > Operator.LAST_RECORD:
        raise _refuse(
            f"operator {operator_byte} reserved", data, op, ResponseCode.OPERATOR_NOT_SUPPORTED
        )
    operator = Operator(operator_byte)
    if operator in _UNBOUNDED:
        if operand:
            raise _refuse("operand not allowed", data, op, ResponseCode.INVALID_OPERAND)
        return RecordFilter(operator)
    if not operand:
        raise _refuse("filter type missing", data, op, ResponseCode.INVALID_OPERAND)
    try:
        filter_type = FilterType(operand[0])
    except ValueError:
        raise _refuse(
            f"filter type {operand[0]} not supported", data, op, ResponseCode.OPERAND_NOT_SUPPORTED
        ) from None
    size = 2 if filter_type == FilterType.SEQUENCE_NUMBER else DATE_TIME_SIZE
    count = 2 if operator == Operator.WITHIN_RANGE else 1
    if len(operand) != 1 + size * count:
        raise _refuse(
            f"operand of {len(operand)} bytes, {1 + size * count} expected",
            data,
            op,
            ResponseCode.INVALID_OPERAND,
        )
    first = _decode_bound(data, 3, filter_type, op)
    if operator == Operator.GREATER_THAN_OR_EQUAL:
        return RecordFilter(operator, filter_type, low=first)
    if operator == Operator.LESS_THAN_OR_EQUAL:
        return RecordFilter(operator, filter_type, high=first)
    second = _decode_bound(data, 3 + size, filter_type, op)
    if _lt(second, first):
        raise _refuse("range ends before it starts", data, op, ResponseCode.INVALID_OPERAND)
    return RecordFilter(operator, filter_type, low=first, high=second)


def decode_racp_request(data: bytes) -> RacpRequest:
    """Decode a request written to the control point (the server's side).

    Raises :class:`~devices.gatt.errors.RacpRequestError` carrying the Response Code to answer.
    """
    data = bytes(data)
    if not data:
        raise _refuse("empty write", data, None, ResponseCode.INVALID_OPERAND)
    op = data[0]
    if op not in (
        OpCode.REPORT_STORED_RECORDS,
        OpCode.DELETE_STORED_RECORDS,
        OpCode.ABORT_OPERATION,
        OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
    ):
        raise _refuse(
            f"op code {op} is not a request", data, op, ResponseCode.OP_CODE_NOT_SUPPORTED
        )
    if len(data) < 2:
        raise _refuse("operator missing", data, op, ResponseCode.INVALID_OPERATOR)
    if op == OpCode.ABORT_OPERATION:
        if data[1] != Operator.NULL:
            raise _refuse("abort takes operator Null", data, op, ResponseCode.INVALID_OPERATOR)
        if len(data) != 2:
            raise _refuse("abort takes no operand", data, op, ResponseCode.INVALID_OPERAND)
        return AbortOperation()
    record_filter = _decode_filter(data, op)
    if op == OpCode.REPORT_STORED_RECORDS:
        return ReportStoredRecords(record_filter)
    if op == OpCode.DELETE_STORED_RECORDS:
        return DeleteStoredRecords(record_filter)
    return ReportNumberOfStoredRecords(record_filter)


def _encode_bound(filter_type: FilterType, bound: Bound | None) -> bytes:
    if filter_type == FilterType.SEQUENCE_NUMBER:
        if not isinstance(bound, int):
            raise EncodeError("sequence number bound", bound, "not an integer")
        return U16.pack(check_uint("sequence number bound", bound, 16))
    if not isinstance(bound, datetime):
        raise EncodeError("time bound", bound, "not a datetime")
    return date_time_to_bytes(bound)


def _encode_filter(f: RecordFilter) -> bytes:
    if f.operator in _UNBOUNDED:
        if f.filter_type is not None or f.low is not None or f.high is not None:
            raise EncodeError("filter", f, f"{f.operator.name} takes no operand")
        return bytes((f.operator,))
    if f.operator not in _BOUNDED or f.filter_type is None:
        raise EncodeError("filter", f, "operator and filter type required")
    head = bytes((f.operator, f.filter_type))
    if f.operator == Operator.GREATER_THAN_OR_EQUAL:
        if f.high is not None:
            raise EncodeError("filter", f, ">= takes only a low bound")
        return head + _encode_bound(f.filter_type, f.low)
    if f.operator == Operator.LESS_THAN_OR_EQUAL:
        if f.low is not None:
            raise EncodeError("filter", f, "<= takes only a high bound")
        return head + _encode_bound(f.filter_type, f.high)
    low = _encode_bound(f.filter_type, f.low)
    high = _encode_bound(f.filter_type, f.high)
    if f.low is not None and f.high is not None and _lt(f.high, f.low):
        raise EncodeError("filter", f, "range ends before it starts")
    return head + low + high


def encode_racp_request(request: RacpRequest) -> bytes:
    """Encode a request (the client's side)."""
    if isinstance(request, AbortOperation):
        return bytes((OpCode.ABORT_OPERATION, Operator.NULL))
    if isinstance(request, ReportStoredRecords):
        op = OpCode.REPORT_STORED_RECORDS
    elif isinstance(request, DeleteStoredRecords):
        op = OpCode.DELETE_STORED_RECORDS
    elif isinstance(request, ReportNumberOfStoredRecords):
        op = OpCode.REPORT_NUMBER_OF_STORED_RECORDS
    else:
        raise EncodeError("RACP request", request, "not a request")
    return bytes((op,)) + _encode_filter(request.filter)


def decode_racp_response(data: bytes) -> RacpResponse:
    """Decode an indication from the control point (the client's side)."""
    data = bytes(data)
    if len(data) < 2:
        raise DecodeError("RACP response needs op code and operator", data)
    op, operator = data[0], data[1]
    if operator != Operator.NULL:
        raise DecodeError(f"RACP response with operator {operator}, Null expected", data)
    if op == OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE:
        if len(data) == 4:
            return NumberOfStoredRecords(U16.unpack_from(data, 2)[0])
        if len(data) == 6:
            return NumberOfStoredRecords(U32.unpack_from(data, 2)[0])
        raise DecodeError("Number of Stored Records operand must be 2 or 4 bytes", data)
    if op == OpCode.RESPONSE_CODE:
        if len(data) != 4:
            raise DecodeError("Response Code operand must be 2 bytes", data)
        return RecordAccessResponse(
            request_op_code=enum_or_int(OpCode, data[2]),
            response_code=enum_or_int(ResponseCode, data[3]),
        )
    raise DecodeError(f"op code {op} is not a RACP response", data)


def encode_racp_response(response: RacpResponse) -> bytes:
    """Encode an indication of the control point (the server's side)."""
    if isinstance(response, NumberOfStoredRecords):
        count = check_uint("Number of Records", response.count, 32)
        head = bytes((OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, Operator.NULL))
        return head + (U16.pack(count) if count <= 0xFFFF else U32.pack(count))
    if isinstance(response, RecordAccessResponse):
        return bytes(
            (
                OpCode.RESPONSE_CODE,
                Operator.NULL,
                check_uint("Request Op Code", int(response.request_op_code), 8),
                check_uint("Response Code", int(response.response_code), 8),
            )
        )
    raise EncodeError("RACP response", response, "not a response")


def refusal_for(error: RacpRequestError) -> RecordAccessResponse | None:
    """The Response Code a server sends for a refused request (``None`` for an empty write)."""
    if error.op_code is None:
        return None
    return RecordAccessResponse(
        request_op_code=enum_or_int(OpCode, error.op_code),
        response_code=ResponseCode(error.response_code),
    )
