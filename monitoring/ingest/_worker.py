"""The ingest worker: MQTT in, PostgreSQL out, acknowledgements only after the commit.

Two threads, one job each::

    broker ──PUBLISH──▶ network thread ──Inbox (bounded)──▶ database thread ── store_batch ──▶ DB
           ◀─PUBACK──── (owns the paho client) ◀──outbox──── (after COMMIT)
           ◀─app ack───

* The **network thread** owns the paho client and is the only thread that touches it (paho's
  write path is not safe to call from two threads without its own loop thread). It runs our own
  select loop: reconnects with exponential backoff and jitter, subscribes on every connect, hands
  each message to the inbox without ever blocking, and sends what the database thread asks for.
* The **database thread** (the caller of :meth:`IngestWorker.run`) takes the oldest message and
  whatever is already queued behind it (up to ``group_messages`` / ``group_bytes``), stores them
  in one transaction (:func:`store_messages`), and only after that transaction has committed
  queues, for each message in order: the application ack (``homeward.ack/1``, QoS 1, to
  ``homeward/v1/{site}/{gateway}/ack``) and then the broker ack (PUBACK for the message's
  ``mid``). One commit for several messages is what lets one worker keep up with a backlog
  (docs/decisions/0002); when messages trickle in, a group is one message and nothing waits. If
  the database is unreachable it retries the same group with backoff until the database is back;
  the messages stay unacknowledged meanwhile, so if the worker dies the broker redelivers them.
  If the database refuses a group, its messages are stored one by one so that only the one it
  refuses becomes a ``storage_refused`` dead letter.
* Metrics and health (:mod:`monitoring.ingest._metrics`) are served on
  ``settings.ingest_metrics_port`` when it is set.

The session is persistent (``clean_session=False``, stable client id): messages that arrive
while the worker is away, and messages it received but never acknowledged, are kept by the broker
and delivered when it reconnects. A ``mid`` belongs to the connection that delivered it, so a
PUBACK is sent only on that same connection; after a reconnect the broker redelivers the message
and the copy is stored as a duplicate and acknowledged.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from devices import DEVICE_ID_RE, encode_ack
from devices.topics import PREFIX
from homeward.errors import ConfigurationError
from homeward.settings import Settings
from monitoring.endpoints import service_endpoints
from monitoring.ingest._backoff import Backoff
from monitoring.ingest._inbox import Inbound, Inbox
from monitoring.ingest._metrics import IngestMetrics, MetricsServer
from monitoring.ingest._store import (
    STORAGE_REFUSED,
    Message,
    StoreResult,
    dead_letter_message,
    store_messages,
)
from monitoring.partitions import DEFAULT_KEEPER, PartitionKeeper

log = logging.getLogger("monitoring.ingest")

KEEPALIVE_S = 30
# How long the network thread sleeps in select() when nothing happens; also how quickly it
# notices a stop request.
_SELECT_TIMEOUT_S = 1.0
# How often a failed daily partition check is retried, and how often activity is logged.
_AHEAD_RETRY_S = 60.0
_STATS_EVERY_S = 60.0
# /healthz turns unhealthy when the oldest received message has waited this long for its commit.
STALL_AFTER_S = 120.0
# SQLSTATE classes that say "try again later", not "this message is refused": connection
# exception (08), invalid transaction state (25), invalid authorization (28), invalid catalog
# name (3D), transaction rollback: deadlock, serialization (40), insufficient resources (53),
# object not in prerequisite state: lock_timeout (55), operator intervention: shutdown, cancel
# (57), system error (58), internal error (XX); and syntax error or access rule violation (42):
# our SQL is fixed, so an undefined table or a missing privilege is a deployment problem that
# is fixed once for every message, not a property of this one.
_TRANSIENT_SQLSTATE_CLASSES = frozenset(
    {"08", "25", "28", "3D", "40", "42", "53", "55", "57", "58", "XX"}
)


def _brief(exc: BaseException) -> str:
    """``Type: first line of the message``: database errors span lines (LINE, HINT...)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def subscription_filter(site: str, share_group: str | None) -> str:
    """The topic filter an ingest subscribes to: the readings of one site (``+``: every site).

    ``homeward/v1/{site}/+/readings``, prefixed ``$share/{group}/`` when a share group is set so
    that N workers split the stream. Raises :class:`ConfigurationError` for a site or group that
    would not be a single topic level.
    """
    if site != "+" and not DEVICE_ID_RE.match(site):
        raise ConfigurationError("HOMEWARD_INGEST_SITE", f"not a site code or '+': {site!r}")
    base = f"{PREFIX}/{site}/+/readings"
    if not share_group:
        return base
    if any(c in share_group for c in "/+#") or not share_group.strip():
        raise ConfigurationError(
            "HOMEWARD_INGEST_SHARE_GROUP", f"not a share group name: {share_group!r}"
        )
    return f"$share/{share_group}/{base}"


