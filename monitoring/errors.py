"""Errors raised by the monitoring part.

::

    MonitoringError
     ├── MigrationError        a migration cannot be applied (.version)
     │    └── MigrationChangedError   an applied migration's file changed since (.version)
     ├── StorageError          the database refused a write the ingest needed (.reason)
     └── StatusDocumentError   a gateway status message that is not a usable
                               homeward.gateway-status/1 document (.reason, .detail)
"""

from __future__ import annotations


class MonitoringError(Exception):
    """Root of the errors raised by :mod:`monitoring`."""


class MigrationError(MonitoringError):
    """A migration that cannot be applied."""

    def __init__(self, version: int, message: str) -> None:
        self.version = version
        super().__init__(f"migration {version:04d}: {message}")


class MigrationChangedError(MigrationError):
    """An already-applied migration whose file no longer matches what was applied."""


class StorageError(MonitoringError):
    """A write the ingest needed and the database refused."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class StatusDocumentError(MonitoringError):
    """A gateway status message the consumer cannot use.

    ``reason`` is a stable code (``malformed``, ``unknown_schema``, ``gateway_mismatch``);
    ``detail`` says what was wrong, for the log.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")
