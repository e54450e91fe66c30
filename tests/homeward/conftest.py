"""The HTTP app on a real uvicorn, for auth, problem-details, access and server tests.

Fixture names start with ``api`` so they do not collide with the command-line/demo tests that
share this folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from homeward.app import create_app
from homeward.server import ServerThread
from homeward.settings import Settings


@pytest.fixture
def api_settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path / "data")


@pytest.fixture
def api_server(api_settings: Settings) -> Iterator[ServerThread]:
    srv = ServerThread(create_app(api_settings))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def api(api_server: ServerThread) -> Iterator[httpx.Client]:
    """An httpx client of the running app; it keeps cookies like a browser."""
    with httpx.Client(base_url=api_server.url, timeout=30.0) as c:
        yield c
