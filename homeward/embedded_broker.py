"""The embedded MQTT broker of ``homeward demo``: amqtt running on its own thread.

amqtt treats anonymous clients' sessions as throw-away and keeps no QoS 1 messages for them
while they are disconnected. The demo's clients are anonymous, so :class:`LoopbackAuthPlugin`
admits them as authenticated sessions instead; the broker listens on 127.0.0.1 only, which is the
whole of its trust boundary. Production uses Mosquitto (``deploy/mosquitto/homeward.conf``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

from homeward.embedded import free_port
from homeward.errors import ServiceStartError

log = logging.getLogger(__name__)


class LoopbackAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no types
    """Admit every client of the loopback-only demo broker as a non-anonymous session."""

    async def authenticate(self, *, session: Session) -> bool | None:
        session.is_anonymous = False
        return True

    @dataclass
    class Config:
        """No options: the listener's 127.0.0.1 binding is the access control."""


class EmbeddedBroker:
    """An amqtt broker on ``127.0.0.1:port`` in a background thread."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Broker | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {f"{__name__}.LoopbackAuthPlugin": {}},
        }

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def start() -> None:
            self._broker = Broker(self._config())
            await self._broker.start()

        try:
            loop.run_until_complete(start())
        except BaseException as exc:  # reported to start() in the caller's thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    def start(self, timeout_s: float = 15.0) -> str:
        """Start the broker; returns its ``mqtt://`` URL once it accepts connections."""
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise ServiceStartError("amqtt", f"not ready after {timeout_s} s")
        if self._error is not None:
            raise ServiceStartError("amqtt", repr(self._error))
        log.info("embedded MQTT broker on %s", self.url)
        return self.url

    def stop(self, timeout_s: float = 10.0) -> None:
        """Shut the broker down and join its thread."""
        loop, broker = self._loop, self._broker
        if loop is None or broker is None:
            return
        fut = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
        try:
            fut.result(timeout_s)
        except Exception:  # a broker that fails to shut down cleanly is still stopped below
            log.exception("embedded broker did not shut down cleanly")
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._loop = self._broker = self._thread = None
