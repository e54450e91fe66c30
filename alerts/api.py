"""The alerts HTTP API, mounted by :mod:`homeward.app` under ``/api/v1``.

Every route requires a session (:data:`homeward.auth.CurrentUser`), sees only alerts of patients
the caller may see (:func:`homeward.auth.visible_patients_sql`; anything else is a 404, so that
existence does not leak), and writes its audit rows in the same transaction as its read or change.
Operators, who see no clinical data, get 403 on the list and 404 on single alerts; on the stream
they receive only the gateway events of their site (:mod:`alerts.gateways_api`).

Server-sent events (``GET /alerts/stream``)::

    retry: 3000                        reconnect after 3 s
    event: ready                       subscribed; refetch the list now
    event: alert   data: {"alert_id": 12, "action": "opened"}    alert 12 changed: refetch
    event: gateways data: {"gateway_id": "gw-7f3a"}   a gateway's status changed: refetch gateways
    event: resync                      changes may have been missed: refetch
    event: session-ended               the session expired or was revoked: log in again
    event: closing                     the server is stopping: reconnect later
    : heartbeat                        every 15 s, keeps proxies from closing the connection
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from psycopg import sql

from alerts import lifecycle
from alerts.errors import AlertNotFoundError, AlertStateError
from alerts.models import (
    AlertEvent,
    AlertList,
    AlertPublic,
    AlertWithEvents,
    Evidence,
    PatientRef,
    ResolveRequest,
    StateFilter,
    UserRef,
)
from alerts.rules import describe_evidence
from alerts.stream import AlertStream, sse_events
from homeward import audit
from homeward.auth import (
    CurrentUser,
    Principal,
    require_clinical,
    require_live_view,
    session_is_valid,
)
from homeward.auth import visible_patients_sql as visible
from homeward.deps import ClientAddr, PoolDep

DEFAULT_HEARTBEAT_S = 15.0

_SELECT = sql.SQL(
    "SELECT a.id, a.patient_id, p.display_name AS patient_name, a.rule, a.severity, a.state,"
    " a.title, a.detail, a.evidence_start, a.evidence_end, a.opened_at, a.updated_at,"
    " a.acknowledged_at, a.acknowledged_by, ua.display_name AS acknowledged_by_name,"
    " a.resolved_at, a.resolved_by, ur.display_name AS resolved_by_name, a.resolution_note"
    " FROM alerts a JOIN patients p ON p.id = a.patient_id"
    " LEFT JOIN users ua ON ua.id = a.acknowledged_by"
    " LEFT JOIN users ur ON ur.id = a.resolved_by"
)

_STATE_CONDITION = {
    "active": sql.SQL("a.state <> 'resolved'"),
    "open": sql.SQL("a.state = 'open'"),
    "acknowledged": sql.SQL("a.state = 'acknowledged'"),
    "resolved": sql.SQL("a.state = 'resolved'"),
    "all": sql.SQL("true"),
}


def get_alert_stream(request: Request) -> AlertStream:
    stream: AlertStream = request.app.state.alert_stream
    return stream


AlertStreamDep = Annotated[AlertStream, Depends(get_alert_stream)]


def _user(user_id: int | None, name: str | None) -> UserRef | None:
    return None if user_id is None else UserRef(id=user_id, display_name=name or "")


def _public(row: dict[str, Any]) -> AlertPublic:
    return AlertPublic(
        id=row["id"],
        patient=PatientRef(id=row["patient_id"], display_name=row["patient_name"]),
        rule=row["rule"],
        severity=row["severity"],
        state=row["state"],
        title=row["title"],
        evidence=Evidence(
            start=row["evidence_start"],
            end=row["evidence_end"],
            summary=describe_evidence(row["rule"], row["detail"]),
            detail=row["detail"],
        ),
        opened_at=row["opened_at"],
        updated_at=row["updated_at"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=_user(row["acknowledged_by"], row["acknowledged_by_name"]),
        resolved_at=row["resolved_at"],
        resolved_by=_user(row["resolved_by"], row["resolved_by_name"]),
        resolution_note=row["resolution_note"],
    )


async def _visible_alert(
    conn: psycopg.AsyncConnection[Any], principal: Principal, alert_id: int
) -> dict[str, Any]:
    """The alert row if ``principal`` may see it; :class:`AlertNotFoundError` otherwise."""
    cur = await conn.execute(
        _SELECT
        + sql.SQL(" WHERE a.id = {id} AND {visible}").format(
            id=sql.Literal(alert_id), visible=visible(principal)
        )
    )
    row = await cur.fetchone()
    if row is None:
        raise AlertNotFoundError(alert_id)
    result: dict[str, Any] = row
    return result


def _entries(
    principal: Principal,
    action: str,
    rows: Sequence[dict[str, Any]],
    addr: str | None,
    detail: dict[str, Any] | None = None,
) -> list[audit.AuditEntry]:
    return [
        audit.AuditEntry(
            action,
            principal.username,
            principal.user_id,
            patient_id=r["patient_id"],
            object_type="alert",
            object_id=str(r["id"]),
            client_addr=addr,
            detail=detail or {},
        )
        for r in rows
    ]


async def _audit_refused(
    pool: PoolDep,
    principal: Principal,
    action: str,
    alert_id: int,
    patient_id: int | None,
    exc: Exception,
    addr: str | None,
) -> None:
    """Record a refused attempt (unknown/invisible alert, state conflict) in its own transaction:
    the request's transaction rolled back, the attempt still happened."""
    outcome = "not-found" if isinstance(exc, AlertNotFoundError) else "conflict"
    async with pool.connection() as conn:
        await audit.record(
            conn,
            _entries(
                principal,
                action,
                [{"id": alert_id, "patient_id": patient_id}],
                addr,
                {"outcome": outcome},
            ),
        )


