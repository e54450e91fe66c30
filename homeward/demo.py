"""``homeward demo``: the whole system on one machine, with simulated patients.

Starts (unless ``HOMEWARD_DATABASE_URL`` / ``HOMEWARD_MQTT_URL`` point elsewhere) an embedded
PostgreSQL keeping its data under ``<data_dir>/demo/pgdata`` and an embedded MQTT broker; applies
the migrations; seeds a demo site (idempotently: a restart keeps every reading and alert); then
runs an ingest worker, the API with the alert panel and evaluator, and a fleet of simulated
wearables, one per patient. One COPD patient desaturates shortly after every start.

The wearables boot with up to ten minutes of history, as a device that was offline would: the
panel has data (and the desaturating patient's alert) within seconds rather than after the five
minutes the SpO2 rule needs. The history never reaches back before the newest stored reading, so
a quick restart does not produce a second copy of readings already stored.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from firmware_sim import DesaturationEvent, Scenario, WearableConfig, WearableFleet
from homeward.embedded import EmbeddedPostgres
from homeward.embedded_broker import EmbeddedBroker
from homeward.errors import ServiceStartError
from homeward.server import serve
from homeward.settings import Settings
from homeward.users import create_user
from monitoring import registry
from monitoring.ingest import run_ingest
from monitoring.schema import migrate

log = logging.getLogger(__name__)

SITE_CODE = "demo-chc"
SITE_NAME = "Demo Community Health Service Centre"
# Printed on start; the demo runs on loopback with simulated patients only.
DEMO_PASSWORD = "homeward-demo"  # noqa: S105
DATABASE = "homeward"
# The history a wearable brings when it boots (seconds); see the module docstring.
MAX_BACKFILL_S = 600.0
# How long, on Ctrl-C, the wearables get to deliver what they hold before the ingest stops (s).
DRAIN_TIMEOUT_S = 10.0

_SURNAMES = [
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Zhao",
    "Huang",
    "Zhou",
    "Wu",
    "Xu",
    "Sun",
    "Hu",
    "Zhu",
    "Gao",
    "Lin",
    "He",
    "Guo",
    "Ma",
    "Luo",
]
_GIVEN = [
    "Guilan",
    "Jianguo",
    "Xiuying",
    "Guoqiang",
    "Shufen",
    "Defu",
    "Yulan",
    "Baoshan",
    "Fengying",
    "Jianhua",
    "Suzhen",
    "Zhiqiang",
    "Cuiping",
    "Wenhua",
    "Yuzhen",
    "Changming",
    "Lihua",
    "Dehai",
    "Meiying",
    "Shulan",
]
# Which patient desaturates, by index: a COPD patient (every fifth one, from index 2).
DESATURATING_INDEX = 2


@dataclass(frozen=True, slots=True)
class DemoPatient:
    index: int
    mrn: str
    name: str
    device_id: str
    copd: bool
    panel: str
    birth_date: date

    @property
    def scenario(self) -> Scenario:
        if self.index == DESATURATING_INDEX:
            # Falls 60 s after boot to 84 % for 20 min (above the COPD floor of 88 % by less
            # than the critical margin: severity high); 45 min later a deeper episode (80 %,
            # critical) so the panel shows an escalation-worthy event after a first resolve.
            return Scenario.copd(
                desaturations=(
                    DesaturationEvent(after_s=60, duration_s=20 * 60, nadir_pct=84),
                    DesaturationEvent(after_s=45 * 60, duration_s=15 * 60, nadir_pct=80),
                )
            )
        return Scenario.copd() if self.copd else Scenario()


def demo_patients(count: int) -> list[DemoPatient]:
    """The demo's patients, deterministic for a given count (indexes are stable across runs)."""
    out = []
    for i in range(count):
        name = f"{_SURNAMES[i % len(_SURNAMES)]} {_GIVEN[(i * 7) % len(_GIVEN)]}"
        out.append(
            DemoPatient(
                index=i,
                mrn=f"DEMO-{i + 1:04d}",
                name=name,
                device_id=f"wr-{i + 1:04d}",
                copd=i % 5 == DESATURATING_INDEX % 5,
                panel="Family doctor team 1" if i % 2 == 0 else "Family doctor team 2",
                birth_date=date(1936 + (i * 11) % 25, 1 + i % 12, 1 + (i * 3) % 28),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class DemoLogin:
    username: str
    display_name: str
    role: str
    panels: tuple[str, ...]


LOGINS = (
    DemoLogin("dr.chen", "Dr Chen Hong", "doctor", ("Family doctor team 1",)),
    DemoLogin("dr.li", "Dr Li Na", "doctor", ("Family doctor team 2",)),
    DemoLogin("nurse.zhou", "Nurse Zhou Min", "nurse", ("Family doctor team 1",)),
    DemoLogin("admin", "Site administrator", "site_admin", ()),
)


def _scalar(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.cursor(row_factory=tuple_row).execute(query, params).fetchone()
    return None if row is None else row[0]


def seed(conn: psycopg.Connection[Any], patients: list[DemoPatient]) -> None:
    """Create the demo site, staff, panels, patients and devices that do not exist yet.

    Idempotent: existing rows are left as they are, so readings and alerts survive restarts.
    """
    with conn.transaction():
        site_id = _scalar(conn, "SELECT id FROM sites WHERE code = %s", (SITE_CODE,))
        if site_id is None:
            site_id = registry.create_site(conn, code=SITE_CODE, name=SITE_NAME)
        panels: dict[str, int] = {}
        for panel in sorted({p.panel for p in patients} | {n for u in LOGINS for n in u.panels}):
            pid = _scalar(
                conn, "SELECT id FROM panels WHERE site_id = %s AND name = %s", (site_id, panel)
            )
            panels[panel] = pid or registry.create_panel(conn, site_id=site_id, name=panel)
        for login in LOGINS:
            uid = _scalar(conn, "SELECT id FROM users WHERE username = %s", (login.username,))
            if uid is None:
                uid = create_user(
                    conn,
                    username=login.username,
                    display_name=login.display_name,
                    role=login.role,  # type: ignore[arg-type]
                    password=DEMO_PASSWORD,
                    site_id=site_id,
                )
            for panel in login.panels:
                registry.add_panel_member(conn, panel_id=panels[panel], user_id=uid)
        since = datetime.now(UTC) - timedelta(days=365)
        for p in patients:
            pid = _scalar(
                conn, "SELECT id FROM patients WHERE site_id = %s AND mrn = %s", (site_id, p.mrn)
            )
            if pid is None:
                pid = registry.create_patient(
                    conn,
                    site_id=site_id,
                    panel_id=panels[p.panel],
                    mrn=p.mrn,
                    display_name=p.name,
                    birth_date=p.birth_date,
                    sex="female" if p.index % 2 else "male",
                    conditions=["copd"] if p.copd else ["hypertension"],
                )
                if p.copd:
                    # BTS 2017 (doi:10.1136/thoraxjnl-2016-209729): 88-92 % target range for
                    # patients at risk of hypercapnic respiratory failure.
                    registry.set_target(
                        conn,
                        patient_id=pid,
                        metric="spo2",
                        low=88.0,
                        note="COPD: BTS 2017 target 88-92 %",
                    )
            registry.register_device(
                conn,
                device_id=p.device_id,
                site_id=site_id,
                kind="wearable",
                model="Homeward sim wrist HR/SpO2",
            )
            assigned = _scalar(
                conn,
                "SELECT count(*) FROM device_assignments WHERE device_id = %s",
                (p.device_id,),
            )
            if not assigned:
                registry.assign_device(
                    conn, device_id=p.device_id, patient_id=pid, valid_from=since
                )


def backfill_seconds(conn: psycopg.Connection[Any], device_ids: list[str], now: float) -> float:
    """How much history the wearables may bring: up to :data:`MAX_BACKFILL_S`, never reaching
    back before the newest reading already stored for them."""
    newest = _scalar(conn, "SELECT max(ts) FROM readings WHERE device_id = ANY(%s)", (device_ids,))
    if newest is None:
        return MAX_BACKFILL_S
    return max(0.0, min(MAX_BACKFILL_S, now - float(newest.timestamp())))


@contextlib.contextmanager
def _database(settings: Settings, data_dir: Path) -> Iterator[str]:
    if settings.database_url:
        yield settings.database_url
        return
    pg = EmbeddedPostgres(data_dir / "pgdata")
    admin_url = pg.start()
    try:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            if not _scalar(admin, "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)):
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        yield pg.url(DATABASE)
    finally:
        pg.stop()


@contextlib.contextmanager
def _broker(settings: Settings) -> Iterator[tuple[str, bool]]:
    if settings.mqtt_url:
        yield settings.mqtt_url, False
        return
    broker = EmbeddedBroker()
    url = broker.start()
    try:
        yield url, True
    finally:
        broker.stop()


def _thread(name: str, target: Callable[[], None], failed: threading.Event) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except Exception:
            log.exception("%s stopped with an error", name)
            failed.set()

    t = threading.Thread(target=run, name=name, daemon=True)
    t.start()
    return t


def _banner(url: str, patients: list[DemoPatient], db_url: str, mqtt_url: str) -> str:
    desat = patients[DESATURATING_INDEX] if len(patients) > DESATURATING_INDEX else None
    lines = [
        "",
        "Homeward demo is running.",
        f"  Alert panel:  {url}",
        f"  Log in as:    dr.chen / {DEMO_PASSWORD}   (team 1; also dr.li for team 2,"
        f" nurse.zhou, admin — same password)",
        f"  Patients:     {len(patients)} simulated, one wearable each (HR + SpO2 every 10 s)",
    ]
    if desat is not None:
        lines.append(
            f"  Watch:        {desat.name} (COPD, team 1, SpO2 floor 88 %) desaturates;"
            " the alert appears within a minute"
        )
    lines += [
        f"  Database:     {db_url}",
        f"  MQTT broker:  {mqtt_url}",
        "  Ctrl-C stops everything; the data stays for the next run.",
        "",
    ]
    return "\n".join(lines)


def run_demo(settings: Settings, stop: threading.Event, *, patients: int = 50) -> int:
    """Run the demo until ``stop`` is set; returns the process exit code."""
    if patients < 1:
        raise ServiceStartError("demo", "at least one patient is needed")
    for noisy in ("amqtt", "transitions", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    data_dir = settings.data_dir / "demo"
    people = demo_patients(patients)
    failed = threading.Event()
    with _database(settings, data_dir) as db_url, _broker(settings) as (mqtt_url, embedded):
        migrate(db_url, storage=settings.storage)
        with psycopg.connect(db_url) as conn:
            seed(conn, people)
            backfill = backfill_seconds(conn, [p.device_id for p in people], time.time())
        run_settings = settings.model_copy(
            update={
                "database_url": db_url,
                "mqtt_url": mqtt_url,
                "ingest_client_id": "homeward-demo-ingest",
                # amqtt has no shared subscriptions; a lone worker subscribes directly.
                "ingest_share_group": None if embedded else settings.ingest_share_group,
            }
        )
        # The services get their own stop event: on Ctrl-C the wearables hand over what they
        # hold first, while the ingest still runs, and only then do the services stop.
        services_stop = threading.Event()
        threads = [
            _thread("ingest", lambda: run_ingest(run_settings, services_stop), failed),
            _thread("server", lambda: serve(run_settings, services_stop), failed),
        ]
        fleet = WearableFleet(
            [(p.device_id, p.scenario) for p in people],
            site=SITE_CODE,
            broker_url=mqtt_url,
            config=WearableConfig(history_s=backfill),
        )
        fleet.start()
        url = f"http://{settings.http_host}:{settings.http_port}/"
        print(_banner(url, people, db_url, mqtt_url), flush=True)
        try:
            while not stop.wait(0.5):
                if failed.is_set() or not all(t.is_alive() for t in threads):
                    log.error("a demo component stopped; shutting down")
                    break
        finally:
            drained = fleet.stop(drain_timeout_s=DRAIN_TIMEOUT_S)
            if not drained:
                log.warning("wearables still held unacknowledged readings after the drain")
            services_stop.set()
            for t in threads:
                t.join(15.0)
    return 1 if failed.is_set() else 0
