"""What one session with one device achieved: :class:`SyncReport`."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.ble.profiles import DeviceKind
from gateway.clock import ClockCorrection


@dataclass(slots=True)
class SyncReport:
    """The outcome of one connection to one device.

    ``received`` counts measurement notifications/indications decoded, ``stored`` the readings the
    outbox took as new (a reading it already held is not counted). ``decode_errors`` counts PDUs
    that did not decode (counted and skipped); ``recovered`` the records re-read after a damaged
    one; ``lost`` the records that stayed damaged when read again (their sequence numbers are in
    ``lost_sequences`` when known). ``cursor_before``/``cursor_after`` are the outbox's cursor
    for the device around the session. ``complete`` is True when the device said it had sent
    everything asked for (RACP Success / No Records Found) or the stream ended as planned;
    ``reason`` says why not otherwise.
    """

    device_id: str
    kind: DeviceKind
    received: int = 0
    stored: int = 0
    decode_errors: int = 0
    recovered: int = 0
    lost: int = 0
    lost_sequences: list[int] = field(default_factory=list)
    first_seq: int | None = None
    last_seq: int | None = None
    cursor_before: int | None = None
    cursor_after: int | None = None
    clock: ClockCorrection | None = None
    clock_written: bool = False
    battery_pct: int | None = None
    complete: bool = False
    reason: str = ""
    duration_s: float = 0.0