router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("", summary="List alerts, most severe first, then newest first")
async def list_alerts(
    principal: CurrentUser,
    pool: PoolDep,
    addr: ClientAddr,
    state: Annotated[
        StateFilter, Query(description="'active' = open or acknowledged (the default)")
    ] = "active",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> AlertList:
    require_clinical(principal, "list alerts")
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            _SELECT
            + sql.SQL(
                " WHERE {visible} AND {state}"
                " ORDER BY a.severity_rank DESC, a.opened_at DESC, a.id DESC LIMIT {limit}"
            ).format(
                visible=visible(principal),
                state=_STATE_CONDITION[state],
                limit=sql.Literal(limit),
            )
        )
        rows = await cur.fetchall()
        await audit.record(conn, _entries(principal, "alert.list", rows, addr))
    return AlertList(state=state, items=[_public(r) for r in rows])


@router.get(
    "/stream",
    summary="Server-sent events: which alerts and gateways changed (protocol: module docs)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_alerts(
    request: Request,
    principal: CurrentUser,
    pool: PoolDep,
    addr: ClientAddr,
    hub: AlertStreamDep,
) -> StreamingResponse:
    require_live_view(principal)
    async with pool.connection() as conn:
        await audit.record(
            conn,
            [
                audit.AuditEntry(
                    "alert.stream", principal.username, principal.user_id, client_addr=addr
                )
            ],
        )
    # Subscribe before answering: nothing that changes after the client's first refetch (on
    # 'ready') can be missed.
    sub = hub.subscribe(principal)
    heartbeat_s: float = getattr(request.app.state, "sse_heartbeat_s", DEFAULT_HEARTBEAT_S)

    async def still_valid() -> bool:
        if await request.is_disconnected():
            return False
        async with pool.connection() as c:
            return await session_is_valid(c, principal)

    async def body() -> Any:
        try:
            async for chunk in sse_events(
                sub,
                heartbeat_s=heartbeat_s,
                still_valid=still_valid,
                listener_connected=lambda: hub.connected,
            ):
                yield chunk
        finally:
            sub.close()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/{alert_id}", summary="One alert with its history")
async def get_alert(
    alert_id: int, principal: CurrentUser, pool: PoolDep, addr: ClientAddr
) -> AlertWithEvents:
    try:
        async with pool.connection() as conn, conn.transaction():
            row = await _visible_alert(conn, principal, alert_id)
            cur = await conn.execute(
                "SELECT e.at, e.action, e.actor_user_id, u.display_name, e.note, e.detail"
                " FROM alert_events e LEFT JOIN users u ON u.id = e.actor_user_id"
                " WHERE e.alert_id = %s ORDER BY e.at, e.id",
                (alert_id,),
            )
            events = await cur.fetchall()
            await audit.record(conn, _entries(principal, "alert.read", [row], addr))
    except AlertNotFoundError as exc:
        await _audit_refused(pool, principal, "alert.read", alert_id, None, exc, addr)
        raise
    return AlertWithEvents(
        **_public(row).model_dump(),
        events=[
            AlertEvent(
                at=e["at"],
                action=e["action"],
                actor=_user(e["actor_user_id"], e["display_name"]),
                note=e["note"],
                detail=e["detail"],
            )
            for e in events
        ],
    )


@router.post(
    "/{alert_id}/acknowledge",
    summary="Acknowledge an open alert (idempotent on an acknowledged one)",
)
async def acknowledge_alert(
    alert_id: int, principal: CurrentUser, pool: PoolDep, addr: ClientAddr
) -> AlertPublic:
    patient_id: int | None = None
    try:
        async with pool.connection() as conn, conn.transaction():
            patient_id = (await _visible_alert(conn, principal, alert_id))["patient_id"]
            change = await lifecycle.acknowledge_async(conn, alert_id, user_id=principal.user_id)
            row = await _visible_alert(conn, principal, alert_id)
            await audit.record(
                conn,
                _entries(principal, "alert.acknowledge", [row], addr, {"outcome": change.outcome}),
            )
    except (AlertNotFoundError, AlertStateError) as exc:
        await _audit_refused(pool, principal, "alert.acknowledge", alert_id, patient_id, exc, addr)
        raise
    return _public(row)


@router.post("/{alert_id}/resolve", summary="Resolve an open or acknowledged alert, with a note")
async def resolve_alert(
    alert_id: int,
    body: ResolveRequest,
    principal: CurrentUser,
    pool: PoolDep,
    addr: ClientAddr,
) -> AlertPublic:
    patient_id: int | None = None
    try:
        async with pool.connection() as conn, conn.transaction():
            patient_id = (await _visible_alert(conn, principal, alert_id))["patient_id"]
            change = await lifecycle.resolve_async(
                conn, alert_id, user_id=principal.user_id, note=body.note
            )
            row = await _visible_alert(conn, principal, alert_id)
            await audit.record(
                conn,
                _entries(principal, "alert.resolve", [row], addr, {"outcome": change.outcome}),
            )
    except (AlertNotFoundError, AlertStateError) as exc:
        await _audit_refused(pool, principal, "alert.resolve", alert_id, patient_id, exc, addr)
        raise
    return _public(row)
