"""The BLE side of ``homeward gateway``: :class:`gateway.ble.BleCentral` on a loop of its own.

The gateway process has two network sides that must not wait for each other: the MQTT uplink
(a thread of its own, :class:`gateway.Uplink`) and the Bluetooth sessions (asyncio, bleak).
:class:`BleService` runs the central in its own thread with its own event loop, so a slow
device never delays a heartbeat and a broker outage never stalls a sync; both meet only in
the thread-safe :class:`gateway.Outbox`.

**What it reads.** The home's devices come from the config (:class:`BleWish`: the local
``--config`` document, with the cloud's retained document on top; :meth:`BleService.configure`
is called from the uplink's ``on_config`` hook with every config document it puts in force).
The service reconciles the allow-list (:class:`gateway.ble.DeviceRegistry`,
``ble-devices.json`` in the gateway's directory) with that list whenever it changes: a device
newly listed (or listed with a new address or kind) is enrolled, which pairs it once if its
profile needs a bond (the keys stay with the radio and outlive restarts); a device no longer
listed is taken off the allow-list and its keys deleted. A list that is not given (no
``devices`` in either document) leaves the allow-list as it is. A pairing that fails (device out
of range, not in pairing mode) is tried again after ``retry_interval_s``, doubling up to
``resync_interval_s`` (each try may hold one of the few connection slots for a while); until it
succeeds the device is reported ``ble_not_paired``.
A device whose bond was lost is not paired again behind the patient's back: it stays reported
until it is listed anew (taken off the list, then listed again).

**Radio.** ``None`` backends: the host's adapter through bleak's own backend (BlueZ). With
emulation options (``--emulated-radio``), :class:`~homeward.gateway_emulation.EmulatedRadio`:
the bumble backend on an in-process link, and one emulated device per listed device. The radio
is touched only once a device is enrolled; a radio that fails (no adapter, BlueZ down) is
reported (``ble_radio_unavailable``) and tried again every ``retry_interval_s``.

**Stopping.** :meth:`BleService.stop` ends the scan and cancels every session and enrolment in
progress; the loop then waits for outbox writes already handed to a worker thread, and only then
does the thread end. A transaction is never cut: a RACP transfer cancelled midway has stored
exactly the records its committed transactions hold, the outbox cursor is the highest of them,
and the next session asks for the rest.

**Status.** The loop publishes a :class:`gateway.status.RadioStatus` snapshot (each device's
bond, battery, last sighting and last session; the central's problems) after every event and at
least every second; :meth:`BleService.status` hands it to the heartbeat from any thread (it is
the uplink's ``radio_status`` hook, asked on every pass of the uplink's loop: a lock and a read).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner

from gateway import GatewayConfig, Outbox
from gateway.ble import (
    BleCentral,
    BleConfig,
    BleError,
    BleEvent,
    ConnectionPolicy,
    DeviceKind,
    DeviceRegistry,
    EnrolledDevice,
    EnrolmentError,
)
from gateway.config import ConfiguredDevice
from gateway.status import RadioDeviceStatus, RadioStatus
from homeward.gateway_emulation import EmulatedDeviceOptions, EmulatedRadio

log = logging.getLogger("homeward.gateway.ble")

RADIO_HOST = "host"
RADIO_EMULATED = "emulated"
STATE_IDLE = "idle"
STATE_RUNNING = "running"
STATE_UNAVAILABLE = "unavailable"
# The snapshot for the heartbeat is refreshed at least this often (seconds): "not seen" problems
# appear as time passes, without an event.
_SNAPSHOT_EVERY_S = 1.0
# The config's ``ble`` field for each ConnectionPolicy field it sets.
_POLICY_FIELDS: Mapping[str, str] = {
    "max_connections": "max_connections",
    "connect_attempts": "attempts",
    "connect_timeout_s": "connect_timeout_s",
}


def ble_config(overrides: Mapping[str, int | float | str], *, site_zone: str) -> BleConfig:
    """The :class:`BleConfig` a document's ``ble`` section asks for (fields it leaves out keep
    their defaults; ``site_zone`` is the default zone). Raises
    :class:`~gateway.errors.ConfigError` for a value BleConfig refuses."""
    policy: dict[str, Any] = {}
    rest: dict[str, Any] = {"site_zone": site_zone}
    for name, value in overrides.items():
        if name in _POLICY_FIELDS:
            policy[_POLICY_FIELDS[name]] = value
        else:
            rest[name] = value
    return BleConfig(connection=ConnectionPolicy(**policy), **rest)


@dataclass(frozen=True, slots=True)
class BleWish:
    """What the BLE side should do: read ``devices`` (None: keep the allow-list as it is) with
    ``config``."""

    devices: tuple[ConfiguredDevice, ...] | None
    config: BleConfig


def wish_for(
    base: GatewayConfig | None, remote: GatewayConfig | None, *, site_zone: str
) -> BleWish:
    """The wish of a local document ``base`` with the cloud's ``remote`` on top: the cloud's
    device list when it gives one, else the local one; ``ble`` fields the cloud leaves out keep
    the local values. Raises :class:`~gateway.errors.ConfigError` (not for parsed documents:
    :func:`gateway.config.parse_config` checks the same ranges)."""
    devices = None if base is None else base.devices
    overrides: dict[str, int | float | str] = {} if base is None else dict(base.ble)
    if remote is not None:
        if remote.devices is not None:
            devices = remote.devices
        overrides.update(remote.ble)
    return BleWish(devices=devices, config=ble_config(overrides, site_zone=site_zone))


def _as_configured(entry: EnrolledDevice) -> ConfiguredDevice:
    return ConfiguredDevice(entry.device_id, entry.address, entry.kind.value)


class _HostRadio:
    """The host's adapter: bleak picks its platform backend when given ``None``."""

    client_backend: type[BaseBleakClient] | None = None
    scanner_backend: type[BaseBleakScanner] | None = None

    async def ensure(self, device: ConfiguredDevice) -> None:
        """Nothing to start: the real devices are in the flat."""


