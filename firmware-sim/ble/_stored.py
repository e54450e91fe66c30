"""Devices that keep measurements taken while no collector was around and indicate them later.

Blood pressure cuffs, scales and thermometers work this way (Blood Pressure Profile v1.1 §4.6,
Weight Scale Profile §4.6, Health Thermometer Profile §4.5: "stored measurements"): each
measurement is kept until a collector has *confirmed* its indication, oldest first, so a link that
drops mid-way loses nothing; the rest goes out on the next connection. Delivery starts as soon
as the collector enables indications on the measurement characteristic, and the device hangs up
once it has nothing left (most cuffs and scales do, to save their battery).
"""

from __future__ import annotations

import abc
import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bumble import gatt
from bumble.device import Connection
from bumble.link import LocalLink

from firmware_sim.ble._peripheral import Peripheral, Properties, uuid16
from firmware_sim.ble.clock import DeviceClock
from firmware_sim.ble.faults import Faults

_DAY_S = 86400.0


def scheduled_before(
    now_s: float, count: int, hours_local: Sequence[float], utc_offset_s: float
) -> list[float]:
    """The ``count`` most recent instants before ``now_s`` (epoch s) that fall at one of
    ``hours_local`` (hours of a local day, UTC + ``utc_offset_s``), oldest first: when a
    device that measures on a daily schedule took the tests it holds at start."""
    day = math.floor((now_s + utc_offset_s) / _DAY_S)
    slots: list[float] = []
    while len(slots) < count:
        for hour in sorted(hours_local, reverse=True):
            t = day * _DAY_S + hour * 3600.0 - utc_offset_s
            if t < now_s and len(slots) < count:
                slots.append(t)
        day -= 1
    return sorted(slots)


@dataclass(frozen=True, slots=True)
class StoredMeasurement:
    """One stored measurement: ``number`` counts the device's measurements from 1, ``taken_s`` is
    the true instant (epoch s), ``value`` the characteristic value as the device encoded it then
    (stamped with its own clock)."""

    number: int
    taken_s: float
    value: bytes


class StoredMeasurementDevice(Peripheral):
    """Base of cuffs, scales and thermometers: ``pending`` waits for a collector."""

    #: The 16-bit UUID of the indicated measurement characteristic.
    measurement_uuid: int

    def __init__(
        self,
        link: LocalLink,
        *,
        address: str,
        name: str,
        disconnect_when_done: bool = True,
        faults: Faults | None = None,
        clock: DeviceClock | None = None,
        keystore_path: Path | None = None,
    ) -> None:
        super().__init__(
            link,
            address=address,
            name=name,
            faults=faults,
            clock=clock,
            keystore_path=keystore_path,
        )
        self.disconnect_when_done = disconnect_when_done
        self.pending: list[StoredMeasurement] = []
        self.delivered: list[StoredMeasurement] = []
        self._numbered = 0
        self._delivering = False

    def _keep(self, taken_s: float, value: bytes) -> StoredMeasurement:
        self._numbered += 1
        item = StoredMeasurement(self._numbered, taken_s, value)
        self.pending.append(item)
        return item

    @abc.abstractmethod
    def _extra_characteristics(self) -> Sequence[gatt.Characteristic[bytes]]:
        """The service's other characteristics (its Feature, at least)."""

    @property
    @abc.abstractmethod
    def service_uuid(self) -> int:
        """The 16-bit UUID of the device's primary service."""

    def _services(self) -> Sequence[gatt.Service]:
        self.measurement_char = self._characteristic(
            self.measurement_uuid, Properties.INDICATE, value=b""
        )
        self.measurement_char.on(
            self.measurement_char.EVENT_SUBSCRIPTION, self._on_measurement_subscription
        )
        return [
            gatt.Service(
                uuid16(self.service_uuid),
                [self.measurement_char, *self._extra_characteristics()],
            )
        ]

    def _on_measurement_subscription(
        self, bearer: object, notify_enabled: bool, indicate_enabled: bool
    ) -> None:
        connection = self.connection
        if indicate_enabled and connection is not None and not self._delivering:
            self._spawn(self._deliver(connection))

    async def _deliver(self, connection: Connection) -> None:
        self._delivering = True
        try:
            while self.pending and self.connection is connection:
                item = self.pending[0]
                confirmed = await self._send_measurement(
                    connection, self.measurement_char, item.value, count=item.number, indicate=True
                )
                if not confirmed:
                    return
                self.delivered.append(self.pending.pop(0))
            if self.disconnect_when_done and self.connection is connection:
                # Give the collector a moment to act on the last one, as devices do.
                await asyncio.sleep(0.05)
                if self.connection is connection:
                    await connection.disconnect()
        finally:
            self._delivering = False
