"""``BleakClientBumble``: bleak's client backend on the emulated radio.

Everything goes over real ATT PDUs between two bumble hosts: service discovery, reads, writes
with and without response, CCCD writes for notifications and indications (bumble's GATT client
sends the Handle Value Confirmation), SMP pairing and link encryption. Errors are translated in
one place, :mod:`._errors`.

Security follows what BlueZ does for LE devices: when the adapter holds bond keys for the peer,
:meth:`connect` starts encryption with them at once. If the peer no longer has its half of the
bond (reset, battery out) encryption fails with "PIN or Key Missing"; the link stays up but
unencrypted, so the first access to a protected attribute answers ATT "Insufficient Encryption"
(0x0F), the signal the gateway reports as a lost bond. ``pair=True`` (bleak's ``BleakClient(...,
pair=True)``) pairs before discovery when no bond exists; keys go to the radio's key store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES, CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError
from bumble import hci
from bumble.core import UUID
from bumble.device import Connection
from bumble.gatt import GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR
from bumble.gatt_client import CharacteristicProxy, Client

from gateway.ble.backends.bumble._errors import bleak_errors
from gateway.ble.backends.bumble.scanner import uuid128_le

if TYPE_CHECKING:
    from gateway.ble.backends.bumble.radio import BumbleRadio

log = logging.getLogger(__name__)

# ATT_MTU before any exchange (Core Spec v5.4, Vol 3, Part F, 3.2.8).
_ATT_DEFAULT_MTU = 23


def bleak_uuid(value: UUID) -> str:
    """bumble UUID → bleak's lowercase 128-bit string."""
    return uuid128_le(value.to_bytes(force_128=True))


def _properties(bits: int) -> list[CharacteristicPropertyName]:
    return [name for bit, name in CHARACTERISTIC_PROPERTIES.items() if bits & bit]


