"""The gateway's Bluetooth controller on the emulated radio: one bumble Device on a LocalLink.

bumble's :class:`~bumble.link.LocalLink` carries link-layer packets between virtual controllers in
one process. Every emulated peripheral (:mod:`firmware_sim.ble`) puts its own controller on the
link the test creates; :class:`BumbleRadio` puts the gateway's there, and hands out the two bleak
backend classes bound to it::

    link = LocalLink()
    async with BumbleRadio(link, keystore_path=data_dir / "ble-bonds.json") as radio:
        async with BleakScanner(backend=radio.scanner_backend, scanning_mode="passive") as s: ...
        async with BleakClient(ble_device, backend=radio.client_backend) as client: ...

It is the emulated counterpart of a host adapter (``hci0``): one address, one scanner state shared
by every :class:`~bleak.BleakScanner`, one key store holding the bonds. Pitfalls it handles:

* bumble's controller refuses a second LE connection attempt while one is pending, so
  :meth:`connect` serializes attempts with a lock (a real adapter queues them the same way);
* bonds are stored under the peer's *identity* address; both sides use random static identity
  addresses (``identity_address_type`` random), otherwise keys are filed under the all-zero public
  address and a reconnect finds no bond;
* the key store (``keystore_path``) is where bonds outlive a gateway restart; without a path they
  live in memory, like an adapter whose bonds are wiped at every boot.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import TracebackType

from bleak.exc import BleakError
from bumble import hci
from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device, DeviceConfiguration
from bumble.host import Host
from bumble.keys import KeyStore, MemoryKeyStore
from bumble.link import LocalLink
from bumble.pairing import PairingDelegate
from bumble.transport.common import AsyncPipeSink

from gateway.ble.backends.bumble._errors import bleak_errors
from gateway.ble.backends.bumble._keystore import DurableKeyStore
from gateway.ble.backends.bumble.client import BleakClientBumble, bind_client
from gateway.ble.backends.bumble.scanner import BleakScannerBumble, bind_scanner

log = logging.getLogger(__name__)

# A random static address (two most significant bits set: Core Spec v5.4, Vol 6, Part B, 1.3.2.1).
DEFAULT_GATEWAY_ADDRESS = "F0:0D:00:00:00:01"
# ATT_MTU the gateway asks for after connecting; 247 lets a 244-byte value travel in one PDU,
# the usual choice of LE stacks with Data Length Extension (Core Spec v5.4, Vol 3, Part F, 3.2.8).
DEFAULT_ATT_MTU = 247
# Scan interval and window in ms: continuous scanning (window == interval), what BlueZ uses for
# foreground discovery; it matters only on real air, the virtual link delivers every packet.
_SCAN_INTERVAL_MS = 60.0


class BumbleRadio:
    """A virtual Bluetooth LE controller for the gateway, on ``link``.

    ``address`` is the gateway's random static address (keep it stable: peripherals file their
    bond under it). ``keystore_path`` is the JSON file holding bond keys (created 0600, written
    durably); ``None`` keeps them in memory. ``att_mtu`` is the ATT_MTU requested on each
    connection, in bytes. Use as an async context manager, or :meth:`open` / :meth:`close`.
    """

    def __init__(
        self,
        link: LocalLink,
        *,
        address: str = DEFAULT_GATEWAY_ADDRESS,
        keystore_path: Path | None = None,
        name: str = "homeward-gateway",
        att_mtu: int = DEFAULT_ATT_MTU,
    ) -> None:
        self.link = link
        self.address = hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS)
        self.keystore_path = keystore_path
        self.name = name
        self.att_mtu = att_mtu
        self.client_backend: type[BleakClientBumble] = bind_client(self)
        self.scanner_backend: type[BleakScannerBumble] = bind_scanner(self)
        self._device: Device | None = None
        self._controller: Controller | None = None
        self._connect_lock = asyncio.Lock()
        self._scan_lock = asyncio.Lock()
        self._scanners: set[BleakScannerBumble] = set()
        self._scanning: bool | None = None  # None: off; True: active; False: passive
        self._seen: dict[str, hci.Address] = {}
        self.connections_made = 0

    # -- life cycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Power the controller on (needs the running event loop)."""
        if self._device is not None:
            return
        controller = Controller(self.name, link=self.link)
        host = Host(controller, AsyncPipeSink(controller))
        config = DeviceConfiguration(name=self.name, address=self.address)
        config.identity_address_type = hci.Address.RANDOM_DEVICE_ADDRESS
        config.io_capability = PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT
        device = Device(config=config, host=host)
        keystore: KeyStore = (
            MemoryKeyStore()
            if self.keystore_path is None
            else DurableKeyStore(str(self.address), self.keystore_path)
        )
        device.keystore = keystore
        device.on(device.EVENT_ADVERTISEMENT, self._on_advertisement)
        with bleak_errors(str(self.address)):
            await device.power_on()
        self._controller = controller
        self._device = device

    async def close(self) -> None:
        """Disconnect everything, stop scanning and take the controller off the link."""
        device, self._device = self._device, None
        if device is None:
            return
        for connection in list(device.connections.values()):
            try:
                await connection.disconnect()
            except Exception:  # closing: a link already gone is fine
                log.debug("disconnect on close failed", exc_info=True)
        try:
            await device.power_off()
        except Exception:  # closing: nothing left to protect
            log.debug("power off failed", exc_info=True)
        if self._controller is not None and self._controller in self.link.controllers:
            self.link.remove_controller(self._controller)
        self._controller = None
        self._scanners.clear()
        self._scanning = None

    async def __aenter__(self) -> BumbleRadio:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def device(self) -> Device:
        """The bumble Device of the gateway; :class:`BleakError` before :meth:`open`."""
        if self._device is None:
            raise BleakError("the emulated radio is not open (use 'async with BumbleRadio(...)')")
        return self._device

    # -- addresses and bonds ---------------------------------------------------------------

    def peer_address(self, address: str) -> hci.Address:
        """The bumble address for ``address`` ("AA:BB:…"): the type seen in its advertisements,
        else random (every emulated peripheral uses a random static address)."""
        key = address.upper()
        seen = self._seen.get(key)
        if seen is not None:
            return seen
        return hci.Address(key, hci.Address.RANDOM_DEVICE_ADDRESS)

    async def bonded(self, address: str) -> bool:
        """True when the key store holds bond keys for the peer at ``address``."""
        keystore = self.device.keystore
        if keystore is None:
            return False
        return await keystore.get(str(self.peer_address(address))) is not None

    async def forget(self, address: str) -> None:
        """Delete the bond keys held for ``address`` (no error when there are none)."""
        keystore = self.device.keystore
        if keystore is None:
            return
        try:
            await keystore.delete(str(self.peer_address(address)))
        except KeyError:
            return

    # -- connections -----------------------------------------------------------------------

    async def connect(self, address: hci.Address, timeout_s: float) -> Connection:
        """An LE connection to ``address`` within ``timeout_s`` seconds, one attempt at a time."""
        device = self.device
        async with self._connect_lock:
            with bleak_errors(str(address)):
                connection = await device.connect(address, timeout=timeout_s)
        self.connections_made += 1
        return connection

    # -- scanning --------------------------------------------------------------------------

    async def start_scanning(self, scanner: BleakScannerBumble) -> None:
        """Deliver advertisements to ``scanner`` until :meth:`stop_scanning`."""
        async with self._scan_lock:
            self._scanners.add(scanner)
            await self._apply_scan_state()

    async def stop_scanning(self, scanner: BleakScannerBumble) -> None:
        async with self._scan_lock:
            self._scanners.discard(scanner)
            await self._apply_scan_state()

    async def _apply_scan_state(self) -> None:
        device = self.device
        wanted: bool | None = None if not self._scanners else any(s.active for s in self._scanners)
        if wanted == self._scanning:
            return
        with bleak_errors(str(self.address)):
            if self._scanning is not None:
                await device.stop_scanning()
            if wanted is not None:
                await device.start_scanning(
                    active=wanted,
                    scan_interval=_SCAN_INTERVAL_MS,
                    scan_window=_SCAN_INTERVAL_MS,
                    filter_duplicates=False,
                )
        self._scanning = wanted

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        self._seen[str(advertisement.address).split("/")[0].upper()] = advertisement.address
        for scanner in list(self._scanners):
            scanner.on_advertisement(advertisement)
