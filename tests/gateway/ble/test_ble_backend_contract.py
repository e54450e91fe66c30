"""The bleak backend over bumble keeps bleak's contract: the ABC surface, and the behaviour a
BlueZ adapter shows for the same ATT/SMP exchanges (pinned bleak 3.1.0, bumble 0.0.236)."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError, BleakGATTProtocolError, BleakGATTProtocolErrorCode
from bumble import att, gatt
from bumble.link import LocalLink

from firmware_sim.ble._peripheral import Peripheral, Properties
from gateway.ble.backends.bumble import BleakClientBumble, BleakScannerBumble, BumbleRadio

T = TypeVar("T")

THING_SERVICE = 0x181C  # User Data: any SIG service will do for a contract test
VALUE_CHAR = 0x2A8A  # read/write
NOTIFY_CHAR = 0x2A8B
INDICATE_CHAR = 0x2A8C


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 20))


class Thing(Peripheral):
    """A peripheral with one readable/writable value, one notifying, one indicating."""

    advertised_services = (THING_SERVICE,)

    def __init__(self, link: LocalLink, *, secure: bool = False, **kw: Any) -> None:
        self.requires_bond = secure  # type: ignore[misc]
        super().__init__(link, **kw)
        self.value = b"\x01\x02"
        self.written: list[bytes] = []

    def _services(self) -> Sequence[gatt.Service]:
        self.value_char = self._characteristic(
            VALUE_CHAR,
            Properties.READ | Properties.WRITE,
            read=self._read_value,
            write=lambda _c, v: self.written.append(bytes(v)),
        )
        self.notify_char = self._characteristic(NOTIFY_CHAR, Properties.NOTIFY, value=b"")
        self.indicate_char = self._characteristic(INDICATE_CHAR, Properties.INDICATE, value=b"")
        return [
            gatt.Service(
                gatt.UUID.from_16_bits(THING_SERVICE),
                [self.value_char, self.notify_char, self.indicate_char],
            )
        ]

    def _read_value(self, _connection: object) -> bytes:
        if not self.value:
            raise att.ATT_Error(error_code=att.ErrorCode.VALUE_NOT_ALLOWED)
        return self.value


def u16(value: int) -> str:
    return f"0000{value:04x}-0000-1000-8000-00805f9b34fb"


def test_backends_implement_every_abstract_method_of_bleak_with_its_signature() -> None:
    for backend, base in (
        (BleakClientBumble, BaseBleakClient),
        (BleakScannerBumble, BaseBleakScanner),
    ):
        assert not getattr(backend, "__abstractmethods__", None)
        for name in base.__abstractmethods__:  # type: ignore[attr-defined]
            ours = inspect.signature(
                getattr(backend, name).fget
                if isinstance(getattr(backend, name), property)
                else getattr(backend, name)
            )
            theirs_attr = getattr(base, name)
            theirs = inspect.signature(
                theirs_attr.fget if isinstance(theirs_attr, property) else theirs_attr
            )
            assert list(ours.parameters) == list(theirs.parameters), name


def test_passive_scan_sees_the_advertised_services_and_name() -> None:
    async def scenario() -> None:
        link = LocalLink()
        async with (
            Thing(link, address="C1:00:00:00:00:01", name="thing-1"),
            BumbleRadio(link) as radio,
        ):
            found = await BleakScanner.find_device_by_filter(
                lambda d, a: d.address == "C1:00:00:00:00:01",
                timeout=2.0,
                scanning_mode="passive",
                backend=radio.scanner_backend,
            )
            assert found is not None
            assert found.name == "thing-1"
            scanner = BleakScanner(backend=radio.scanner_backend, service_uuids=[u16(0x1808)])
            async with scanner:
                await asyncio.sleep(0.2)
            assert scanner.discovered_devices == []

    run(scenario())


def test_client_discovers_reads_writes_and_receives_notifications_and_indications() -> None:
    async def scenario() -> None:
        link = LocalLink()
        async with (
            Thing(link, address="C1:00:00:00:00:02", name="thing-2") as thing,
            BumbleRadio(link) as radio,
            BleakClient("C1:00:00:00:00:02", backend=radio.client_backend, timeout=5) as client,
        ):
            assert client.mtu_size == 247
            service = client.services.get_service(u16(THING_SERVICE))
            assert service is not None
            notify = client.services.get_characteristic(u16(NOTIFY_CHAR))
            assert notify is not None
            assert notify.properties == ["notify"]
            assert [d.uuid for d in notify.descriptors] == [u16(0x2902)]
            assert await client.read_gatt_char(u16(VALUE_CHAR)) == bytearray(b"\x01\x02")
            await client.write_gatt_char(u16(VALUE_CHAR), b"\x07", response=True)
            assert thing.written == [b"\x07"]
            got: list[bytes] = []
            await client.start_notify(u16(NOTIFY_CHAR), lambda _c, d: got.append(bytes(d)))
            await client.start_notify(u16(INDICATE_CHAR), lambda _c, d: got.append(bytes(d)))
            connection = thing.connection
            assert connection is not None
            await thing.device.notify_subscriber(connection, thing.notify_char, b"\xaa")
            # An indication returns only once the client confirmed it.
            await thing.device.indicate_subscriber(connection, thing.indicate_char, b"\xbb")
            await asyncio.sleep(0.05)
            assert got == [b"\xaa", b"\xbb"]
            await client.stop_notify(u16(NOTIFY_CHAR))
            await thing.device.notify_subscriber(connection, thing.notify_char, b"\xcc")
            await asyncio.sleep(0.05)
            assert got == [b"\xaa", b"\xbb"]
            # An ATT Error Response from the device becomes bleak's protocol error.
            thing.value = b""
            with pytest.raises(BleakGATTProtocolError) as info:
                await client.read_gatt_char(u16(VALUE_CHAR))
            assert info.value.code == BleakGATTProtocolErrorCode.VALUE_NOT_ALLOWED

    run(scenario())


def test_peripheral_side_disconnect_calls_the_disconnected_callback_once() -> None:
    async def scenario() -> None:
        link = LocalLink()
        async with (
            Thing(link, address="C1:00:00:00:00:03", name="thing-3") as thing,
            BumbleRadio(link) as radio,
        ):
            dropped = asyncio.Event()
            calls: list[BleakClient] = []

            def on_drop(c: BleakClient) -> None:
                calls.append(c)
                dropped.set()

            client = BleakClient("C1:00:00:00:00:03", on_drop, backend=radio.client_backend)
            await client.connect()
            connection = thing.connection
            assert connection is not None
            await connection.disconnect()
            await asyncio.wait_for(dropped.wait(), 2)
            assert not client.is_connected
            with pytest.raises(BleakError):
                await client.read_gatt_char(u16(VALUE_CHAR))
            await client.connect()
            await client.disconnect()
            await asyncio.sleep(0.05)
            assert calls == [client]

    run(scenario())


def test_protected_attributes_need_a_bond_and_the_bond_survives_a_radio_restart(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "ble-bonds.json"
    address = "C1:00:00:00:00:04"

    async def first_visit(link: LocalLink) -> None:
        async with BumbleRadio(link, keystore_path=keys) as radio:
            client = BleakClient(address, backend=radio.client_backend)
            await client.connect()
            with pytest.raises(BleakGATTProtocolError) as info:
                await client.read_gatt_char(u16(VALUE_CHAR))
            assert info.value.code == BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION
            with pytest.raises(BleakGATTProtocolError):
                await client.start_notify(u16(NOTIFY_CHAR), lambda _c, _d: None)
            await client.pair()
            assert await client.read_gatt_char(u16(VALUE_CHAR)) == bytearray(b"\x01\x02")
            await client.disconnect()
            assert await radio.bonded(address)

    async def after_restart(link: LocalLink, thing: Thing) -> None:
        # A new radio (the gateway restarted) on the same key file: encrypted without pairing.
        async with (
            BumbleRadio(link, keystore_path=keys) as radio,
            BleakClient(address, backend=radio.client_backend) as client,
        ):
            assert isinstance(client._backend, BleakClientBumble)
            assert client._backend.is_encrypted
            got: list[bytes] = []
            await client.start_notify(u16(NOTIFY_CHAR), lambda _c, d: got.append(bytes(d)))
            connection = thing.connection
            assert connection is not None
            await thing.device.notify_subscriber(connection, thing.notify_char, b"\x42")
            await asyncio.sleep(0.05)
            assert got == [b"\x42"]

    async def after_device_reset(link: LocalLink) -> None:
        # The device lost its half of the bond: the link stays unencrypted.
        async with (
            BumbleRadio(link, keystore_path=keys) as radio,
            BleakClient(address, backend=radio.client_backend) as client,
        ):
            with pytest.raises(BleakGATTProtocolError) as info:
                await client.read_gatt_char(u16(VALUE_CHAR))
            assert info.value.code == BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION

    async def scenario() -> None:
        link = LocalLink()
        async with Thing(link, address=address, name="thing-4", secure=True) as thing:
            await first_visit(link)
            assert os.stat(keys).st_mode & 0o777 == 0o600
            assert address in json.loads(keys.read_text())["F0:0D:00:00:00:01"]
            await after_restart(link, thing)
            await thing.forget_bonds()
            await after_device_reset(link)

    run(scenario())


def test_connecting_to_an_absent_device_times_out() -> None:
    async def scenario() -> None:
        link = LocalLink()
        async with BumbleRadio(link) as radio:
            client = BleakClient(
                BLEDevice("C1:00:00:00:00:09", None, None),
                backend=radio.client_backend,
                timeout=0.5,
            )
            with pytest.raises((TimeoutError, BleakError)):
                await client.connect()
            assert not client.is_connected

    run(scenario())


def test_a_silent_device_times_out_instead_of_hanging() -> None:
    from firmware_sim.ble import Faults

    async def scenario() -> None:
        link = LocalLink()
        async with (
            Thing(link, address="C1:00:00:00:00:05", name="thing-5", faults=Faults(silent=True)),
            BumbleRadio(link) as radio,
        ):
            client = BleakClient("C1:00:00:00:00:05", backend=radio.client_backend, timeout=0.5)
            with pytest.raises(TimeoutError):
                await client.connect()
            assert not client.is_connected

    run(scenario())