class BleakClientBumble(BaseBleakClient):
    """A bleak client backend on a :class:`BumbleRadio` (use ``radio.client_backend``)."""

    radio: ClassVar[BumbleRadio | None] = None

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        services: set[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        if self.radio is None:
            raise BleakError("use BumbleRadio.client_backend, which is bound to a radio")
        self._radio: BumbleRadio = self.radio
        self.address = self.address.upper()
        self._peer: hci.Address | None = None
        self._name: str | None = None
        if isinstance(address_or_ble_device, BLEDevice):
            self._name = address_or_ble_device.name
            if isinstance(address_or_ble_device.details, hci.Address):
                self._peer = address_or_ble_device.details
        self._connection: Connection | None = None
        self._closing = False
        self._subscriptions: dict[int, Callable[[bytes], None]] = {}

    # -- state -----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        """The negotiated ATT_MTU in bytes (23 before the exchange or when disconnected)."""
        connection = self._connection
        return _ATT_DEFAULT_MTU if connection is None else int(connection.att_mtu)

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    @property
    def is_encrypted(self) -> bool:
        """True while the link is encrypted (not part of bleak's ABC; tests read it)."""
        connection = self._connection
        return connection is not None and bool(connection.is_encrypted)

    def _client(self) -> Client:
        connection = self._connection
        if connection is None:
            raise BleakError(f"{self.address}: not connected")
        return connection.gatt_client

    def _errors(self) -> Any:
        return bleak_errors(self.address, connected=lambda: self._connection is not None)

    # -- connectivity ----------------------------------------------------------------------

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._connection is not None:
            return
        peer = self._peer or self._radio.peer_address(self.address)
        self._closing = False
        async with asyncio.timeout(self._timeout):
            connection = await self._radio.connect(peer, self._timeout)
            self._connection = connection
            connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
            try:
                with self._errors():
                    if await self._radio.bonded(self.address):
                        await self._encrypt_with_bond(connection)
                    elif pair:
                        await connection.pair()
                    await connection.gatt_client.request_mtu(self._radio.att_mtu)
                    self.services = await self._discover(connection.gatt_client)
            except BaseException:
                await self._drop()
                raise

    async def _encrypt_with_bond(self, connection: Connection) -> None:
        try:
            await connection.encrypt()
        except hci.HCI_Error as exc:
            # The peer refused our keys: leave the link up and unencrypted, as BlueZ does; the
            # protected attributes will say "Insufficient Encryption".
            log.warning("%s: encryption with the stored bond failed: %s", self.address, exc)

    async def _discover(self, client: Client) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        for service_proxy in await client.discover_services():
            service = BleakGATTService(
                service_proxy, service_proxy.handle, bleak_uuid(service_proxy.uuid)
            )
            collection.add_service(service)
            for proxy in await client.discover_characteristics((), service_proxy):
                characteristic = BleakGATTCharacteristic(
                    proxy,
                    proxy.handle,
                    bleak_uuid(proxy.uuid),
                    _properties(int(proxy.properties)),
                    lambda: self.mtu_size - 3,
                    service,
                )
                collection.add_characteristic(characteristic)
                for descriptor in await client.discover_descriptors(proxy):
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor,
                            descriptor.handle,
                            bleak_uuid(descriptor.type),
                            characteristic,
                        )
                    )
        return collection

    def _on_disconnection(self, reason: int) -> None:
        self._connection = None
        self._subscriptions.clear()
        if self._closing:
            return
        log.info("%s: disconnected by the link (reason 0x%02X)", self.address, reason)
        callback = self._disconnected_callback
        if callback is not None:
            asyncio.get_running_loop().call_soon(callback)

    async def _drop(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._closing = True
        try:
            with self._errors():
                await connection.disconnect()
        except (BleakError, TimeoutError):
            log.debug("%s: disconnect failed", self.address, exc_info=True)
        self._connection = None

    async def disconnect(self) -> None:
        await self._drop()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pair and bond (LE Secure Connections, Just Works); keys go to the radio's store."""
        connection = self._connection
        if connection is None:
            raise BleakError(f"{self.address}: not connected")
        with self._errors():
            await connection.pair()

    async def unpair(self) -> None:
        """Forget the bond keys for this peer and disconnect."""
        await self._radio.forget(self.address)
        await self._drop()

    # -- I/O -------------------------------------------------------------------------------

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        client = self._client()
        if use_cached and characteristic.handle in client.cached_values:
            return bytearray(client.cached_values[characteristic.handle][1])
        with self._errors():
            return bytearray(await client.read_value(characteristic.handle))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        client = self._client()
        with self._errors():
            return bytearray(await client.read_value(descriptor.handle))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        client = self._client()
        with self._errors():
            await client.write_value(characteristic.handle, bytes(data), with_response=response)

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        client = self._client()
        with self._errors():
            await client.write_value(descriptor.handle, bytes(data), with_response=True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Write the CCCD (notifications preferred over indications, as bleak asks)."""
        client = self._client()
        proxy = characteristic.obj
        if not isinstance(proxy, CharacteristicProxy):
            raise BleakError(f"{characteristic} does not come from this connection")
        if proxy.get_descriptor(GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR) is None:
            raise BleakError(f"{characteristic.uuid} has no CCCD: cannot notify or indicate")
        address = self.address

        def deliver(value: bytes) -> None:
            # bumble calls this from its PDU handler: an exception here must not break the link.
            try:
                callback(bytearray(value))
            except Exception:
                log.exception("%s: notification callback failed", address)

        old = self._subscriptions.pop(characteristic.handle, None)
        with self._errors():
            if old is not None:
                await client.unsubscribe(proxy, old)
            self._subscriptions[characteristic.handle] = deliver
            await client.subscribe(proxy, deliver, prefer_notify=True)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        client = self._client()
        proxy = characteristic.obj
        subscriber = self._subscriptions.pop(characteristic.handle, None)
        if not isinstance(proxy, CharacteristicProxy):
            raise BleakError(f"{characteristic} does not come from this connection")
        with self._errors():
            await client.unsubscribe(proxy, subscriber, force=subscriber is None)


def bind_client(radio: BumbleRadio) -> type[BleakClientBumble]:
    """A :class:`BleakClientBumble` subclass bound to ``radio``, for bleak's ``backend=``."""
    return type("BleakClientBumble", (BleakClientBumble,), {"radio": radio})
