"""Gateway status documents for tests, encoded by the gateway's own code (``gateway.status``), and
a publisher that puts them on the broker the way a gateway does (retained, QoS 1).

The central side parses these from the written schema without importing ``gateway``; building
them with the gateway's encoder makes every test here a check of that contract too.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices import parse_broker_url
from gateway import (
    ConfigState,
    CorruptionEvent,
    DeviceRecord,
    Heartbeat,
    OutboxDepth,
    OutboxHealth,
    UplinkStats,
    encode_offline,
)


def status_topic(site: str, gateway_id: str) -> str:
    return f"homeward/v1/{site}/{gateway_id}/status"


def heartbeat(
    gateway_id: str,
    *,
    seq: int = 1,
    boot_id: str = "boot-a",
    sent_at: datetime | None = None,
    run_start: datetime | None = None,
    interval_s: float = 60.0,
    readings: int = 0,
    max_readings: int = 1000,
    oldest_age_s: float | None = None,
    refused: int = 0,
    refused_clinical: int = 0,
    last_refused_at: datetime | None = None,
    thinned: int = 0,
    corruption: Sequence[CorruptionEvent] = (),
    devices: Sequence[DeviceRecord] = (),
    config: ConfigState | None = None,
    extra_problems: Iterable[dict[str, Any]] = (),
) -> bytes:
    """A heartbeat as :meth:`gateway.Heartbeat.encode` writes it.

    ``run_start`` is when this uplink run started (the same for every heartbeat of one run;
    default: ``seq`` intervals before ``sent_at``). ``extra_problems`` are appended to the
    problems, as a gateway with Bluetooth devices adds its own (codes this side may not know).
    """
    sent = sent_at or datetime.now(UTC)
    start = run_start or sent - timedelta(seconds=seq * interval_s)
    oldest = None if oldest_age_s is None else sent - timedelta(seconds=oldest_age_s)
    beat = Heartbeat(
        gateway_id=gateway_id,
        boot_id=boot_id,
        sent_at=sent,
        seq=seq,
        uptime_s=(sent - start).total_seconds(),
        heartbeat_interval_s=interval_s,
        flush_readings_per_s=500.0,
        depth=OutboxDepth(readings, readings, 0, oldest, oldest),
        health=OutboxHealth(
            max_readings=max_readings,
            readings=readings,
            thinned_readings=thinned,
            refused_readings=refused,
            refused_clinical_readings=refused_clinical,
            refused_puts=1 if refused else 0,
            last_refused_at=last_refused_at,
            corruption_events=tuple(corruption),
        ),
        devices=list(devices),
        uplink=UplinkStats(
            connected=True,
            connects=1,
            in_flight_batches=0,
            published_batches=0,
            resent_batches=0,
            acked_batches=0,
            acked_readings=0,
            unknown_acks=0,
            bad_acks=0,
            errors=0,
            last_error=None,
        ),
        config=config or ConfigState(),
    )
    extra = list(extra_problems)
    if not extra:
        return beat.encode()
    doc = beat.to_dict()
    doc["problems"] = [*doc["problems"], *extra]
    return json.dumps(doc, separators=(",", ":")).encode()


def offline(gateway_id: str, *, boot_id: str = "boot-a", sent_at: datetime | None = None) -> bytes:
    """The ``offline`` document: the last will (``sent_at`` None) or a clean stop's."""
    return encode_offline(gateway_id, boot_id, sent_at)


def corruption_event(
    at: datetime, moved_to: str = "/var/lib/homeward/outbox.sqlite3.corrupt-1"
) -> CorruptionEvent:
    """A corrupt outbox file set aside at ``at``."""
    return CorruptionEvent(
        at=at, moved_to=Path(moved_to), detail="database disk image is malformed"
    )


class StatusPublisher:
    """Publishes status documents retained with QoS 1, as gateways do, and clears every retained
    status it published when closed (the shared broker outlives the test)."""

    def __init__(self, broker_url: str) -> None:
        address = parse_broker_url(broker_url)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"status-pub-{uuid.uuid4().hex[:8]}"
        )
        connected = threading.Event()
        self._client.on_connect = lambda *a: connected.set()
        self._client.connect(address.host, address.port)
        self._client.loop_start()
        if not connected.wait(10):
            raise RuntimeError(f"cannot connect to {broker_url}")
        self._topics: set[str] = set()

    def publish(self, topic: str, payload: bytes, *, retain: bool = True) -> None:
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        if retain:
            self._topics.add(topic)

    def clear_on_close(self, topic: str) -> None:
        """Clear ``topic``'s retained status on :meth:`close` (one somebody else left there,
        such as a last will the broker published)."""
        self._topics.add(topic)

    def close(self) -> None:
        for topic in self._topics:
            self._client.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
        self._client.disconnect()
        self._client.loop_stop()
