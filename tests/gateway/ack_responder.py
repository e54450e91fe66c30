"""A test-only stand-in for the ingest's acknowledgement: a real MQTT subscriber.

The real ingest (monitoring/ingest) acknowledges a batch after its database commit. Device-side
tests need an ingest whose acks they can drop, delay or withhold, so this responder subscribes to a
site's readings, validates every batch with the real :func:`devices.parse_batch`, remembers what
arrived, and answers on the sender's ack topic with :func:`devices.encode_ack`, exactly as the
contract says. It counts a reading as stored once per idempotency key, like the database would.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from devices import Ack, Batch, Reading, encode_ack, parse_batch, parse_broker_url, parse_topic


@dataclass(frozen=True)
class Delivery:
    """One batch message as it arrived (``raw`` is the exact payload)."""

    gateway_id: str
    batch: Batch
    raw: bytes
    received_at: float


@dataclass
class AckResponder:
    """Answers every batch published under ``homeward/v1/{site}/+/readings``.

    Knobs (change them at any time): ``acking`` False withholds acks; ``drop_next`` drops that many
    acks; ``delay_s`` answers late; ``should_ack`` decides per delivery.
    """

    broker_url: str
    site: str
    acking: bool = True
    drop_next: int = 0
    delay_s: float = 0.0
    should_ack: Callable[[Delivery], bool] | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    acks_sent: list[Ack] = field(default_factory=list)
    _stored: set[tuple[Any, ...]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _client: mqtt.Client | None = None
    _subscribed: threading.Event = field(default_factory=threading.Event)

    def start(self, timeout_s: float = 10.0) -> AckResponder:
        address = parse_broker_url(self.broker_url)
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"ack-responder-{uuid.uuid4().hex[:12]}",
            clean_session=False,
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.reconnect_delay_set(0.1, 1)
        client.connect_async(address.host, address.port, keepalive=10)
        client.loop_start()
        self._client = client
        if not self._subscribed.wait(timeout_s):
            raise TimeoutError("ack responder did not subscribe")
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe(f"homeward/v1/{self.site}/+/readings", qos=1)

    def _on_subscribe(self, client: mqtt.Client, *args: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        raw = bytes(msg.payload)
        try:
            where = parse_topic(msg.topic)
            # Test clocks may run a little ahead; the real ingest allows 10 minutes.
            batch = parse_batch(raw, now=datetime.now(UTC) + timedelta(hours=1))
        except Exception as exc:
            with self._lock:
                self.errors.append(f"{msg.topic}: {exc}")
            return
        delivery = Delivery(where.gateway_id, batch, raw, time.monotonic())
        with self._lock:
            self.deliveries.append(delivery)
            if batch.rejected:
                self.errors.append(f"rejected readings: {batch.rejected}")
            if not self.acking or (self.should_ack is not None and not self.should_ack(delivery)):
                return
            if self.drop_next > 0:
                self.drop_next -= 1
                return
            new = {r.key for r in batch.readings} - self._stored
            self._stored |= new
            ack = Ack(
                batch_id=batch.batch_id,
                batch_seq=batch.batch_seq,
                stored=len(new),
                duplicates=len(batch.readings) - len(new),
                rejected=len(batch.rejected),
            )
            self.acks_sent.append(ack)
        ack_topic = f"homeward/v1/{where.site}/{where.gateway_id}/ack"
        if self.delay_s > 0:
            timer = threading.Timer(
                self.delay_s, lambda: client.publish(ack_topic, encode_ack(ack), qos=1)
            )
            timer.daemon = True
            timer.start()
        else:
            client.publish(ack_topic, encode_ack(ack), qos=1)

    # -- what arrived ---------------------------------------------------------------------------

    def readings(self) -> list[Reading]:
        """Every reading received, redeliveries included, in arrival order."""
        with self._lock:
            return [r for d in self.deliveries for r in d.batch.readings]

    def unique_keys(self) -> set[tuple[Any, ...]]:
        """The idempotency keys of everything received (what the database would hold)."""
        return {r.key for r in self.readings()}

    def batch_ids(self) -> list[str]:
        with self._lock:
            return [d.batch.batch_id for d in self.deliveries]

    def deliveries_of(self, batch_id: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.batch.batch_id == batch_id]


def wait_for(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout_s`` passes; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()
