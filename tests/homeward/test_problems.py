"""Every error is RFC 9457 problem details with a stable, self-describing ``type``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeward.app import create_app
from homeward.problems import PROBLEM_TYPES
from homeward.server import ServerThread
from homeward.settings import Settings


def problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert set(body) >= {"type", "title", "status", "detail"}
    assert (body["type"], body["status"]) == (f"/problems/{slug}", status)
    return body


def test_unknown_routes_and_methods(api: httpx.Client) -> None:
    body = problem(api.get("/api/v1/nothing-here"), 404, "not-found")
    assert body["instance"] == "/api/v1/nothing-here"
    problem(api.get("/api/v1/auth/login"), 405, "method-not-allowed")


def test_validation_errors_list_locations_and_never_echo_input(api: httpx.Client) -> None:
    r = api.post("/api/v1/auth/login", json={"password": "s3cret-do-not-echo"})
    body = problem(r, 422, "validation-error")
    assert body["errors"] == [
        {"loc": ["body", "username"], "msg": "Field required", "code": "missing"}
    ]
    assert "s3cret-do-not-echo" not in r.text
    problem(api.post("/api/v1/auth/login", content=b"{not json"), 422, "validation-error")


def test_every_problem_type_describes_itself(api: httpx.Client) -> None:
    for slug, ptype in PROBLEM_TYPES.items():
        r = api.get(f"/problems/{slug}")
        assert r.status_code == 200
        assert r.json()["type"] == ptype.uri == f"/problems/{slug}"
        assert r.json()["description"]
    problem(api.get("/problems/no-such-type"), 404, "not-found")


def test_an_unexpected_error_reveals_nothing(api_settings: Settings) -> None:
    app = create_app(api_settings)

    async def boom() -> None:
        raise RuntimeError("password=hunter2 in a traceback")

    app.add_api_route("/api/v1/boom", boom)
    srv = ServerThread(app)
    srv.start()
    try:
        r = httpx.get(srv.url + "/api/v1/boom")
    finally:
        srv.stop()
    body = problem(r, 500, "internal-error")
    assert "hunter2" not in r.text
    assert body["detail"] == PROBLEM_TYPES["internal-error"].description


def test_health_reports_the_database(api: httpx.Client) -> None:
    r = api.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok"}


@pytest.fixture
def app_without_database(tmp_path: Path) -> Iterator[ServerThread]:
    settings = Settings(
        database_url="postgresql://postgres@127.0.0.1:5432/homeward_does_not_exist",
        data_dir=tmp_path,
    )
    srv = ServerThread(create_app(settings))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_health_is_503_when_the_database_is_unreachable(
    app_without_database: ServerThread,
) -> None:
    r = httpx.get(app_without_database.url + "/healthz", timeout=10)
    problem(r, 503, "service-unavailable")


def test_openapi_describes_the_api_and_its_auth(api: httpx.Client) -> None:
    spec = api.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/alerts",
        "/api/v1/alerts/stream",
        "/api/v1/alerts/{alert_id}",
        "/api/v1/alerts/{alert_id}/acknowledge",
        "/api/v1/alerts/{alert_id}/resolve",
        "/healthz",
    } <= paths
    schemes = spec["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    # No third-party documentation UI (it would load scripts from a CDN).
    assert api.get("/docs").status_code == 404
