"""What every emulated Bluetooth LE peripheral shares: its own virtual controller, advertising,
GATT helpers with the right security, the Battery Service, and fault injection.

Each peripheral owns a bumble :class:`~bumble.device.Device` with its own
:class:`~bumble.controller.Controller` on the :class:`~bumble.link.LocalLink` the caller passes in,
so the gateway reaches it only through link-layer packets, ATT and SMP, as over the air.

Pitfalls handled here (issue 4, "Facts already checked"):

* bumble's default advertising interval is 1 s; every peripheral advertises every 20 ms (the
  shortest interval the Core Spec allows for connectable legacy advertising, Vol 6, Part B,
  4.4.2.2.1), so a scan finds it at once;
* a characteristic with a custom CCCD (one that requires encryption, for profiles that mandate a
  bonded link) must use the GATT server's own descriptor value, or the server never learns of the
  subscription and notifications silently vanish;
* bonds survive reconnects only when the identity address distributed during pairing is random
  static, like the device address.

Bond keys live in memory unless ``keystore_path`` names a JSON file: then they outlive the
emulated device, as a real device keeps its bonds in flash across a gateway restart.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

from bumble import att, gatt, hci
from bumble.controller import Controller
from bumble.core import UUID
from bumble.device import Connection, Device, DeviceConfiguration
from bumble.host import Host
from bumble.keys import JsonKeyStore
from bumble.link import LocalLink
from bumble.pairing import PairingDelegate
from bumble.transport.common import AsyncPipeSink

from devices.errors import DecodeError
from devices.gatt import CurrentTime, decode_current_time, encode_current_time, uuids
from firmware_sim.ble.clock import DeviceClock
from firmware_sim.ble.errors import PeripheralStateError
from firmware_sim.ble.faults import Faults
from firmware_sim.errors import ParameterError

log = logging.getLogger(__name__)

ADVERTISING_INTERVAL_MS = 20.0

# 16-bit UUIDs (Bluetooth Assigned Numbers, 3.4 and 3.8).
BATTERY_SERVICE = 0x180F
BATTERY_LEVEL = 0x2A19
CCCD = gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR

# AD types (Assigned Numbers 2.3) and the Flags value "LE General Discoverable, BR/EDR not
# supported" (Core Spec Supplement v11, Part A, 1.3).
_AD_FLAGS = 0x01
_AD_UUID16_COMPLETE = 0x03
_AD_UUID128_COMPLETE = 0x07
_AD_COMPLETE_NAME = 0x09
_AD_SERVICE_DATA_16 = 0x16
_FLAGS_LE_ONLY_GENERAL = 0x06

Properties = gatt.Characteristic.Properties
Perm = att.Attribute.Permissions


def uuid16(value: int) -> UUID:
    return UUID.from_16_bits(value)


def _ad(ad_type: int, payload: bytes) -> bytes:
    return bytes([len(payload) + 1, ad_type]) + payload


@dataclass(slots=True)
class PeripheralStats:
    """What a peripheral did: connections accepted, PDUs pushed, faults committed."""

    connections: int = 0
    notifications: int = 0
    indications: int = 0
    corrupted: int = 0
    injected_disconnects: int = 0
    ignored_requests: int = 0


class _RadioDevice(Device):
    """A bumble Device that can play dead: with ``silent`` it drops every ATT PDU it receives."""

    silent = False
    dropped = 0

    def on_gatt_pdu(self, connection: Connection, pdu: bytes) -> None:
        if self.silent:
            self.dropped += 1
            return
        super().on_gatt_pdu(connection, pdu)


class Peripheral(abc.ABC):
    """Base of every emulated device; subclasses add their GATT services.

    ``address`` is the device's random static address ("C0:…" to "FF:…"), ``name`` its Complete
    Local Name. ``faults`` says what to get wrong (:class:`~firmware_sim.ble.Faults`), ``clock`` is
    the device's own clock. ``keystore_path``: a JSON file for the device's bond keys (None: in
    memory, lost when the device stops). Use as an async context manager (start/stop need the
    running loop).
    """

    #: Services advertised (16-bit UUIDs); subclasses set them.
    advertised_services: ClassVar[tuple[int, ...]] = ()
    #: 128-bit services advertised (vendor profiles).
    advertised_services_128: ClassVar[tuple[UUID, ...]] = ()
    #: Whether the profile mandates a bonded, encrypted link for its attributes.
    requires_bond: ClassVar[bool] = False
    #: Whether the device exposes its clock (Current Time Service 0x1805).
    has_current_time: ClassVar[bool] = False

    def __init__(
        self,
        link: LocalLink,
        *,
        address: str,
        name: str,
        faults: Faults | None = None,
        clock: DeviceClock | None = None,
        keystore_path: Path | None = None,
    ) -> None:
        first = int(address.split(":")[0], 16)
        if first < 0xC0:
            raise ParameterError("address", address, "must be a random static address (C0-FF:…)")
        self.link = link
        self.address = address.upper()
        self.name = name
        self.faults = faults or Faults()
        self.clock = clock or DeviceClock()
        self.keystore_path = keystore_path
        self.stats = PeripheralStats()
        self.battery_pct = self.faults.battery_pct
        self._device: _RadioDevice | None = None
        self._controller: Controller | None = None
        self._connection: Connection | None = None
        self._sent_in_connection = 0
        self._disconnect_after = self.faults.disconnect_after
        self._corrupted_once: set[int] = set()
        self._battery: gatt.Characteristic[bytes] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Power on, register the services and advertise every 20 ms."""
        if self._device is not None:
            raise PeripheralStateError("started", "start() called twice")
        controller = Controller(self.name, link=self.link)
        host = Host(controller, AsyncPipeSink(controller))
        config = DeviceConfiguration(
            name=self.name, address=hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS)
        )
        config.identity_address_type = hci.Address.RANDOM_DEVICE_ADDRESS
        config.io_capability = PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT
        config.advertising_interval_min = ADVERTISING_INTERVAL_MS
        config.advertising_interval_max = ADVERTISING_INTERVAL_MS
        device = _RadioDevice(config=config, host=host)
        device.silent = self.faults.silent
        if self.keystore_path is not None:
            self.keystore_path.parent.mkdir(parents=True, exist_ok=True)
            device.keystore = JsonKeyStore(self.address, str(self.keystore_path))
        self._device = device
        self._controller = controller
        device.on(device.EVENT_CONNECTION, self._on_connection)
        services = [*self._services(), self._battery_service()]
        if self.has_current_time:
            services.append(self._current_time_service())
        device.add_services(services)
        await device.power_on()
        await device.start_advertising(
            auto_restart=True,
            advertising_data=self._advertising_data(),
            advertising_interval_min=ADVERTISING_INTERVAL_MS,
            advertising_interval_max=ADVERTISING_INTERVAL_MS,
        )

    async def stop(self) -> None:
        """Stop advertising, drop the link, take the controller off the radio."""
        device, self._device = self._device, None
        if device is None:
            return
        for task in list(self._tasks):
            task.cancel()
        for connection in list(device.connections.values()):
            try:
                await connection.disconnect()
            except Exception:  # stopping: a link already gone is fine
                log.debug("%s: disconnect on stop failed", self.name, exc_info=True)
        try:
            await device.power_off()
        except Exception:  # stopping: nothing left to protect
            log.debug("%s: power off failed", self.name, exc_info=True)
        if self._controller is not None and self._controller in self.link.controllers:
            self.link.remove_controller(self._controller)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def device(self) -> Device:
        if self._device is None:
            raise PeripheralStateError("stopped", "not started")
        return self._device

    @property
    def connected(self) -> bool:
        return self._connection is not None

    @property
    def connection(self) -> Connection | None:
        return self._connection

    # -- bonds -----------------------------------------------------------------------------

    async def bonded_peers(self) -> list[str]:
        """Addresses of the centrals this device holds bond keys for."""
        keystore = self.device.keystore
        if keystore is None:
            return []
        return [name for name, _ in await keystore.get_all()]

    async def forget_bonds(self) -> None:
        """Lose every bond (a factory reset; a battery pulled where keys live in RAM)."""
        keystore = self.device.keystore
        if keystore is not None:
            await keystore.delete_all()

    # -- GATT helpers for subclasses -------------------------------------------------------

    def _permissions(self, *, read: bool = False, write: bool = False) -> Perm:
        perm = Perm(0)
        if read:
            perm |= Perm.READABLE
            if self.requires_bond:
                perm |= Perm.READ_REQUIRES_ENCRYPTION
        if write:
            perm |= Perm.WRITEABLE
            if self.requires_bond:
                perm |= Perm.WRITE_REQUIRES_ENCRYPTION
        return perm

    def _characteristic(
        self,
        uuid: int | UUID,
        properties: Properties,
        *,
        read: Callable[[Connection | None], bytes] | None = None,
        write: Callable[[Connection | None, bytes], Any] | None = None,
        value: bytes | None = None,
    ) -> gatt.Characteristic[bytes]:
        """A characteristic whose permissions follow the profile's security (encryption when
        :attr:`requires_bond`), with a CCCD when it notifies or indicates."""
        readable = bool(properties & Properties.READ)
        writable = bool(properties & (Properties.WRITE | Properties.WRITE_WITHOUT_RESPONSE))
        attribute_value: Any = value
        if read is not None or write is not None:
            attribute_value = att.AttributeValue(read=read, write=write)
        characteristic: gatt.Characteristic[bytes] = gatt.Characteristic(
            uuid16(uuid) if isinstance(uuid, int) else uuid,
            properties,
            self._permissions(read=readable, write=writable),
            attribute_value,
        )
        if properties & (Properties.NOTIFY | Properties.INDICATE) and self.requires_bond:
            # The CCCD must be written over an encrypted link too; it keeps the server's own
            # descriptor value so the subscription reaches the server (see module docstring).
            characteristic.descriptors = [
                gatt.Descriptor(
                    CCCD,
                    Perm.READABLE | Perm.WRITEABLE | Perm.WRITE_REQUIRES_ENCRYPTION,
                    self.device.gatt_server.make_descriptor_value(characteristic),
                )
            ]
        return characteristic

    def _battery_service(self) -> gatt.Service:
        # Battery Service v1.1: Battery Level, uint8 percent, read + notify.
        self._battery = gatt.Characteristic(
            uuid16(BATTERY_LEVEL),
            Properties.READ | Properties.NOTIFY,
            Perm.READABLE,
            att.AttributeValue(read=lambda _c: bytes([self.battery_pct])),
        )
        return gatt.Service(uuid16(BATTERY_SERVICE), [self._battery])

    def _current_time_service(self) -> gatt.Service:
        # Current Time Service v1.1: Current Time, read + notify, + write when settable. Not
        # encrypted: CTS carries no personal data and a gateway reads it before anything else.
        properties = Properties.READ | Properties.NOTIFY
        if self.clock.writable:
            properties |= Properties.WRITE
        self.current_time_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            uuid16(uuids.CURRENT_TIME),
            properties,
            Perm.READABLE | Perm.WRITEABLE,
            att.AttributeValue(read=self._read_time, write=self._write_time),
        )
        return gatt.Service(uuid16(uuids.CURRENT_TIME_SERVICE), [self.current_time_char])

    def _read_time(self, _connection: Connection | None) -> bytes:
        return encode_current_time(CurrentTime.from_datetime(self.clock.now()))

    def _write_time(self, _connection: Connection | None, value: bytes) -> None:
        if not self.clock.writable:
            raise att.ATT_Error(error_code=att.ErrorCode.WRITE_NOT_PERMITTED)
        try:
            written = decode_current_time(bytes(value))
        except DecodeError:
            raise att.ATT_Error(error_code=att.ErrorCode.VALUE_NOT_ALLOWED) from None
        when = written.exact_time
        if when is None:
            raise att.ATT_Error(error_code=att.ErrorCode.VALUE_NOT_ALLOWED)
        self.clock.set_local(when)

    @abc.abstractmethod
    def _services(self) -> Sequence[gatt.Service]:
        """The profile's GATT services (``self.device`` exists when this is called)."""

    def _advertising_data(self) -> bytes:
        data = _ad(_AD_FLAGS, bytes([_FLAGS_LE_ONLY_GENERAL]))
        if self.advertised_services:
            data += _ad(
                _AD_UUID16_COMPLETE,
                b"".join(struct.pack("<H", u) for u in self.advertised_services),
            )
        for service in self.advertised_services_128:
            data += _ad(_AD_UUID128_COMPLETE, service.to_bytes(force_128=True))
        data += _ad(_AD_COMPLETE_NAME, self.name.encode("utf-8")[:20])
        return data

    # -- connection events -----------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        self._connection = connection
        self._sent_in_connection = 0
        self.stats.connections += 1
        connection.on(
            connection.EVENT_DISCONNECTION,
            lambda reason: self._on_disconnection(connection, reason),
        )
        self.on_connected(connection)

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        if self._connection is connection:
            self._connection = None
        self.on_disconnected(connection)

    def on_connected(self, connection: Connection) -> None:  # noqa: B027 - optional hook
        """Hook: a central connected."""

    def on_disconnected(self, connection: Connection) -> None:  # noqa: B027 - optional hook
        """Hook: the link dropped (either side)."""

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: task failed", self.name, exc_info=task.exception())

    # -- sending with faults ---------------------------------------------------------------

    def _damaged(self, count: int, value: bytes) -> bytes | None:
        """The bytes to send for measurement number ``count``: damaged if the faults say so."""
        if count not in self.faults.corrupt:
            return None
        if not self.faults.corrupt_repeats and count in self._corrupted_once:
            return None
        self._corrupted_once.add(count)
        self.stats.corrupted += 1
        # Cut after the flags byte: every field the flags announce is missing, the classic
        # damaged-packet shape a decoder must refuse (a truncated PDU).
        return value[:1] if value else b"\xff"

    def _subscribed(
        self, connection: Connection, characteristic: gatt.Characteristic[bytes], *, indicate: bool
    ) -> bool:
        """Whether the collector enabled indications (or notifications) on ``characteristic``."""
        cccd = self.device.gatt_server.read_cccd(connection, characteristic)
        return len(cccd) == 2 and bool(cccd[0] & (0x02 if indicate else 0x01))

    async def _send_measurement(
        self,
        connection: Connection,
        characteristic: gatt.Characteristic[bytes],
        value: bytes,
        *,
        count: int,
        indicate: bool = False,
    ) -> bool:
        """Notify (or indicate) measurement number ``count``; True when it went out (for an
        indication: was confirmed by the collector). The ``disconnect_after`` fault drops the
        link right after; callers check :attr:`connected` before sending more."""
        if self._connection is not connection or not self._subscribed(
            connection, characteristic, indicate=indicate
        ):
            return False
        payload = self._damaged(count, value) or value
        if indicate:
            try:
                await connection.cancel_on_disconnection(
                    self.device.indicate_subscriber(connection, characteristic, payload)
                )
            except (asyncio.CancelledError, TimeoutError):
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                return False  # the link dropped (or the collector never confirmed)
            self.stats.indications += 1
        else:
            await self.device.notify_subscriber(connection, characteristic, payload)
            self.stats.notifications += 1
        self._sent_in_connection += 1
        limit = self._disconnect_after
        if limit is not None and self._sent_in_connection >= limit:
            self._disconnect_after = None
            self.stats.injected_disconnects += 1
            await connection.disconnect()
        return True
