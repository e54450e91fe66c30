"""Errors raised by the device vocabulary.

::

    DevicesError
     ├── UnknownMetricError        metric code not in the catalog (.code)
     ├── UnitError                 unit not accepted for a metric (.metric, .unit)
     ├── PayloadError              a readings batch that cannot be accepted as a whole
     │                             (.reason, .path: JSON path of the offending field)
     └── DecodeError               bytes that are not a valid characteristic value (.data)

Every subclass carries the offending value so that the ingest can write it into a dead letter
and an operator can see exactly what was refused.
"""

from __future__ import annotations


class DevicesError(Exception):
    """Root of every error raised by :mod:`devices`."""


class UnknownMetricError(DevicesError, KeyError):
    """A metric code that is not in the catalog."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"unknown metric {code!r}")

    def __str__(self) -> str:
        return f"unknown metric {self.code!r}"


class UnitError(DevicesError, ValueError):
    """A unit that a metric does not accept."""

    def __init__(self, metric: str, unit: str, accepted: tuple[str, ...]) -> None:
        self.metric = metric
        self.unit = unit
        self.accepted = accepted
        super().__init__(
            f"unit {unit!r} is not valid for metric {metric!r}; expected one of "
            + ", ".join(repr(u) for u in accepted)
        )


class PayloadError(DevicesError, ValueError):
    """A batch payload that cannot be accepted.

    ``reason`` is a short stable code (``malformed_json``, ``unknown_schema``, ...) suitable for
    grouping dead letters; ``detail`` is the human-readable explanation; ``path`` points at the
    offending field in JSON-pointer style (``/readings/3/ts``), or ``""`` for the whole document.
    """

    def __init__(self, reason: str, detail: str, path: str = "") -> None:
        self.reason = reason
        self.detail = detail
        self.path = path
        super().__init__(f"{reason} at {path or '/'}: {detail}")


class DecodeError(DevicesError, ValueError):
    """Bytes that do not decode as the characteristic they were read from."""

    def __init__(self, message: str, data: bytes = b"") -> None:
        self.data = bytes(data)
        super().__init__(f"{message} (data={self.data.hex(' ') or 'empty'})")
