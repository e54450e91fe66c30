"""The emulated glucometer answers the Record Access Control Point as the Glucose Service says,
byte for byte, to a collector that drives it directly through bleak."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from bleak import BleakClient
from bleak.exc import BleakGATTProtocolError
from bumble.link import LocalLink

from devices.gatt import decode_glucose_measurement, uuids
from firmware_sim.ble.glucometer import Glucometer
from gateway.ble.backends.bumble import BumbleRadio

T = TypeVar("T")
METER = "C0:00:00:00:0A:01"
MEASUREMENT = uuids.full_uuid(uuids.GLUCOSE_MEASUREMENT)
RACP = uuids.full_uuid(uuids.RECORD_ACCESS_CONTROL_POINT)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 30))


class Collector:
    """A bonded bleak client subscribed to measurements and RACP indications."""

    def __init__(self, client: BleakClient) -> None:
        self.client = client
        self.sequences: list[int] = []
        self.responses: asyncio.Queue[bytes] = asyncio.Queue()
        self.arrived = asyncio.Event()

    async def subscribe(self, *, racp: bool = True) -> None:
        def on_measurement(_char: object, data: bytearray) -> None:
            self.sequences.append(decode_glucose_measurement(bytes(data)).sequence_number)
            self.arrived.set()

        await self.client.start_notify(MEASUREMENT, on_measurement)
        if racp:
            await self.client.start_notify(RACP, lambda _c, d: self.responses.put_nowait(bytes(d)))

    async def ask(self, request: bytes) -> bytes:
        await self.client.write_gatt_char(RACP, request, response=True)
        return await asyncio.wait_for(self.responses.get(), 5)


@asynccontextmanager
async def meter_and_collector(**meter_kw: Any) -> AsyncIterator[tuple[Glucometer, Collector]]:
    link = LocalLink()
    async with (
        Glucometer(link, address=METER, **meter_kw) as meter,
        BumbleRadio(link) as radio,
        BleakClient(METER, backend=radio.client_backend, pair=True) as client,
    ):
        yield meter, Collector(client)


def test_report_records_at_least_a_sequence_number_sends_those_then_success() -> None:
    async def scenario() -> None:
        async with meter_and_collector(records=30) as (_meter, c):
            await c.subscribe()
            assert await c.ask(bytes([0x01, 0x03, 0x01, 25, 0])) == bytes([6, 0, 1, 1])
            assert c.sequences == [25, 26, 27, 28, 29, 30]
            assert await c.ask(bytes([0x01, 0x03, 0x01, 31, 0])) == bytes([6, 0, 1, 6])
            assert await c.ask(bytes([0x04, 0x01])) == bytes([5, 0, 30, 0])
            assert await c.ask(bytes([0x04, 0x03, 0x01, 21, 0])) == bytes([5, 0, 10, 0])
            c.sequences.clear()
            assert await c.ask(bytes([0x01, 0x04, 0x01, 3, 0, 5, 0])) == bytes([6, 0, 1, 1])
            assert c.sequences == [3, 4, 5]
            c.sequences.clear()
            assert await c.ask(bytes([0x01, 0x06])) == bytes([6, 0, 1, 1])  # last record
            assert c.sequences == [30]

    run(scenario())


def test_abort_stops_a_report_in_progress() -> None:
    async def scenario() -> None:
        async with meter_and_collector(records=400, record_interval_s=0.005) as (meter, c):
            await c.subscribe()
            await c.client.write_gatt_char(RACP, bytes([0x01, 0x01]), response=True)
            while len(c.sequences) < 10:
                c.arrived.clear()
                await c.arrived.wait()
            assert await c.ask(bytes([0x03, 0x00])) == bytes([6, 0, 3, 1])
            stopped_at = len(c.sequences)
            await asyncio.sleep(0.1)
            assert 10 <= len(c.sequences) == stopped_at < 400
            assert c.responses.empty()  # the aborted report gets no response of its own
            # The meter is free again: a new request is served.
            assert await c.ask(bytes([0x04, 0x01])) == bytes([5, 0, 144, 1])
            assert meter.records[-1].sequence_number == 400

    run(scenario())


def test_a_second_request_while_one_runs_is_refused_with_procedure_already_in_progress() -> None:
    async def scenario() -> None:
        async with meter_and_collector(records=200, record_interval_s=0.005) as (_m, c):
            await c.subscribe()
            await c.client.write_gatt_char(RACP, bytes([0x01, 0x01]), response=True)
            with pytest.raises(BleakGATTProtocolError) as info:
                await c.client.write_gatt_char(RACP, bytes([0x04, 0x01]), response=True)
            assert info.value.code == 0xFE

    run(scenario())


def test_request_without_racp_indications_enabled_is_refused_with_cccd_improperly_configured() -> (
    None
):
    async def scenario() -> None:
        async with meter_and_collector(records=5) as (_m, c):
            await c.subscribe(racp=False)
            with pytest.raises(BleakGATTProtocolError) as info:
                await c.client.write_gatt_char(RACP, bytes([0x01, 0x01]), response=True)
            assert info.value.code == 0xFD

    run(scenario())


def test_malformed_requests_get_the_response_code_the_spec_names() -> None:
    async def scenario() -> None:
        async with meter_and_collector(records=5) as (_m, c):
            await c.subscribe()
            assert await c.ask(bytes([0x09, 0x01])) == bytes([6, 0, 9, 2])  # op code unsupported
            assert await c.ask(bytes([0x01, 0x09])) == bytes([6, 0, 1, 4])  # operator unsupported
            assert await c.ask(bytes([0x01, 0x03, 0x01, 1])) == bytes([6, 0, 1, 5])  # operand
            assert await c.ask(bytes([0x01, 0x00])) == bytes([6, 0, 1, 3])  # invalid operator

    run(scenario())


def test_glucose_attributes_are_refused_without_encryption() -> None:
    async def scenario() -> None:
        link = LocalLink()
        async with (
            Glucometer(link, address=METER, records=5),
            BumbleRadio(link) as radio,
            BleakClient(METER, backend=radio.client_backend) as client,
        ):
            with pytest.raises(BleakGATTProtocolError) as info:
                await client.start_notify(MEASUREMENT, lambda _c, _d: None)
            assert info.value.code == 0x0F  # Insufficient Encryption

    run(scenario())
