"""``homeward serve``: the HTTP API + panel, the alert evaluator and gateway health in one process.

:func:`serve` runs uvicorn (with :func:`homeward.app.create_app`) in one thread, the
:class:`alerts.evaluator.AlertEvaluator` in another and, when a broker is configured
(``HOMEWARD_MQTT_URL``), the :class:`monitoring.gateway_health.GatewayHealthConsumer` in a third,
so that the panel shows home gateways that are offline, silent or in trouble. It returns when
``stop`` is set (the command line sets it on SIGTERM/SIGINT) or when the HTTP server dies.
Stopping is orderly: open event streams are told to close first (otherwise uvicorn would wait for
them), then uvicorn finishes in-flight requests and shuts the app's lifespan down, then the
evaluator and the gateway-health consumer finish their current transactions.

:class:`ServerThread` is the reusable piece: uvicorn in a background thread on a socket bound
before start, so the port is known (and free) when ``start`` returns. Tests use it too.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from alerts.evaluator import AlertEvaluator
from homeward.app import create_app
from homeward.errors import ServiceStartError
from homeward.settings import Settings
from monitoring.gateway_health import GatewayHealthConsumer

log = logging.getLogger(__name__)

# Longest wait for in-flight requests when stopping, in seconds.
GRACEFUL_SHUTDOWN_S = 5.0


class ServerThread:
    """uvicorn serving ``app`` on ``host:port`` (port 0: any free port) in a background thread.

    uvicorn installs signal handlers only in the main thread, so in this thread it leaves the
    process's signal handling (the command line's stop event) alone.
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise ServiceStartError("http", f"cannot listen on {host}:{port}: {exc}") from exc
        self.host = host
        self.port = int(self._sock.getsockname()[1])
        config = uvicorn.Config(
            app,
            log_config=None,  # keep the process's logging configuration
            lifespan="on",
            timeout_graceful_shutdown=int(GRACEFUL_SHUTDOWN_S),
            proxy_headers=True,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="http-server", daemon=True)
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # uvicorn exits with SystemExit when startup fails
            self.error = exc
            log.exception("HTTP server stopped with an error")

    def start(self, timeout_s: float = 20.0) -> None:
        """Start serving; returns once the app's startup (lifespan) is complete."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise ServiceStartError("http", f"server did not start: {self.error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise ServiceStartError("http", f"server not started after {timeout_s} s")
            time.sleep(0.02)

    def stop(self, timeout_s: float = GRACEFUL_SHUTDOWN_S + 5.0) -> None:
        """Close the event streams, finish in-flight requests, shut the lifespan down."""
        stream = getattr(self.app.state, "alert_stream", None)
        if stream is not None:
            stream.close_subscribers_threadsafe()
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(2.0)
        self._sock.close()


def serve(settings: Settings, stop: threading.Event) -> None:
    """Serve the API and the panel on ``settings.http_host:http_port`` and run the alert
    evaluator and (with ``settings.mqtt_url``) gateway health, until ``stop`` is set. Raises
    :class:`ServiceStartError` if the HTTP server cannot start or dies while running (after
    stopping the other threads), :class:`~homeward.errors.ConfigurationError` for a bad broker
    URL or gateway-status site."""
    # Settings are checked before the port is bound: a bad broker URL leaves nothing open.
    health = GatewayHealthConsumer(settings) if settings.mqtt_url else None
    if health is None:
        log.warning("no HOMEWARD_MQTT_URL: home gateways' status is not followed")
    server = ServerThread(create_app(settings), settings.http_host, settings.http_port)
    evaluator = AlertEvaluator(settings)
    workers = [
        threading.Thread(target=evaluator.run, args=(stop,), name="alert-evaluator", daemon=True)
    ]
    if health is not None:
        workers.append(
            threading.Thread(target=health.run, args=(stop,), name="gateway-health", daemon=True)
        )
    for worker in workers:
        worker.start()
    died = False
    try:
        server.start()
        log.info("Homeward panel at %s/", server.url)
        while not stop.wait(0.5):
            if not server.alive:
                log.error("the HTTP server stopped unexpectedly")
                died = True
                break
    finally:
        stop.set()
        server.stop()
        for worker in workers:
            worker.join(10.0)
            if worker.is_alive():
                log.error("%s did not stop within 10 s", worker.name)
    if died:
        raise ServiceStartError("http", f"server died: {server.error!r}")
