"""The gateway's status documents (``homeward.gateway-status/1``), retained on ``…/status``.

Two states share the topic. ``online``: the heartbeat, published on every connect, every
``heartbeat_interval_s`` and at once when something the cloud must see happens (a refused
reading, a corrupt outbox, a refused config). ``offline``: the broker's last will when the
connection dies, or published by a clean stop. The written contract, with an example, is
``docs/gateway-status-schema.md``.

A gateway that reads Bluetooth LE devices adds its radio's view (:class:`RadioStatus`): the state
of the radio, each enrolled device's bond, battery, last sighting and last session, and the BLE
side's problems, which join the heartbeat's ``problems``. It is plain data here, so that this
module does not depend on the Bluetooth stack.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from devices import format_ts
from gateway.outbox import DeviceRecord, OutboxDepth, OutboxHealth

if TYPE_CHECKING:
    from gateway.uplink import UplinkStats

STATUS_SCHEMA = "homeward.gateway-status/1"
STATE_ONLINE = "online"
STATE_OFFLINE = "offline"
# A home has a handful of devices; the cap keeps one status message small whatever happens.
MAX_DEVICES_REPORTED = 64
# Problems listed in one heartbeat at most (the last entry says how many more there were): a few
# per device of a full home, plus the outbox's and the config's.
MAX_PROBLEMS_REPORTED = 100


@dataclass(frozen=True, slots=True)
class ConfigState:
    """The cloud config in force (``version``; None: only the base settings) and the last one
    refused (its version, if readable, the error, and when, UTC)."""

    version: int | None = None
    rejected_version: int | None = None
    rejected_error: str | None = None
    rejected_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    """How the latest session with a device ended (``at``, UTC): ``complete`` when the device
    said it had sent everything asked for, ``stored`` readings new to the outbox, ``reason``
    why not complete (empty when complete)."""

    at: datetime
    complete: bool
    stored: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RadioDeviceStatus:
    """One enrolled Bluetooth LE device as the gateway's radio knows it.

    ``kind`` is a :data:`gateway.config.DEVICE_KINDS` value. ``bonded``: paired at enrolment;
    ``bond_lost_at``: when the device was found to refuse the bond. ``battery_pct``: the last
    Battery Level read (%); ``last_seen``: last advertisement heard or connection made;
    ``last_sync``: last complete session; ``last_outcome``: the latest session, complete or not.
    ``failures``: sessions in a row that did not complete; ``decode_errors`` and
    ``lost_records``: damaged notifications skipped and records lost, since the gateway started.
    Times are UTC.
    """

    device_id: str
    kind: str
    address: str
    bonded: bool
    bond_lost_at: datetime | None = None
    battery_pct: int | None = None
    last_seen: datetime | None = None
    last_sync: datetime | None = None
    last_outcome: SessionOutcome | None = None
    failures: int = 0
    decode_errors: int = 0
    lost_records: int = 0


@dataclass(frozen=True, slots=True)
class RadioStatus:
    """The Bluetooth LE side of a gateway: which ``radio`` (``host``: the machine's adapter;
    ``emulated``: the in-process emulated radio), its ``state`` (``idle``: no device to read;
    ``running``: scanning and syncing; ``unavailable``: the radio failed, ``detail`` says how),
    every enrolled device, and the problems to show (each a dict with a stable ``code``)."""

    radio: str
    state: str
    detail: str | None = None
    devices: tuple[RadioDeviceStatus, ...] = ()
    problems: tuple[Mapping[str, Any], ...] = ()


def _ts(ts: datetime | None) -> str | None:
    return None if ts is None else format_ts(ts)


def _age_s(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round(max(0.0, (now - then).total_seconds()), 3)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Everything one heartbeat reports; :meth:`encode` gives the JSON bytes.

    ``seq`` counts heartbeats within one boot of the uplink; ``uptime_s`` is the uplink's
    running time in seconds.
    """

    gateway_id: str
    boot_id: str
    sent_at: datetime
    seq: int
    uptime_s: float
    heartbeat_interval_s: float
    flush_readings_per_s: float
    depth: OutboxDepth
    health: OutboxHealth
    devices: Sequence[DeviceRecord]
    uplink: UplinkStats
    config: ConfigState
    radio: RadioStatus | None = None

    def problems(self) -> list[dict[str, Any]]:
        """What the panel should show, each with a stable ``code`` (see the schema page): the
        outbox's, the config's, then the radio's; at most :data:`MAX_PROBLEMS_REPORTED`, the
        last one ``problems_truncated`` (with ``omitted``) when there were more."""
        out: list[dict[str, Any]] = []
        h = self.health
        for event in h.corruption_events:
            out.append(
                {
                    "code": "outbox_corrupt",
                    "at": format_ts(event.at),
                    "moved_to": str(event.moved_to),
                    "detail": event.detail,
                }
            )
        if h.refused_readings:
            out.append(
                {
                    "code": "readings_refused",
                    "at": _ts(h.last_refused_at),
                    "readings": h.refused_readings,
                    "clinical_readings": h.refused_clinical_readings,
                }
            )
        if h.thinned_readings:
            out.append({"code": "readings_thinned", "readings": h.thinned_readings})
        c = self.config
        if c.rejected_error is not None:
            out.append(
                {
                    "code": "config_rejected",
                    "at": _ts(c.rejected_at),
                    "version": c.rejected_version,
                    "detail": c.rejected_error,
                }
            )
        if self.radio is not None:
            out.extend(dict(p) for p in self.radio.problems)
        if len(out) > MAX_PROBLEMS_REPORTED:
            omitted = len(out) - (MAX_PROBLEMS_REPORTED - 1)
            out = [
                *out[: MAX_PROBLEMS_REPORTED - 1],
                {"code": "problems_truncated", "omitted": omitted},
            ]
        return out

    def to_dict(self) -> dict[str, Any]:
        d, h, u, c = self.depth, self.health, self.uplink, self.config
        return {
            "schema": STATUS_SCHEMA,
            "state": STATE_ONLINE,
            "gateway_id": self.gateway_id,
            "boot_id": self.boot_id,
            "sent_at": format_ts(self.sent_at),
            "seq": self.seq,
            "uptime_s": round(self.uptime_s, 3),
            "heartbeat_interval_s": self.heartbeat_interval_s,
            "outbox": {
                "readings": d.readings,
                "unbatched": d.unbatched,
                "batches": d.batches,
                "max_readings": h.max_readings,
                "oldest_unsent_age_s": _age_s(self.sent_at, d.oldest_stored_at),
                "oldest_unbatched_age_s": _age_s(self.sent_at, d.oldest_unbatched_at),
                "thinned_readings": h.thinned_readings,
                "refused_readings": h.refused_readings,
                "refused_clinical_readings": h.refused_clinical_readings,
                "refused_puts": h.refused_puts,
                "last_refused_at": _ts(h.last_refused_at),
                "corruption_events": len(h.corruption_events),
            },
            "uplink": {
                "connected": u.connected,
                "connects": u.connects,
                "in_flight_batches": u.in_flight_batches,
                "published_batches": u.published_batches,
                "resent_batches": u.resent_batches,
                "acked_batches": u.acked_batches,
                "acked_readings": u.acked_readings,
                "flush_readings_per_s": self.flush_readings_per_s,
                "errors": u.errors,
                "last_error": u.last_error,
            },
            "devices": [_device(r) for r in self.devices[:MAX_DEVICES_REPORTED]],
            "ble": None if self.radio is None else _radio(self.radio),
            "config": {
                "version": c.version,
                "rejected": None
                if c.rejected_error is None
                else {
                    "version": c.rejected_version,
                    "error": c.rejected_error,
                    "at": _ts(c.rejected_at),
                },
            },
            "problems": self.problems(),
        }

    def encode(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode()


def _device(r: DeviceRecord) -> dict[str, Any]:
    clock = r.clock
    return {
        "device_id": r.device_id,
        "last_seq": r.last_seq,
        "last_seen": _ts(r.last_seen),
        "battery_pct": r.battery_pct,
        "battery_at": _ts(r.battery_at),
        "clock": None
        if clock is None
        else {
            "offset_s": clock.offset_s,
            "measured_offset_s": round(clock.measured_offset_s, 3),
            "estimated": clock.estimated,
            "measured_at": format_ts(clock.gateway_utc),
        },
    }


def _radio(r: RadioStatus) -> dict[str, Any]:
    return {
        "radio": r.radio,
        "state": r.state,
        "detail": r.detail,
        "devices": [_radio_device(d) for d in r.devices[:MAX_DEVICES_REPORTED]],
    }


def _radio_device(d: RadioDeviceStatus) -> dict[str, Any]:
    outcome = d.last_outcome
    return {
        "device_id": d.device_id,
        "kind": d.kind,
        "address": d.address,
        "bonded": d.bonded,
        "bond_lost_at": _ts(d.bond_lost_at),
        "battery_pct": d.battery_pct,
        "last_seen": _ts(d.last_seen),
        "last_sync": _ts(d.last_sync),
        "last_outcome": None
        if outcome is None
        else {
            "at": format_ts(outcome.at),
            "complete": outcome.complete,
            "stored": outcome.stored,
            "reason": outcome.reason or None,
        },
        "failures": d.failures,
        "decode_errors": d.decode_errors,
        "lost_records": d.lost_records,
    }


def encode_offline(gateway_id: str, boot_id: str, at: datetime | None = None) -> bytes:
    """The ``offline`` document: ``at`` is when a clean stop published it; the last will (set
    when connecting, published by the broker later) has ``"sent_at": null``."""
    doc = {
        "schema": STATUS_SCHEMA,
        "state": STATE_OFFLINE,
        "gateway_id": gateway_id,
        "boot_id": boot_id,
        "sent_at": _ts(at),
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def parse_status(raw: bytes) -> dict[str, Any]:
    """A status document as a dict, after checking its schema and state.

    Raises ``ValueError`` for anything that is not a ``homeward.gateway-status/1`` document.
    """
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"not a status document: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != STATUS_SCHEMA:
        raise ValueError(f"not a {STATUS_SCHEMA} document")
    if doc.get("state") not in (STATE_ONLINE, STATE_OFFLINE):
        raise ValueError(f"unknown state {doc.get('state')!r}")
    return doc
