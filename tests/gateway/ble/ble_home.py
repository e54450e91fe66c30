"""A home on the emulated radio: one LocalLink, the gateway's radio, registry, outbox, central.

Imported by the BLE tests (tests/gateway/ble, tests/e2e) as ``ble_home``. Everything that touches
bumble needs the running event loop, so a home is an async context manager.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bumble.link import LocalLink

from devices import Reading
from gateway import Outbox
from gateway.ble import BleCentral, BleConfig, BleEvent, ConnectionPolicy, DeviceRegistry
from gateway.ble.backends.bumble import BumbleRadio

T = TypeVar("T")

# Fast enough for tests, still exercising every retry and timeout path.
FAST = BleConfig(
    connection=ConnectionPolicy(
        attempts=2, base_delay_s=0.05, max_delay_s=0.2, connect_timeout_s=3
    ),
    idle_timeout_s=3.0,
    settle_s=0.3,
    resync_interval_s=600.0,
    retry_interval_s=0.5,
    stream_flush_s=0.5,
)


def run(coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
    """Run one test scenario on a fresh event loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


@dataclass
class Home:
    link: LocalLink
    radio: BumbleRadio
    registry: DeviceRegistry
    outbox: Outbox
    central: BleCentral
    data_dir: Path
    events: list[BleEvent]

    def readings(self, device_id: str | None = None) -> list[Reading]:
        """Every reading the outbox holds (optionally of one device), in storage order."""
        out: list[Reading] = []
        for batch in self.outbox.pending_batches():
            out.extend(batch.readings)
        while (batch := self.outbox.form_batch(100_000)) is not None:
            out.extend(batch.readings)
        return [r for r in out if device_id is None or r.device_id == device_id]


@contextlib.asynccontextmanager
async def home(
    data_dir: Path,
    *,
    link: LocalLink | None = None,
    config: BleConfig = FAST,
    outbox: Outbox | None = None,
) -> AsyncIterator[Home]:
    """A gateway on ``link`` (a new one by default) with its state in ``data_dir``."""
    link = link or LocalLink()
    own_outbox = outbox is None
    box = outbox or Outbox(data_dir / "outbox.sqlite3")
    events: list[BleEvent] = []
    try:
        async with BumbleRadio(link, keystore_path=data_dir / "ble-bonds.json") as radio:
            registry = DeviceRegistry(data_dir / "ble-devices.json")
            central = BleCentral(
                registry,
                box,
                config=config,
                client_backend=radio.client_backend,
                scanner_backend=radio.scanner_backend,
                on_event=events.append,
            )
            yield Home(link, radio, registry, box, central, data_dir, events)
    finally:
        if own_outbox:
            box.close()
