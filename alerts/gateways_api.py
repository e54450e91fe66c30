"""The home gateways HTTP API, mounted by :mod:`homeward.app` under ``/api/v1``.

``GET /gateways`` lists the gateways registered at the caller's site (every role: operators run
them, doctors need to know when a home's readings stop), each with its state and issues as
:func:`alerts.gateways.assess_gateway` words them, most urgent first. The patients a gateway
serves are named only when the caller may see them (:func:`homeward.auth.visible_patients_sql`).
The list is audited in the same transaction as the read: one ``gateway.list`` row per gateway and
patient shown (one row without a patient for a gateway that names none).

Changes arrive on the alert stream as ``event: gateways`` (:mod:`alerts.stream`), including a
gateway turning *silent* (found by the stream's periodic sweep, since nothing is received then);
the panel then refetches this list.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from psycopg import sql
from pydantic import BaseModel, Field

from alerts.gateways import (
    GatewayAssessment,
    GatewayState,
    IssueSeverity,
    Urgency,
    assess_gateway,
    devices_view,
    outbox_view,
    urgency_order,
)
from alerts.models import PatientRef
from homeward import audit
from homeward.auth import CurrentUser, Principal, visible_gateways_sql
from homeward.auth import visible_patients_sql as visible_patients
from homeward.deps import ClientAddr, PoolDep

_SELECT = sql.SQL(
    "SELECT g.id AS gateway_id, g.label, g.site_id, s.code AS site_code, s.timezone,"
    " st.state, st.boot_id, st.seq, st.reported_at, st.received_at, st.last_heard_at,"
    " st.offline_since, st.heartbeat_interval_s, st.clock_offset_s, st.problems,"
    " st.problem_since, st.last_heartbeat, st.raw"
    " FROM gateways g JOIN sites s ON s.id = g.site_id"
    # A status stored while the gateway belonged to another site is not this site's.
    " LEFT JOIN gateway_status st ON st.gateway_id = g.id AND st.site_id = g.site_id"
    " WHERE {visible}"
)

# The patients whose devices a gateway reads now (open or current assignment periods).
_PATIENTS = sql.SQL(
    "SELECT DISTINCT d.gateway_id, p.id, p.display_name"
    " FROM devices d JOIN device_assignments a ON a.device_id = d.id"
    " AND a.valid_from <= now() AND (a.valid_to IS NULL OR a.valid_to > now())"
    " JOIN patients p ON p.id = a.patient_id"
    " WHERE d.gateway_id = ANY({ids}) AND {visible}"
    " ORDER BY d.gateway_id, p.display_name, p.id"
)


class GatewayIssueOut(BaseModel):
    code: str = Field(description="A heartbeat problem code, or offline, silent, ...")
    severity: IssueSeverity
    text: str = Field(description="One line for people, times in the site's zone")
    since: datetime | None = Field(description="When it started (UTC), if known")


class GatewayOutbox(BaseModel):
    """The gateway's outbox as of its latest heartbeat."""

    readings: int = Field(description="Readings held, not yet acknowledged by the ingest")
    max_readings: int | None = Field(description="The outbox bound")
    fill_pct: float | None = Field(description="readings / max_readings, in %")
    oldest_unsent_age_s: float | None = Field(
        description="Age of the oldest waiting reading now, in seconds (null: none waiting)"
    )
    refused_readings: int
    refused_clinical_readings: int
    thinned_readings: int


class GatewayDevice(BaseModel):
    device_id: str
    last_seen: datetime | None
    battery_pct: float | None = Field(description="Last battery level read, in %")
    clock_offset_s: float | None = Field(description="Seconds added to the device's times")


