"""Helpers for the ingest tests: batch documents, a real MQTT publisher and ack listener, a worker
running in a thread, and polling the database with a deadline."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices import SCHEMA, Ack, format_ts, parse_ack, parse_broker_url
from homeward.settings import Settings
from monitoring.ingest import IngestWorker

T = TypeVar("T")


def reading(device_id: str, *, seq: int, ts: datetime, **over: Any) -> dict[str, Any]:
    """One reading's JSON object (SpO2 95 % unless overridden)."""
    r: dict[str, Any] = {
        "device_id": device_id,
        "metric": "spo2",
        "value": 95,
        "unit": "%",
        "ts": format_ts(ts),
        "seq": seq,
        "flags": [],
    }
    r.update(over)
    return r


def batch(
    gateway_id: str,
    readings: list[Any],
    *,
    batch_id: str | None = None,
    batch_seq: int = 1,
    **over: Any,
) -> bytes:
    """A ``homeward.readings/1`` document as the gateway sends it."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "gateway_id": gateway_id,
        "batch_id": batch_id or f"b-{uuid.uuid4().hex[:12]}",
        "batch_seq": batch_seq,
        "sent_at": format_ts(datetime.now(UTC)),
        "readings": readings,
    }
    doc.update(over)
    return json.dumps(doc).encode()


def readings_topic(site: str, gateway_id: str) -> str:
    return f"homeward/v1/{site}/{gateway_id}/readings"


def wait_for(
    probe: Callable[[], T],
    *,
    timeout_s: float = 10.0,
    what: str = "condition",
    every_s: float = 0.05,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(every_s)


def _client(mqtt_url: str, client_id: str, *, clean: bool = True) -> mqtt.Client:
    addr = parse_broker_url(mqtt_url)
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean,
        protocol=mqtt.MQTTv311,
    )
    c.connect(addr.host, addr.port, keepalive=30)
    return c


@contextmanager
def publisher(mqtt_url: str) -> Iterator[Callable[[str, bytes], None]]:
    """A connected MQTT client; the yielded function publishes at QoS 1 and waits for PUBACK."""
    c = _client(mqtt_url, f"test-pub-{uuid.uuid4().hex[:10]}")
    c.loop_start()
    try:

        def publish(topic: str, payload: bytes) -> None:
            info = c.publish(topic, payload, qos=1)
            info.wait_for_publish(timeout=10)
            assert info.is_published(), f"broker did not take the message on {topic}"

        yield publish
    finally:
        c.disconnect()
        c.loop_stop()


class AckListener:
    """Collects ``homeward.ack/1`` messages on one gateway's ack topic, as a gateway would."""

    def __init__(self, mqtt_url: str, site: str, gateway_id: str) -> None:
        self.acks: list[Ack] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = _client(mqtt_url, f"test-ack-{uuid.uuid4().hex[:10]}")
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._client.subscribe(f"homeward/v1/{site}/{gateway_id}/ack", qos=1)
        self._client.loop_start()
        assert self._subscribed.wait(10), "ack subscription not granted"

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.acks.append(parse_ack(msg.payload))

    def snapshot(self) -> list[Ack]:
        with self._lock:
            return list(self.acks)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def forget_session(mqtt_url: str, client_id: str) -> None:
    """Remove a persistent session from the broker (connect once with clean_session)."""
    c = _client(mqtt_url, client_id, clean=True)
    c.loop_start()
    c.disconnect()
    c.loop_stop()


@contextmanager
def running_worker(
    settings: Settings, *, keep_session: bool = False, **kwargs: Any
) -> Iterator[IngestWorker]:
    """An :class:`IngestWorker` running in a thread, subscribed before the block starts; stopped
    and (unless ``keep_session``) its broker session removed afterwards."""
    stop = threading.Event()
    worker = IngestWorker(settings, **kwargs)
    errors: list[BaseException] = []

    def main() -> None:
        try:
            worker.run(stop)
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)

    thread = threading.Thread(target=main, name="test-ingest", daemon=True)
    thread.start()
    try:
        assert worker.subscribed.wait(10), "ingest worker did not subscribe"
        yield worker
    finally:
        stop.set()
        thread.join(20)
        assert not thread.is_alive(), "ingest worker did not stop"
        assert settings.mqtt_url is not None
        if not keep_session:
            forget_session(settings.mqtt_url, settings.ingest_client_id)
    assert not errors, errors
