"""A simulated Wi-Fi wearable that speaks MQTT itself: heart rate and SpO2 (and optionally steps).

What the firmware does, every ``sample_interval_s`` of its clock:

1. **Sample.** Take one heart-rate and one SpO2 value from the patient's
   :class:`~firmware_sim.signals.Physiology`, stamped with the sample's instant on a grid aligned to
   the interval, and number it with the metric's own record sequence number (``seq``, +1 per
   sample). The simulated firmware has no flash, so each counter starts at the boot time in epoch
   milliseconds: a later boot always starts above every number an earlier boot reached, and
   ``(device_id, metric, seq, ts)`` stays a unique idempotency key across reboots.
2. **Buffer.** Keep every reading in RAM until the ingest's application-level ack for its batch
   arrives. Nothing is deleted on the broker's PUBACK: that only proves the broker has the message,
   not that the database committed it.
3. **Publish.** Every ``publish_interval_s`` (or at once when ``max_batch_readings`` are waiting)
   send the oldest buffered readings as one ``homeward.readings/1`` batch, QoS 1, to
   ``homeward/v1/{site}/{device_id}/readings``, with at most ``max_in_flight_batches`` batches
   unacknowledged at a time. Acks come back on ``…/{device_id}/ack``.
4. **Resend.** A batch whose ack does not come within ``ack_timeout_s`` is sent again, byte for
   byte (same ``batch_id``, same readings, same ``sent_at``), with the timeout doubling up to
   ``ack_timeout_max_s`` so an ingest outage does not fill the broker with copies. After every
   reconnect all unacknowledged batches are sent again at once. Redelivery is harmless: the
   ingest stores each idempotency key once.

The MQTT session is MQTT 3.1.1 with ``clean_session=False`` and the device id as a stable client id,
so acks published while the device was offline wait for it at the broker. A retained ``online``
goes to ``…/status`` on connect; the last will publishes ``offline`` if the connection dies.

**The RAM bound.** ``buffer_capacity_readings`` (default 4,320: six hours of HR + SpO2 at 10 s) is
what a wrist device with ~256 KB of RAM can spare: a packed record (metric 1 B, seq 4 B, time 4 B,
value 2 B, flags 1 B) is 12 bytes, so the default buffer is ~52 KB. When the buffer is full, the
*oldest* not-yet-sent high-rate samples are thinned first: in the older half of the waiting
readings every second sample of each non-clinical metric is dropped and its kept neighbours carry
the ``thinned`` quality flag, so a long outage costs resolution of old data, never the recent
minutes. Batches already sent are never changed (their resend must be identical). Only if nothing
can be thinned is the oldest waiting reading dropped, counted in ``dropped_readings`` and logged.
The capacity must be at least twice what the in-flight batches can hold.

**Time.** ``clock`` (epoch seconds, default :func:`time.time`) drives sampling, batching and the
timestamps, so tests and demos can run the device faster than real time or step it by hand. Network
timeouts (ack timeout, reconnect backoff, keepalive) use the real monotonic clock: they are about
the network, not the patient. The ingest refuses readings stamped more than 10 minutes ahead of
its own clock, so a fast clock should start in the past and not overtake real time.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from devices import (
    DEVICE_ID_RE,
    BrokerAddress,
    PayloadError,
    Quality,
    Reading,
    encode_batch,
    get_metric,
    make_reading,
    parse_ack,
    topic,
)
from firmware_sim._backoff import full_jitter_delay_s
from firmware_sim._reactor import SocketLike
from firmware_sim.errors import ParameterError
from firmware_sim.scenario import Scenario
from firmware_sim.signals import Physiology

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATUS_ONLINE = b"online"
STATUS_OFFLINE = b"offline"
# Everything the wearable reports, with the canonical unit it is sent in.
_HEART_RATE = ("heart_rate", "/min")
_SPO2 = ("spo2", "%")
_STEPS = ("steps", "{steps}")


def _ts(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True, slots=True)
class WearableConfig:
    """Firmware settings shared by the wearables of a fleet (times in seconds).

    ``sample_interval_s``: one HR + one SpO2 sample per interval (10 s: a demo-friendly rate; many
    wrist devices sample every 1-15 min to save battery). ``steps_interval_s``: also report steps
    taken in each such interval (``None``: no steps). ``publish_interval_s``: how often buffered
    readings go out (30 s: 6 readings per batch at the defaults, so an alert rule that needs a few
    minutes of low SpO2 is not held up by batching). ``max_batch_readings``: the largest batch
    (120 readings ≈ 15 KB of JSON, the size a backlog is flushed in).
    ``max_in_flight_batches``: batches sent but not yet acknowledged. ``buffer_capacity_readings``:
    the RAM bound (see the module docstring). ``ack_timeout_s`` / ``ack_timeout_max_s``: first
    and largest wait for an application ack before resending. ``reconnect_min_s`` /
    ``reconnect_max_s``: backoff bounds (full jitter). ``keepalive_s``: MQTT keepalive.
    ``connect_timeout_s``: TCP connect and CONNACK wait. ``history_s``: samples the wearable
    already holds when it is switched on, as a device that was away from Wi-Fi flushes its memory
    on reconnecting (0: none); it boots ``history_s`` before the clock's first reading.
    """

    sample_interval_s: float = 10.0
    steps_interval_s: float | None = None
    publish_interval_s: float = 30.0
    max_batch_readings: int = 120
    max_in_flight_batches: int = 4
    buffer_capacity_readings: int = 4320
    ack_timeout_s: float = 20.0
    ack_timeout_max_s: float = 300.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    keepalive_s: int = 30
    connect_timeout_s: float = 2.0
    history_s: float = 0.0

    def __post_init__(self) -> None:
        positive: tuple[str, ...] = (
            "sample_interval_s",
            "publish_interval_s",
            "ack_timeout_s",
            "ack_timeout_max_s",
            "reconnect_min_s",
            "reconnect_max_s",
            "connect_timeout_s",
        )
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ParameterError(name, value, "must be a positive number of seconds")
        if self.sample_interval_s < 0.001:
            raise ParameterError("sample_interval_s", self.sample_interval_s, "must be ≥ 1 ms")
        if self.steps_interval_s is not None and not (
            math.isfinite(self.steps_interval_s) and self.steps_interval_s >= 1.0
        ):
            raise ParameterError("steps_interval_s", self.steps_interval_s, "must be ≥ 1 s or None")
        if not 1 <= self.max_batch_readings <= 10_000:
            raise ParameterError("max_batch_readings", self.max_batch_readings, "must be 1-10000")
        if not 1 <= self.max_in_flight_batches <= 100:
            raise ParameterError(
                "max_in_flight_batches", self.max_in_flight_batches, "must be 1-100"
            )
        if self.buffer_capacity_readings < 2 * self.max_in_flight_batches * self.max_batch_readings:
            raise ParameterError(
                "buffer_capacity_readings",
                self.buffer_capacity_readings,
                "must hold at least twice max_in_flight_batches x max_batch_readings",
            )
        if not (math.isfinite(self.history_s) and self.history_s >= 0):
            raise ParameterError("history_s", self.history_s, "must be ≥ 0 s")
        if self.ack_timeout_max_s < self.ack_timeout_s:
            raise ParameterError("ack_timeout_max_s", self.ack_timeout_max_s, "< ack_timeout_s")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ParameterError("reconnect_max_s", self.reconnect_max_s, "< reconnect_min_s")
        if not 5 <= self.keepalive_s <= 3600:
            raise ParameterError("keepalive_s", self.keepalive_s, "must be 5-3600 s")


@dataclass(frozen=True, slots=True)
class WearableStats:
    """A snapshot of one wearable's counters (readings and batches since it was created)."""

    device_id: str
    connected: bool
    connects: int
    sampled_readings: int
    buffered_readings: int
    in_flight_batches: int
    published_batches: int
    resent_batches: int
    acked_batches: int
    acked_readings: int
    duplicate_acks: int
    bad_acks: int
    thinned_readings: int
    dropped_readings: int
    skipped_samples: int
    errors: int
    last_error: str | None


