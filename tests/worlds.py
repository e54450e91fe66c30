"""Test worlds: sites, patients, devices and users with ids unique to one test.

Lives outside conftest.py so test modules can import the types (``from worlds import Make``);
pytest puts ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from homeward.users import create_user
from monitoring import registry


@dataclass
class World:
    """What :class:`Make` created for one test, with ids unique to that test."""

    site_id: int
    site_code: str
    panel_id: int
    patients: dict[str, int] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)


class Make:
    """Creates sites, patients, devices and users with ids unique to the calling test."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.tag = uuid.uuid4().hex[:8]

    def site(self, *, timezone: str = "Asia/Shanghai") -> World:
        code = f"site-{self.tag}"
        site_id = registry.create_site(
            self.conn, code=code, name=f"Test site {self.tag}", timezone=timezone
        )
        panel_id = registry.create_panel(self.conn, site_id=site_id, name="Panel A")
        return World(site_id=site_id, site_code=code, panel_id=panel_id)

    def patient(self, world: World, name: str, **targets: tuple[float | None, float | None]) -> int:
        pid = registry.create_patient(
            self.conn,
            site_id=world.site_id,
            panel_id=world.panel_id,
            mrn=f"{name}-{self.tag}",
            display_name=name.title(),
        )
        for metric, (low, high) in targets.items():
            registry.set_target(self.conn, patient_id=pid, metric=metric, low=low, high=high)
        world.patients[name] = pid
        return pid

    def device(
        self,
        world: World,
        patient: str | None,
        name: str,
        *,
        kind: str = "wearable",
        since: datetime | None = None,
        gateway_id: str | None = None,
    ) -> str:
        device_id = f"{name}-{self.tag}"
        if gateway_id is not None:
            registry.register_gateway(self.conn, gateway_id=gateway_id, site_id=world.site_id)
        registry.register_device(
            self.conn,
            device_id=device_id,
            site_id=world.site_id,
            kind=kind,
            gateway_id=gateway_id,
        )
        if patient is not None:
            registry.assign_device(
                self.conn,
                device_id=device_id,
                patient_id=world.patients[patient],
                valid_from=since or datetime.now(UTC) - timedelta(days=30),
            )
        world.devices[name] = device_id
        return device_id

    def user(self, world: World, name: str, *, role: str = "doctor", panel: bool = True) -> int:
        uid = create_user(
            self.conn,
            username=f"{name}-{self.tag}",
            display_name=name.title(),
            role=role,  # type: ignore[arg-type]
            password=f"pw-{name}-{self.tag}",
            site_id=world.site_id,
        )
        if panel:
            registry.add_panel_member(self.conn, panel_id=world.panel_id, user_id=uid)
        world.users[name] = uid
        return uid

    def password(self, name: str) -> str:
        """The password :meth:`user` gave ``name``."""
        return f"pw-{name}-{self.tag}"

    def username(self, name: str) -> str:
        return f"{name}-{self.tag}"
