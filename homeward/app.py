"""The HTTP application, assembled from each part's router (homeward is the composition root).

::

    /                       the alert panel page (alerts.panel)
    /panel/{asset}          its script and stylesheet
    /healthz                200 when the database answers, 503 problem otherwise
    /openapi.json           the API description
    /problems/{slug}        what each problem ``type`` means (homeward.problems)
    /api/v1/auth/...        login, logout (homeward.auth)
    /api/v1/me              the caller
    /api/v1/alerts/...      alerts and their live stream (alerts.api)
    /api/v1/gateways        home gateways of the caller's site (alerts.gateways_api)

The lifespan opens the async pool (:func:`homeward.db.make_async_pool`) and the process's single
listening connection (``alerts_changed``, ``gateways_changed``: :class:`alerts.stream.AlertStream`),
and closes both on shutdown.
Swagger UI and ReDoc are off: they load scripts from a CDN, and the panel promises none.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alerts.api import DEFAULT_HEARTBEAT_S
from alerts.api import router as alerts_router
from alerts.gateways_api import router as gateways_router
from alerts.panel import router as panel_router
from alerts.stream import DEFAULT_GATEWAY_SWEEP_S, AlertStream
from homeward import auth, problems
from homeward.db import make_async_pool
from homeward.deps import PoolDep
from homeward.errors import ConfigurationError
from homeward.settings import Settings

API_PREFIX = "/api/v1"
# A health check must answer quickly even when the database hangs.
_HEALTH_TIMEOUT_S = 3.0


class NoStoreMiddleware:
    """Adds ``Cache-Control: no-store`` to API responses: they carry patient data, which no
    browser or proxy cache may keep. Pure ASGI, so it does not buffer the event stream."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX + "/"):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"cache-control"]
                headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_no_store)


health_router = APIRouter(tags=["health"])


@health_router.get("/healthz", summary="Liveness and database reachability")
async def healthz(pool: PoolDep) -> dict[str, Any]:
    async def ping() -> None:
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")

    # A timeout or a refused connection becomes a 503 service-unavailable problem.
    await asyncio.wait_for(ping(), timeout=_HEALTH_TIMEOUT_S)
    return {"status": "ok", "database": "ok"}


def create_app(
    settings: Settings,
    *,
    sse_heartbeat_s: float = DEFAULT_HEARTBEAT_S,
    gateway_sweep_s: float = DEFAULT_GATEWAY_SWEEP_S,
) -> FastAPI:
    """The Homeward HTTP app for ``settings`` (``database_url`` is required).

    ``sse_heartbeat_s`` is the interval, in seconds, of the event stream's heartbeat comment
    and of its session re-check; ``gateway_sweep_s`` that of the search for gateways that just
    turned silent (:class:`alerts.stream.AlertStream`).
    """
    if not settings.database_url:
        raise ConfigurationError("HOMEWARD_DATABASE_URL", "the HTTP API needs a database")
    database_url = settings.database_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await make_async_pool(database_url, app="homeward-api")
        stream = AlertStream(database_url, pool, gateway_sweep_s=gateway_sweep_s)
        await stream.start()
        app.state.pool = pool
        app.state.alert_stream = stream
        try:
            yield
        finally:
            await stream.stop()
            await pool.close()

    app = FastAPI(
        title="Homeward",
        summary="Chronic-disease remote monitoring: alerts for the family doctor's panel",
        version="1.0",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.sse_heartbeat_s = sse_heartbeat_s
    problems.install_problem_handlers(app)
    app.add_middleware(NoStoreMiddleware)

    app.include_router(auth.router, prefix=API_PREFIX)
    app.include_router(alerts_router, prefix=API_PREFIX)
    app.include_router(gateways_router, prefix=API_PREFIX)
    app.include_router(problems.router)
    app.include_router(health_router)
    app.include_router(panel_router)
    return app
