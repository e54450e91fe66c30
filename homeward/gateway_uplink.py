"""The uplink of ``homeward gateway``: :class:`gateway.Uplink` joined to the gateway's radio.

Two things tie the MQTT side to the BLE side of one gateway process:

* the heartbeat carries the radio's status (:class:`gateway.status.RadioStatus`: each BLE
  device's bond, battery, last sighting and last session, and the BLE problems among the
  heartbeat's ``problems``), and a BLE problem appearing or going away sends a heartbeat at once
  (within a second), as the outbox's own events do;
* every config document the uplink puts in force (restored from the outbox at start, applied from
  the cloud, or cleared back to the base settings) is handed to ``on_config``, so that the BLE
  side reads the devices that document lists.

:attr:`GatewayUplink.restored` is set once the uplink thread has restored the cloud config kept
in the outbox (or found none): the BLE side starts only then, so that a device the cloud listed
is never taken off the allow-list (and its bond deleted) because the base config, read first,
does not list it.

The joints are :class:`gateway.Uplink`'s heartbeat and config-installation steps, overridden
here in the composition root; ``tests/gateway/test_gateway_ble.py`` covers each of them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

from gateway import GatewayConfig, Heartbeat, Outbox, Uplink, UplinkConfig
from gateway.status import RadioStatus

log = logging.getLogger("homeward.gateway")


class GatewayUplink(Uplink):
    """An :class:`~gateway.Uplink` whose heartbeat includes ``radio_status()`` and which calls
    ``on_config(document)`` (None: back to the base settings) for every config put in force.

    Both callbacks run on the uplink's thread and must be quick and thread-safe.
    """

    def __init__(
        self,
        outbox: Outbox,
        *,
        site: str,
        gateway_id: str,
        broker_url: str,
        config: UplinkConfig | None = None,
        username: str | None = None,
        password: str | None = None,
        radio_status: Callable[[], RadioStatus | None],
        on_config: Callable[[GatewayConfig | None], None],
    ) -> None:
        super().__init__(
            outbox,
            site=site,
            gateway_id=gateway_id,
            broker_url=broker_url,
            config=config,
            username=username,
            password=password,
        )
        self._radio_status = radio_status
        self._on_config = on_config
        self.restored = threading.Event()

    def heartbeat(self) -> Heartbeat:
        """The heartbeat as it would be published now, with the radio's status."""
        return dataclasses.replace(super().heartbeat(), radio=self._radio_status())

    def _events(self) -> tuple[Any, ...]:
        radio = self._radio_status()
        problems: tuple[tuple[str, str], ...] = ()
        state = None
        if radio is not None:
            state = radio.state
            problems = tuple(
                sorted((str(p["code"]), str(p.get("device_id") or "")) for p in radio.problems)
            )
        return (*super()._events(), state, problems)

    def _restore_config(self) -> None:
        try:
            super()._restore_config()
        finally:
            self.restored.set()

    def _install(self, doc: GatewayConfig | None, uplink: UplinkConfig, bound: int) -> None:
        super()._install(doc, uplink, bound)
        try:
            self._on_config(doc)
        except Exception:  # the uplink's settings are in force; the radio keeps its old wish
            log.exception("uplink %s: the radio could not take the new config", self.gateway_id)
