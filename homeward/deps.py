"""FastAPI dependencies shared by every router: the pool, the settings, the client address.

The app's lifespan (:mod:`homeward.app`) puts the pool and the settings on ``app.state``; routes
declare what they need with these ``Annotated`` aliases instead of reaching for globals. The
authenticated caller is :data:`homeward.auth.CurrentUser`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool

from homeward.settings import Settings


def get_pool(request: Request) -> AsyncConnectionPool[Any]:
    """The app's async connection pool (rows as dicts)."""
    pool: AsyncConnectionPool[Any] = request.app.state.pool
    return pool


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def client_addr(request: Request) -> str | None:
    """The client's address as the server sees it (uvicorn honours X-Forwarded-For only from
    trusted proxies), for the audit log; None when unknown."""
    return request.client.host if request.client is not None else None


PoolDep = Annotated[AsyncConnectionPool[Any], Depends(get_pool)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientAddr = Annotated[str | None, Depends(client_addr)]
