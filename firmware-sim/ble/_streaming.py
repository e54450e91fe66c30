"""Devices that notify live measurements at their own rate while a collector listens.

The rate is the device's own: a heart-rate strap or watch notifies about once a second (Heart
Rate Service v1.0 §3.1.1.1: "typically ... once per second"), a continuous pulse oximeter once a
second too. Notifications follow a fixed schedule on the event loop clock (``t0 + k·interval_s``),
not "sleep interval after each send", so the cadence does not drift with the work done per
notification. The stream starts when the collector enables notifications and stops when it
disables them or the link drops; each notification's count (1, 2, …, over the device's life) is
what the ``corrupt`` fault refers to.
"""

from __future__ import annotations

import abc
import asyncio
import math
from collections.abc import Sequence
from pathlib import Path

from bumble import gatt
from bumble.device import Connection
from bumble.link import LocalLink

from firmware_sim.ble._peripheral import Peripheral, Properties, uuid16
from firmware_sim.ble.clock import DeviceClock
from firmware_sim.ble.faults import Faults
from firmware_sim.errors import ParameterError


class StreamingDevice(Peripheral):
    """Base of the heart-rate wearable and the continuous oximeter (``interval_s`` in seconds)."""

    #: The 16-bit UUID of the notified measurement characteristic and of its service.
    measurement_uuid: int
    service_uuid: int

    def __init__(
        self,
        link: LocalLink,
        *,
        address: str,
        name: str,
        interval_s: float = 1.0,
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
        if not (math.isfinite(interval_s) and 0.001 <= interval_s <= 3600.0):
            raise ParameterError("interval_s", interval_s, "must be within 1 ms - 1 h")
        self.interval_s = interval_s
        self.sent = 0
        #: (count, epoch s) of every notification sent, for tests that check the cadence.
        self.sent_at: list[tuple[int, float]] = []
        self._streaming: asyncio.Task[None] | None = None

    @abc.abstractmethod
    def _measurement(self, t_s: float) -> bytes:
        """The characteristic value for true instant ``t_s`` (epoch seconds)."""

    def _extra_characteristics(self) -> Sequence[gatt.Characteristic[bytes]]:
        return []

    def _services(self) -> Sequence[gatt.Service]:
        self.measurement_char = self._characteristic(
            self.measurement_uuid, Properties.NOTIFY, value=b""
        )
        self.measurement_char.on(self.measurement_char.EVENT_SUBSCRIPTION, self._on_subscription)
        return [
            gatt.Service(
                uuid16(self.service_uuid), [self.measurement_char, *self._extra_characteristics()]
            )
        ]

    def _on_subscription(self, bearer: object, notify_enabled: bool, _indicate: bool) -> None:
        connection = self.connection
        running = self._streaming is not None and not self._streaming.done()
        if notify_enabled and connection is not None and not running:
            self._streaming = asyncio.get_running_loop().create_task(self._stream(connection))
            self._streaming.add_done_callback(self._done)
        elif not notify_enabled and running and self._streaming is not None:
            self._streaming.cancel()

    async def _stream(self, connection: Connection) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        k = 0
        while self.connection is connection:
            self.sent += 1
            now = self.clock.wall()
            sent = await self._send_measurement(
                connection, self.measurement_char, self._measurement(now), count=self.sent
            )
            if sent:
                self.sent_at.append((self.sent, now))
            k += 1
            await asyncio.sleep(max(0.0, start + k * self.interval_s - loop.time()))

    def on_disconnected(self, connection: Connection) -> None:
        if self._streaming is not None:
            self._streaming.cancel()
