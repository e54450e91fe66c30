"""Errors as RFC 9457 problem details, mapped in one place.

Every error response of the HTTP API is ``application/problem+json``::

    {"type": "/problems/not-found", "title": "Not found", "status": 404,
     "detail": "No alert 12 that you may see.", "instance": "/api/v1/alerts/12"}

``type`` is stable: clients branch on it, never on ``title`` or ``detail``. It is a relative URI
reference; ``GET /problems/{slug}`` answers with the type's description, so each type documents
itself. Typed exceptions raised anywhere below the routes (``alerts.errors``, ``homeward.errors``,
validation, the database) are translated here, choosing the most specific class along the
exception's MRO; anything unmapped is a 500 ``internal-error`` whose detail reveals nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from alerts.errors import AlertNotFoundError, AlertStateError
from homeward.errors import AuthenticationError, InvalidCredentialsError, PermissionDeniedError

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "/problems/"


@dataclass(frozen=True, slots=True)
class ProblemType:
    """One kind of problem: its stable slug, HTTP status, short title and what it means."""

    slug: str
    status: int
    title: str
    description: str

    @property
    def uri(self) -> str:
        return TYPE_PREFIX + self.slug


_TYPES = (
    ProblemType(
        "unauthenticated",
        401,
        "Authentication required",
        "The request has no valid session. Log in (POST /api/v1/auth/login) and send the token"
        " as 'Authorization: Bearer <token>' or the session cookie. Sessions expire.",
    ),
    ProblemType(
        "invalid-credentials",
        401,
        "Login refused",
        "Unknown username or wrong password. The answer is the same whatever the reason.",
    ),
    ProblemType(
        "forbidden",
        403,
        "Not allowed for your role",
        "Your role may not use this route (operators see no clinical data).",
    ),
    ProblemType(
        "not-found",
        404,
        "Not found",
        "No such resource, or none that you may see: patients and alerts outside your panels"
        " or site answer 404 so that their existence does not leak.",
    ),
    ProblemType(
        "method-not-allowed",
        405,
        "Method not allowed",
        "The route exists but not with this HTTP method.",
    ),
    ProblemType(
        "alert-state-conflict",
        409,
        "Alert state does not allow this",
        "The alert's current state does not allow the action (e.g. acknowledging or resolving"
        " an alert that is already resolved). Reload the alert and decide again.",
    ),
    ProblemType(
        "validation-error",
        422,
        "Invalid request",
        "The request body, path or query is not valid; 'errors' lists each problem with its"
        " location.",
    ),
    ProblemType(
        "http-error",
        400,
        "HTTP error",
        "A protocol-level error; 'status' carries the HTTP status.",
    ),
    ProblemType(
        "service-unavailable",
        503,
        "Service unavailable",
        "The database cannot be reached right now. Retry shortly.",
    ),
    ProblemType(
        "internal-error",
        500,
        "Internal error",
        "An unexpected error. It has been logged; the response reveals nothing more.",
    ),
)

PROBLEM_TYPES: Mapping[str, ProblemType] = {t.slug: t for t in _TYPES}

# Exception class -> problem slug. The most specific class along the MRO wins.
_BY_EXCEPTION: Mapping[type[Exception], str] = {
    AuthenticationError: "unauthenticated",
    InvalidCredentialsError: "invalid-credentials",
    PermissionDeniedError: "forbidden",
    AlertNotFoundError: "not-found",
    AlertStateError: "alert-state-conflict",
    RequestValidationError: "validation-error",
    psycopg.OperationalError: "service-unavailable",
    PoolTimeout: "service-unavailable",
    TimeoutError: "service-unavailable",  # e.g. the health check's database ping
}

_BY_STATUS: Mapping[int, str] = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    422: "validation-error",
    503: "service-unavailable",
}


def problem_for(exc: BaseException) -> ProblemType | None:
    """The problem type mapped to ``exc``'s most specific class, or None."""
    for cls in type(exc).__mro__:
        slug = _BY_EXCEPTION.get(cls)
        if slug is not None:
            return PROBLEM_TYPES[slug]
    return None


def problem_response(
    problem: ProblemType,
    *,
    detail: str,
    instance: str | None = None,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """A problem-details response of ``problem`` (``status`` overrides the type's default)."""
    body: dict[str, Any] = {
        "type": problem.uri,
        "title": problem.title,
        "status": status or problem.status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    if extensions:
        body.update(extensions)
    out_headers = dict(headers or {})
    if body["status"] == 401:
        # RFC 9110 section 11.6.1: a 401 names the scheme the client should use.
        out_headers.setdefault("WWW-Authenticate", 'Bearer realm="homeward"')
    return JSONResponse(
        body, status_code=body["status"], media_type=MEDIA_TYPE, headers=out_headers
    )


def _detail(exc: BaseException, problem: ProblemType) -> str:
    if isinstance(exc, AlertNotFoundError):
        return f"No alert {exc.alert_id} that you may see."
    if isinstance(exc, AlertStateError):
        return f"Alert {exc.alert_id} is {exc.state}; it cannot be {_past(exc.action)} now."
    if isinstance(exc, InvalidCredentialsError):
        return "Unknown username or wrong password."
    if isinstance(exc, AuthenticationError | PermissionDeniedError):
        return str(exc).capitalize() + "."
    # Database and anything else: never echo internals to the client.
    return problem.description


def _past(action: str) -> str:
    return {"acknowledge": "acknowledged", "resolve": "resolved"}.get(action, action + "d")


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Location, message and code only: the offending 'input' may be a password.
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "code": e.get("type")}
        for e in exc.errors()
    ]


async def _handle_mapped(request: Request, exc: Exception) -> JSONResponse:
    problem = problem_for(exc) or PROBLEM_TYPES["internal-error"]
    extensions: dict[str, Any] = {}
    if isinstance(exc, RequestValidationError):
        extensions["errors"] = _validation_errors(exc)
        detail = "The request is not valid."
    else:
        detail = _detail(exc, problem)
    if problem.status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc, exc_info=exc)
    return problem_response(
        problem, detail=detail, instance=request.url.path, extensions=extensions
    )


async def _handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    problem = PROBLEM_TYPES[_BY_STATUS.get(exc.status_code, "http-error")]
    detail = exc.detail if isinstance(exc.detail, str) else problem.description
    return problem_response(
        problem,
        detail=detail,
        instance=request.url.path,
        status=exc.status_code,
        headers=exc.headers,
    )


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    mapped = problem_for(exc)
    if mapped is not None:
        return await _handle_mapped(request, exc)
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    problem = PROBLEM_TYPES["internal-error"]
    return problem_response(problem, detail=problem.description, instance=request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with problem details."""
    for cls in _BY_EXCEPTION:
        app.add_exception_handler(cls, _handle_mapped)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(Exception, _handle_unexpected)


router = APIRouter(prefix="/problems", tags=["problems"])


@router.get("/{slug}", summary="Describe a problem type")
async def describe_problem(slug: str) -> dict[str, Any]:
    """What a problem ``type`` means; 404 problem for an unknown slug."""
    problem = PROBLEM_TYPES.get(slug)
    if problem is None:
        raise StarletteHTTPException(404, f"No problem type {slug!r}.")
    return {
        "type": problem.uri,
        "title": problem.title,
        "status": problem.status,
        "description": problem.description,
    }
