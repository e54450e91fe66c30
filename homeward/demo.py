"""``homeward demo``: the whole system on one machine, with simulated patients.

Starts (unless ``HOMEWARD_DATABASE_URL`` / ``HOMEWARD_MQTT_URL`` point elsewhere) an embedded
PostgreSQL keeping its data under ``<data_dir>/demo/pgdata`` and an embedded MQTT broker; applies
the migrations; seeds a demo site (idempotently: a restart keeps every reading and alert); then
runs an ingest worker, the API with the alert panel and evaluator, a fleet of simulated Wi-Fi
wearables, one per patient, and a few home gateways reading emulated Bluetooth devices
(:mod:`homeward.demo_homes`: diabetic patients' glucometers, a blood-pressure cuff), each with its
outbox and bond keys under ``<data_dir>/demo/gateway/<gateway id>/``. One COPD patient
desaturates shortly after every start; one diabetic patient's meter holds a 2.8 mmol/L
fingerstick taken a few minutes before every start (a hypoglycaemia alert).

The wearables boot with up to ten minutes of history, as a device that was offline would: the
panel has data (and the desaturating patient's alert) within seconds rather than after the five
minutes the SpO2 rule needs. The history never reaches back before the newest stored reading, so
a quick restart does not produce a second copy of readings already stored. What the emulated
Bluetooth devices hold is the same at every start, plus one new fingerstick with the next record
number (:mod:`homeward.demo_homes`), so a restart stores none of their readings twice either.

On Ctrl-C the gateways' Bluetooth sides and the wearables stop first, their readings drain to the
ingest (at most :data:`DRAIN_TIMEOUT_S`), the gateways go offline, and only then do the ingest and
the server stop.
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
from homeward.demo_homes import (
    HYPO_BEFORE_START_S,
    HYPO_MMOL_L,
    DemoGateway,
    DemoHome,
    close_gateways,
    demo_homes,
    plan_meters,
    seed_homes,
    stop_radios,
)
from homeward.embedded import EmbeddedPostgres
from homeward.embedded_broker import EmbeddedBroker
from homeward.errors import ServiceStartError
from homeward.server import serve
from homeward.settings import Settings
from homeward.users import create_user
from monitoring import registry
from monitoring.ingest import IngestWorker
from monitoring.schema import migrate

log = logging.getLogger(__name__)

SITE_CODE = "demo-chc"
SITE_NAME = "Demo Community Health Service Centre"
# Printed on start; the demo runs on loopback with simulated patients only.
DEMO_PASSWORD = "homeward-demo"  # noqa: S105
DATABASE = "homeward"
# The history a wearable brings when it boots (seconds); see the module docstring.
MAX_BACKFILL_S = 600.0
# How long, on Ctrl-C, the wearables and then the gateways each get to deliver what they hold
# before the ingest stops (s).
DRAIN_TIMEOUT_S = 10.0
# How long the devices wait for the ingest's subscription before starting anyway (s): a reading
# published before it is resent after the ack timeout, a first alert delayed by half a minute.
SUBSCRIBE_TIMEOUT_S = 30.0
# How long the demo waits for the devices' MQTT connections, one group after the other, and the
# pause between two groups (s): see run_demo.
CONNECT_TIMEOUT_S = 10.0
CONNECT_SETTLE_S = 0.2

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
    diabetic: bool
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
    """The demo's patients, deterministic for a given count (indexes are stable across runs);
    those with a home gateway (:func:`homeward.demo_homes.demo_homes`) are diabetic."""
    with_meter = {home.patient_index for home in demo_homes(count)}
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
                diabetic=i in with_meter,
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


def _conditions(p: DemoPatient) -> list[str]:
    return ["copd" if p.copd else "hypertension"] + (["type2_diabetes"] if p.diabetic else [])


def seed(
    conn: psycopg.Connection[Any],
    patients: list[DemoPatient],
    homes: list[DemoHome],
    *,
    now_s: float,
) -> dict[int, int]:
    """Create the demo site, staff, panels, patients, home gateways and devices that do not
    exist yet (``now_s``: epoch s, from which a new meter's history is dated); returns the
    patients' ids by index.

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
        ids: dict[int, tuple[int, str]] = {}
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
                    conditions=_conditions(p),
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
            ids[p.index] = (pid, p.name)
        seed_homes(conn, site_id=site_id, homes=homes, patients=ids, now_s=now_s)
    return {index: pid for index, (pid, _name) in ids.items()}


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


def _device_counts(homes: list[DemoHome]) -> str:
    names = {"glucometer": ("glucometer", "glucometers"), "bp_cuff": ("BP cuff", "BP cuffs")}
    counts: dict[str, int] = {}
    for device in (d for h in homes for d in h.devices):
        counts[device.kind] = counts.get(device.kind, 0) + 1
    return ", ".join(f"{n} {names[k][n != 1]}" for k, n in counts.items())


def _banner(
    url: str, patients: list[DemoPatient], homes: list[DemoHome], db_url: str, mqtt_url: str
) -> str:
    desat = patients[DESATURATING_INDEX] if len(patients) > DESATURATING_INDEX else None
    hypo = next((patients[h.patient_index] for h in homes if h.hypo), None)
    lines = [
        "",
        "Homeward demo is running.",
        f"  Alert panel:  {url}",
        f"  Log in as:    dr.chen / {DEMO_PASSWORD}   (team 1; also dr.li for team 2,"
        f" nurse.zhou, admin — same password)",
        f"  Patients:     {len(patients)} simulated, one Wi-Fi wearable each"
        " (HR + SpO2 every 10 s)",
    ]
    if homes:
        lines.append(
            f"  Gateways:     {len(homes)} home{'s' if len(homes) != 1 else ''} with a gateway"
            f" reading emulated Bluetooth devices ({_device_counts(homes)});"
            f" listed at {url}api/v1/gateways"
        )
    watch = "  Watch:        "
    if desat is not None:
        lines.append(
            f"{watch}{desat.name} (COPD, {_team(desat)}, SpO2 floor 88 %) desaturates;"
            " the alert appears within a minute"
        )
        watch = " " * len(watch)
    if hypo is not None:
        lines += [
            f"{watch}{hypo.name} (diabetes, {_team(hypo)}): a glucometer test of {HYPO_MMOL_L}"
            f" mmol/L taken {HYPO_BEFORE_START_S // 60} min before start,",
            f"{' ' * len(watch)}read over Bluetooth by the home gateway; the hypoglycaemia alert"
            " appears within a minute",
        ]
    lines += [
        f"  Database:     {db_url}",
        f"  MQTT broker:  {mqtt_url}",
        "  Ctrl-C stops everything; the data stays for the next run.",
        "",
    ]
    return "\n".join(lines)


def _team(p: DemoPatient) -> str:
    return "team 1" if p.panel == "Family doctor team 1" else "team 2"


def run_demo(settings: Settings, stop: threading.Event, *, patients: int = 50) -> int:
    """Run the demo until ``stop`` is set; returns the process exit code."""
    if patients < 1:
        raise ServiceStartError("demo", "at least one patient is needed")
    for noisy in ("amqtt", "transitions", "uvicorn.access", "bumble"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    data_dir = settings.data_dir / "demo"
    people = demo_patients(patients)
    homes = demo_homes(patients)
    failed = threading.Event()
    with _database(settings, data_dir) as db_url, _broker(settings) as (mqtt_url, embedded):
        migrate(db_url, storage=settings.storage)
        now_s = time.time()
        with psycopg.connect(db_url) as conn:
            patient_ids = seed(conn, people, homes, now_s=now_s)
            backfill = backfill_seconds(conn, [p.device_id for p in people], now_s)
            meters = [
                plan_meters(
                    conn,
                    home,
                    _gateway_dir(data_dir, home),
                    patient_id=patient_ids[home.patient_index],
                    now_s=now_s,
                )
                for home in homes
            ]
        run_settings = settings.model_copy(
            update={
                "database_url": db_url,
                "mqtt_url": mqtt_url,
                "ingest_client_id": "homeward-demo-ingest",
                # amqtt has no shared subscriptions; a lone worker subscribes directly.
                "ingest_share_group": None if embedded else settings.ingest_share_group,
            }
        )
        # The services get their own stop event: on Ctrl-C the devices hand over what they
        # hold first, while the ingest still runs, and only then do the services stop.
        services_stop = threading.Event()
        ingest = IngestWorker(run_settings)
        threads = [
            _thread("ingest", lambda: ingest.run(services_stop), failed),
            _thread("server", lambda: serve(run_settings, services_stop), failed),
        ]
        gateways: list[DemoGateway] = []
        fleet = WearableFleet(
            [(p.device_id, p.scenario) for p in people],
            site=SITE_CODE,
            broker_url=mqtt_url,
            config=WearableConfig(history_s=backfill),
        )

        def interrupted() -> bool:
            return stop.is_set() or failed.is_set()

        try:
            if not _wait(ingest.subscribed.is_set, SUBSCRIBE_TIMEOUT_S, interrupted):
                log.warning("the ingest has not subscribed yet; the devices start anyway")
            # amqtt (the embedded broker) drops a client that connects while another subscribes
            # to a new topic, if retained statuses are being sent to it at the time: the
            # wearables connect together while nothing is retained yet, then the gateways one
            # by one, each once the one before is online (subscribed) and settled.
            fleet.start()
            _wait(
                lambda: all(s.connected for s in fleet.stats().values()),
                CONNECT_TIMEOUT_S,
                interrupted,
            )
            for home, plan in zip(homes, meters, strict=True):
                if interrupted():
                    break
                time.sleep(CONNECT_SETTLE_S)
                gateway = DemoGateway(
                    home,
                    settings=run_settings,
                    site=SITE_CODE,
                    state_dir=_gateway_dir(data_dir, home),
                    meters=plan,
                )
                gateways.append(gateway)
                gateway.start()
                if not _wait(gateway.online, CONNECT_TIMEOUT_S, interrupted):
                    log.warning("gateway %s is not online yet", home.gateway_id)
            url = f"http://{settings.http_host}:{settings.http_port}/"
            if not interrupted():
                print(_banner(url, people, homes, db_url, mqtt_url), flush=True)
            while not stop.wait(0.5):
                if failed.is_set() or not all(t.is_alive() for t in threads):
                    log.error("a demo component stopped; shutting down")
                    break
        finally:
            stop_radios(gateways)
            if not fleet.stop(drain_timeout_s=DRAIN_TIMEOUT_S):
                log.warning("wearables still held unacknowledged readings after the drain")
            if not close_gateways(gateways, drain_timeout_s=DRAIN_TIMEOUT_S):
                log.warning("gateways still held unacknowledged readings; kept in their outboxes")
            services_stop.set()
            for t in threads:
                t.join(15.0)
    return 1 if failed.is_set() else 0


def _wait(predicate: Callable[[], bool], timeout_s: float, interrupted: Callable[[], bool]) -> bool:
    """Wait up to ``timeout_s`` seconds for ``predicate``, less if ``interrupted``; returns
    ``predicate()``."""
    deadline = time.monotonic() + timeout_s
    while not predicate() and not interrupted() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def _gateway_dir(data_dir: Path, home: DemoHome) -> Path:
    """Where a demo gateway keeps its files: as ``homeward gateway`` under the demo's data dir."""
    return data_dir / "gateway" / home.gateway_id