class GatewayPublic(BaseModel):
    gateway_id: str
    label: str | None
    site: str = Field(description="The site's code")
    state: GatewayState
    attention: bool = Field(description="True when an issue is a warning or worse")
    urgency: Urgency = Field(description="Severity of the worst issue")
    issues: list[GatewayIssueOut] = Field(description="Most severe first")
    patients: list[PatientRef] = Field(description="Patients it serves that you may see")
    boot_id: str | None
    seq: int | None = Field(description="Latest heartbeat number of this uplink run")
    reported_at: datetime | None = Field(description="The gateway's clock, latest sent_at")
    received_at: datetime | None = Field(description="When the stored status arrived")
    last_heard_at: datetime | None = Field(description="When its latest heartbeat arrived")
    offline_since: datetime | None
    heartbeat_interval_s: float | None
    clock_offset_s: float | None = Field(description="Gateway clock minus ours, in seconds")
    outbox: GatewayOutbox | None
    devices: list[GatewayDevice]
    problems: list[dict[str, Any]] = Field(description="The latest heartbeat's problems, as sent")


class GatewayList(BaseModel):
    attention: bool = Field(description="True when only gateways needing attention are listed")
    items: list[GatewayPublic] = Field(description="Most urgent first, then newest trouble")


def _public(
    row: dict[str, Any], a: GatewayAssessment, patients: list[PatientRef], now: datetime
) -> GatewayPublic:
    outbox = outbox_view(row, now)
    return GatewayPublic(
        gateway_id=row["gateway_id"],
        label=row["label"],
        site=row["site_code"],
        state=a.state,
        attention=a.attention,
        urgency=a.urgency,
        issues=[
            GatewayIssueOut(code=i.code, severity=i.severity, text=i.text, since=i.since)
            for i in a.issues
        ],
        patients=patients,
        boot_id=row["boot_id"],
        seq=row["seq"],
        reported_at=row["reported_at"],
        received_at=row["received_at"],
        last_heard_at=row["last_heard_at"],
        offline_since=row["offline_since"],
        heartbeat_interval_s=row["heartbeat_interval_s"],
        clock_offset_s=row["clock_offset_s"],
        outbox=None if outbox is None else GatewayOutbox(**outbox),
        devices=[GatewayDevice(**d) for d in devices_view(row)],
        problems=row["problems"] or [],
    )


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _audit_entries(
    principal: Principal,
    items: list[GatewayPublic],
    addr: str | None,
    attention: bool,
) -> list[audit.AuditEntry]:
    entries = []
    for item in items:
        patient_ids: list[int | None] = [p.id for p in item.patients] or [None]
        for patient_id in patient_ids:
            entries.append(
                audit.AuditEntry(
                    "gateway.list",
                    principal.username,
                    principal.user_id,
                    patient_id=patient_id,
                    object_type="gateway",
                    object_id=item.gateway_id,
                    client_addr=addr,
                    detail={"attention": attention},
                )
            )
    return entries


router = APIRouter(prefix="/gateways", tags=["gateways"])


@router.get("", summary="Home gateways of your site, most urgent first")
async def list_gateways(
    principal: CurrentUser,
    pool: PoolDep,
    addr: ClientAddr,
    attention: Annotated[
        bool, Query(description="Only gateways needing attention (an issue of warning or worse)")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> GatewayList:
    now = datetime.now(UTC)
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(_SELECT.format(visible=visible_gateways_sql(principal)))
        rows = await cur.fetchall()
        assessed = {
            r["gateway_id"]: (r, assess_gateway(r, now=now, zone=_zone(r["timezone"])))
            for r in rows
        }
        order = sorted(
            ((gid, a) for gid, (_, a) in assessed.items() if a.attention or not attention),
            key=urgency_order,
        )[:limit]
        patients: dict[str, list[PatientRef]] = {}
        if order:
            cur = await conn.execute(
                _PATIENTS.format(
                    ids=sql.Literal([gid for gid, _ in order]), visible=visible_patients(principal)
                )
            )
            for p in await cur.fetchall():
                patients.setdefault(p["gateway_id"], []).append(
                    PatientRef(id=p["id"], display_name=p["display_name"])
                )
        items = [_public(assessed[gid][0], a, patients.get(gid, []), now) for gid, a in order]
        await audit.record(conn, _audit_entries(principal, items, addr, attention))
    return GatewayList(attention=attention, items=items)
