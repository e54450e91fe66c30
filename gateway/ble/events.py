"""What the BLE side reports: events as they happen, and the state of each device.

Events go to the ``on_event`` callback of :class:`~gateway.ble.BleCentral` and into a bounded
in-memory list (:attr:`BleCentral.events`); the lasting state of each device (battery, bond,
last sync, damaged and lost records) is in :class:`DeviceHealth`, and what the panel must show is
:meth:`BleCentral.problems` (stable ``code`` values, for the gateway heartbeat).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gateway.status import SessionOutcome


class EventKind(StrEnum):
    """Kinds of BLE event (stable strings: they travel in heartbeats and logs)."""

    ENROLLED = "ble_enrolled"
    ENROLMENT_FAILED = "ble_enrolment_failed"
    REMOVED = "ble_removed"
    BOND_LOST = "ble_bond_lost"
    SYNC_COMPLETE = "ble_sync_complete"
    SYNC_INCOMPLETE = "ble_sync_incomplete"
    DECODE_ERRORS = "ble_decode_errors"
    RECORDS_LOST = "ble_records_lost"
    UNREACHABLE = "ble_unreachable"
    LOW_BATTERY = "ble_low_battery"
    CLOCK_SET = "ble_clock_set"


@dataclass(frozen=True, slots=True)
class BleEvent:
    """Something that happened with device ``device_id`` at ``at`` (UTC); ``detail`` in words,
    ``count`` for counted events (readings stored, PDUs damaged, records lost)."""

    kind: EventKind
    device_id: str
    at: datetime
    detail: str = ""
    count: int = 0


@dataclass(slots=True)
class DeviceHealth:
    """The lasting state of one enrolled device as the BLE side knows it.

    Times are UTC. ``battery_pct`` is the last Battery Level read (%); ``decode_errors`` and
    ``lost_records`` add up over the gateway's run; ``failures`` counts sessions in a row that
    did not complete (0 after a complete one). ``watched_since`` is when this run of the gateway
    began to look out for the device (start or enrolment): a device never heard since then is
    "not seen" that long. ``last_outcome`` is how the latest session ended; ``enrol_error`` why
    the latest pairing at enrolment failed (empty once one succeeded).
    """

    device_id: str
    watched_since: datetime | None = None
    last_seen: datetime | None = None
    last_sync: datetime | None = None
    last_outcome: SessionOutcome | None = None
    battery_pct: int | None = None
    bond_lost_at: datetime | None = None
    decode_errors: int = 0
    lost_records: int = 0
    failures: int = 0
    last_error: str = ""
    enrol_error: str = ""
