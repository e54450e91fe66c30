"""Many simulated wearables in one process, driven by one thread.

::

    fleet = WearableFleet(
        [("wr-0001", Scenario()),
         ("wr-0002", Scenario.desaturating(after_s=120, duration_min=10, nadir_pct=85)),
         ("wr-0003", Scenario.copd())],
        site="site-demo",
        broker_url="mqtt://127.0.0.1:1883",
    )
    fleet.start()
    ...
    fleet.stop(drain_timeout_s=5.0)

One reactor thread runs every wearable's MQTT socket and timers (see ``firmware_sim._reactor``),
rather than one paho network thread per device: 50 devices cost one thread, and a device's state
is only ever touched on that thread. Each wearable still has its own MQTT connection, client id
and persistent session, exactly as 50 real wrist devices would.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from types import TracebackType

from devices import parse_broker_url
from firmware_sim._reactor import Reactor
from firmware_sim.errors import DuplicateDeviceError, FleetStateError, ParameterError
from firmware_sim.scenario import Scenario
from firmware_sim.wearable import Wearable, WearableConfig, WearableStats

log = logging.getLogger(__name__)


class WearableFleet:
    """N simulated Wi-Fi wearables publishing to one broker for one site.

    ``devices``: ``(device_id, scenario)`` pairs; each device id is also its MQTT client id and its
    ``gateway_id`` topic segment. ``broker_url``: ``mqtt://host:port`` or ``mqtts://``.
    ``config``: firmware settings shared by all (see :class:`WearableConfig`). ``clock``: epoch
    seconds for sampling and timestamps (default :func:`time.time`; inject a faster or manual one
    in tests). ``tick_s``: how often the reactor wakes to run timers (seconds).

    Raises :class:`~firmware_sim.errors.ParameterError` for a bad URL, site or device id and
    :class:`~firmware_sim.errors.DuplicateDeviceError` when an id repeats.
    """

    def __init__(
        self,
        devices: Iterable[tuple[str, Scenario]],
        *,
        site: str,
        broker_url: str,
        config: WearableConfig | None = None,
        clock: Callable[[], float] = time.time,
        username: str | None = None,
        password: str | None = None,
        tick_s: float = 0.1,
    ) -> None:
        try:
            broker = parse_broker_url(broker_url)
        except ValueError as exc:
            raise ParameterError("broker_url", broker_url, str(exc)) from None
        if not 0.005 <= tick_s <= 5.0:
            raise ParameterError("tick_s", tick_s, "must be within 0.005-5 s")
        self.site = site
        self.config = config or WearableConfig()
        self._wearables: dict[str, Wearable] = {}
        for device_id, scenario in devices:
            if device_id in self._wearables:
                raise DuplicateDeviceError(device_id)
            self._wearables[device_id] = Wearable(
                device_id,
                scenario,
                site=site,
                broker=broker,
                config=self.config,
                clock=clock,
                username=username,
                password=password,
            )
        self._reactor = Reactor(
            list(self._wearables.values()), tick_s=tick_s, name=f"wearable-fleet-{site}"
        )
        self._state = "new"

    @property
    def device_ids(self) -> tuple[str, ...]:
        return tuple(self._wearables)

    def wearable(self, device_id: str) -> Wearable:
        """The wearable with ``device_id`` (``KeyError`` if the fleet has none)."""
        return self._wearables[device_id]

    def stats(self) -> dict[str, WearableStats]:
        """A snapshot of every wearable's counters, by device id."""
        return {device_id: w.stats() for device_id, w in self._wearables.items()}

    def start(self) -> None:
        """Boot every wearable and start publishing. A fleet starts once."""
        if self._state != "new":
            raise FleetStateError(self._state, "a fleet can be started only once")
        self._state = "running"
        self._reactor.start()
        log.info("wearable fleet for %s started with %d devices", self.site, len(self._wearables))

    def wait_drained(self, timeout_s: float) -> bool:
        """Wait until no wearable holds an unacknowledged reading; False on timeout.

        While the clock advances new samples keep arriving, so with a running clock this is only
        meaningful after :meth:`stop` requested a drain or with a clock that stands still.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            if all(w.stats().buffered_readings == 0 for w in self._wearables.values()):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def stop(self, *, drain_timeout_s: float = 0.0) -> bool:
        """Switch every wearable off; returns True when nothing was left unacknowledged.

        With ``drain_timeout_s`` > 0 the wearables first stop sampling, send everything they
        buffer and wait up to that long for the acks. Whatever is still unacknowledged after that
        is lost with the devices' RAM, as it would be on a real device switched off. Safe to call
        more than once.
        """
        if self._state != "running":
            self._state = "stopped"
            return all(w.stats().buffered_readings == 0 for w in self._wearables.values())
        drained = True
        if drain_timeout_s > 0:
            for w in self._wearables.values():
                w.request_drain()
            drained = self.wait_drained(drain_timeout_s)
        self._reactor.stop()
        self._state = "stopped"
        left = sum(w.stats().buffered_readings for w in self._wearables.values())
        if left:
            log.warning(
                "wearable fleet for %s stopped with %d unacknowledged readings", self.site, left
            )
        return drained and left == 0

    def __enter__(self) -> WearableFleet:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
