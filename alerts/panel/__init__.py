"""The doctor's alert panel: one static page (HTML + vanilla JS + CSS), no build step, no CDN.

Served by the app at ``/`` (the page) and ``/panel/{asset}`` (its script and stylesheet). The
page talks only to the API of the same origin: it logs in (the session cookie is HttpOnly, the
script never sees the token), lists active alerts and the home gateways needing attention
(``/api/v1/gateways?attention=true``), follows ``/api/v1/alerts/stream`` and refetches a list on
every event about it, and acknowledges/resolves through the API. A strict Content Security
Policy forbids every other origin and any inline script.
"""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.exceptions import HTTPException

# Only same-origin scripts, styles and connections; no inline script, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
    " img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

_ASSETS = {
    "panel.js": "text/javascript; charset=utf-8",
    "panel.css": "text/css; charset=utf-8",
}

_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The page is small; always fetch the current one after an upgrade.
    "Cache-Control": "no-cache",
}


@functools.cache
def _read(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


router = APIRouter(include_in_schema=False)


@router.api_route("/", methods=["GET", "HEAD"])
async def panel_page() -> Response:
    return Response(_read("index.html"), media_type="text/html; charset=utf-8", headers=_HEADERS)


@router.get("/panel/{name}")
async def panel_asset(name: str) -> Response:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, f"No panel asset {name!r}.")
    return Response(_read(name), media_type=media_type, headers=_HEADERS)
