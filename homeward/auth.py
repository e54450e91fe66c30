"""Authentication (sessions) and the access rule for patient data.

Sessions
    ``POST /api/v1/auth/login`` checks username + password (scrypt, :mod:`homeward.passwords`)
    and creates a session: a random 256-bit token, stored only as its SHA-256 in
    ``user_sessions`` with an expiry ``settings.session_ttl_hours`` ahead. The token is returned
    in the JSON body (for API clients: ``Authorization: Bearer <token>``) and as an ``HttpOnly``,
    ``SameSite=Strict`` cookie (for the panel page; ``Secure`` in production). A Bearer header,
    when present, is the only credential looked at. ``POST /api/v1/auth/logout`` revokes the
    session; ``GET /api/v1/me`` describes the caller.

    A failed login is audited with its reason and answered with one uniform 401
    (``invalid-credentials``): unknown user, wrong password and disabled account are
    indistinguishable to the caller, including in time (an unknown user costs a scrypt check
    against a dummy hash too).

Access rule (one place, two forms that must agree: SQL for queries, Python for the live stream)
    * ``doctor`` / ``nurse``: patients of the panels they are members of;
    * ``site_admin``: every patient of their own site;
    * ``operator``: no patient (runs the service; sees no clinical data).

    Home gateways: every role sees the gateways registered at its own site (a user without a
    site sees none). A gateway's status names no patient; the patients shown beside a gateway
    follow the patient rule above.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Response, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from psycopg import sql
from pydantic import BaseModel, Field

from homeward import audit
from homeward.deps import ClientAddr, PoolDep, SettingsDep
from homeward.errors import AuthenticationError, InvalidCredentialsError, PermissionDeniedError
from homeward.passwords import hash_password, verify_password
from homeward.users import Role

SESSION_COOKIE = "homeward_session"
TOKEN_BYTES = 32  # 256 bits of randomness per session token

CLINICAL_ROLES: frozenset[str] = frozenset({"doctor", "nurse", "site_admin"})

# scrypt with the stored parameters needs 128 MiB per check: at most two at once, so that a
# burst of logins cannot exhaust memory.
_SCRYPT_SLOTS = threading.BoundedSemaphore(2)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: int
    username: str
    display_name: str
    role: Role
    site_id: int | None
    session_sha256: bytes

    @property
    def clinical(self) -> bool:
        """True when the role may see clinical data of some patients."""
        return self.role in CLINICAL_ROLES


def token_sha256(token: str) -> bytes:
    """What ``user_sessions`` stores of a token: tokens are never stored in the clear."""
    return hashlib.sha256(token.encode()).digest()


# --- the access rule -----------------------------------------------------------------------


def visible_patients_sql(principal: Principal, patients_alias: str = "p") -> sql.Composable:
    """A boolean SQL condition over the ``patients`` row aliased ``patients_alias``: true for
    the patients ``principal`` may see."""
    if principal.role in ("doctor", "nurse"):
        return sql.SQL(
            "{panel} IN (SELECT pm.panel_id FROM panel_members pm WHERE pm.user_id = {uid})"
        ).format(
            panel=sql.Identifier(patients_alias, "panel_id"), uid=sql.Literal(principal.user_id)
        )
    if principal.role == "site_admin" and principal.site_id is not None:
        return sql.SQL("{site} = {sid}").format(
            site=sql.Identifier(patients_alias, "site_id"), sid=sql.Literal(principal.site_id)
        )
    return sql.SQL("false")


def can_see_patient(
    principal: Principal, *, patient_site_id: int, panel_member_ids: Iterable[int]
) -> bool:
    """:func:`visible_patients_sql` in Python, for a patient of ``patient_site_id`` whose panel
    has the members ``panel_member_ids`` (empty when the patient has no panel)."""
    if principal.role in ("doctor", "nurse"):
        return principal.user_id in set(panel_member_ids)
    if principal.role == "site_admin":
        return principal.site_id is not None and principal.site_id == patient_site_id
    return False


def visible_gateways_sql(principal: Principal, gateways_alias: str = "g") -> sql.Composable:
    """A boolean SQL condition over the ``gateways`` row aliased ``gateways_alias``: true for
    the home gateways ``principal`` may see (those of its own site)."""
    if principal.site_id is None:
        return sql.SQL("false")
    return sql.SQL("{site} = {sid}").format(
        site=sql.Identifier(gateways_alias, "site_id"), sid=sql.Literal(principal.site_id)
    )


def can_see_gateway(principal: Principal, *, gateway_site_id: int) -> bool:
    """:func:`visible_gateways_sql` in Python, for a gateway registered at ``gateway_site_id``."""
    return principal.site_id is not None and principal.site_id == gateway_site_id


def require_live_view(principal: Principal) -> None:
    """Refuse (403) a caller who could see nothing on the live stream: neither patients nor
    gateways (no clinical role and no site)."""
    if not principal.clinical and principal.site_id is None:
        raise PermissionDeniedError(principal.role, "follow alerts or gateways")


def require_clinical(principal: Principal, action: str) -> None:
    """Refuse (403) a caller whose role sees no clinical data at all."""
    if not principal.clinical:
        raise PermissionDeniedError(principal.role, action)


# --- sessions ------------------------------------------------------------------------------


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def _check_password(password: str, stored: str | None) -> bool:
    with _SCRYPT_SLOTS:
        if stored is None:
            verify_password(password, _dummy_hash())  # same cost as a real check
            return False
        return verify_password(password, stored)


async def principal_for_token(conn: psycopg.AsyncConnection[Any], token: str) -> Principal | None:
    """The caller a session token belongs to, or None when it is unknown, expired or revoked
    or its user is disabled."""
    digest = token_sha256(token)
    cur = await conn.execute(
        "SELECT u.id, u.username, u.display_name, u.role, u.site_id"
        " FROM user_sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token_sha256 = %s AND s.revoked_at IS NULL AND s.expires_at > now()"
        " AND u.active",
        (digest,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    r = _as_dict(row)
    return Principal(
        user_id=int(r["id"]),
        username=str(r["username"]),
        display_name=str(r["display_name"]),
        role=r["role"],
        site_id=r["site_id"],
        session_sha256=digest,
    )


async def session_is_valid(conn: psycopg.AsyncConnection[Any], principal: Principal) -> bool:
    """True while ``principal``'s session is unexpired, unrevoked and its user active (long-lived
    streams re-check this periodically)."""
    cur = await conn.execute(
        "SELECT 1 FROM user_sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token_sha256 = %s AND s.revoked_at IS NULL AND s.expires_at > now()"
        " AND u.active",
        (principal.session_sha256,),
    )
    return await cur.fetchone() is not None


def _as_dict(row: Any) -> dict[str, Any]:
    # The app's pool returns dict rows; accept tuple-row connections too (tests, scripts).
    if isinstance(row, dict):
        return row
    keys = ("id", "username", "display_name", "role", "site_id")
    return dict(zip(keys, row, strict=False))


_bearer = HTTPBearer(auto_error=False, description="Session token from POST /api/v1/auth/login")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Session cookie")


async def current_principal(
    pool: PoolDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    """The authenticated caller; raises :class:`AuthenticationError` (401) otherwise."""
    token = bearer.credentials if bearer is not None else cookie
    if not token:
        raise AuthenticationError()
    async with pool.connection() as conn:
        principal = await principal_for_token(conn, token)
    if principal is None:
        raise AuthenticationError("session unknown, expired or revoked")
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


# --- routes --------------------------------------------------------------------------------


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


class Me(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    site_id: int | None
    clinical: bool = Field(description="False for operators, who see no clinical data")


class LoginResponse(BaseModel):
    token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2 token type name, not a secret
    expires_at: datetime
    user: Me


def _me(p: Principal) -> Me:
    return Me(
        id=p.user_id,
        username=p.username,
        display_name=p.display_name,
        role=p.role,
        site_id=p.site_id,
        clinical=p.clinical,
    )


router = APIRouter(tags=["auth"])


@router.post(
    "/auth/login",
    summary="Log in: get a session token (also set as a cookie)",
    responses={401: {"description": "invalid-credentials problem"}},
)
async def login(
    body: LoginRequest,
    response: Response,
    pool: PoolDep,
    settings: SettingsDep,
    addr: ClientAddr,
) -> LoginResponse:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id, username, display_name, role, site_id, password_hash, active"
            " FROM users WHERE username = %s",
            (body.username,),
        )
        user = await cur.fetchone()
        stored = user["password_hash"] if user is not None else None
        ok = await asyncio.to_thread(_check_password, body.password, stored)
        if user is None or not ok or not user["active"]:
            reason = "unknown-user" if user is None else "wrong-password" if not ok else "inactive"
            await audit.record(
                conn,
                [
                    audit.AuditEntry(
                        "auth.login_failed",
                        audit.ANONYMOUS,
                        actor_user_id=user["id"] if user is not None else None,
                        client_addr=addr,
                        detail={"username": body.username, "reason": reason},
                    )
                ],
            )
            await conn.commit()  # the refusal below rolls back; its record must stay
            raise InvalidCredentialsError(body.username)

        token = secrets.token_urlsafe(TOKEN_BYTES)
        digest = token_sha256(token)
        cur = await conn.execute(
            "INSERT INTO user_sessions (token_sha256, user_id, expires_at)"
            " VALUES (%s, %s, now() + make_interval(hours => %s)) RETURNING expires_at",
            (digest, user["id"], settings.session_ttl_hours),
        )
        created = await cur.fetchone()
        assert created is not None
        principal = Principal(
            user_id=int(user["id"]),
            username=user["username"],
            display_name=user["display_name"],
            role=user["role"],
            site_id=user["site_id"],
            session_sha256=digest,
        )
        await audit.record(
            conn,
            [
                audit.AuditEntry(
                    "auth.login", principal.username, principal.user_id, client_addr=addr
                )
            ],
        )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_ttl_hours * 3600,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.environment == "production",
    )
    return LoginResponse(token=token, expires_at=created["expires_at"], user=_me(principal))


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out: revoke the session used for this request",
)
async def logout(principal: CurrentUser, pool: PoolDep, addr: ClientAddr) -> Response:
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE user_sessions SET revoked_at = now()"
            " WHERE token_sha256 = %s AND revoked_at IS NULL",
            (principal.session_sha256,),
        )
        await audit.record(
            conn,
            [
                audit.AuditEntry(
                    "auth.logout", principal.username, principal.user_id, client_addr=addr
                )
            ],
        )
    out = Response(status_code=status.HTTP_204_NO_CONTENT)
    out.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return out


@router.get("/me", summary="Who am I")
async def me(principal: CurrentUser) -> Me:
    return _me(principal)
