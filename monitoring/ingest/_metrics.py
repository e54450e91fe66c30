"""What an ingest worker tells Prometheus, and the tiny HTTP listener that serves it.

The ingest is a process of its own (``homeward ingest``), so it serves its own ``/metrics``
(Prometheus text format) and ``/healthz`` (JSON; 200 when healthy, 503 otherwise) on
``settings.http_host`` : ``settings.ingest_metrics_port``. Each :class:`IngestMetrics` has its own
registry, so several workers in one process (tests, ``homeward demo``) never share counters.

Metric names (all prefixed ``homeward_ingest_``), units in the name as Prometheus asks:

=========================================  =========  =============================================
``messages_total{outcome}``                counter    messages committed: ``stored`` (a batch),
                                                      ``dead_lettered`` (refused whole)
``readings_total{outcome}``                counter    ``stored``, ``duplicate``, ``rejected``
``dead_letters_total{reason}``             counter    dead-letter rows written, by reason code
``transactions_total``                     counter    committed transactions (a group of messages)
``transaction_messages``                   histogram  messages per committed transaction
``receive_to_commit_seconds``              histogram  from the broker's delivery to the commit
``commit_to_ack_seconds``                  histogram  from the commit to the PUBACK handed to the
                                                      socket
``db_errors_total{kind}``                  counter    ``transient`` (retried) or ``refused``
                                                      (dead-lettered as ``storage_refused``)
``db_connects_total``                      counter    database connections opened
``broker_connects_total``                  counter    broker connections accepted (the first and
                                                      every reconnect)
``broker_connected``                       gauge      1 while subscribed
``inbox_messages`` / ``inbox_bytes``       gauge      received, waiting for their transaction
``oldest_unprocessed_age_seconds``         gauge      age of the oldest received message not yet
                                                      committed (0 when none): the lag
``last_commit_timestamp_seconds``          gauge      Unix time of the last commit
=========================================  =========  =============================================
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger("monitoring.ingest")

# Seconds. From a few milliseconds (one small batch on an idle database) to minutes (a worker
# working through a backlog behind a database outage).
_LATENCY_BUCKETS_S = (
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
_ACK_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
_GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class IngestMetrics:
    """The counters, gauges and histograms of one ingest worker, in a registry of their own.

    Gauges that describe the worker's current state (inbox, lag, connected) are read through
    callbacks at scrape time (:meth:`watch`), so they are never stale.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        p = "homeward_ingest_"
        self.messages = Counter(p + "messages", "Messages committed", ["outcome"], registry=r)
        self.readings = Counter(p + "readings", "Readings by outcome", ["outcome"], registry=r)
        self.dead_letters = Counter(
            p + "dead_letters", "Dead-letter rows written", ["reason"], registry=r
        )
        self.transactions = Counter(p + "transactions", "Committed transactions", registry=r)
        self.transaction_messages = Histogram(
            p + "transaction_messages",
            "Messages per committed transaction",
            buckets=_GROUP_BUCKETS,
            registry=r,
        )
        self.receive_to_commit = Histogram(
            p + "receive_to_commit_seconds",
            "From the broker's delivery of a message to the commit of its transaction",
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.commit_to_ack = Histogram(
            p + "commit_to_ack_seconds",
            "From the commit to the PUBACK handed to the broker connection",
            buckets=_ACK_BUCKETS_S,
            registry=r,
        )
        self.db_errors = Counter(p + "db_errors", "Database errors", ["kind"], registry=r)
        self.db_connects = Counter(p + "db_connects", "Database connections opened", registry=r)
        self.broker_connects = Counter(
            p + "broker_connects", "Broker connections accepted", registry=r
        )
        self.last_commit = Gauge(
            p + "last_commit_timestamp_seconds", "Unix time of the last commit", registry=r
        )
        self._broker_connected = Gauge(
            p + "broker_connected", "1 while subscribed to the broker", registry=r
        )
        self._inbox_messages = Gauge(
            p + "inbox_messages", "Received messages waiting for their transaction", registry=r
        )
        self._inbox_bytes = Gauge(
            p + "inbox_bytes", "Payload bytes waiting for their transaction", registry=r
        )
        self._oldest_age = Gauge(
            p + "oldest_unprocessed_age_seconds",
            "Age of the oldest received message not yet committed (0 when none)",
            registry=r,
        )
        for outcome in ("stored", "dead_lettered"):
            self.messages.labels(outcome)
        for outcome in ("stored", "duplicate", "rejected"):
            self.readings.labels(outcome)
        for kind in ("transient", "refused"):
            self.db_errors.labels(kind)

    def watch(
        self,
        *,
        connected: Callable[[], bool],
        inbox_messages: Callable[[], int],
        inbox_bytes: Callable[[], int],
        oldest_age_s: Callable[[], float],
    ) -> None:
        """Read the state gauges from these callbacks at every scrape."""
        self._broker_connected.set_function(lambda: 1.0 if connected() else 0.0)
        self._inbox_messages.set_function(lambda: float(inbox_messages()))
        self._inbox_bytes.set_function(lambda: float(inbox_bytes()))
        self._oldest_age.set_function(oldest_age_s)

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


class MetricsServer:
    """``/metrics`` and ``/healthz`` over HTTP/1.1 on ``host:port`` (0: a free port), in a daemon
    thread. ``health`` returns ``(healthy, details)``; details are served as JSON."""

    def __init__(
        self,
        metrics: IngestMetrics,
        health: Callable[[], tuple[bool, Mapping[str, Any]]],
        *,
        host: str,
        port: int,
    ) -> None:
        handler = _handler_class(metrics, health)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ingest-metrics", daemon=True
        )

    @property
    def port(self) -> int:
        """The port actually bound (useful when 0 was asked for)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics", self._server.server_address[0], self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler_class(
    metrics: IngestMetrics, health: Callable[[], tuple[bool, Mapping[str, Any]]]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, metrics.exposition())
            elif path == "/healthz":
                ok, details = health()
                body = json.dumps({"status": "ok" if ok else "unhealthy", **details}).encode()
                self._send(200 if ok else 503, "application/json", body)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # Scrapes every few seconds would flood the log; errors still go to log_error.
            return

    return Handler