def is_transient(exc: BaseException) -> bool:
    """True when a database error says "try again later" rather than "refused".

    Errors raised by the client itself (connection lost, no SQLSTATE) are transient; so are the
    SQLSTATE classes of :data:`_TRANSIENT_SQLSTATE_CLASSES`. Anything else (a constraint, a data
    error) would fail the same way on every retry.
    """
    if isinstance(exc, psycopg.InterfaceError):
        return True
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        return state is None or state[:2] in _TRANSIENT_SQLSTATE_CLASSES
    return False


@dataclass(frozen=True, slots=True)
class _Outbound:
    """Sent by the network thread once the message's transaction has committed."""

    generation: int
    mid: int
    qos: int
    ack_topic: str | None
    ack_payload: bytes | None
    committed_at: float  # time.perf_counter() at the commit


class _GroupRefusedError(Exception):
    """The database refused a group of several messages: store them one by one."""


@dataclass
class _Stats:
    messages: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    refused_messages: int = 0

    def add(self, r: StoreResult) -> None:
        self.messages += 1
        self.stored += r.stored
        self.duplicates += r.duplicates
        self.rejected += r.rejected
        self.refused_messages += int(r.dead_lettered)


class IngestWorker:
    """One ingest worker: the readings of ``settings.ingest_site`` from the broker to the database.

    Uses ``settings.mqtt_url`` (``mqtt://`` or ``mqtts://``), ``mqtt_username``/``mqtt_password``,
    ``ingest_client_id`` (must be stable across restarts: the broker keeps the persistent session
    under it), ``ingest_share_group``, ``ingest_site``, ``database_url`` and
    ``partitions_ahead_days``, ``http_host`` and ``ingest_metrics_port``. ``inbox_items``/
    ``inbox_bytes`` bound what may wait between the two threads; from a quarter of either the
    network thread stops reading the socket (backpressure through TCP), so the bound itself is
    reached only by a burst larger than that. ``group_messages``/``group_bytes`` bound one
    transaction.

    :attr:`subscribed` is set while the worker holds a granted subscription (tests and the demo
    wait on it); :attr:`metrics` holds its Prometheus metrics, :attr:`metrics_port` the port
    they are served on (None when not served).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        partitions: PartitionKeeper | None = None,
        inbox_items: int = 4000,
        inbox_bytes: int = 64 * 1024 * 1024,
        group_messages: int = 32,
        group_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        if group_messages < 1 or group_bytes < 1:
            raise ValueError("a transaction holds at least one message")
        self._broker, database_url = service_endpoints(settings, "the ingest")
        self._settings = settings
        self._database_url = database_url
        self._filter = subscription_filter(settings.ingest_site, settings.ingest_share_group)
        self._partitions = partitions or DEFAULT_KEEPER
        self._inbox = Inbox(inbox_items, inbox_bytes)
        self._group_messages = group_messages
        self._group_bytes = group_bytes
        self.metrics = IngestMetrics()
        self.metrics.watch(
            connected=self.subscribed_now,
            inbox_messages=lambda: len(self._inbox),
            inbox_bytes=lambda: self._inbox.bytes,
            oldest_age_s=self.oldest_unprocessed_age_s,
        )
        self.metrics_port: int | None = None
        self._outbox: deque[_Outbound] = deque()
        # Written by the database thread to wake the network thread's select().
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._net_stop = threading.Event()
        self.subscribed = threading.Event()
        # Network-thread state (only that thread writes these).
        self._generation = 0
        self._ever_connected = False
        self._overflowed = False
        self._subscribe_mid: int | None = None
        self._mqtt_backoff = Backoff(0.5, 30.0)
        # Database-thread state.
        self._conn: psycopg.Connection[Any] | None = None
        self._stats = _Stats()
        self._stats_at = time.monotonic()
        self._ahead_day: date | None = None
        self._ahead_next_try = 0.0
        # Read by the metrics thread: when the group in hand was first received, and whether the
        # last database attempt failed for a transient reason.
        self._in_hand_since: datetime | None = None
        self._db_unavailable = False
        self._last_commit_at: datetime | None = None

    # ------------------------------------------------------------------ health

    def subscribed_now(self) -> bool:
        """True while the worker holds a granted subscription."""
        return self.subscribed.is_set()

    def oldest_unprocessed_age_s(self) -> float:
        """Seconds the oldest received, not yet committed message has waited (0 when none)."""
        oldest = [t for t in (self._in_hand_since, self._inbox.oldest_received_at()) if t]
        if not oldest:
            return 0.0
        return max(0.0, (datetime.now(UTC) - min(oldest)).total_seconds())

    def health(self) -> tuple[bool, Mapping[str, Any]]:
        """``(healthy, details)``: healthy while subscribed, the database accepts writes, and no
        received message has waited more than :data:`STALL_AFTER_S` for its commit."""
        lag = self.oldest_unprocessed_age_s()
        last = self._last_commit_at
        details = {
            "subscribed": self.subscribed_now(),
            "database": "unavailable" if self._db_unavailable else "ok",
            "oldest_unprocessed_age_s": round(lag, 3),
            "inbox_messages": len(self._inbox),
            "last_commit_at": last.isoformat() if last else None,
        }
        healthy = self.subscribed_now() and not self._db_unavailable and lag < STALL_AFTER_S
        return healthy, details

    # ------------------------------------------------------------------ lifecycle

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set, then finish the message in hand and disconnect cleanly.

        Blocks the calling thread, which becomes the database thread. Messages still waiting in
        the inbox at stop are not acknowledged; the broker keeps them for the next start.
        """
        net = threading.Thread(target=self._network_main, name="ingest-mqtt", daemon=True)
        log.info(
            "ingest starting: broker %s, client id %s, filter %s",
            self._broker,
            self._settings.ingest_client_id,
            self._filter,
        )
        server = None
        if self._settings.ingest_metrics_port is not None:
            server = MetricsServer(
                self.metrics,
                self.health,
                host=self._settings.http_host,
                port=self._settings.ingest_metrics_port,
            )
            self.metrics_port = server.port
            server.start()
        net.start()
        try:
            self._database_main(stop)
        finally:
            if server is not None:
                server.stop()
            self._net_stop.set()
            self._wake()
            net.join(timeout=15)
            self._close_connection()
            self._wake_r.close()
            self._wake_w.close()
            self._log_stats(force=True)
            log.info("ingest stopped")

    # ------------------------------------------------------------------ database thread

    def _database_main(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._keep_partitions_ahead()
            group = self._inbox.get_group(0.5, self._group_messages, self._group_bytes)
            if group:
                self._in_hand_since = group[0].received_at
                try:
                    self._process(group, stop)
                finally:
                    self._in_hand_since = None
            self._log_stats()

    def _process(self, items: list[Inbound], stop: threading.Event) -> None:
        """Store ``items`` in one transaction and queue their acks, or one by one if the
        database refuses the group."""
        try:
            results = self._commit(items, stop)
        except _GroupRefusedError:
            log.warning(
                "the database refused a group of %d messages; storing them one by one",
                len(items),
            )
            for item in items:
                if stop.is_set():
                    return  # the rest stays unacknowledged: the broker redelivers it
                self._process([item], stop)
            return
        if results is None:
            return
        committed = time.perf_counter()
        now = datetime.now(UTC)
        self._last_commit_at = now
        m = self.metrics
        m.transactions.inc()
        m.transaction_messages.observe(len(items))
        m.last_commit.set(now.timestamp())
        for item, result in zip(items, results, strict=True):
            self._stats.add(result)
            m.receive_to_commit.observe(max(0.0, (now - item.received_at).total_seconds()))
            m.messages.labels("dead_lettered" if result.dead_lettered else "stored").inc()
            m.readings.labels("stored").inc(result.stored)
            m.readings.labels("duplicate").inc(result.duplicates)
            m.readings.labels("rejected").inc(result.rejected)
            if result.dead_letters_added:
                for d in result.dead_letters:
                    m.dead_letters.labels(d.reason).inc()
            self._send_after_commit(item, result, committed)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self._close_connection()
        # psycopg directly rather than homeward.db.connect: the ingest needs TCP keepalives so a
        # database host that vanishes mid-transaction is noticed in seconds, not hours.
        self._conn = psycopg.connect(
            self._database_url,
            autocommit=True,
            application_name=f"homeward-ingest {self._settings.ingest_client_id}"[:63],
            connect_timeout=5,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
        self.metrics.db_connects.inc()
        row = self._conn.execute("SHOW synchronous_commit").fetchone()
        if row is not None and row[0] == "off":
            # We acknowledge after COMMIT; with synchronous_commit off a server crash can still
            # undo a commit we acknowledged, and the reading would be lost. Stronger settings
            # (local, remote_write, remote_apply) are left as the operator chose them.
            self._conn.execute("SET synchronous_commit TO on")
            log.warning("synchronous_commit was off for the ingest's session; set to on")
        log.info("connected to the database")
        return self._conn

    def _drop_unusable_connection(self) -> None:
        """After an error: close the connection unless it is healthy and outside a transaction
        (a broken one, or one left inside a transaction, would fail every later message)."""
        conn = self._conn
        if conn is None:
            return
        if (
            conn.closed
            or conn.broken
            or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
        ):
            self._close_connection()

    def _close_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _commit(self, items: list[Inbound], stop: threading.Event) -> list[StoreResult] | None:
        """Store ``items`` in one transaction, retrying while the database is unavailable.

        Returns None only when ``stop`` was set while the database was unavailable: the messages
        are then left unacknowledged for the broker to redeliver. Raises
        :class:`_GroupRefusedError` when the database refuses a group of several messages.
        """
        backoff = Backoff(0.5, 30.0)
        refused: str | None = None
        while True:
            try:
                # Whatever stops us connecting (refused, auth, database missing) is "later",
                # never a verdict on these messages.
                conn = self._connection()
            except Exception as exc:
                error: Exception = exc
            else:
                try:
                    if refused is None:
                        results = store_messages(
                            conn,
                            [Message(i.topic, i.payload, i.received_at) for i in items],
                            partitions=self._partitions,
                        )
                    else:
                        item = items[0]
                        results = [
                            dead_letter_message(
                                conn,
                                topic=item.topic,
                                raw=item.payload,
                                received_at=item.received_at,
                                reason=STORAGE_REFUSED,
                                detail=refused,
                            )
                        ]
                    self._db_unavailable = False
                    return results
                except Exception as exc:
                    if refused is None and not is_transient(exc):
                        self.metrics.db_errors.labels("refused").inc()
                        self._drop_unusable_connection()
                        if len(items) > 1:
                            raise _GroupRefusedError from exc
                        # Retrying cannot help and would stop the stream for every other
                        # patient: keep the bytes as a dead letter (replayable once fixed).
                        log.exception(
                            "the database refused a message on %s; keeping it as a dead letter",
                            items[0].topic,
                        )
                        refused = f"{type(exc).__name__}: {exc}"[:2000]
                        continue
                    error = exc
            self.metrics.db_errors.labels("transient").inc()
            self._db_unavailable = True
            self._drop_unusable_connection()
            if stop.is_set():
                log.warning(
                    "stopping while the database is unavailable; %d messages (first mid %d on"
                    " %s) stay unacknowledged and will be redelivered",
                    len(items),
                    items[0].mid,
                    items[0].topic,
                )
                return None
            delay = backoff.next()
            log.warning(
                "database unavailable (%s); retrying in %.1f s (attempt %d)",
                _brief(error),
                delay,
                backoff.failures,
            )
            stop.wait(delay)

    def _send_after_commit(self, item: Inbound, result: StoreResult, committed_at: float) -> None:
        payload = encode_ack(result.ack) if result.ack is not None else None
        self._outbox.append(
            _Outbound(item.generation, item.mid, item.qos, result.ack_topic, payload, committed_at)
        )
        self._wake()

    def _keep_partitions_ahead(self) -> None:
        today = datetime.now(UTC).date()
        if today == self._ahead_day or time.monotonic() < self._ahead_next_try:
            return
        try:
            created = self._partitions.ensure_ahead(
                self._connection(), today=today, ahead_days=self._settings.partitions_ahead_days
            )
        except Exception as exc:
            self._ahead_next_try = time.monotonic() + _AHEAD_RETRY_S
            log.warning("could not create reading partitions ahead (%s); will retry", _brief(exc))
            self._drop_unusable_connection()
            return
        self._ahead_day = today
        if created:
            log.info("created %d reading partitions ahead of %s", created, today)

    def _log_stats(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._stats_at < _STATS_EVERY_S:
            return
        s = self._stats
        if s.messages:
            log.info(
                "ingested %d messages in %.0f s: %d readings stored, %d duplicates, %d refused"
                " readings, %d refused messages",
                s.messages,
                now - self._stats_at,
                s.stored,
                s.duplicates,
                s.rejected,
                s.refused_messages,
            )
        self._stats = _Stats()
        self._stats_at = now

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full (already woken) or closed at shutdown
            self._wake_w.send(b"\0")

    # ------------------------------------------------------------------ network thread

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._settings.ingest_client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        # Our callbacks catch everything; this is the second line of defence so that no
        # exception can unwind the network loop.
        client.suppress_exceptions = True
        client.enable_logger(logging.getLogger("monitoring.ingest.mqtt"))
        if self._settings.mqtt_username:
            client.username_pw_set(self._settings.mqtt_username, self._settings.mqtt_password)
        if self._broker.tls:
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        # Sets host, port and keepalive without touching the network; every attempt (the first
        # included) is then a reconnect() driven by our own backoff loop.
        client.connect_async(self._broker.host, self._broker.port, keepalive=KEEPALIVE_S)
        return client

    def _network_main(self) -> None:
        client = self._make_client()
        while not self._net_stop.is_set():
            try:
                client.reconnect()
                self._pump_until_lost(client)
            except Exception as exc:  # a refused TCP connect, DNS, TLS... never fatal
                log.warning("broker %s unreachable: %s", self._broker, _brief(exc))
            self.subscribed.clear()
            if self._net_stop.is_set():
                break
            delay = self._mqtt_backoff.next()
            log.info("reconnecting to the broker in %.1f s", delay)
            self._net_stop.wait(delay)
        self._shutdown(client)

    def _pump_until_lost(self, client: mqtt.Client) -> None:
        while not self._net_stop.is_set():
            if not self._pump(client, _SELECT_TIMEOUT_S):
                return
            if self._overflowed:
                # A message was refused by the full inbox. It is unacknowledged, so the broker
                # redelivers it after a reconnect; acks already due are sent first.
                self._overflowed = False
                self._send_outbox(client)
                log.warning("inbox full; reconnecting so the broker redelivers what it held")
                client.disconnect()
                self._pump(client, 0.5)
                return

    def _pump(self, client: mqtt.Client, timeout_s: float) -> bool:
        """One round of network I/O; False once the connection is gone."""
        self._send_outbox(client)
        sock = client.socket()
        if sock is None:
            return False
        # Backpressure: while the inbox is half full, stop reading the socket and let TCP flow
        # control hold the broker back. Mosquitto's max_inflight_messages does not bound what
        # it sends a client that keeps acknowledging (2.0.11 measured: ~700 unacknowledged
        # with a window of 100, docs/decisions/0002), and a full inbox costs a reconnect and a
        # redelivery of everything in flight. The database thread wakes us after every commit.
        paused = self._inbox.nearly_full()
        # A TLS socket may hold decrypted bytes that select() cannot see.
        pending = sock.pending() if hasattr(sock, "pending") and not paused else 0
        wlist = [sock] if client.want_write() else []
        rlist = [self._wake_r] if paused else [sock, self._wake_r]
        try:
            readable, _, _ = select.select(rlist, wlist, [], 0.0 if pending else timeout_s)
        except (OSError, ValueError):  # the socket was closed under us
            return False
        if self._wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                self._wake_r.recv(4096)
        if (sock in readable or pending) and client.loop_read(10) != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        if client.want_write() and client.loop_write() != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        if client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        return client.socket() is not None

    def _send_outbox(self, client: mqtt.Client) -> None:
        while self._outbox:
            out = self._outbox.popleft()
            if out.ack_topic is not None and out.ack_payload is not None:
                # The rows are committed whatever connection we are on now: the gateway may
                # drop the batch. QoS 1; paho resends it after a reconnect if need be.
                client.publish(out.ack_topic, out.ack_payload, qos=1)
            if out.qos == 0:
                continue
            if out.generation != self._generation or not client.is_connected():
                log.debug("mid %d came on an earlier connection; the broker redelivers it", out.mid)
                continue
            client.ack(out.mid, out.qos)
            self.metrics.commit_to_ack.observe(time.perf_counter() - out.committed_at)

    def _shutdown(self, client: mqtt.Client) -> None:
        """Send the acks still due, then DISCONNECT (the session stays at the broker)."""
        try:
            if client.is_connected():
                self._send_outbox(client)
                client.disconnect()
                deadline = time.monotonic() + 3.0
                while client.socket() is not None and time.monotonic() < deadline:
                    if not self._pump(client, 0.1):
                        break
        except Exception:
            log.exception("error while disconnecting from the broker")
        self.subscribed.clear()

    # paho callbacks: they run on the network thread and must never raise.

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
                log.error("broker %s refused the connection: %s", self._broker, reason_code)
                return
            self._generation += 1
            if flags.session_present:
                dropped = self._inbox.drop_before(self._generation)
                if dropped:
                    log.info("%d waiting messages will be redelivered by the broker", dropped)
            elif self._ever_connected:
                log.warning(
                    "the broker kept no session for %s: readings published while this worker"
                    " was away are only safe if another worker of the group took them",
                    self._settings.ingest_client_id,
                )
            self._ever_connected = True
            self._mqtt_backoff.reset()
            self.metrics.broker_connects.inc()
            _, self._subscribe_mid = client.subscribe(self._filter, qos=1)
            log.info(
                "connected to %s (session present: %s); subscribing to %s",
                self._broker,
                flags.session_present,
                self._filter,
            )
        except Exception:
            log.exception("error in on_connect")

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Any,
    ) -> None:
        try:
            if mid != self._subscribe_mid:
                return
            if any(rc.is_failure for rc in reason_codes):
                log.error("broker refused the subscription to %s: %s", self._filter, reason_codes)
                client.disconnect()  # and try again after a backoff
                return
            self.subscribed.set()
            log.info("subscribed to %s", self._filter)
        except Exception:
            log.exception("error in on_subscribe")

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            try:
                topic = msg.topic
            except UnicodeDecodeError:
                # Kept (and dead-lettered as invalid_topic) rather than lost.
                topic = "<topic is not UTF-8>"
            item = Inbound(
                generation=self._generation,
                mid=msg.mid,
                qos=msg.qos,
                topic=topic,
                payload=bytes(msg.payload),
                received_at=datetime.now(UTC),
            )
            if not self._inbox.offer(item):
                self._overflowed = True
        except Exception:
            log.exception("error in on_message; the message will be redelivered")
            self._overflowed = True

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        try:
            self.subscribed.clear()
            if self._net_stop.is_set():
                log.info("disconnected from the broker")
            else:
                log.warning("connection to the broker lost: %s", reason_code)
        except Exception:
            log.exception("error in on_disconnect")


def run_ingest(settings: Settings, stop: threading.Event) -> None:
    """Run one ingest worker until ``stop`` is set (``homeward ingest``)."""
    IngestWorker(settings).run(stop)
