"""The access rules' two forms (SQL for queries, Python for the live stream) agree."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from homeward.auth import (
    Principal,
    can_see_gateway,
    can_see_patient,
    visible_gateways_sql,
    visible_patients_sql,
)
from homeward.users import Role
from monitoring import registry


def principal(user_id: int, role: Role, site_id: int | None) -> Principal:
    return Principal(user_id, f"u{user_id}", f"U{user_id}", role, site_id, b"")


def test_sql_and_python_access_rules_agree(conn: Any, make: Any) -> None:
    a = make.site()
    p1 = a.panel_id
    p2 = registry.create_panel(conn, site_id=a.site_id, name="P2")
    b_site = registry.create_site(conn, code=f"b-{make.tag}", name="B")
    p3 = registry.create_panel(conn, site_id=b_site, name="P3")

    def patient(mrn: str, site_id: int, panel_id: int | None) -> int:
        return registry.create_patient(
            conn, site_id=site_id, panel_id=panel_id, mrn=mrn, display_name=mrn.upper()
        )

    patients = {
        "a1": patient("a1", a.site_id, p1),
        "a2": patient("a2", a.site_id, p2),
        "a0": patient("a0", a.site_id, None),  # no panel: only the site admin sees it
        "b3": patient("b3", b_site, p3),
    }
    doctor = make.user(a, "doc")  # member of P1
    nurse = make.user(a, "nurse", role="nurse")  # P1 and P2
    registry.add_panel_member(conn, panel_id=p2, user_id=nurse)
    admin = make.user(a, "admin", role="site_admin", panel=False)
    ops = make.user(a, "ops", role="operator", panel=False)
    # Panel membership gives an operator nothing.
    registry.add_panel_member(conn, panel_id=p1, user_id=ops)
    principals = {
        "doctor": principal(doctor, "doctor", a.site_id),
        "nurse": principal(nurse, "nurse", a.site_id),
        "admin": principal(admin, "site_admin", a.site_id),
        "admin-without-site": principal(admin, "site_admin", None),
        "operator": principal(ops, "operator", a.site_id),
    }
    expected = {
        "doctor": {"a1"},
        "nurse": {"a1", "a2"},
        "admin": {"a1", "a2", "a0"},
        "admin-without-site": set(),
        "operator": set(),
    }
    facts = {
        row["id"]: (row["site_id"], row["members"])
        for row in conn.execute(
            "SELECT p.id, p.site_id, coalesce(array_agg(pm.user_id)"
            " FILTER (WHERE pm.user_id IS NOT NULL), '{}') AS members"
            " FROM patients p LEFT JOIN panel_members pm ON pm.panel_id = p.panel_id"
            " WHERE p.id = ANY(%s) GROUP BY p.id, p.site_id",
            (list(patients.values()),),
        )
    }
    name_of = {pid: name for name, pid in patients.items()}
    for who, p in principals.items():
        query = sql.SQL("SELECT p.id FROM patients p WHERE p.id = ANY({ids}) AND {visible}").format(
            ids=sql.Literal(list(patients.values())), visible=visible_patients_sql(p)
        )
        by_sql = {name_of[r["id"]] for r in conn.execute(query)}
        by_python = {
            name_of[pid]
            for pid, (site_id, members) in facts.items()
            if can_see_patient(p, patient_site_id=site_id, panel_member_ids=members)
        }
        assert by_sql == by_python == expected[who], who


def test_sql_and_python_gateway_rules_agree(conn: Any, make: Any) -> None:
    a = make.site()
    b_site = registry.create_site(conn, code=f"b-{make.tag}", name="B")
    gateways = {"ga": a.site_id, "gb": b_site}
    for name, site_id in gateways.items():
        registry.register_gateway(conn, gateway_id=f"{name}-{make.tag}", site_id=site_id)
    doctor = make.user(a, "doc")
    ops = make.user(a, "ops", role="operator", panel=False)
    principals = {
        "doctor": principal(doctor, "doctor", a.site_id),
        "operator": principal(ops, "operator", a.site_id),
        "admin-of-b": principal(ops, "site_admin", b_site),
        "no-site": principal(ops, "operator", None),
    }
    expected = {"doctor": {"ga"}, "operator": {"ga"}, "admin-of-b": {"gb"}, "no-site": set()}
    ids = [f"{name}-{make.tag}" for name in gateways]
    for who, p in principals.items():
        query = sql.SQL("SELECT g.id FROM gateways g WHERE g.id = ANY({ids}) AND {visible}").format(
            ids=sql.Literal(ids), visible=visible_gateways_sql(p)
        )
        by_sql = {r["id"].removesuffix(f"-{make.tag}") for r in conn.execute(query)}
        by_python = {
            name
            for name, site_id in gateways.items()
            if can_see_gateway(p, gateway_site_id=site_id)
        }
        assert by_sql == by_python == expected[who], who
