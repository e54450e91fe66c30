"""Errors raised by the GATT codecs.

::

    devices.errors.DevicesError
     ├── devices.errors.DecodeError     bytes that are not a valid value of the characteristic
     │    │                              they were read from (.data: the offending bytes)
     │    └── RacpRequestError          a Record Access Control Point request a server must refuse;
     │                                   (.data, .op_code: the request's op code or None when there
     │                                   was none, .response_code: what the server answers)
     └── EncodeError                    a value the characteristic cannot carry
                                         (.field: which field, .value: the offending value)

Decoding any byte string raises nothing but :class:`~devices.errors.DecodeError` (or its
subclass): a corrupt notification is counted and skipped by the gateway, never a crash. Both
:class:`~devices.errors.DecodeError` and :class:`EncodeError` are also ``ValueError``.
"""

from __future__ import annotations

from devices.errors import DecodeError, DevicesError

__all__ = ["DecodeError", "EncodeError", "RacpRequestError"]


class EncodeError(DevicesError, ValueError):
    """A value that does not fit the characteristic's wire format (out of range, wrong type)."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"cannot encode {field}={value!r}: {reason}")


class RacpRequestError(DecodeError):
    """A RACP request that cannot be carried out as written.

    ``response_code`` is the Response Code value (a :class:`devices.gatt.racp.ResponseCode`) the
    server sends back for it, ``op_code`` the request's op code byte (``None`` for an empty write,
    which gets no Response Code: there is no op code to answer).
    """

    def __init__(
        self, message: str, data: bytes, *, op_code: int | None, response_code: int
    ) -> None:
        self.op_code = op_code
        self.response_code = response_code
        super().__init__(message, data)
