"""Errors raised by the home gateway.

::

    GatewayError
     ├── ConfigError                a setting outside its valid range (.name, .value)
     ├── ClockError                 a clock reading that cannot be used (.value)
     ├── OutboxError                the durable outbox cannot do what was asked (.path)
     │    ├── OutboxFullError       no room even after thinning; nothing stored (.capacity,
     │    │                         .readings, .clinical)
     │    ├── OutboxCorruptError    the file is not a readable outbox database (.detail)
     │    ├── OutboxSchemaError     written by a newer outbox version (.found, .supported)
     │    ├── OutboxLockedError     another process or object already owns the file
     │    └── OutboxClosedError     used after close()
     └── UplinkError                the MQTT uplink cannot do what was asked
          └── UplinkStateError      start() twice, or after stop() (.state)

sqlite3 and paho errors are translated at the edge: callers catch these classes only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class GatewayError(Exception):
    """Root of every error raised by :mod:`gateway`."""


class ConfigError(GatewayError, ValueError):
    """A setting outside its valid range."""

    def __init__(self, name: str, value: Any, reason: str) -> None:
        self.name = name
        self.value = value
        self.reason = reason
        super().__init__(f"{name}={value!r}: {reason}")


class ClockError(GatewayError, ValueError):
    """A clock reading that cannot be used: a naive gateway time, a non-finite monotonic time,
    an empty boot id, or readings whose timestamps were not corrected by the clock given."""

    def __init__(self, value: Any, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"{value!r}: {reason}")


class OutboxError(GatewayError):
    """The durable outbox at ``path`` cannot do what was asked."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(f"outbox {path}: {message}")


class OutboxFullError(OutboxError):
    """No room for these readings even after thinning every high-rate sample that could be
    thinned. Nothing of the call was stored and no device cursor moved: the caller must not
    acknowledge the records to the device (it reads them again on a later sync).

    ``capacity`` is the outbox bound in readings, ``readings`` how many were refused,
    ``clinical`` how many of those were clinical (never thinned).
    """

    def __init__(self, path: Path, *, capacity: int, readings: int, clinical: int) -> None:
        self.capacity = capacity
        self.readings = readings
        self.clinical = clinical
        super().__init__(
            path,
            f"full at {capacity} readings; refused {readings} reading(s), {clinical} clinical",
        )


class OutboxCorruptError(OutboxError):
    """The file exists but is not a readable outbox database."""

    def __init__(self, path: Path, detail: str) -> None:
        self.detail = detail
        super().__init__(path, f"not a readable outbox database ({detail})")


class OutboxSchemaError(OutboxError):
    """The file was written by a newer version of the outbox than this one understands."""

    def __init__(self, path: Path, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(path, f"schema version {found}, this gateway supports up to {supported}")


class OutboxLockedError(OutboxError):
    """Another process, or another Outbox object, already owns the file."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "already opened by another owner (one outbox, one gateway)")


class OutboxClosedError(OutboxError):
    """The outbox was used after :meth:`~gateway.Outbox.close`."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "used after close()")


class UplinkError(GatewayError):
    """The MQTT uplink cannot do what was asked."""


class UplinkStateError(UplinkError):
    """start() on an uplink that already ran, or a call its state does not allow."""

    def __init__(self, state: str, message: str) -> None:
        self.state = state
        super().__init__(f"uplink is {state}: {message}")