@dataclass(slots=True)
class _Batch:
    batch_id: str
    batch_seq: int
    readings: tuple[Reading, ...]
    payload: bytes
    sends: int = 0
    sent: bool = False
    resend_at: float = 0.0


class Wearable:
    """One simulated wearable. Built and driven by :class:`~firmware_sim.WearableFleet`.

    Every method except :meth:`stats` and :meth:`request_drain` runs on the fleet's reactor
    thread; those two may be called from any thread.
    """

    def __init__(
        self,
        device_id: str,
        scenario: Scenario,
        *,
        site: str,
        broker: BrokerAddress,
        config: WearableConfig,
        clock: Callable[[], float] = time.time,
        username: str | None = None,
        password: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not DEVICE_ID_RE.match(device_id):
            raise ParameterError("device_id", device_id, "must match the device id pattern")
        try:
            self.readings_topic = topic(site, device_id, "readings")
            self.ack_topic = topic(site, device_id, "ack")
            self.status_topic = topic(site, device_id, "status")
        except ValueError as exc:
            raise ParameterError("site", site, str(exc)) from None
        self.name = device_id
        self.device_id = device_id
        self.scenario = scenario
        self._broker = broker
        self._config = config
        self._clock = clock
        self._username = username
        self._password = password
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._lock = threading.RLock()

        self._physiology: Physiology | None = None
        self._interval_ms = max(1, round(config.sample_interval_s * 1000))
        self._steps_ms = (
            None if config.steps_interval_s is None else round(config.steps_interval_s * 1000)
        )
        self._next_sample_ms = 0
        self._next_steps_ms = 0
        self._seq: dict[str, int] = {}
        self._next_batch_seq = 0
        self._pending: deque[Reading] = deque()
        self._in_flight: dict[str, _Batch] = {}
        self._buffered = 0
        self._next_publish_s = 0.0
        self._flush_due = False
        self._draining = False
        self._stopping = False

        self._client: mqtt.Client | None = None
        self._connected = False
        self._connack_deadline = 0.0
        self._next_connect = 0.0
        self._next_misc = 0.0
        self._attempt = 0

        self._connects = 0
        self._sampled = 0
        self._published = 0
        self._resent = 0
        self._acked_batches = 0
        self._acked_readings = 0
        self._duplicate_acks = 0
        self._bad_acks = 0
        self._thinned = 0
        self._dropped = 0
        self._skipped = 0
        self._errors = 0
        self._last_error: str | None = None

    # -- thread-safe surface ----------------------------------------------------------------

    def stats(self) -> WearableStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return WearableStats(
                device_id=self.device_id,
                connected=self._connected,
                connects=self._connects,
                sampled_readings=self._sampled,
                buffered_readings=self._buffered,
                in_flight_batches=len(self._in_flight),
                published_batches=self._published,
                resent_batches=self._resent,
                acked_batches=self._acked_batches,
                acked_readings=self._acked_readings,
                duplicate_acks=self._duplicate_acks,
                bad_acks=self._bad_acks,
                thinned_readings=self._thinned,
                dropped_readings=self._dropped,
                skipped_samples=self._skipped,
                errors=self._errors,
                last_error=self._last_error,
            )

    def request_drain(self) -> None:
        """Stop sampling and send everything buffered now (used before switching off)."""
        with self._lock:
            self._draining = True
            self._flush_due = True

    # -- reactor surface (reactor thread only) --------------------------------------------------

    def socket(self) -> SocketLike | None:
        client = self._client
        sock = client.socket() if client is not None else None
        return sock

    def want_write(self) -> bool:
        client = self._client
        return client is not None and client.want_write()

    def on_readable(self) -> None:
        with self._lock:
            client = self._client
            if client is None:
                return
            rc = client.loop_read()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS and client is self._client:
                self._lose_connection(f"read failed: {mqtt.error_string(rc)}")

    def on_writable(self) -> None:
        with self._lock:
            client = self._client
            if client is None:
                return
            rc = client.loop_write()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS and client is self._client:
                self._lose_connection(f"write failed: {mqtt.error_string(rc)}")

    def tick(self, now_mono: float) -> None:
        with self._lock:
            if self._stopping:
                return
            now_s = self._clock()
            if self._physiology is None:
                self._boot(now_s - self._config.history_s)
            self._sample(now_s)
            self._network(now_mono)
            if self._connected:
                self._publish(now_s, now_mono)

    def shut_down(self) -> None:
        """Switch off: publish the retained ``offline`` status and disconnect cleanly."""
        with self._lock:
            self._stopping = True
            client = self._client
            if client is None:
                return
            if self._connected:
                client.publish(self.status_topic, STATUS_OFFLINE, qos=1, retain=True)
            client.disconnect()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            self._connected = False
            if client is not None:
                sock = client.socket()
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()
            if self._buffered:
                log.warning(
                    "wearable %s switched off with %d unacknowledged readings in RAM (lost)",
                    self.device_id,
                    self._buffered,
                )

    def record_error(self, exc: BaseException) -> None:
        with self._lock:
            self._errors += 1
            self._last_error = f"{type(exc).__name__}: {exc}"

    # -- sampling -------------------------------------------------------------------------------

    def _boot(self, now_s: float) -> None:
        boot_ms = math.floor(now_s * 1000)
        self._physiology = self.scenario.physiology(device_id=self.device_id, boot_s=now_s)
        self._next_sample_ms = -(-boot_ms // self._interval_ms) * self._interval_ms
        if self._steps_ms is not None:
            self._next_steps_ms = (-(-boot_ms // self._steps_ms) + 1) * self._steps_ms
        metrics = [_HEART_RATE[0], _SPO2[0]] + ([_STEPS[0]] if self._steps_ms else [])
        self._seq = dict.fromkeys(metrics, boot_ms)
        self._next_batch_seq = boot_ms
        self._next_publish_s = now_s + self._config.publish_interval_s

    def _due(self, now_ms: int, next_ms: int, interval_ms: int) -> tuple[int, int]:
        """(first instant, count) of the samples due by ``now_ms``, capped at the RAM bound."""
        if now_ms < next_ms:
            return next_ms, 0
        n = (now_ms - next_ms) // interval_ms + 1
        cap = self._config.buffer_capacity_readings
        if n > cap:
            skipped = n - cap
            self._skipped += skipped
            log.warning(
                "wearable %s: clock jumped %.0f s ahead; %d samples older than the buffer skipped",
                self.device_id,
                (now_ms - next_ms) / 1000,
                skipped,
            )
            return next_ms + skipped * interval_ms, cap
        return next_ms, n

    def _reading(self, metric: tuple[str, str], value: float, ms: int) -> Reading:
        seq = self._seq[metric[0]]
        self._seq[metric[0]] = seq + 1
        return make_reading(
            device_id=self.device_id,
            metric=metric[0],
            value=value,
            unit=metric[1],
            ts=_ts(ms),
            seq=seq,
        )

    def _sample(self, now_s: float) -> None:
        phys = self._physiology
        if phys is None or self._draining:
            return
        now_ms = math.floor(now_s * 1000)
        new: list[Reading] = []
        first, n = self._due(now_ms, self._next_sample_ms, self._interval_ms)
        if n:
            t_ms = first + self._interval_ms * np.arange(n, dtype=np.int64)
            t_s = t_ms / 1000.0
            hr = phys.heart_rate_per_min(t_s)
            spo2 = phys.spo2_pct(t_s)
            for ms, hr_v, spo2_v in zip(t_ms.tolist(), hr.tolist(), spo2.tolist(), strict=True):
                new.append(self._reading(_HEART_RATE, hr_v, ms))
                new.append(self._reading(_SPO2, spo2_v, ms))
            self._next_sample_ms = first + n * self._interval_ms
        if self._steps_ms is not None:
            first, n = self._due(now_ms, self._next_steps_ms, self._steps_ms)
            if n:
                ends = first + self._steps_ms * np.arange(n, dtype=np.int64)
                edges = np.concatenate(([first - self._steps_ms], ends)) / 1000.0
                counts = phys.steps(edges)
                for ms, count in zip(ends.tolist(), counts.tolist(), strict=True):
                    new.append(self._reading(_STEPS, float(count), ms))
                self._next_steps_ms = first + n * self._steps_ms
        if new:
            new.sort(key=lambda r: r.ts)
            self._pending.extend(new)
            self._buffered += len(new)
            self._sampled += len(new)
            self._make_room()

    def _make_room(self) -> None:
        while self._buffered > self._config.buffer_capacity_readings:
            dropped = self._thin_oldest()
            if dropped == 0:
                if not self._pending:
                    return  # only in-flight batches left: they are bounded by the config check
                lost = self._pending.popleft()
                self._buffered -= 1
                self._dropped += 1
                log.error(
                    "wearable %s: buffer full, nothing left to thin; dropped %s seq %d",
                    self.device_id,
                    lost.metric,
                    lost.seq,
                )

    def _thin_oldest(self) -> int:
        """Halve the density of the older half of the waiting readings; returns readings dropped."""
        waiting = list(self._pending)
        window = max(2, len(waiting) // 2)
        positions: dict[str, list[int]] = {}
        for i, r in enumerate(waiting[:window]):
            if not get_metric(r.metric).clinical:
                positions.setdefault(r.metric, []).append(i)
        drop: set[int] = set()
        keep_flagged: set[int] = set()
        for idx in positions.values():
            if len(idx) >= 2:
                drop.update(idx[1::2])
                keep_flagged.update(idx[0::2])
        if not drop:
            return 0
        kept: deque[Reading] = deque()
        for i, r in enumerate(waiting):
            if i in drop:
                continue
            if i in keep_flagged and Quality.THINNED not in r.flags:
                r = replace(r, flags=r.flags | {Quality.THINNED.value})
            kept.append(r)
        self._pending = kept
        self._buffered -= len(drop)
        self._thinned += len(drop)
        log.warning(
            "wearable %s: buffer full, thinned %d of the oldest samples", self.device_id, len(drop)
        )
        return len(drop)

    # -- publishing ------------------------------------------------------------------------------

    def _publish(self, now_s: float, now_mono: float) -> None:
        cfg = self._config
        for batch in list(self._in_flight.values()):
            if not batch.sent or now_mono >= batch.resend_at:
                self._send(batch, now_mono)
        if now_s >= self._next_publish_s:
            self._flush_due = True
            self._next_publish_s = now_s + cfg.publish_interval_s
        while self._pending and len(self._in_flight) < cfg.max_in_flight_batches:
            if not (self._flush_due or len(self._pending) >= cfg.max_batch_readings):
                break
            take = min(cfg.max_batch_readings, len(self._pending))
            readings = tuple(self._pending.popleft() for _ in range(take))
            batch_id = uuid.uuid4().hex
            batch_seq = self._next_batch_seq
            self._next_batch_seq += 1
            payload = encode_batch(
                gateway_id=self.device_id,
                batch_id=batch_id,
                batch_seq=batch_seq,
                readings=readings,
                sent_at=datetime.fromtimestamp(now_s, UTC),
            )
            batch = _Batch(batch_id, batch_seq, readings, payload)
            self._in_flight[batch_id] = batch
            self._send(batch, now_mono)
        if not self._pending:
            self._flush_due = False

    def _send(self, batch: _Batch, now_mono: float) -> None:
        client = self._client
        if client is None or not self._connected:
            batch.sent = False
            return
        info = client.publish(self.readings_topic, batch.payload, qos=1)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            batch.sent = False
            return
        if batch.sends:
            self._resent += 1
        batch.sends += 1
        batch.sent = True
        cfg = self._config
        wait = min(cfg.ack_timeout_s * 2.0 ** min(batch.sends - 1, 30), cfg.ack_timeout_max_s)
        batch.resend_at = now_mono + wait
        self._published += 1

    # -- connection ------------------------------------------------------------------------------

    def _network(self, now_mono: float) -> None:
        client = self._client
        if client is None:
            if now_mono >= self._next_connect:
                self._connect(now_mono)
            return
        if not self._connected and now_mono > self._connack_deadline:
            self._lose_connection("no CONNACK in time")
            return
        if now_mono >= self._next_misc:
            self._next_misc = now_mono + 1.0
            rc = client.loop_misc()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS and client is self._client:
                self._lose_connection(f"keepalive: {mqtt.error_string(rc)}")

    def _connect(self, now_mono: float) -> None:
        cfg = self._config
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.device_id,
            clean_session=False,
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        # Our callbacks catch their own exceptions; this stops paho re-raising anything else
        # into the network loop.
        client.suppress_exceptions = True
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.will_set(self.status_topic, STATUS_OFFLINE, qos=1, retain=True)
        client.connect_timeout = cfg.connect_timeout_s
        client.max_inflight_messages_set(cfg.max_in_flight_batches + 2)
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        try:
            if self._broker.tls:
                client.tls_set()
            client.connect(self._broker.host, self._broker.port, keepalive=cfg.keepalive_s)
        except Exception as exc:  # refused, unreachable, DNS, TLS: all mean "try again later"
            self._last_error = f"connect: {type(exc).__name__}: {exc}"
            self._schedule_reconnect(now_mono)
            return
        self._client = client
        self._connack_deadline = now_mono + 2.0 * cfg.connect_timeout_s
        self._next_misc = now_mono + 1.0

    def _schedule_reconnect(self, now_mono: float) -> None:
        cfg = self._config
        delay = full_jitter_delay_s(
            self._attempt, base_s=cfg.reconnect_min_s, cap_s=cfg.reconnect_max_s, rng=self._rng
        )
        self._attempt += 1
        self._next_connect = now_mono + delay

    def _lose_connection(self, reason: str) -> None:
        client, self._client = self._client, None
        was_connected, self._connected = self._connected, False
        if client is not None:
            sock = client.socket()
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        for batch in self._in_flight.values():
            batch.sent = False
        if self._stopping:
            return  # switched off on purpose: nothing was lost, nothing to retry
        if was_connected:
            log.info("wearable %s: connection lost (%s)", self.device_id, reason)
        self._last_error = reason
        self._schedule_reconnect(time.monotonic())

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        try:
            if client is not self._client:
                return
            if reason_code.is_failure:
                self._lose_connection(f"broker refused: {reason_code}")
                return
            self._connected = True
            self._connects += 1
            self._attempt = 0
            client.subscribe(self.ack_topic, qos=1)
            client.publish(self.status_topic, STATUS_ONLINE, qos=1, retain=True)
            # Resend every unacknowledged batch after a (re)connect: the broker may have lost
            # what it had not yet persisted, and the old session's packets died with it.
            for batch in self._in_flight.values():
                batch.sent = False
        except Exception as exc:
            log.exception("wearable %s: on_connect failed", self.device_id)
            self.record_error(exc)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        try:
            if client is self._client:
                self._lose_connection(f"disconnected: {reason_code}")
        except Exception as exc:
            log.exception("wearable %s: on_disconnect failed", self.device_id)
            self.record_error(exc)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            if message.topic != self.ack_topic:
                return
            try:
                ack = parse_ack(bytes(message.payload))
            except PayloadError as exc:
                self._bad_acks += 1
                log.warning("wearable %s: unusable ack ignored: %s", self.device_id, exc)
                return
            batch = self._in_flight.pop(ack.batch_id, None)
            if batch is None:
                self._duplicate_acks += 1  # an ack for a resent batch already acknowledged
                return
            self._buffered -= len(batch.readings)
            self._acked_batches += 1
            self._acked_readings += len(batch.readings)
            if ack.dead_lettered or ack.rejected:
                log.warning(
                    "wearable %s: ingest refused %s of batch %s (dead_lettered=%s)",
                    self.device_id,
                    ack.rejected,
                    ack.batch_id,
                    ack.dead_lettered,
                )
        except Exception as exc:
            log.exception("wearable %s: on_message failed", self.device_id)
            self.record_error(exc)