class BleService:
    """Runs the BLE side of one gateway in a thread of its own (see the module docstring).

    ``state_dir`` is the gateway's directory (registry, bond keys). ``emulation`` selects the
    emulated radio, with per-device options by device id; ``None`` the host's adapter.
    ``emulated_radio``, with ``emulation`` only, builds the emulated radio in place of
    :class:`EmulatedRadio` itself (a subclass that scripts what its devices hold, as the demo's
    homes do); it is called on the BLE thread each time the radio is (re)started.
    """

    def __init__(
        self,
        outbox: Outbox,
        state_dir: Path,
        wish: BleWish,
        *,
        emulation: Mapping[str, EmulatedDeviceOptions] | None = None,
        emulated_radio: Callable[[], EmulatedRadio] | None = None,
    ) -> None:
        if emulated_radio is not None and emulation is None:
            raise ValueError("emulated_radio needs emulation (the host's adapter is not built)")
        self.outbox = outbox
        self.state_dir = state_dir
        self.emulation = None if emulation is None else dict(emulation)
        self._emulated_radio = emulated_radio
        self.radio_name = RADIO_HOST if emulation is None else RADIO_EMULATED
        self._lock = threading.Lock()
        self._wish = wish
        self._status = RadioStatus(radio=self.radio_name, state=STATE_IDLE)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._halt: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._state = STATE_IDLE
        self._detail: str | None = None
        # Loop-thread state of the reconciliation: pairings running (with the entry each is
        # for) and, for pairings that failed, when to try again (monotonic s), for which entry,
        # and how many tries failed in a row.
        self._enrolments: dict[str, tuple[asyncio.Task[None], ConfiguredDevice]] = {}
        self._retry_at: dict[str, tuple[float, ConfiguredDevice, int]] = {}

    # -- any thread ------------------------------------------------------------------------

    def configure(self, wish: BleWish) -> None:
        """Read ``wish`` from now on (thread-safe; the latest wish wins)."""
        with self._lock:
            self._wish = wish
            loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has just closed: nothing to wake
                loop.call_soon_threadsafe(wake.set)

    def status(self) -> RadioStatus:
        """The latest snapshot of the radio, the devices and their problems (thread-safe)."""
        with self._lock:
            return self._status

    def start(self) -> None:
        """Start the BLE thread (once)."""
        if self._thread is not None:
            raise RuntimeError("BleService.start() called twice")
        self._thread = threading.Thread(target=self._thread_main, name="ble", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """End every session, stop the radio and wait for the thread (at most ``timeout_s``
        seconds). Returns False if the thread is still running (then do not close the outbox
        under it: a process exit is as safe, SQLite keeps every committed transaction)."""
        with self._lock:
            self._stopping = True
            loop, halt = self._loop, self._halt
        if loop is not None and halt is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(halt.set)
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout_s)
        if thread.is_alive():
            log.error("the BLE side did not stop within %.0f s", timeout_s)
            return False
        return True

    # -- the BLE thread --------------------------------------------------------------------

    def _thread_main(self) -> None:
        try:
            # asyncio.run also waits for the default executor, i.e. for every outbox write a
            # session handed to a worker thread: none is cut off when the thread ends.
            asyncio.run(self._main())
        except Exception:
            log.exception("the BLE side failed")

    def _publish(self, central: BleCentral | None) -> None:
        devices: list[RadioDeviceStatus] = []
        problems: list[dict[str, Any]] = []
        if central is not None:
            health = central.health()
            for entry in central.registry:
                h = health[entry.device_id]
                devices.append(
                    RadioDeviceStatus(
                        device_id=entry.device_id,
                        kind=entry.kind.value,
                        address=entry.address,
                        bonded=entry.bonded,
                        bond_lost_at=entry.bond_lost_at,
                        battery_pct=h.battery_pct,
                        last_seen=h.last_seen,
                        last_sync=h.last_sync,
                        last_outcome=h.last_outcome,
                        failures=h.failures,
                        decode_errors=h.decode_errors,
                        lost_records=h.lost_records,
                    )
                )
            problems = central.problems()
        if self._state == STATE_UNAVAILABLE:
            problems.insert(
                0,
                {"code": "ble_radio_unavailable", "radio": self.radio_name, "detail": self._detail},
            )
        status = RadioStatus(
            radio=self.radio_name,
            state=self._state,
            detail=self._detail,
            devices=tuple(sorted(devices, key=lambda d: d.device_id)),
            problems=tuple(problems),
        )
        with self._lock:
            self._status = status

    def _on_event(self, event: BleEvent) -> None:
        if self._wake is not None:
            self._wake.set()  # publish the change at once

    @contextlib.asynccontextmanager
    async def _radio(self) -> AsyncIterator[EmulatedRadio | _HostRadio]:
        if self.emulation is None:
            yield _HostRadio()
            return
        radio = (
            self._emulated_radio()
            if self._emulated_radio is not None
            else EmulatedRadio(self.state_dir, self.emulation)
        )
        async with radio:
            yield radio

    async def _main(self) -> None:
        halt, wake = asyncio.Event(), asyncio.Event()
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._halt, self._wake = halt, wake
            if self._stopping:
                halt.set()
        while not halt.is_set():
            try:
                async with self._radio() as radio:
                    registry = DeviceRegistry(self.state_dir / "ble-devices.json")
                    central = BleCentral(
                        registry,
                        self.outbox,
                        config=self._current().config,
                        client_backend=radio.client_backend,
                        scanner_backend=radio.scanner_backend,
                        on_event=self._on_event,
                    )
                    await self._serve(central, radio, halt, wake)
            except Exception as exc:
                # The registry file unreadable, the emulated radio failed to open: report it and
                # try again (a registry file fixed by hand is picked up).
                log.exception("the BLE side cannot run")
                self._state, self._detail = STATE_UNAVAILABLE, f"{type(exc).__name__}: {exc}"
                self._publish(None)
                retry_s = self._current().config.retry_interval_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(halt.wait(), retry_s)
        self._state, self._detail = STATE_IDLE, None
        with self._lock:
            self._loop = None

    def _current(self) -> BleWish:
        with self._lock:
            return self._wish

    async def _serve(
        self,
        central: BleCentral,
        radio: EmulatedRadio | _HostRadio,
        halt: asyncio.Event,
        wake: asyncio.Event,
    ) -> None:
        """Reconcile, scan and sync until ``halt`` (see the module docstring); ``wake`` says
        that the wish changed or an event happened."""
        self._enrolments.clear()
        self._retry_at.clear()
        run: asyncio.Task[None] | None = None
        run_stop = asyncio.Event()
        radio_retry_at = 0.0

        async def end_run() -> None:
            nonlocal run
            if run is not None:
                run_stop.set()
                await asyncio.gather(run, return_exceptions=True)
                run = None

        try:
            while not halt.is_set():
                wake.clear()
                wish = self._current()
                if wish.config != central.config:
                    # The connection policy and timings belong to the scan and the sessions:
                    # end them, then go on with the new settings.
                    await end_run()
                    await self._cancel_enrolments(list(self._enrolments))
                    central.reconfigure(wish.config)
                    log.info("BLE settings changed")
                await self._reconcile(central, radio, wish)
                now = time.monotonic()
                if run is not None and run.done():
                    error = None if run.cancelled() else run.exception()
                    run = None
                    if error is not None:
                        log.error("BLE scan failed: %s", error)
                        self._state = STATE_UNAVAILABLE
                        self._detail = f"{type(error).__name__}: {error}"
                        radio_retry_at = now + central.config.retry_interval_s
                if len(central.registry) == 0:
                    await end_run()
                    self._state, self._detail = STATE_IDLE, None
                elif run is None and now >= radio_retry_at:
                    run_stop = asyncio.Event()
                    run = asyncio.create_task(central.run(run_stop), name="ble-scan")
                    self._state, self._detail = STATE_RUNNING, None
                self._publish(central)
                due = [t for t, _, _ in self._retry_at.values()]
                if run is None and len(central.registry):
                    due.append(radio_retry_at)
                timeout_s = min([_SNAPSHOT_EVERY_S, *(max(0.0, t - now) for t in due)])
                waiters = [
                    asyncio.ensure_future(halt.wait()),
                    asyncio.ensure_future(wake.wait()),
                ]
                watched: set[asyncio.Future[Any]] = set(waiters)
                if run is not None:
                    watched.add(run)
                await asyncio.wait(watched, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
        finally:
            await self._cancel_enrolments(list(self._enrolments))
            await end_run()
            self._publish(central)

    async def _cancel_enrolments(self, device_ids: list[str]) -> None:
        tasks = [self._enrolments.pop(i)[0] for i in device_ids if i in self._enrolments]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _reconcile(
        self, central: BleCentral, radio: EmulatedRadio | _HostRadio, wish: BleWish
    ) -> None:
        """Make the allow-list what ``wish`` lists; start the pairings that are due."""
        registry = central.registry
        if wish.devices is None:
            wanted = tuple(_as_configured(e) for e in registry)
        else:
            wanted = wish.devices
            listed = {d.device_id for d in wanted}
            for entry in list(registry):
                if entry.device_id not in listed:
                    await self._cancel_enrolments([entry.device_id])
                    self._retry_at.pop(entry.device_id, None)
                    await central.remove(entry.device_id)
                    log.info("%s is no longer listed: taken off the allow-list", entry.device_id)
        for stale in set(self._retry_at) - {d.device_id for d in wanted}:
            del self._retry_at[stale]  # no longer wanted: no retry to wait for
        now = time.monotonic()
        for device in wanted:
            await radio.ensure(device)
            running = self._enrolments.get(device.device_id)
            if running is not None:
                if running[1] == device:
                    continue
                await self._cancel_enrolments([device.device_id])  # listed anew meanwhile
            if not _needs_enrolment(registry, device):
                self._retry_at.pop(device.device_id, None)
                continue
            due = self._retry_at.pop(device.device_id, None)
            failed = 0
            if due is not None and due[1] == device:
                if now < due[0]:
                    self._retry_at[device.device_id] = due
                    continue
                failed = due[2]
            task = asyncio.create_task(
                self._enrol(central, device, failed), name=f"enrol-{device.device_id}"
            )
            self._enrolments[device.device_id] = (task, device)
            task.add_done_callback(functools.partial(self._enrolment_done, device.device_id))

    def _enrolment_done(self, device_id: str, task: asyncio.Task[None]) -> None:
        current = self._enrolments.get(device_id)
        if current is not None and current[0] is task:
            del self._enrolments[device_id]
        if self._wake is not None:
            self._wake.set()

    async def _enrol(self, central: BleCentral, device: ConfiguredDevice, failed: int) -> None:
        """Enrol ``device``; after a failure, schedule the next try (``failed``: tries that
        failed in a row before this one)."""
        try:
            await central.enroll(device.device_id, device.address, DeviceKind(device.kind))
            return
        except EnrolmentError as exc:
            log.warning("%s not paired (tried again later): %s", device.device_id, exc.reason)
        except (BleError, ValueError) as exc:
            # The registry could not be written, or another listed device still holds the
            # address (that one's new address is enrolled first, on a later pass).
            log.error("%s not enrolled: %s", device.device_id, exc)
        except Exception:
            log.exception("%s not enrolled", device.device_id)
        config = central.config
        cap_s = max(config.resync_interval_s, config.retry_interval_s)
        delay_s = min(config.retry_interval_s * 2 ** min(failed, 20), cap_s)
        self._retry_at[device.device_id] = (time.monotonic() + delay_s, device, failed + 1)


def _needs_enrolment(registry: DeviceRegistry, device: ConfiguredDevice) -> bool:
    entry = next((e for e in registry if e.device_id == device.device_id), None)
    if entry is None or entry.address != device.address or entry.kind.value != device.kind:
        return True
    # Enrolled but never paired: pair it. A lost bond is left for a person to act on.
    return entry.kind.requires_bond and not entry.bonded and entry.bond_lost_at is None
