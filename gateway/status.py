"""The gateway's status documents (``homeward.gateway-status/1``), retained on ``…/status``.

Two states share the topic. ``online``: the heartbeat, published on every connect, every
``heartbeat_interval_s`` and at once when something the cloud must see happens (a refused
reading, a corrupt outbox, a refused config). ``offline``: the broker's last will when the
connection dies, or published by a clean stop. The written contract, with an example, is
``docs/gateway-status-schema.md``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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


@dataclass(frozen=True, slots=True)
class ConfigState:
    """The cloud config in force (``version``; None: only the base settings) and the last one
    refused (its version, if readable, the error, and when, UTC)."""

    version: int | None = None
    rejected_version: int | None = None
    rejected_error: str | None = None
    rejected_at: datetime | None = None


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

    def problems(self) -> list[dict[str, Any]]:
        """What the panel should show, each with a stable ``code`` (see the schema page)."""
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
