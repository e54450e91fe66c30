"""The gateway's BLE central: enrol the devices of this home, find them, read them, store it all.

::

    central = BleCentral(registry, outbox, config=BleConfig(site_zone="Asia/Shanghai"),
                         client_backend=None, scanner_backend=None)   # None: the host's adapter
    await central.enroll("gluco-7", "C0:11:22:33:44:55", DeviceKind.GLUCOMETER)  # pairs once
    report = await central.sync("gluco-7")        # one session now
    await central.run(stop)                       # scan passively, sync what comes in range

Written against bleak's API only (:class:`bleak.BleakScanner`, :class:`bleak.BleakClient`): the
emulated radio plugs in underneath through bleak's ``backend=`` argument
(:mod:`gateway.ble.backends.bumble`), a real adapter with ``None``.

**Allow-list.** Only devices in the :class:`~gateway.ble.DeviceRegistry` are connected to. Every
other advertiser (the neighbour's glucometer through the wall) is counted in
:attr:`CentralStats.ignored` and never contacted. Scanning is passive by default: the devices put
their service UUIDs and name in the advertising PDU itself, so no scan request is ever sent.

**Bonds.** Profiles that require an encrypted link (:attr:`DeviceKind.requires_bond`) are paired
once, at :meth:`enroll`; the keys live with the adapter (BlueZ's store, or the emulated radio's key
file in the gateway's data directory) and survive restarts. A bonded device that answers a
protected attribute with Insufficient Encryption/Authentication has lost its half of the bond:
that is recorded in the registry, raised as a :attr:`EventKind.BOND_LOST` event and listed in
:meth:`problems` until the device is enrolled again. It is never skipped silently. A device whose
pairing at enrolment failed is not connected to by the scan (it would only be refused) and is
listed in :meth:`problems` as not paired until an enrolment succeeds; no scan-started session
runs for a device while it is being enrolled.

**Sessions by kind.** Glucometers: stored records by RACP from the outbox cursor
(:mod:`gateway.ble.record_sync`). Cuffs and scales: they indicate what they stored while no
gateway was around; each indication is stored in the outbox *inside* the callback, before the ATT
confirmation goes back, so a device deletes nothing the gateway does not hold durably (bleak
backends that confirm in the OS, like BlueZ, do not give that guarantee; the device's own resend
on a missing confirmation and the outbox's deduplication cover it). Heart-rate and pulse-oximeter
streams: notifications buffered and stored every ``stream_flush_s``.

**Time.** Devices with a Current Time characteristic are measured once per session
(:class:`gateway.clock.ClockCorrection`, hysteresis against the previous measurement, so records
read twice keep their timestamp); a device without one is assumed to show the site's local time
(flagged ``clock_estimated`` like any correction). When the clock is writable and off, the gateway
sets it after a complete sync, so that later records are right. Streams carry no time: readings
are stamped with the gateway's UTC clock on arrival.

**Sequence numbers.** Glucose records carry their own. Stored readings without one (BP, weight)
get the device timestamp in seconds since 2000-01-01 (stable when read again); streams count on
from the outbox cursor (``cursor + 1``, ``+ 2``, …), so keys never collide.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bleak import BleakClient, BleakScanner
from bleak.args.bluez import OrPattern, OrPatternLike
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError, BleakGATTProtocolError, BleakGATTProtocolErrorCode

from devices import Quality, Reading, format_ts
from devices.errors import DecodeError
from devices.gatt import AdjustReason, CurrentTime, decode_current_time, encode_current_time, uuids
from gateway.ble.connection import ConnectionManager, ConnectionPolicy
from gateway.ble.errors import (
    BondLostError,
    DeviceUnreachableError,
    EnrolmentError,
    SyncError,
)
from gateway.ble.events import BleEvent, DeviceHealth, EventKind
from gateway.ble.measurements import MeasurementSpec, readings_of, specs_for
from gateway.ble.profiles import DeviceKind
from gateway.ble.record_sync import GlucoseRecordSync
from gateway.ble.registry import DeviceRegistry, EnrolledDevice
from gateway.ble.report import SyncReport
from gateway.clock import CLOCK_TOLERANCE_S, ClockCorrection
from gateway.errors import ConfigError, OutboxFullError
from gateway.outbox import Outbox
from gateway.status import SessionOutcome

log = logging.getLogger(__name__)

# Battery level at or below which a device is reported (what most meters show as the empty-battery
# icon; the Battery Service itself defines no threshold, BAS v1.1 §3.1).
LOW_BATTERY_PCT = 10
BATTERY_LEVEL = uuids.full_uuid(uuids.BATTERY_LEVEL)
CURRENT_TIME = uuids.full_uuid(uuids.CURRENT_TIME)
GLUCOSE_FEATURE = uuids.full_uuid(uuids.GLUCOSE_FEATURE)
# Device timestamps become sequence numbers counted from here (the GATT Date Time epoch of most
# health devices' firmware; any fixed instant works).
_SEQ_EPOCH = datetime(2000, 1, 1)
# The Bluetooth Base UUID's tail: a 128-bit UUID ending in it is a 16-bit SIG UUID (Core Spec
# v5.4, Vol 3, Part B, 2.5.1).
_SIG_BASE_TAIL = "-0000-1000-8000-00805f9b34fb"
_SECURITY_CODES = (
    BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION,
    BleakGATTProtocolErrorCode.INSUFFICIENT_AUTHENTICATION,
)


@dataclass(frozen=True, slots=True)
class BleConfig:
    """Knobs of the BLE side (times in seconds).

    ``site_zone``: the IANA zone of the home (devices show local time). ``idle_timeout_s``: how
    long a device may stay silent mid-procedure. ``settle_s``: a device that indicates stored
    readings is done once silent this long. ``resync_interval_s``: the least time between two
    complete syncs of a device seen advertising; ``retry_interval_s`` after a failed one.
    ``flush_every``: records per outbox commit in a RACP transfer; ``stream_flush_s``: how often
    a stream's readings are committed. ``set_device_clocks``: write Current Time to devices whose
    clock is off, when they allow it. ``not_seen_after_s``: an enrolled device neither heard nor
    connected to for this long is reported (a day by default: a meter used several times a day
    advertises after each use).
    """

    connection: ConnectionPolicy = field(default_factory=ConnectionPolicy)
    site_zone: str = "Asia/Shanghai"
    idle_timeout_s: float = 10.0
    settle_s: float = 1.0
    resync_interval_s: float = 300.0
    retry_interval_s: float = 30.0
    scanning_mode: Literal["active", "passive"] = "passive"
    flush_every: int = 100
    stream_flush_s: float = 1.0
    set_device_clocks: bool = True
    max_events: int = 1000
    not_seen_after_s: float = 86400.0

    def __post_init__(self) -> None:
        for name in (
            "idle_timeout_s",
            "settle_s",
            "resync_interval_s",
            "retry_interval_s",
            "stream_flush_s",
            "not_seen_after_s",
        ):
            value = getattr(self, name)
            if not value > 0.0:
                raise ConfigError(name, value, "must be > 0 s")
        if not 1 <= self.flush_every <= 10_000:
            raise ConfigError("flush_every", self.flush_every, "must be 1-10000")
        try:
            ZoneInfo(self.site_zone)
        except (KeyError, ValueError) as exc:
            raise ConfigError("site_zone", self.site_zone, "not an IANA time zone") from exc


def passive_scan_patterns() -> list[OrPatternLike]:
    """What a passive scan on BlueZ listens for: the primary service UUID of every kind the
    gateway reads, first in a complete or incomplete list of service UUIDs (how health devices
    advertise it).

    BlueZ scans passively only through an advertisement monitor, which reports nothing but
    advertisements matching one of these or-patterns (bleak refuses a passive BlueZ scan without
    them). Other backends ignore them. Which device is this home's is decided afterwards, by
    address, from the allow-list.
    """
    patterns: list[OrPatternLike] = []
    for kind in DeviceKind:
        full = kind.service
        if full.startswith("0000") and full.endswith(_SIG_BASE_TAIL):
            content = int(full[4:8], 16).to_bytes(2, "little")  # AD payloads are little-endian
            types = (
                AdvertisementDataType.COMPLETE_LIST_SERVICE_UUID16,
                AdvertisementDataType.INCOMPLETE_LIST_SERVICE_UUID16,
            )
        else:
            content = uuid.UUID(full).bytes[::-1]
            types = (
                AdvertisementDataType.COMPLETE_LIST_SERVICE_UUID128,
                AdvertisementDataType.INCOMPLETE_LIST_SERVICE_UUID128,
            )
        patterns.extend(OrPattern(0, ad_type, content) for ad_type in types)
    return patterns


@dataclass(slots=True)
class CentralStats:
    """Counters of the central: advertisements heard, addresses ignored (not enrolled here),
    sessions run and how many ended complete."""

    advertisements: int = 0
    ignored: set[str] = field(default_factory=set)
    sessions: int = 0
    complete: int = 0


class BleCentral:
    """See the module docstring. ``on_event`` is called (on the event loop) for every
    :class:`BleEvent`; ``wall`` gives UTC epoch seconds, ``monotonic`` monotonic seconds."""

    def __init__(
        self,
        registry: DeviceRegistry,
        outbox: Outbox,
        *,
        config: BleConfig | None = None,
        client_backend: type[BaseBleakClient] | None = None,
        scanner_backend: type[BaseBleakScanner] | None = None,
        on_event: Callable[[BleEvent], None] | None = None,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.outbox = outbox
        self.config = config or BleConfig()
        self.connections = ConnectionManager(self.config.connection, client_backend=client_backend)
        self._client_backend = client_backend
        self._scanner_backend = scanner_backend
        self._on_event = on_event
        self._wall = wall
        self._monotonic = monotonic
        self._zone = ZoneInfo(self.config.site_zone)
        self.stats = CentralStats()
        self.events: deque[BleEvent] = deque(maxlen=self.config.max_events)
        self._health: dict[str, DeviceHealth] = {}
        self._running: dict[str, asyncio.Task[SyncReport]] = {}
        self._next_due: dict[str, float] = {}
        self._enrolling: set[str] = set()
        self._stop: asyncio.Event | None = None
        for device in registry:
            health = self._health_of(device.device_id)
            if device.bond_lost_at is not None:
                health.bond_lost_at = device.bond_lost_at

    # -- state -----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._wall(), UTC)

    def _health_of(self, device_id: str) -> DeviceHealth:
        health = self._health.get(device_id)
        if health is None:
            health = self._health[device_id] = DeviceHealth(device_id, watched_since=self._now())
        return health

    def health(self) -> dict[str, DeviceHealth]:
        """The state of every enrolled device (and of devices enrolled earlier in this run)."""
        for device in self.registry:
            self._health_of(device.device_id)
        return dict(self._health)

    def problems(self) -> list[dict[str, Any]]:
        """What the panel should show about this home's devices, each with a stable ``code``:
        ``ble_bond_lost``, ``ble_not_paired`` (pairing at enrolment failed: ``detail``),
        ``ble_not_seen`` (nothing heard for ``not_seen_after_s``: ``since``, the last sighting
        or, never seen, when the gateway began to look), ``ble_low_battery``,
        ``ble_decode_errors`` (damaged notifications counted and skipped this run: ``count``),
        ``ble_records_lost``, ``ble_unreachable`` (three sessions in a row failed). Times are
        RFC 3339 UTC."""
        out: list[dict[str, Any]] = []
        now = self._now()
        enrolled = {d.device_id: d for d in self.registry}
        for device_id, h in sorted(self.health().items()):
            entry = enrolled.get(device_id)
            if h.bond_lost_at is not None:
                out.append(
                    {
                        "code": EventKind.BOND_LOST.value,
                        "device_id": device_id,
                        "at": format_ts(h.bond_lost_at),
                    }
                )
            elif entry is not None and entry.kind.requires_bond and not entry.bonded:
                out.append(
                    {
                        "code": "ble_not_paired",
                        "device_id": device_id,
                        "detail": h.enrol_error or "not paired yet: the device must be enrolled",
                    }
                )
            since = h.last_seen or h.watched_since
            if since is not None and (now - since).total_seconds() >= self.config.not_seen_after_s:
                out.append(
                    {
                        "code": "ble_not_seen",
                        "device_id": device_id,
                        "since": format_ts(since),
                        "seen": h.last_seen is not None,
                    }
                )
            if h.battery_pct is not None and h.battery_pct <= LOW_BATTERY_PCT:
                out.append(
                    {
                        "code": EventKind.LOW_BATTERY.value,
                        "device_id": device_id,
                        "battery_pct": h.battery_pct,
                    }
                )
            if h.decode_errors:
                out.append(
                    {
                        "code": EventKind.DECODE_ERRORS.value,
                        "device_id": device_id,
                        "count": h.decode_errors,
                    }
                )
            if h.lost_records:
                out.append(
                    {
                        "code": EventKind.RECORDS_LOST.value,
                        "device_id": device_id,
                        "records": h.lost_records,
                    }
                )
            if h.failures >= 3:
                out.append(
                    {
                        "code": EventKind.UNREACHABLE.value,
                        "device_id": device_id,
                        "failures": h.failures,
                        "last_error": h.last_error,
                    }
                )
        return out

    def _emit(self, kind: EventKind, device_id: str, detail: str = "", count: int = 0) -> None:
        event = BleEvent(kind=kind, device_id=device_id, at=self._now(), detail=detail, count=count)
        self.events.append(event)
        log.info("%s %s %s", kind.value, device_id, detail)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("on_event callback failed")

    # -- enrolment -------------------------------------------------------------------------

    async def enroll(self, device_id: str, address: str, kind: DeviceKind) -> EnrolledDevice:
        """Put a device on this home's allow-list; pair with it now if its profile needs a bond.

        The device must be in pairing mode and in range. A session with the device that is
        running is cancelled first, and the scan starts none while the enrolment lasts. Raises
        :class:`~gateway.ble.errors.EnrolmentError` when pairing fails (the device then stays
        enrolled but unbonded, is not synced, and :meth:`problems` lists it: enrol it again).
        """
        self._enrolling.add(device_id)
        try:
            await self._end_session(device_id)
            entry = self.registry.enroll(device_id, address, kind)
            health = self._health_of(device_id)
            health.bond_lost_at = None
            health.watched_since = self._now()
            self._next_due.pop(device_id, None)
            if kind.requires_bond:
                # Keys from an earlier pairing (before a device reset) would be tried first and
                # refused: forget them so that this is a fresh pairing.
                with contextlib.suppress(BleakError, TimeoutError):
                    await BleakClient(entry.address, backend=self._client_backend).unpair()
                try:
                    async with self.connections.connect(
                        device_id, entry.address, pair=True
                    ) as client:
                        # Reading a protected attribute proves the link is encrypted with the
                        # new keys.
                        await client.read_gatt_char(GLUCOSE_FEATURE)
                except (DeviceUnreachableError, BleakError, TimeoutError) as exc:
                    health.enrol_error = str(exc)
                    self._emit(EventKind.ENROLMENT_FAILED, device_id, str(exc))
                    raise EnrolmentError(device_id, str(exc)) from exc
                entry = self.registry.update(device_id, bonded=True, bond_lost_at=None)
            health.enrol_error = ""
            self._emit(EventKind.ENROLLED, device_id, f"{kind.value} at {entry.address}")
            return entry
        finally:
            self._enrolling.discard(device_id)

    async def remove(self, device_id: str) -> None:
        """Take a device off this home's allow-list: a running session with it is cancelled,
        the bond keys this gateway holds for it are deleted, and it is no longer reported.
        Nothing happens for a device that is not enrolled."""
        await self._end_session(device_id)
        entry = next((d for d in self.registry if d.device_id == device_id), None)
        if entry is None:
            return
        self.registry.remove(device_id)
        if entry.kind.requires_bond:  # keys of a pairing that failed halfway go too
            with contextlib.suppress(BleakError, TimeoutError):
                await BleakClient(entry.address, backend=self._client_backend).unpair()
        self._health.pop(device_id, None)
        self._next_due.pop(device_id, None)
        self._emit(EventKind.REMOVED, device_id, f"{entry.kind.value} at {entry.address}")

    async def _end_session(self, device_id: str) -> None:
        """Cancel the scan-started session with ``device_id``, if one runs, and wait for it."""
        task = self._running.get(device_id)
        if task is not None and not task.done():
            task.cancel()
            # gather: the session's CancelledError is its result, ours would still propagate.
            await asyncio.gather(task, return_exceptions=True)

    def reconfigure(self, config: BleConfig) -> None:
        """Use ``config`` from now on (connection policy, timings, zone). Only while :meth:`run`
        is not running (raises ``RuntimeError`` otherwise); the devices' state is kept."""
        if self._stop is not None:
            raise RuntimeError("reconfigure() while run() is scanning: stop it first")
        self.config = config
        self.connections = ConnectionManager(config.connection, client_backend=self._client_backend)
        self._zone = ZoneInfo(config.site_zone)
        self.events = deque(self.events, maxlen=config.max_events)

    # -- one session -----------------------------------------------------------------------

    async def sync(
        self,
        device_id: str,
        *,
        target: BLEDevice | None = None,
        stream_for_s: float | None = None,
        stop: asyncio.Event | None = None,
    ) -> SyncReport:
        """Connect to an enrolled device and read what it has (see the module docstring).

        ``target``: the scanned :class:`BLEDevice` (else the registry's address). For streaming
        devices, ``stream_for_s`` bounds the session (None: until the device leaves or ``stop``
        is set). Never raises for a device's failure: the report's ``complete`` and ``reason``
        say what happened, and events report it. Raises
        :class:`~gateway.ble.errors.NotEnrolledError` for a device not on the allow-list.
        """
        device = self.registry.get(device_id)
        report = SyncReport(device_id=device_id, kind=device.kind)
        health = self._health_of(device_id)
        started = self._monotonic()
        dropped = asyncio.Event()
        self.stats.sessions += 1
        try:
            async with self.connections.connect(
                device_id,
                target if target is not None else device.address,
                disconnected=lambda _client: dropped.set(),
            ) as client:
                health.last_seen = self._now()
                await self._read_battery(client, device, report, health)
                try:
                    if device.kind is DeviceKind.GLUCOMETER:
                        await self._glucose(client, device, report, dropped)
                    elif device.kind.streams:
                        await self._stream(client, device, report, dropped, stream_for_s, stop)
                    else:
                        await self._stored(client, device, report, dropped)
                except BleakGATTProtocolError as exc:
                    if exc.code in _SECURITY_CODES:
                        if device.bonded:
                            raise BondLostError(device_id) from exc
                        raise SyncError(device_id, "not paired: enrol the device") from exc
                    raise
        except BondLostError as exc:
            report.reason = str(exc)
            self._bond_lost(device)
        except DeviceUnreachableError as exc:
            report.reason = str(exc)
            self._emit(EventKind.UNREACHABLE, device_id, exc.detail, count=exc.attempts)
        except SyncError as exc:
            report.reason = exc.reason
        except (BleakError, TimeoutError) as exc:
            report.reason = f"link lost: {type(exc).__name__}: {exc}"
        finally:
            report.duration_s = self._monotonic() - started
        self._finish(report, health)
        return report

    def _finish(self, report: SyncReport, health: DeviceHealth) -> None:
        health.last_outcome = SessionOutcome(
            at=self._now(), complete=report.complete, stored=report.stored, reason=report.reason
        )
        health.decode_errors += report.decode_errors
        health.lost_records += report.lost
        if report.decode_errors:
            self._emit(
                EventKind.DECODE_ERRORS,
                report.device_id,
                "damaged PDUs counted and skipped",
                count=report.decode_errors,
            )
        if report.lost:
            self._emit(
                EventKind.RECORDS_LOST,
                report.device_id,
                f"sequence numbers {report.lost_sequences}",
                count=report.lost,
            )
        if report.complete:
            self.stats.complete += 1
            health.failures = 0
            health.last_error = ""
            health.last_sync = self._now()
            self._emit(EventKind.SYNC_COMPLETE, report.device_id, count=report.stored)
        else:
            health.failures += 1
            health.last_error = report.reason
            self._emit(
                EventKind.SYNC_INCOMPLETE, report.device_id, report.reason, count=report.stored
            )

    def _bond_lost(self, device: EnrolledDevice) -> None:
        at = self._now()
        health = self._health_of(device.device_id)
        if health.bond_lost_at is None:
            health.bond_lost_at = at
        if device.bond_lost_at is None:
            self.registry.update(device.device_id, bond_lost_at=at)
        self._emit(EventKind.BOND_LOST, device.device_id, "device refused the stored keys")

    async def _read_battery(
        self, client: BleakClient, device: EnrolledDevice, report: SyncReport, health: DeviceHealth
    ) -> None:
        pct: int | None = None
        char = client.services.get_characteristic(BATTERY_LEVEL)
        if char is not None and "read" in char.properties:
            data = await client.read_gatt_char(char)
            # Battery Level: uint8 percent, 0-100 (GSS "Battery Level"); other values are junk.
            if len(data) >= 1 and data[0] <= 100:
                pct = int(data[0])
            else:
                report.decode_errors += 1
        report.battery_pct = pct
        if pct is not None:
            was_low = health.battery_pct is not None and health.battery_pct <= LOW_BATTERY_PCT
            health.battery_pct = pct
            if pct <= LOW_BATTERY_PCT and not was_low:
                self._emit(EventKind.LOW_BATTERY, device.device_id, f"{pct} %", count=pct)
        await asyncio.to_thread(
            self.outbox.device_seen,
            device.device_id,
            battery_pct=None if pct is None else float(pct),
            at=self._now(),
        )

    # -- clocks ----------------------------------------------------------------------------

    async def _measure_clock(
        self, client: BleakClient, device: EnrolledDevice, report: SyncReport
    ) -> tuple[ClockCorrection, BleakGATTCharacteristic | None]:
        """The session's clock correction, and the Current Time characteristic if writable."""
        previous = await asyncio.to_thread(self.outbox.clock, device.device_id)
        char = client.services.get_characteristic(CURRENT_TIME)
        device_time: datetime | None = None
        writable: BleakGATTCharacteristic | None = None
        before = self._wall()
        if char is not None and "read" in char.properties:
            data = await client.read_gatt_char(char)
            try:
                device_time = decode_current_time(bytes(data)).exact_time
            except DecodeError:
                report.decode_errors += 1
            if "write" in char.properties:
                writable = char
        after = self._wall()
        # The device read its clock somewhere in the round trip: take the middle.
        gateway_utc = datetime.fromtimestamp((before + after) / 2.0, UTC)
        if device_time is None:
            # No readable clock: assume it shows the site's local time (flagged as estimated).
            device_time = gateway_utc.astimezone(self._zone).replace(tzinfo=None)
        correction = ClockCorrection.measure(
            device_time,
            gateway_utc,
            self._monotonic(),
            self.outbox.boot_id,
            previous=previous,
        )
        report.clock = correction
        return correction, writable

    async def _set_clock(
        self,
        client: BleakClient,
        device: EnrolledDevice,
        correction: ClockCorrection,
        char: BleakGATTCharacteristic | None,
        report: SyncReport,
    ) -> None:
        """Write the site's local time when the device's clock is off and writable."""
        if char is None or not self.config.set_device_clocks or not client.is_connected:
            return
        now = self._now()
        zone_offset = now.astimezone(self._zone).utcoffset() or timedelta(0)
        # A device showing the site's local time measures -zone_offset (utc = device - zone).
        error_s = correction.measured_offset_s + zone_offset.total_seconds()
        if abs(error_s) <= CLOCK_TOLERANCE_S:
            return
        local_now = now.astimezone(self._zone).replace(tzinfo=None)
        value = CurrentTime.from_datetime(
            local_now, adjust_reason=AdjustReason.EXTERNAL_REFERENCE_TIME_UPDATE
        )
        await client.write_gatt_char(char, encode_current_time(value), response=True)
        report.clock_written = True
        self._emit(EventKind.CLOCK_SET, device.device_id, f"clock was {-error_s:+.0f} s off")

    # -- sessions by kind ------------------------------------------------------------------

    async def _glucose(
        self,
        client: BleakClient,
        device: EnrolledDevice,
        report: SyncReport,
        dropped: asyncio.Event,
    ) -> None:
        correction, writable = await self._measure_clock(client, device, report)
        await GlucoseRecordSync(
            client,
            device_id=device.device_id,
            outbox=self.outbox,
            correction=correction,
            report=report,
            idle_timeout_s=self.config.idle_timeout_s,
            flush_every=self.config.flush_every,
            disconnected=dropped,
        ).run()
        if report.complete:
            await self._set_clock(client, device, correction, writable, report)

    def _next_seq(self, device_id: str) -> Callable[[], int]:
        cursor = self.outbox.cursor(device_id)
        counter = [0 if cursor is None else cursor]

        def take() -> int:
            counter[0] += 1
            return counter[0]

        return take

    async def _stored(
        self,
        client: BleakClient,
        device: EnrolledDevice,
        report: SyncReport,
        dropped: asyncio.Event,
    ) -> None:
        """Stored readings indicated on connect: stored durably before each confirmation."""
        correction, writable = await self._measure_clock(client, device, report)
        next_seq = self._next_seq(device.device_id)
        activity = asyncio.Event()
        full = False

        def handler(spec: MeasurementSpec) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
            def on_data(_char: BleakGATTCharacteristic, data: bytearray) -> None:
                nonlocal full
                activity.set()
                readings = self._decode(spec, bytes(data), device, report, correction, next_seq)
                if not readings:
                    return
                try:
                    # Synchronous on purpose: the ATT confirmation leaves after this returns.
                    report.stored += self.outbox.put(
                        readings,
                        clock=correction if self._stamped(readings, correction) else None,
                        clinical=spec.clinical,
                    )
                except OutboxFullError:
                    full = True

            return on_data

        for spec in specs_for(device.kind):
            if client.services.get_characteristic(spec.characteristic) is not None:
                await client.start_notify(spec.characteristic, handler(spec))
        while not dropped.is_set():
            activity.clear()
            waiters = [
                asyncio.ensure_future(activity.wait()),
                asyncio.ensure_future(dropped.wait()),
            ]
            done, pending = await asyncio.wait(
                waiters, timeout=self.config.settle_s, return_when=asyncio.FIRST_COMPLETED
            )
            for w in pending:
                w.cancel()
            if not done:
                break  # quiet for settle_s: the device has sent all it had
        if full:
            report.reason = "outbox full: readings refused"
            return
        report.complete = True
        await self._set_clock(client, device, correction, writable, report)

    async def _stream(
        self,
        client: BleakClient,
        device: EnrolledDevice,
        report: SyncReport,
        dropped: asyncio.Event,
        stream_for_s: float | None,
        stop: asyncio.Event | None,
    ) -> None:
        """Live notifications, stamped on arrival and committed every ``stream_flush_s``."""
        specs = specs_for(device.kind)
        correction: ClockCorrection | None = None
        if any(s.indicated for s in specs):
            correction, _ = await self._measure_clock(client, device, report)
        next_seq = self._next_seq(device.device_id)
        buffer: list[Reading] = []

        def handler(spec: MeasurementSpec) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
            def on_data(_char: BleakGATTCharacteristic, data: bytearray) -> None:
                readings = self._decode(spec, bytes(data), device, report, correction, next_seq)
                if readings and spec.indicated and correction is not None:
                    with contextlib.suppress(OutboxFullError):
                        report.stored += self.outbox.put(
                            readings,
                            clock=correction if self._stamped(readings, correction) else None,
                            clinical=spec.clinical,
                        )
                    return
                buffer.extend(readings)

            return on_data

        for spec in specs:
            if client.services.get_characteristic(spec.characteristic) is not None:
                await client.start_notify(spec.characteristic, handler(spec))
        deadline = None if stream_for_s is None else self._monotonic() + stream_for_s
        try:
            while not dropped.is_set() and not (stop is not None and stop.is_set()):
                wait_s = self.config.stream_flush_s
                if deadline is not None:
                    wait_s = min(wait_s, deadline - self._monotonic())
                    if wait_s <= 0:
                        break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(dropped.wait(), wait_s)
                await self._flush_stream(buffer, report)
        finally:
            await self._flush_stream(buffer, report)
        report.complete = True

    async def _flush_stream(self, buffer: list[Reading], report: SyncReport) -> None:
        if not buffer:
            return
        batch = list(buffer)
        buffer.clear()
        try:
            report.stored += await asyncio.to_thread(self.outbox.put, batch)
        except OutboxFullError:
            report.reason = "outbox full: stream samples refused"

    @staticmethod
    def _stamped(readings: list[Reading], correction: ClockCorrection) -> bool:
        return not correction.estimated or all(Quality.CLOCK_ESTIMATED in r.flags for r in readings)

    def _decode(
        self,
        spec: MeasurementSpec,
        data: bytes,
        device: EnrolledDevice,
        report: SyncReport,
        correction: ClockCorrection | None,
        next_seq: Callable[[], int],
    ) -> list[Reading]:
        """The readings of one PDU; a damaged PDU is counted and skipped (empty list)."""
        try:
            measurement = spec.decode(data)
        except DecodeError as exc:
            report.decode_errors += 1
            log.warning("%s: damaged notification skipped: %s", device.device_id, exc)
            return []
        report.received += 1
        stamp = spec.timestamp(measurement)
        arrival = self._now()
        flags: tuple[str, ...] = ()
        clock: Callable[[datetime], datetime] | None = None
        seq: int
        own = spec.sequence(measurement)
        if stamp is not None and correction is not None:
            seconds = int((stamp - _SEQ_EPOCH).total_seconds())
            seq = own if own is not None else (seconds if seconds >= 0 else next_seq())
            clock = lambda t: correction.correct(t)[0]  # noqa: E731 - one-line adapter
            if correction.estimated:
                flags = (Quality.CLOCK_ESTIMATED,)
        else:
            seq = own if own is not None else next_seq()
        seq_seen = report.last_seq
        report.last_seq = seq if seq_seen is None else max(seq_seen, seq)
        if report.first_seq is None:
            report.first_seq = seq
        return readings_of(
            spec,
            measurement,
            device_id=device.device_id,
            seq=seq,
            ts_fallback=arrival,
            clock=clock,
            flags=flags,
        )

    # -- scanning --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Scan (passively) and sync every enrolled device that advertises, until ``stop``.

        Record devices are synced at most every ``resync_interval_s`` (``retry_interval_s`` after
        a failed session); streaming devices are reconnected whenever they advertise again.
        """
        self._stop = stop
        scanner = BleakScanner(
            self._on_advertisement,
            scanning_mode=self.config.scanning_mode,
            bluez={"or_patterns": passive_scan_patterns()}
            if self.config.scanning_mode == "passive"
            else {},
            backend=self._scanner_backend,
        )
        await scanner.start()
        try:
            await stop.wait()
        finally:
            await scanner.stop()
            tasks = list(self._running.values())
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self._stop = None

    def _on_advertisement(self, device: BLEDevice, _adv: AdvertisementData) -> None:
        self.stats.advertisements += 1
        entry = self.registry.by_address(device.address)
        if entry is None:
            self.stats.ignored.add(device.address.upper())
            return
        self._health_of(entry.device_id).last_seen = self._now()
        if entry.device_id in self._running or self._stop is None or self._stop.is_set():
            return
        if entry.device_id in self._enrolling or (entry.kind.requires_bond and not entry.bonded):
            return  # being paired now, or never paired: problems() lists the latter
        if self._monotonic() < self._next_due.get(entry.device_id, 0.0):
            return
        task = asyncio.get_running_loop().create_task(
            self.sync(entry.device_id, target=device, stop=self._stop)
        )
        self._running[entry.device_id] = task
        task.add_done_callback(functools.partial(self._session_done, entry.device_id))

    def _session_done(self, device_id: str, task: asyncio.Task[SyncReport]) -> None:
        self._running.pop(device_id, None)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("%s: session failed", device_id, exc_info=error)
        complete = error is None and task.result().complete
        kind = self.registry.get(device_id).kind if self._known(device_id) else None
        if complete and kind is not None and kind.streams:
            delay = 0.0
        elif complete:
            delay = self.config.resync_interval_s
        else:
            delay = self.config.retry_interval_s
        self._next_due[device_id] = self._monotonic() + delay

    def _known(self, device_id: str) -> bool:
        return any(d.device_id == device_id for d in self.registry)
