"""The gateway's MQTT uplink: carries outbox batches to the ingest, deletes them on its ack.

One thread owns one paho-mqtt 2.x client at a time and runs this loop::

    connect (our own backoff) ─▶ on CONNACK: subscribe …/ack and …/config, heartbeat on …/status,
                                   mark every unacknowledged batch for resending
    loop:  network I/O (paho) ─▶ apply a new cloud config (…/config, retained)
                              ─▶ apply acks (Outbox.ack deletes the batch)
                              ─▶ resend batches whose ack is overdue      } at most
                              ─▶ form and send new batches while fewer    } flush_readings_per_s
                                 than max_in_flight_batches are unacknowledged
                              ─▶ heartbeat when due, or at once after an event

* **Session.** MQTT 3.1.1, ``clean_session=False`` and a stable client id (``gateway_id``), so the
  broker keeps our subscriptions and queues acks published while we are away.
* **Status.** ``homeward.gateway-status/1`` JSON, retained on ``…/status``
  (docs/gateway-status-schema.md): the heartbeat (queue depth, oldest unsent age, per-device
  battery, last-seen and clock offset, thinned and refused readings, outbox corruption, config
  state) on every connect, every ``heartbeat_interval_s``, and within a second of an event.
  The last will publishes a retained ``offline`` document if the connection dies; a clean
  :meth:`Uplink.stop` publishes it itself.
* **Delivery.** Batches go out QoS 1 to ``homeward/v1/{site}/{gateway_id}/readings`` in batch
  sequence order. Only the ingest's ``homeward.ack/1`` on ``…/ack`` deletes anything; PUBACK
  proves nothing about the database. Unacknowledged batches are loaded from the outbox at start
  (a restart resends them: same ``batch_id``, same bytes), resent after every reconnect (Mosquitto
  2.0.11 does not restore shared subscriptions after a broker restart, so a batch the broker
  accepted may never reach an ingest), and resent when the ack is overdue, with the timeout
  doubling from ``ack_timeout_s`` up to ``ack_timeout_max_s`` so an ingest outage does not flood
  the broker with copies.
* **In-flight cap.** At most ``max_in_flight_batches`` batches are unacknowledged at any time: a
  bound on broker memory per gateway and far below paho's 16-bit message ids.
* **Flush rate.** Every publish of a batch (first send or resend) spends one token per reading
  from a bucket refilled at ``flush_readings_per_s`` and holding one full batch, so a backlog
  drains at a bounded rate whatever its size.
* **Cloud config.** A retained ``homeward.gateway-config/1`` on ``…/config`` (gateway.config) is
  applied without a restart: uplink settings, heartbeat interval, flush rate, outbox bound. An
  invalid or stale document is refused, the current settings stay, and the heartbeat reports the
  error. The applied document is kept in the outbox, so a reboot without a network starts with it.
* **Reconnects.** Our own loop, exponential backoff with full jitter between
  ``reconnect_min_s`` and ``reconnect_max_s``, so ten thousand gateways do not return in lockstep
  after a broker restart. Each connection uses a fresh paho client: nothing paho queued for a dead
  connection is replayed behind our back, and the outbox stays the only source of resends.
* **Robustness.** Callbacks catch and count their own exceptions, paho is told to suppress
  callback exceptions, and the loop itself survives any exception (logged, counted, retried).
* **Hooks.** What runs beside the uplink in one process (``homeward gateway``'s BLE side) joins
  it through three public hooks, never through its internals: ``radio_status`` (the radio's view,
  put into every heartbeat; a radio problem appearing or going away is an event), ``on_config``
  (called with every config document put in force, on the uplink thread, outside its lock; an
  exception there is logged and counted, the settings stay in force), and :attr:`Uplink.restored`
  / :meth:`Uplink.wait_restored` (the saved cloud config is back in force, and ``on_config`` has
  had it, before anything reads it).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from devices import DEVICE_ID_RE, Ack, PayloadError, parse_ack, parse_broker_url, topic
from gateway._backoff import full_jitter_delay_s
from gateway._rate import TokenBucket
from gateway.config import GatewayConfig, UplinkConfig, parse_config
from gateway.errors import ConfigError, GatewayError, OutboxError, UplinkStateError
from gateway.outbox import Outbox, OutboxBatch
from gateway.status import ConfigState, Heartbeat, RadioStatus, encode_offline

__all__ = ["Uplink", "UplinkConfig", "UplinkStats"]

log = logging.getLogger(__name__)

# How long stop() waits for the broker to take the retained "offline" status.
_OFFLINE_FLUSH_S = 2.0
# After an event (refusal, thinning, corruption, config) the heartbeat goes out at once, but not
# more often than this.
_EVENT_HEARTBEAT_GAP_S = 1.0
# The outbox setting that keeps the applied cloud config across restarts.
_CONFIG_SETTING = "uplink.remote_config"


@dataclass(frozen=True, slots=True)
class UplinkStats:
    """A snapshot of the uplink's counters since it was created."""

    connected: bool
    connects: int
    in_flight_batches: int
    published_batches: int
    resent_batches: int
    acked_batches: int
    acked_readings: int
    unknown_acks: int
    bad_acks: int
    errors: int
    last_error: str | None
    heartbeats: int = 0
    config_version: int | None = None


