"""One thread that drives many simulated devices: their MQTT sockets and their timers.

A fleet of 50 wearables does not need 50 network threads. paho-mqtt lets an application run the
network loop itself (``loop_read`` / ``loop_write`` / ``loop_misc`` on the client's socket), so this
reactor polls every device's socket at once and then gives each device a ``tick`` for its own
timers (sampling, batching, ack timeouts, reconnects). Everything a device does therefore happens
on this one thread: device state needs no cross-thread care beyond the snapshot a caller reads.

``poll`` (not ``select``) is used so that file descriptors above 1024 are fine when the fleet runs
inside a busy process such as ``homeward demo``.

No exception raised by a device may stop the reactor: each call into a device is guarded, logged
and counted on the device (``record_error``), and the loop goes on.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Protocol

log = logging.getLogger(__name__)

# How long stop() keeps writing queued packets (offline status, DISCONNECT) before closing.
_FLUSH_S = 1.0


class SocketLike(Protocol):
    def fileno(self) -> int: ...


class Driven(Protocol):
    """What the reactor needs from a device. Every method is called on the reactor thread."""

    name: str

    def socket(self) -> SocketLike | None: ...
    def want_write(self) -> bool: ...
    def on_readable(self) -> None: ...
    def on_writable(self) -> None: ...
    def tick(self, now_mono: float) -> None: ...
    def shut_down(self) -> None: ...
    def close(self) -> None: ...
    def record_error(self, exc: BaseException) -> None: ...


class Reactor:
    """Runs ``devices`` on one thread, waking at least every ``tick_s`` seconds."""

    def __init__(self, devices: Sequence[Driven], *, tick_s: float, name: str) -> None:
        self._devices = tuple(devices)
        self._tick_s = tick_s
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the loop to shut every device down, flush, and exit; wait up to ``timeout_s``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error("%s did not stop within %.1f s", self._name, timeout_s)

    def _guard(self, device: Driven, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception as exc:
            log.exception("device %s: unexpected error (the reactor keeps going)", device.name)
            try:
                device.record_error(exc)
            except Exception:
                log.exception("device %s: record_error failed", device.name)

    def _poll(self, timeout_s: float) -> None:
        poller = select.poll()
        owners: dict[int, Driven] = {}
        for device in self._devices:
            sock = device.socket()
            if sock is None:
                continue
            try:
                fd = sock.fileno()
            except OSError:
                continue
            if fd < 0:
                continue
            owners[fd] = device
            mask = select.POLLIN | (select.POLLOUT if device.want_write() else 0)
            poller.register(fd, mask)
        if not owners:
            self._stop.wait(timeout_s)
            return
        try:
            events = poller.poll(timeout_s * 1000.0)
        except OSError:
            return
        # Writes first: a CONNECT or PUBACK waiting to go out is never starved by reads.
        for fd, ev in events:
            if ev & select.POLLOUT:
                device = owners[fd]
                self._guard(device, device.on_writable)
        for fd, ev in events:
            if ev & (select.POLLIN | select.POLLERR | select.POLLHUP | select.POLLNVAL):
                device = owners[fd]
                self._guard(device, device.on_readable)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poll(self._tick_s)
            now = time.monotonic()
            for device in self._devices:
                self._guard(device, partial(device.tick, now))
        for device in self._devices:
            self._guard(device, device.shut_down)
        deadline = time.monotonic() + _FLUSH_S
        while time.monotonic() < deadline and any(d.want_write() for d in self._devices):
            self._poll(0.05)
        for device in self._devices:
            self._guard(device, device.close)
