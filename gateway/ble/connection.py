"""Connections to the devices of this home: a bounded number at once, retried with backoff.

An adapter handles a few LE connections at a time (BlueZ and most controllers manage 5-10, with
throughput falling as each one gets a share of the radio's time); a home has a handful of devices,
and a sync needs the link for seconds. :class:`ConnectionManager` therefore gives out at most
``max_connections`` links at once (an :class:`asyncio.Semaphore`), and waits its turn otherwise.

Connecting fails transiently on real radios (a missed connection indication, "le-connection-abort-
by-local", the device went back to sleep for a moment). As bleak-retry-connector does for Home
Assistant, each connect is tried ``attempts`` times; between attempts the manager sleeps a
full-jitter exponential backoff (:mod:`gateway._backoff`) so several gateways or tasks do not retry
in lockstep. Protocol errors (an ATT Error Response) are answers, not transient failures, and are
not retried. Every bleak client is created with bleak's ``backend=`` argument: ``None`` is the
platform's own stack, the emulated radio passes its bound backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from bleak import BleakClient
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError, BleakGATTProtocolError

from gateway._backoff import full_jitter_delay_s
from gateway.ble.errors import DeviceUnreachableError
from gateway.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConnectionPolicy:
    """How the gateway connects: ``max_connections`` links at once; ``attempts`` tries per
    connect, ``base_delay_s``/``max_delay_s`` the backoff between them (seconds);
    ``connect_timeout_s`` for one attempt including service discovery."""

    max_connections: int = 3
    attempts: int = 4
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    connect_timeout_s: float = 15.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_connections <= 32:
            raise ConfigError("max_connections", self.max_connections, "must be 1-32")
        if not 1 <= self.attempts <= 100:
            raise ConfigError("attempts", self.attempts, "must be 1-100")
        if not (0.0 <= self.base_delay_s <= self.max_delay_s):
            raise ConfigError("base_delay_s", self.base_delay_s, "must be 0 ≤ base ≤ max delay")
        if not self.connect_timeout_s > 0.0:
            raise ConfigError("connect_timeout_s", self.connect_timeout_s, "must be > 0 s")


class ConnectionManager:
    """Hands out bleak clients, ``policy.max_connections`` at a time (see module docstring)."""

    def __init__(
        self,
        policy: ConnectionPolicy | None = None,
        *,
        client_backend: type[BaseBleakClient] | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.policy = policy or ConnectionPolicy()
        self._backend = client_backend
        self._slots = asyncio.Semaphore(self.policy.max_connections)
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._sleep = sleep
        self.active = 0
        self.peak_active = 0
        self.attempts = 0
        self.failures = 0

    @contextlib.asynccontextmanager
    async def connect(
        self,
        device_id: str,
        target: BLEDevice | str,
        *,
        pair: bool = False,
        disconnected: Callable[[BleakClient], None] | None = None,
    ) -> AsyncIterator[BleakClient]:
        """A connected client for ``target`` (a scanned :class:`BLEDevice` or an address) for
        the duration of the block; disconnected at its end. ``pair`` pairs when no bond exists.

        Raises :class:`~gateway.ble.errors.DeviceUnreachableError` after the last failed attempt.
        """
        async with self._slots:
            client = await self._connect(device_id, target, pair=pair, disconnected=disconnected)
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)
            try:
                yield client
            finally:
                self.active -= 1
                with contextlib.suppress(BleakError, TimeoutError):
                    await client.disconnect()

    async def _connect(
        self,
        device_id: str,
        target: BLEDevice | str,
        *,
        pair: bool,
        disconnected: Callable[[BleakClient], None] | None,
    ) -> BleakClient:
        policy = self.policy
        last = ""
        for attempt in range(policy.attempts):
            if attempt:
                await self._sleep(
                    full_jitter_delay_s(
                        attempt - 1,
                        base_s=policy.base_delay_s,
                        cap_s=policy.max_delay_s,
                        rng=self._rng,
                    )
                )
            client = BleakClient(
                target,
                disconnected,
                timeout=policy.connect_timeout_s,
                pair=pair,
                backend=self._backend,
            )
            self.attempts += 1
            try:
                await client.connect()
                return client
            except BleakGATTProtocolError as exc:
                # The device answered during discovery: retrying changes nothing.
                self.failures += 1
                with contextlib.suppress(BleakError, TimeoutError):
                    await client.disconnect()
                raise DeviceUnreachableError(device_id, attempt + 1, str(exc)) from exc
            except (BleakError, TimeoutError) as exc:
                self.failures += 1
                last = f"{type(exc).__name__}: {exc}"
                log.info("%s: connect attempt %d failed: %s", device_id, attempt + 1, last)
                with contextlib.suppress(BleakError, TimeoutError):
                    await client.disconnect()
        raise DeviceUnreachableError(device_id, policy.attempts, last)