@dataclass(slots=True)
class _InFlight:
    batch: OutboxBatch
    payload: bytes
    sends: int = 0
    sent: bool = False
    resend_at: float = 0.0


class Uplink:
    """Carries ``outbox`` batches to the broker at ``broker_url`` for ``site`` / ``gateway_id``.

    ``config`` is the base configuration (a cloud config document is applied on top of it).
    ``clock`` (epoch seconds) only decides whether the oldest waiting reading has lingered long
    enough and stamps heartbeats; network timeouts use the monotonic clock. ``rng`` draws the
    reconnect jitter. ``boot_id`` (default: the outbox's) identifies this boot in the status.
    The uplink does not own the outbox: close it yourself after :meth:`stop`.

    Hooks for a process that runs a radio beside the uplink (both optional, both called on the
    uplink's thread, never while it holds its lock; they must be quick and thread-safe):

    * ``radio_status()`` gives the radio's current view (None: no radio to report). Every
      heartbeat carries it, and a change of the radio's ``state`` or of its set of problems
      (each problem's ``code`` and ``device_id``) sends a heartbeat at once, at most one a
      second, as the outbox's own events do. It is called every loop pass (``poll_interval_s``).
      An exception there is logged and counted once per spell of failures, and the heartbeat
      goes out with ``ble`` null meanwhile.
    * ``on_config(document)`` is called with every config document put in force: the one kept
      in the outbox, restored at start; each one applied from the cloud; None when the cloud
      clears its document and the base settings are back. It is called after the uplink's
      settings took effect, in the order they did. An exception there is logged and counted
      (``errors``, ``last_error``); the settings stay in force and the uplink carries on.

    :attr:`restored` turns true (and :meth:`wait_restored` returns) once the uplink thread has
    restored the cloud config kept in the outbox, or found none or an unusable one, and
    ``on_config`` has had it: a radio started only then never acts on the base config alone.

    Raises :class:`~gateway.errors.ConfigError` for a bad URL, site or gateway id.
    """

    def __init__(
        self,
        outbox: Outbox,
        *,
        site: str,
        gateway_id: str,
        broker_url: str,
        config: UplinkConfig | None = None,
        username: str | None = None,
        password: str | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        boot_id: str | None = None,
        radio_status: Callable[[], RadioStatus | None] | None = None,
        on_config: Callable[[GatewayConfig | None], None] | None = None,
    ) -> None:
        if not DEVICE_ID_RE.match(gateway_id):
            raise ConfigError("gateway_id", gateway_id, "must match the device id pattern")
        try:
            self._broker = parse_broker_url(broker_url)
        except ValueError as exc:
            raise ConfigError("broker_url", broker_url, str(exc)) from None
        try:
            self.readings_topic = topic(site, gateway_id, "readings")
            self.ack_topic = topic(site, gateway_id, "ack")
            self.status_topic = topic(site, gateway_id, "status")
            self.config_topic = topic(site, gateway_id, "config")
        except ValueError as exc:
            raise ConfigError("site", site, str(exc)) from None
        self.gateway_id = gateway_id
        self.boot_id = boot_id or outbox.boot_id
        self._outbox = outbox
        self._base_config = config or UplinkConfig()
        self._base_max_readings = outbox.max_readings
        self._config = self._base_config
        self._username = username
        self._password = password
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._radio_status = radio_status
        self._on_config = on_config
        self._radio_failing = False
        # Documents put in force and not yet handed to on_config (uplink thread only).
        self._handover: deque[GatewayConfig | None] = deque()
        self._restored = threading.Event()

        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = "new"
        self._started_mono = time.monotonic()

        self._client: mqtt.Client | None = None
        self._connected = False
        self._lost: str | None = None
        self._connack_deadline = 0.0
        self._next_connect = 0.0
        self._attempt = 0
        self._in_flight: dict[str, _InFlight] = {}
        self._loaded = False
        self._acks: deque[Ack] = deque()
        self._configs: deque[bytes] = deque()
        self._bucket = TokenBucket(
            self._config.flush_readings_per_s, self._config.max_batch_readings, time.monotonic()
        )

        self._remote: GatewayConfig | None = None
        self._config_state = ConfigState()
        self._heartbeat_seq = 0
        self._heartbeat_now = False
        self._next_heartbeat = 0.0
        self._last_heartbeat = float("-inf")
        self._reported: tuple[Any, ...] | None = None

        self._connects = 0
        self._published = 0
        self._resent = 0
        self._acked_batches = 0
        self._acked_readings = 0
        self._unknown_acks = 0
        self._bad_acks = 0
        self._errors = 0
        self._heartbeats = 0
        self._last_error: str | None = None

    # -- public surface ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the uplink thread. An uplink starts once."""
        with self._lock:
            if self._state != "new":
                raise UplinkStateError(self._state, "an uplink can be started only once")
            self._state = "running"
            self._started_mono = time.monotonic()
            self._thread = threading.Thread(
                target=self._run, name=f"uplink-{self.gateway_id}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Publish the retained ``offline`` status, disconnect and end the thread.

        Unacknowledged batches stay in the outbox for the next start. Safe to call more than once.
        """
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                log.error("uplink %s did not stop within %.1f s", self.gateway_id, timeout_s)
        with self._lock:
            self._state = "stopped"

    @property
    def config(self) -> UplinkConfig:
        """The settings in force (the base, or the base with the cloud's document applied)."""
        with self._lock:
            return self._config

    @property
    def restored(self) -> bool:
        """Whether the saved cloud config has been restored (see the class docstring)."""
        return self._restored.is_set()

    def wait_restored(self, timeout_s: float | None = None) -> bool:
        """Wait at most ``timeout_s`` seconds (None: for ever) until :attr:`restored`; returns
        it. Never true before :meth:`start`."""
        return self._restored.wait(timeout_s)

    def config_state(self) -> ConfigState:
        """The cloud config version in force and the last one refused."""
        with self._lock:
            return self._config_state

    def stats(self) -> UplinkStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return UplinkStats(
                connected=self._connected,
                connects=self._connects,
                in_flight_batches=len(self._in_flight),
                published_batches=self._published,
                resent_batches=self._resent,
                acked_batches=self._acked_batches,
                acked_readings=self._acked_readings,
                unknown_acks=self._unknown_acks,
                bad_acks=self._bad_acks,
                errors=self._errors,
                last_error=self._last_error,
                heartbeats=self._heartbeats,
                config_version=self._config_state.version,
            )

    # -- the loop --------------------------------------------------------------------------------

    def _record(self, exc: BaseException) -> None:
        with self._lock:
            self._errors += 1
            self._last_error = f"{type(exc).__name__}: {exc}"

    def _run(self) -> None:
        try:
            self._restore_config()
        except Exception as exc:
            log.exception("uplink %s: cannot restore the saved config", self.gateway_id)
            self._record(exc)
        finally:
            self._hand_over_configs()
            self._restored.set()
        while not self._stop.is_set():
            try:
                self._step()
            except Exception as exc:  # nothing may end the uplink but stop()
                log.exception("uplink %s: unexpected error; continuing", self.gateway_id)
                self._record(exc)
                self._stop.wait(max(self._config.poll_interval_s, 0.1))
        try:
            self._shut_down()
        except Exception as exc:
            log.exception("uplink %s: error while stopping", self.gateway_id)
            self._record(exc)

    def _step(self) -> None:
        cfg = self._config
        if not self._loaded:
            self._load_in_flight()
        client = self._client
        if client is None:
            wait = self._next_connect - time.monotonic()
            if wait > 0:
                self._stop.wait(min(wait, 0.25))
                return
            self._connect()
            return
        rc = client.loop(timeout=cfg.poll_interval_s)
        radio = self._radio()  # before the lock: the hooks never run under it
        try:
            with self._lock:
                if self._lost is not None or rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    self._lose(self._lost or f"network: {mqtt.error_string(rc)}")
                    return
                if not self._connected:
                    if time.monotonic() > self._connack_deadline:
                        self._lose("no CONNACK in time")
                    return
                while self._configs:
                    self._apply_config(self._configs.popleft())
                self._apply_acks()
                now = time.monotonic()
                for flight in sorted(self._in_flight.values(), key=lambda f: f.batch.batch_seq):
                    if (not flight.sent or now >= flight.resend_at) and not self._send(flight, now):
                        break
                self._fill(now)
                self._maybe_heartbeat(client, now, radio)
        finally:
            self._hand_over_configs()

    def _load_in_flight(self) -> None:
        batches = self._outbox.pending_batches()
        with self._lock:
            for batch in batches:
                if batch.batch_id not in self._in_flight:
                    self._in_flight[batch.batch_id] = _InFlight(
                        batch, batch.encode(self.gateway_id)
                    )
            self._loaded = True
        if batches:
            log.info(
                "uplink %s: %d unacknowledged batches from the outbox will be resent",
                self.gateway_id,
                len(batches),
            )

    def _apply_acks(self) -> None:
        while self._acks:
            ack = self._acks[0]
            try:
                deleted = self._outbox.ack(ack.batch_id)
            except OutboxError as exc:
                # Keep the batch in flight: it will be resent and acknowledged again.
                self._acks.popleft()
                log.error("uplink %s: cannot apply ack %s: %s", self.gateway_id, ack.batch_id, exc)
                self._record(exc)
                continue
            self._acks.popleft()
            flight = self._in_flight.pop(ack.batch_id, None)
            if flight is None and deleted == 0:
                self._unknown_acks += 1  # a second ack for a batch already deleted
                continue
            self._acked_batches += 1
            self._acked_readings += deleted
            if ack.dead_lettered or ack.rejected:
                log.warning(
                    "uplink %s: ingest dead-lettered %s reading(s) of batch %s (whole batch: %s)",
                    self.gateway_id,
                    ack.rejected,
                    ack.batch_id,
                    ack.dead_lettered,
                )

    def _fill(self, now: float) -> None:
        cfg = self._config
        while len(self._in_flight) < cfg.max_in_flight_batches:
            count, oldest = self._outbox.waiting(cfg.max_batch_readings)
            if count == 0:
                return
            lingering = (
                oldest is not None and self._clock() - oldest.timestamp() < cfg.batch_linger_s
            )
            if count < cfg.max_batch_readings and lingering:
                return
            if not self._bucket.can_take(count, now):
                return  # the flush rate: wait for tokens before fixing the batch
            batch = self._outbox.form_batch(cfg.max_batch_readings)
            if batch is None:
                return
            flight = _InFlight(batch, batch.encode(self.gateway_id))
            self._in_flight[batch.batch_id] = flight
            if not self._send(flight, now):
                return

    def _send(self, flight: _InFlight, now: float) -> bool:
        """Publish one batch if connected and the flush rate allows; returns whether it went."""
        client = self._client
        if client is None or not self._connected:
            flight.sent = False
            return False
        if not self._bucket.take(len(flight.batch.readings), now):
            return False
        info = client.publish(self.readings_topic, flight.payload, qos=1)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            flight.sent = False
            return False
        if flight.sends:
            self._resent += 1
        flight.sends += 1
        flight.sent = True
        cfg = self._config
        wait = min(cfg.ack_timeout_s * 2.0 ** min(flight.sends - 1, 30), cfg.ack_timeout_max_s)
        flight.resend_at = now + wait
        self._published += 1
        return True

    # -- heartbeat -------------------------------------------------------------------------------

    def _radio(self) -> RadioStatus | None:
        """The ``radio_status`` hook's answer; None without a hook or when it fails."""
        if self._radio_status is None:
            return None
        try:
            radio = self._radio_status()
        except Exception as exc:
            # Once per spell: the hook is asked every loop pass.
            if not self._radio_failing:
                self._radio_failing = True
                log.exception("uplink %s: radio_status failed", self.gateway_id)
                self._record(exc)
            return None
        self._radio_failing = False
        return radio

    def _events(self, radio: RadioStatus | None) -> tuple[Any, ...]:
        """What, when it changes, deserves a heartbeat at once."""
        h = self._outbox.health()
        c = self._config_state
        radio_state: str | None = None
        radio_problems: tuple[tuple[str, str], ...] = ()
        if radio is not None:
            radio_state = radio.state
            # A problem's other fields (counts, ages) change all the time: only its appearing
            # or going away is an event.
            radio_problems = tuple(
                sorted((str(p.get("code")), str(p.get("device_id") or "")) for p in radio.problems)
            )
        return (
            h.refused_puts,
            h.thinned_readings,
            len(h.corruption_events),
            c.version,
            c.rejected_at,
            radio_state,
            radio_problems,
        )

    def _maybe_heartbeat(self, client: mqtt.Client, now: float, radio: RadioStatus | None) -> None:
        events = self._events(radio)
        changed = events != self._reported
        due = self._heartbeat_now or now >= self._next_heartbeat
        if not due and not (changed and now - self._last_heartbeat >= _EVENT_HEARTBEAT_GAP_S):
            return
        payload = self._compose(radio).encode()
        info = client.publish(self.status_topic, payload, qos=1, retain=True)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return
        self._heartbeats += 1
        self._heartbeat_now = False
        self._reported = events
        self._last_heartbeat = now
        self._next_heartbeat = now + self._config.heartbeat_interval_s

    def heartbeat(self) -> Heartbeat:
        """The heartbeat as it would be published now (reads the outbox, asks ``radio_status``)."""
        return self._compose(self._radio())

    def _compose(self, radio: RadioStatus | None) -> Heartbeat:
        depth = self._outbox.depth()
        health = self._outbox.health()
        devices = self._outbox.devices()
        with self._lock:
            self._heartbeat_seq += 1
            return Heartbeat(
                gateway_id=self.gateway_id,
                boot_id=self.boot_id,
                sent_at=datetime.fromtimestamp(self._clock(), UTC),
                seq=self._heartbeat_seq,
                uptime_s=time.monotonic() - self._started_mono,
                heartbeat_interval_s=self._config.heartbeat_interval_s,
                flush_readings_per_s=self._config.flush_readings_per_s,
                depth=depth,
                health=health,
                devices=devices,
                uplink=self.stats(),
                config=self._config_state,
                radio=radio,
            )

    # -- cloud config ----------------------------------------------------------------------------

    def _restore_config(self) -> None:
        saved = self._outbox.load_setting(_CONFIG_SETTING)
        if not saved:
            return
        try:
            doc = parse_config(saved.encode())
            uplink, bound = doc.resolve(self._base_config, self._base_max_readings)
        except ConfigError as exc:
            log.error("uplink %s: saved cloud config no longer valid: %s", self.gateway_id, exc)
            return
        with self._lock:
            self._install(doc, uplink, bound)
        log.info("uplink %s: config version %d restored", self.gateway_id, doc.version)

    def _install(self, doc: GatewayConfig | None, uplink: UplinkConfig, bound: int) -> None:
        """Put ``doc`` (None: the base settings) in force; on_config gets it after the lock."""
        self._outbox.set_max_readings(bound)
        self._config = uplink
        self._remote = doc
        self._bucket.configure(uplink.flush_readings_per_s, uplink.max_batch_readings)
        self._next_heartbeat = min(
            self._next_heartbeat, time.monotonic() + uplink.heartbeat_interval_s
        )
        self._config_state = ConfigState(
            version=None if doc is None else doc.version,
            rejected_version=self._config_state.rejected_version,
            rejected_error=self._config_state.rejected_error,
            rejected_at=self._config_state.rejected_at,
        )
        if self._on_config is not None:
            self._handover.append(doc)

    def _hand_over_configs(self) -> None:
        """Give ``on_config`` every document put in force since the last call, in order."""
        hook = self._on_config
        while hook is not None and self._handover:
            doc = self._handover.popleft()
            try:
                hook(doc)
            except Exception as exc:  # the uplink's settings are in force; the hook's side lags
                log.exception(
                    "uplink %s: on_config failed for config version %s",
                    self.gateway_id,
                    None if doc is None else doc.version,
                )
                self._record(exc)

    def _apply_config(self, raw: bytes) -> None:
        if not raw:
            # The cloud cleared the retained config: back to the base settings.
            if self._remote is not None:
                self._install(None, self._base_config, self._base_max_readings)
                self._outbox.save_setting(_CONFIG_SETTING, "")
                log.info("uplink %s: cloud config cleared; base settings", self.gateway_id)
            return
        version: int | None = None
        try:
            doc = parse_config(raw)
            version = doc.version
            current = self._remote
            if current is not None and doc.version == current.version:
                return  # the retained copy again, after a reconnect
            if current is not None and doc.version < current.version:
                raise ConfigError(
                    "version", doc.version, f"older than the version in force ({current.version})"
                )
            uplink, bound = doc.resolve(self._base_config, self._base_max_readings)
        except ConfigError as exc:
            log.error("uplink %s: cloud config refused: %s", self.gateway_id, exc)
            self._config_state = ConfigState(
                version=self._config_state.version,
                rejected_version=version,
                rejected_error=str(exc),
                rejected_at=datetime.fromtimestamp(self._clock(), UTC),
            )
            return
        try:
            self._outbox.save_setting(_CONFIG_SETTING, raw.decode())
        except GatewayError as exc:
            # Applied all the same: the broker gives the retained copy again after a reboot.
            log.error("uplink %s: cannot keep the config in the outbox: %s", self.gateway_id, exc)
            self._record(exc)
        self._install(doc, uplink, bound)
        log.info("uplink %s: cloud config version %d applied", self.gateway_id, doc.version)

    # -- connection ------------------------------------------------------------------------------

    def _connect(self) -> None:
        cfg = self._config
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.gateway_id,
            clean_session=False,
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        client.suppress_exceptions = True
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.will_set(
            self.status_topic, encode_offline(self.gateway_id, self.boot_id), qos=1, retain=True
        )
        client.connect_timeout = cfg.connect_timeout_s
        # Our cap is the application's in-flight batches; paho's own queue only needs room for
        # them plus the heartbeat and a subscription or two.
        client.max_inflight_messages_set(cfg.max_in_flight_batches + 4)
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        try:
            if self._broker.tls:
                client.tls_set()
            client.connect(self._broker.host, self._broker.port, keepalive=cfg.keepalive_s)
        except Exception as exc:  # refused, unreachable, DNS, TLS: all mean "try again later"
            with self._lock:
                self._last_error = f"connect: {type(exc).__name__}: {exc}"
                self._schedule_reconnect()
            return
        with self._lock:
            self._client = client
            self._lost = None
            self._connack_deadline = time.monotonic() + 2.0 * cfg.connect_timeout_s

    def _schedule_reconnect(self) -> None:
        cfg = self._config
        delay = full_jitter_delay_s(
            self._attempt, base_s=cfg.reconnect_min_s, cap_s=cfg.reconnect_max_s, rng=self._rng
        )
        self._attempt += 1
        self._next_connect = time.monotonic() + delay

    def _lose(self, reason: str) -> None:
        client, self._client = self._client, None
        was_connected, self._connected = self._connected, False
        self._lost = None
        if client is not None:
            sock = client.socket()
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        for flight in self._in_flight.values():
            flight.sent = False
        self._last_error = reason
        if was_connected:
            log.warning("uplink %s: connection lost (%s)", self.gateway_id, reason)
        self._schedule_reconnect()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        try:
            with self._lock:
                if client is not self._client:
                    return
                if reason_code.is_failure:
                    self._lost = f"broker refused: {reason_code}"
                    return
                self._connected = True
                self._connects += 1
                self._attempt = 0
                client.subscribe([(self.ack_topic, 1), (self.config_topic, 1)])
                self._heartbeat_now = True  # the retained status says online at once
                for flight in self._in_flight.values():
                    flight.sent = False  # resend everything unacknowledged after a reconnect
            log.info(
                "uplink %s: connected (session present: %s)", self.gateway_id, flags.session_present
            )
        except Exception as exc:
            log.exception("uplink %s: on_connect failed", self.gateway_id)
            self._record(exc)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        try:
            with self._lock:
                if client is self._client:
                    self._lost = f"disconnected: {reason_code}"
        except Exception as exc:
            log.exception("uplink %s: on_disconnect failed", self.gateway_id)
            self._record(exc)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            if message.topic == self.config_topic:
                with self._lock:
                    self._configs.append(bytes(message.payload))
                return
            if message.topic != self.ack_topic:
                return
            try:
                ack = parse_ack(bytes(message.payload))
            except PayloadError as exc:
                with self._lock:
                    self._bad_acks += 1
                log.warning("uplink %s: unusable ack ignored: %s", self.gateway_id, exc)
                return
            with self._lock:
                self._acks.append(ack)
        except Exception as exc:
            log.exception("uplink %s: on_message failed", self.gateway_id)
            self._record(exc)

    def _shut_down(self) -> None:
        with self._lock:
            client, connected = self._client, self._connected
        if client is None:
            return
        if connected:
            offline = encode_offline(
                self.gateway_id, self.boot_id, datetime.fromtimestamp(self._clock(), UTC)
            )
            info = client.publish(self.status_topic, offline, qos=1, retain=True)
            deadline = time.monotonic() + _OFFLINE_FLUSH_S
            while not info.is_published() and time.monotonic() < deadline:
                if client.loop(timeout=0.05) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
        client.disconnect()
        with self._lock:
            self._client = None
            self._connected = False
