"""Fixtures shared by the device-side delivery tests (tests/gateway and tests/firmware-sim): an
ack responder standing in for the ingest on a real broker, and unique ids.

Both folders' conftest.py import them from here; the responder itself is
tests/gateway/ack_responder.py, loaded once under one module name for both.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def load_ack_responder() -> ModuleType:
    """tests/gateway/ack_responder.py, loaded once under one name for both test folders."""
    name = "homeward_tests_ack_responder"
    module = sys.modules.get(name)
    if module is None:
        path = Path(__file__).resolve().parent / "gateway" / "ack_responder.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


_responders = load_ack_responder()


@pytest.fixture
def tag() -> str:
    """A short id unique to this test, for sites, device ids and client ids on a shared broker."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def responder() -> Iterator[Callable[..., Any]]:
    """Start an AckResponder: ``responder(broker_url, site, **knobs)``; stopped after the test."""
    started: list[Any] = []

    def start(broker_url: str, site: str, **knobs: Any) -> Any:
        r = _responders.AckResponder(broker_url=broker_url, site=site, **knobs).start()
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


@pytest.fixture
def wait_for() -> Callable[..., bool]:
    """``wait_for(predicate, timeout_s)``: poll until true; returns the final value."""
    return _responders.wait_for  # type: ignore[no-any-return]
