"""The gateway-health consumer: every home gateway's status, from the broker into the database.

::

    broker ──status (retained, QoS 0)──▶ network thread ──queue (bounded)──▶ database thread
                                         (owns the paho client)              store_status (each),
                                                                             COMMIT → NOTIFY
                                                                             gateways_changed

Gateways publish their status retained on ``homeward/v1/{site}/{gateway_id}/status``
(docs/gateway-status-schema.md). :class:`GatewayHealthConsumer` subscribes to
``homeward/v1/{site}/+/status`` (``settings.gateway_status_site``, ``+`` for every site) with an
ordinary subscription, so that the broker hands it the retained status of every gateway on each
subscribe, and keeps the latest one of each registered gateway in ``gateway_status``
(:mod:`monitoring.gateway_status`, which also says what is refused and why).

* The **network thread** owns the paho client and runs our own loop: connect, subscribe on every
  CONNACK, reconnect with exponential backoff and jitter, and hand each message to the queue
  without blocking. Callbacks catch everything: an exception in one is logged and counted, and
  the loop goes on.
* The **database thread** (the caller of :meth:`GatewayHealthConsumer.run`) takes up to
  ``group_messages`` messages, stores them in one transaction (each in a savepoint, so a message
  the database refuses costs only itself) and commits; the notifications go out with the commit.
  While the database is unreachable it retries the same group with backoff.

Nothing here needs to be durable: the retained status is the broker's copy of each gateway's
latest word. The session is clean (no queue at the broker for us), the subscription QoS 0
(:data:`SUBSCRIBE_QOS` says why) and the client id unique per process, so any number of consumers
may run (in every ``homeward serve``); the store is idempotent and ordered by
:func:`monitoring.gateway_status.supersedes`. Whatever may have been missed — a broker reconnect,
a queue overflow while the database was away, a group dropped at stop — is recovered by
subscribing again, which makes the broker resend every retained status.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from devices import DEVICE_ID_RE
from devices.topics import PREFIX
from homeward.errors import ConfigurationError
from homeward.settings import Settings
from monitoring.endpoints import service_endpoints
from monitoring.gateway_status import (
    REFUSED_OUTCOMES,
    STORED,
    UNCHANGED,
    StoreResult,
    store_status,
)
from monitoring.ingest import Backoff, is_transient

log = logging.getLogger("monitoring.gateway_health")

KEEPALIVE_S = 30
#: QoS of the subscription. On subscribing, the broker sends every retained status at once; at
#: QoS 1 Mosquitto lets only ``max_inflight_messages`` + ``max_queued_messages`` of that burst
#: through and silently drops the rest (with its defaults, 20 + 1000: measured 1,020 of 2,000
#: retained statuses delivered; at QoS 0, 2,000 of 2,000). QoS 1 would buy nothing here: the
#: session is clean, so a broken connection loses unacknowledged messages either way, and the
#: fresh subscription after it brings every retained status again; on a live connection TCP
#: loses nothing.
SUBSCRIBE_QOS = 0
#: Outcome of a message whose storing failed for a reason a retry would not fix (the database
#: refused a value, or a bug): logged with its traceback, counted, and skipped.
STORE_FAILED = "store_failed"
#: Messages dropped because the queue was full (recovered by resubscribing).
DROPPED = "dropped"
# How long the network loop waits in select(); also how quickly it notices a stop request.
_LOOP_TIMEOUT_S = 0.5
_STATS_EVERY_S = 60.0
# The same refusal of the same topic is logged at most once in this many seconds: a retained
# status of an unregistered gateway comes back on every resubscribe.
_WARN_EVERY_S = 600.0
_WARNED_MAX = 10_000


def status_filter(site: str) -> str:
    """The topic filter the consumer subscribes to: the status of every gateway of ``site``
    (``+``: of every site). Raises :class:`ConfigurationError` for anything else."""
    if site != "+" and not DEVICE_ID_RE.match(site):
        raise ConfigurationError(
            "HOMEWARD_GATEWAY_STATUS_SITE", f"not a site code or '+': {site!r}"
        )
    return f"{PREFIX}/{site}/+/status"


@dataclass(frozen=True, slots=True)
class _Inbound:
    topic: str
    payload: bytes
    retained: bool
    received_at: datetime


class GatewayHealthConsumer:
    """Follows the status of the gateways of ``settings.gateway_status_site``.

    Uses ``settings.mqtt_url`` (``mqtt://`` or ``mqtts://``), ``mqtt_username`` /
    ``mqtt_password`` and ``database_url``. ``max_queued`` bounds the messages waiting for the
    database (beyond it they are dropped and the retained ones fetched again by resubscribing
    once the queue has drained); ``group_messages`` bounds one transaction.

    :attr:`subscribed` is set while a subscription is granted. :meth:`counts` gives the outcomes
    so far (``stored``, ``unchanged``, each refusal code, ``store_failed``, ``dropped``).
    Raises :class:`ConfigurationError` when the broker or the database is not configured.
    """

    def __init__(
        self, settings: Settings, *, max_queued: int = 10_000, group_messages: int = 200
    ) -> None:
        if max_queued < 1 or group_messages < 1:
            raise ValueError("max_queued and group_messages must be ≥ 1")
        self._broker, database_url = service_endpoints(settings, "gateway health")
        self._database_url = database_url
        self._username = settings.mqtt_username
        self._password = settings.mqtt_password
        self.topic_filter = status_filter(settings.gateway_status_site)
        # Unique per process: clean sessions of two consumers must not take each other over.
        host = socket.gethostname()[:32]
        self.client_id = f"gateway-health-{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._max_queued = max_queued
        self._group_messages = group_messages

        self._queue: deque[_Inbound] = deque()
        self._cond = threading.Condition()
        self._resync_wanted = False  # set on overflow; acted on once the queue has drained
        self._resubscribe = threading.Event()
        self._net_stop = threading.Event()
        self.subscribed = threading.Event()
        self._subscribe_mid: int | None = None

        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._logged_counts: Counter[str] = Counter()
        self._stats_at = time.monotonic()
        self._warned: dict[tuple[str, str], float] = {}
        self._conn: psycopg.Connection[Any] | None = None

    # ------------------------------------------------------------------ public

    def counts(self) -> dict[str, int]:
        """Messages by outcome since the consumer was created."""
        with self._counts_lock:
            return dict(self._counts)

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; returns within about a second of it.

        Blocks the calling thread, which becomes the database thread. Never raises for a broker
        or database outage: both are retried with backoff.
        """
        net = threading.Thread(target=self._network_main, name="gateway-health-mqtt", daemon=True)
        log.info(
            "gateway health starting: broker %s, client id %s, filter %s",
            self._broker,
            self.client_id,
            self.topic_filter,
        )
        net.start()
        try:
            self._database_main(stop)
        finally:
            self._net_stop.set()
            with self._cond:
                self._cond.notify_all()
            net.join(timeout=10)
            self._close_connection()
            self._log_stats(force=True)
            log.info("gateway health stopped")

    # ------------------------------------------------------------------ counting and logging

    def _count(self, outcome: str, n: int = 1) -> None:
        with self._counts_lock:
            self._counts[outcome] += n

    def _warn_once(self, result: StoreResult, topic: str) -> None:
        key = (result.outcome, topic)
        now = time.monotonic()
        if now - self._warned.get(key, -_WARN_EVERY_S) < _WARN_EVERY_S:
            return
        if len(self._warned) >= _WARNED_MAX:
            self._warned.clear()
        self._warned[key] = now
        log.warning(
            "gateway status on %s not stored (%s): %s", topic, result.outcome, result.detail
        )

    def _log_stats(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._stats_at < _STATS_EVERY_S:
            return
        self._stats_at = now
        counts = self.counts()
        if counts == self._logged_counts:
            return
        delta = Counter(counts)
        delta.subtract(self._logged_counts)
        self._logged_counts = Counter(counts)
        refused = {k: v for k, v in delta.items() if v and k not in (STORED, UNCHANGED)}
        log.info(
            "gateway status: %d stored, %d unchanged, refused %s",
            delta[STORED],
            delta[UNCHANGED],
            refused or "none",
        )

    # ------------------------------------------------------------------ network thread

    def _network_main(self) -> None:
        backoff = Backoff(0.5, 30.0)
        while not self._net_stop.is_set():
            try:
                granted = self._one_connection()
            except Exception:
                # Never let the thread die: a dead consumer silently freezes every gateway's
                # state on the panel.
                log.exception("gateway health: broker connection failed")
                granted = False
            finally:
                self.subscribed.clear()
            if granted:
                backoff.reset()
            if not self._net_stop.is_set():
                delay = backoff.next()
                log.info("gateway health: reconnecting to the broker in %.1f s", delay)
                self._net_stop.wait(delay)

    def _one_connection(self) -> bool:
        """Connect, subscribe and loop until the connection ends; True if a subscription was
        granted on it."""
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True
        )
        client.suppress_exceptions = True
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        if self._broker.tls:
            client.tls_set()
        try:
            client.connect(self._broker.host, self._broker.port, keepalive=KEEPALIVE_S)
        except (OSError, ValueError) as exc:
            log.warning("gateway health: cannot reach the broker at %s: %s", self._broker, exc)
            return False
        granted = False
        try:
            while not self._net_stop.is_set():
                rc = client.loop(timeout=_LOOP_TIMEOUT_S)
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    log.warning("gateway health: broker connection lost (%s)", rc.name)
                    break
                granted = granted or self.subscribed.is_set()
                if self._resubscribe.is_set() and self.subscribed.is_set():
                    self._resubscribe.clear()
                    # Subscribing again to the same filter makes the broker resend every
                    # retained status (MQTT 3.1.1 section 3.8.4).
                    client.subscribe(self.topic_filter, qos=SUBSCRIBE_QOS)
                    log.info("gateway health: subscribed again to fetch every retained status")
        finally:
            with contextlib.suppress(Exception):
                client.disconnect()
            sock = client.socket()
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        return granted

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        try:
            if reason_code.is_failure:
                log.error("gateway health: the broker refused the connection: %s", reason_code)
                return
            result, mid = client.subscribe(self.topic_filter, qos=SUBSCRIBE_QOS)
            self._subscribe_mid = mid if result == MQTTErrorCode.MQTT_ERR_SUCCESS else None
            # A fresh subscription brings every retained status: no pending resync is needed.
            self._resubscribe.clear()
        except Exception:
            log.exception("gateway health: on_connect failed")

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Any,
    ) -> None:
        try:
            if any(rc.is_failure for rc in reason_codes):
                log.error("gateway health: subscription to %s refused", self.topic_filter)
                return
            if not self.subscribed.is_set():
                log.info("gateway health: subscribed to %s", self.topic_filter)
            self.subscribed.set()
        except Exception:
            log.exception("gateway health: on_subscribe failed")

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        self.subscribed.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            item = _Inbound(
                message.topic, bytes(message.payload), bool(message.retain), datetime.now(UTC)
            )
            with self._cond:
                if len(self._queue) >= self._max_queued:
                    self._resync_wanted = True
                    dropped = True
                else:
                    self._queue.append(item)
                    self._cond.notify()
                    dropped = False
            if dropped:
                self._count(DROPPED)
        except Exception:
            log.exception("gateway health: on_message failed for %s", message.topic)

    # ------------------------------------------------------------------ database thread

    def _take(self, timeout_s: float) -> list[_Inbound]:
        with self._cond:
            if not self._queue:
                self._cond.wait(timeout_s)
            group: list[_Inbound] = []
            while self._queue and len(group) < self._group_messages:
                group.append(self._queue.popleft())
            if not self._queue and self._resync_wanted and not group:
                self._resync_wanted = False
                self._resubscribe.set()
            return group

    def _database_main(self, stop: threading.Event) -> None:
        while not stop.is_set():
            group = self._take(0.5)
            if group:
                self._store(group, stop)
            self._log_stats()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self._close_connection()
        # Keepalives, as in the ingest: a database host that vanishes is noticed in seconds.
        self._conn = psycopg.connect(
            self._database_url,
            autocommit=True,
            application_name="homeward-gateway-health",
            connect_timeout=5,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
        return self._conn

    def _close_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _store(self, group: list[_Inbound], stop: threading.Event) -> None:
        backoff = Backoff(0.5, 30.0)
        while True:
            try:
                results = self._store_once(group)
                break
            except Exception as exc:
                self._close_connection()
                if stop.is_set():
                    # Not lost for good: the next start's subscription brings the retained ones.
                    log.warning(
                        "stopping while the database is unavailable: %d dropped", len(group)
                    )
                    return
                delay = backoff.next()
                log.warning(
                    "gateway health: database unavailable (%s: %s); retrying in %.1f s",
                    type(exc).__name__,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                    delay,
                )
                stop.wait(delay)
        for item, result in zip(group, results, strict=True):
            self._count(result.outcome)
            if result.outcome in REFUSED_OUTCOMES or result.outcome == STORE_FAILED:
                self._warn_once(result, item.topic)
            elif result.notified:
                log.info("gateway %s: status changed", result.gateway_id)

    def _store_once(self, group: list[_Inbound]) -> list[StoreResult]:
        conn = self._connection()
        results: list[StoreResult] = []
        with conn.transaction():
            for item in group:
                try:
                    with conn.transaction():  # a savepoint per message
                        results.append(
                            store_status(
                                conn,
                                topic=item.topic,
                                payload=item.payload,
                                received_at=item.received_at,
                                retained=item.retained,
                            )
                        )
                except Exception as exc:
                    if is_transient(exc):
                        raise  # the whole group is retried
                    log.exception("gateway health: storing the status on %s failed", item.topic)
                    results.append(StoreResult(STORE_FAILED, detail=f"{type(exc).__name__}"))
        return results
