"""Shared fixtures of the whole-system tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from e2e_system import wait_for

from homeward.embedded import free_port
from homeward.server import serve
from homeward.settings import Settings
from monitoring.ingest import IngestWorker


@pytest.fixture
def running_system(settings: Settings) -> Iterator[tuple[Settings, str]]:
    """Ingest worker + API + evaluator (as ``homeward ingest`` and ``homeward serve``)."""
    port = free_port()
    run = settings.model_copy(update={"http_port": port})
    stop = threading.Event()
    worker = IngestWorker(run)
    threads = [
        threading.Thread(target=worker.run, args=(stop,), daemon=True),
        threading.Thread(target=serve, args=(run, stop), daemon=True),
    ]
    for t in threads:
        t.start()
    assert worker.subscribed.wait(15), "ingest did not subscribe"
    base = f"http://127.0.0.1:{port}"
    assert wait_for(lambda: _healthy(base), 20), "API did not come up"
    try:
        yield run, base
    finally:
        stop.set()
        for t in threads:
            t.join(20)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
