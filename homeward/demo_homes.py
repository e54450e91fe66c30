"""The demo's homes with Bluetooth LE devices: one home gateway each, in the demo's process.

A few of ``homeward demo``'s patients live in a home with a gateway that reads their Bluetooth
devices (:data:`HOME_DEVICES`: glucometers, one blood-pressure cuff), so the panel shows the
Bluetooth path beside the Wi-Fi wearables: device --BLE (pairing, RACP record sync)--> gateway
outbox --MQTT--> ingest --> glucose rules --> panel. Each gateway is what ``homeward gateway
--emulated-radio`` runs (:mod:`homeward.gateway_runner`): an :class:`gateway.Outbox`, an
:class:`gateway.Uplink` and a :class:`homeward.gateway_ble.BleService` on an emulated radio with
one :mod:`firmware_sim.ble` device per listed device, wired through the uplink's hooks in the same
order (BLE side started once the kept cloud config is restored), in threads of the demo's
process. Its files (outbox, allow-list, bond keys, the emulated devices' own) live under
``<data_dir>/demo/gateway/<gateway id>/``.

**The scripted hypoglycaemia.** The meter of patient :data:`HYPO_INDEX` also holds a fingerstick
of :data:`HYPO_MMOL_L` taken :data:`HYPO_BEFORE_START_S` before each start
(:meth:`firmware_sim.ble.Glucometer.record`), so every start brings new evidence and the panel
shows a ``glucose_low`` alert within about a minute. The runner has no option for a value chosen
by hand (its emulated devices take theirs from the seeded generators), so the demo's gateways run
the BLE side with :class:`_DemoRadio`: the same emulated radio, whose meters get their scripted
tests appended after the scheduled ones, and whose devices stop advertising once the gateway has
read them (as real ones go quiet after a measurement; it spares the demo's CPU).

**Nothing stored twice across restarts.** The emulated devices are built afresh at every start,
and the idempotency key is ``(device_id, metric, seq, ts)``, so what they hold is the same at
every start:

* a meter's scheduled fingersticks (:data:`METER_RECORDS`, four a day) start on the local day its
  assignment to the patient begins, a date seeded once in the database, and their values are
  seeded by the device id: record ``k`` is the same test at the same time at every start;
* its scripted tests are part of its memory too: kept in
  ``emulated-devices/<address>.scripted.json`` beside the device's bond keys (written durably
  before the gateway starts) and replayed in order after the scheduled ones, so each keeps its
  sequence number. The test of this start is appended with the next number: the gateway's cursor
  asks only for records after the ones it holds, so it reads the new test, once, and no other;
* a cuff's stored readings are the twice-daily slots before now, numbered by their device time
  (docs/ble.md), so a reading offered again has the same key and is stored once.

If the demo's data directory is deleted while its database is kept (``HOMEWARD_DATABASE_URL``),
the meters forget their scripted tests as a reset meter would: the next start numbers its test
after the scheduled ones again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from alerts.rules.glucose import RULE_LOW
from devices.gatt import OpCode, RecordAccessResponse, ResponseCode
from firmware_sim.ble import BloodPressureCuff, Glucometer, Scale, Thermometer
from firmware_sim.signals import DailyRoutine
from gateway import GatewayConfig, GatewayError, Outbox, Uplink
from gateway.config import ConfiguredDevice
from homeward.errors import ServiceStartError
from homeward.gateway_ble import BleService, wish_for
from homeward.gateway_emulation import EmulatedDeviceOptions, EmulatedRadio
from homeward.settings import Settings
from monitoring import registry

log = logging.getLogger(__name__)

SCRIPTED_SCHEMA = "homeward.demo-scripted-tests/1"
# Which patients (by index) have a home gateway, and the Bluetooth devices it reads: diabetic
# patients with a meter, one of them also measuring her blood pressure at home.
HOME_DEVICES: tuple[tuple[int, tuple[str, ...]], ...] = (
    (0, ("glucometer",)),
    (1, ("glucometer", "bp_cuff")),
    (3, ("glucometer",)),
    (4, ("glucometer",)),
)
# Whose meter holds the scripted hypoglycaemia: team 1, like the desaturating patient, so that
# dr.chen sees both alerts.
HYPO_INDEX = 0
# 2.8 mmol/L: below 3.0 mmol/L, level 2 hypoglycaemia (IHSG, Diabetes Care 2017;40:155-157), the
# glucose_low rule's critical severity (docs/alerts.md).
HYPO_MMOL_L = 2.8
# How long before each start the scripted test was taken (s): recent news for the panel.
HYPO_BEFORE_START_S = 180
# Days of scheduled fingersticks a meter holds (four a day), from its assignment's first day.
HISTORY_DAYS = 10
METER_RECORDS = 4 * HISTORY_DAYS
_DAY_S = 86400.0
# How often the demo's radio looks for devices the gateway has read out, to quieten them (s).
QUIET_CHECK_S = 1.0
# The emulated meters keep Asia/Shanghai time, as the demo site does.
_METER_UTC_OFFSET_S = DailyRoutine().utc_offset_s
_PREFIXES: Mapping[str, str] = {"glucometer": "gm", "bp_cuff": "bp"}
_MODELS: Mapping[str, str] = {
    "glucometer": "Homeward sim glucometer (Bluetooth Glucose Profile)",
    "bp_cuff": "Homeward sim BP cuff (Bluetooth Blood Pressure Profile)",
}


@dataclass(frozen=True, slots=True)
class DemoDevice:
    """A Bluetooth device of a demo home: ``kind`` as the gateway config and the device registry
    name it (``glucometer``, ``bp_cuff``)."""

    device_id: str
    address: str
    kind: str
    model: str


@dataclass(frozen=True, slots=True)
class DemoHome:
    """The home of the demo patient ``patient_index``: its gateway and devices."""

    patient_index: int
    gateway_id: str
    devices: tuple[DemoDevice, ...]

    @property
    def hypo(self) -> bool:
        """Whether this home's meter holds the scripted hypoglycaemia."""
        return self.patient_index == HYPO_INDEX


def demo_homes(patient_count: int) -> list[DemoHome]:
    """The homes of :data:`HOME_DEVICES` whose patient is among the first ``patient_count``
    (ids and addresses are stable across runs)."""
    homes = []
    for index, kinds in HOME_DEVICES:
        if index >= patient_count:
            continue
        n = index + 1
        devices = tuple(
            # Random static addresses (top two bits set), one per device and home.
            DemoDevice(
                f"{_PREFIXES[kind]}-{n:04d}",
                f"C0:DE:00:00:{n:02X}:{k + 1:02X}",
                kind,
                _MODELS[kind],
            )
            for k, kind in enumerate(kinds)
        )
        homes.append(DemoHome(index, f"gw-{n:04d}", devices))
    return homes


def history_start_s(now_s: float) -> float:
    """The local (Asia/Shanghai) midnight :data:`HISTORY_DAYS` days before ``now_s``'s day,
    epoch s: when a newly seeded device becomes the patient's, and a meter's first record day."""
    local_day = math.floor((now_s + _METER_UTC_OFFSET_S) / _DAY_S)
    return (local_day - HISTORY_DAYS) * _DAY_S - _METER_UTC_OFFSET_S


def _scalar(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...]) -> Any:
    row = conn.cursor(row_factory=tuple_row).execute(query, params).fetchone()
    return None if row is None else row[0]


def seed_homes(
    conn: psycopg.Connection[Any],
    *,
    site_id: int,
    homes: Sequence[DemoHome],
    patients: Mapping[int, tuple[int, str]],
    now_s: float,
) -> None:
    """Register each home's gateway and devices with the site and give the devices to the
    patient from :func:`history_start_s` on; ``patients`` maps a patient index to (id, name).

    Idempotent (existing rows are kept, so a device keeps its first day); runs in the caller's
    transaction.
    """
    since = datetime.fromtimestamp(history_start_s(now_s), UTC)
    for home in homes:
        patient_id, name = patients[home.patient_index]
        registry.register_gateway(
            conn, gateway_id=home.gateway_id, site_id=site_id, label=f"Home of {name}"
        )
        for device in home.devices:
            registry.register_device(
                conn,
                device_id=device.device_id,
                site_id=site_id,
                kind=device.kind,
                model=device.model,
                gateway_id=home.gateway_id,
            )
            assigned = _scalar(
                conn,
                "SELECT count(*) FROM device_assignments WHERE device_id = %s",
                (device.device_id,),
            )
            if not assigned:
                registry.assign_device(
                    conn, device_id=device.device_id, patient_id=patient_id, valid_from=since
                )


@dataclass(frozen=True, slots=True)
class ScriptedTest:
    """A fingerstick with a value chosen by the demo: taken at ``taken_s`` (true epoch s),
    ``mmol_l`` as the meter measured it (at or below its range: LO)."""

    taken_s: float
    mmol_l: float


@dataclass(frozen=True, slots=True)
class MeterPlan:
    """What a demo meter holds at this start: :data:`METER_RECORDS` scheduled fingersticks from
    ``first_day_s`` (local midnight, epoch s), then ``scripted`` in order."""

    first_day_s: float
    scripted: tuple[ScriptedTest, ...]


def scripted_path(state_dir: Path, device: DemoDevice) -> Path:
    """Where a meter's scripted tests are kept: beside its bond keys in the gateway's
    directory (``emulated-devices/<address>.json``, :mod:`homeward.gateway_emulation`)."""
    return state_dir / "emulated-devices" / f"{device.address.replace(':', '')}.scripted.json"


def load_scripted(path: Path) -> list[ScriptedTest]:
    """The scripted tests kept in ``path`` (none when it does not exist). Raises
    :class:`~homeward.errors.ServiceStartError` for a file that is not one of ours."""
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ServiceStartError("demo", f"cannot read {path}: {exc}") from None
    try:
        if doc["schema"] != SCRIPTED_SCHEMA:
            raise ValueError(f"schema {doc['schema']!r}")
        return [ScriptedTest(float(t["taken_s"]), float(t["mmol_l"])) for t in doc["tests"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ServiceStartError("demo", f"{path} is not a list of scripted tests: {exc}") from None


def save_scripted(path: Path, tests: Sequence[ScriptedTest]) -> None:
    """Write ``tests`` to ``path`` durably (temporary file, fsync, rename, fsync of the
    directory): a meter never forgets a test the gateway may already have read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "schema": SCRIPTED_SCHEMA,
        "tests": [{"taken_s": t.taken_s, "mmol_l": t.mmol_l} for t in tests],
    }
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as out:
        out.write(json.dumps(doc, indent=1).encode())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def plan_meters(
    conn: psycopg.Connection[Any],
    home: DemoHome,
    state_dir: Path,
    *,
    patient_id: int,
    now_s: float,
) -> dict[str, MeterPlan]:
    """The plan of each meter of ``home`` for a start at ``now_s`` (epoch s), by device id.

    The hypo home's meter gets one more scripted test, kept before this returns: taken
    :data:`HYPO_BEFORE_START_S` before ``now_s``, but after its previous scripted test and after
    the last resolution of the patient's ``glucose_low`` alert (the rule ignores readings at or
    before it), never after ``now_s``.
    """
    plans = {}
    for device in home.devices:
        if device.kind != "glucometer":
            continue
        since = _scalar(
            conn,
            "SELECT min(valid_from) FROM device_assignments WHERE device_id = %s",
            (device.device_id,),
        )
        if since is None:
            raise ServiceStartError("demo", f"{device.device_id} is not assigned to a patient")
        path = scripted_path(state_dir, device)
        scripted = load_scripted(path)
        if home.hypo:
            taken_s = math.floor(now_s) - HYPO_BEFORE_START_S
            if scripted:
                taken_s = max(taken_s, math.floor(scripted[-1].taken_s) + 1)
            resolved = _scalar(
                conn,
                "SELECT max(resolved_at) FROM alerts WHERE patient_id = %s AND rule = %s",
                (patient_id, RULE_LOW),
            )
            if resolved is not None:
                taken_s = max(taken_s, math.floor(resolved.timestamp()) + 1)
            scripted.append(ScriptedTest(float(min(taken_s, math.floor(now_s))), HYPO_MMOL_L))
            save_scripted(path, scripted)
        plans[device.device_id] = MeterPlan(float(since.timestamp()), tuple(scripted))
    return plans


def _read_out(peripheral: object) -> bool:
    """Whether the gateway has read everything ``peripheral`` holds: a meter has answered a
    "report stored records" (everything after the gateway's cursor) with success or "no records
    found"; a cuff, scale or thermometer has had every stored reading confirmed."""
    if isinstance(peripheral, Glucometer):
        return any(
            isinstance(r, RecordAccessResponse)
            and r.request_op_code == OpCode.REPORT_STORED_RECORDS
            and r.response_code in (ResponseCode.SUCCESS, ResponseCode.NO_RECORDS_FOUND)
            for r in peripheral.responses
        )
    if isinstance(peripheral, BloodPressureCuff | Scale | Thermometer):
        return peripheral.stats.connections > 0 and not peripheral.pending
    return False


class _DemoRadio(EmulatedRadio):
    """The emulated radio of ``homeward gateway --emulated-radio``, with two things a demo home
    needs: its meters also hold their scripted tests (``scripted``, by device id), after the
    scheduled ones; and a device the gateway has read stops advertising, as a real meter or cuff
    goes quiet a while after a measurement (the emulated ones otherwise advertise every 20 ms,
    and a gateway's scan handling that costs a few per cent of a core per device)."""

    def __init__(
        self,
        state_dir: Path,
        options: Mapping[str, EmulatedDeviceOptions],
        scripted: Mapping[str, Sequence[ScriptedTest]],
    ) -> None:
        super().__init__(state_dir, options)
        self.scripted = scripted
        self._quieting: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _DemoRadio:
        await super().__aenter__()
        self._quieting = asyncio.create_task(self._quiet_once_read(), name="demo-quiet")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._quieting is not None:
            self._quieting.cancel()
            await asyncio.gather(self._quieting, return_exceptions=True)
        await super().__aexit__(exc_type, exc, tb)

    async def ensure(self, device: ConfiguredDevice) -> None:
        running = device in self.peripherals
        await super().ensure(device)
        meter = self.peripherals.get(device)
        if running or not isinstance(meter, Glucometer):
            return
        # No await between the meter's start and these records: nothing else runs on the loop
        # meanwhile, and the BLE side starts a session with a device only after ensure().
        for test in self.scripted.get(device.device_id, ()):
            meter.record(test.taken_s, test.mmol_l)

    async def _quiet_once_read(self) -> None:
        # Checked again and again: after each link, bumble restarts the advertising by itself.
        while True:
            await asyncio.sleep(QUIET_CHECK_S)
            for peripheral in list(self.peripherals.values()):
                device = peripheral.device
                if device.is_advertising and not peripheral.connected and _read_out(peripheral):
                    try:
                        await device.stop_advertising()
                    except Exception:  # it only costs CPU: go on, try again next time
                        log.warning("emulated %s: advertising not stopped", peripheral.address)
                        continue
                    log.debug("emulated %s read: no longer advertising", peripheral.address)


class DemoGateway:
    """The gateway of one demo home (see the module docstring), its files in ``state_dir``.

    :meth:`start` runs it; stopping is three steps so that the demo can let every gateway's
    outbox drain while the ingest still runs: :meth:`stop_radio` (no more readings come in),
    :meth:`drained`, then :meth:`close` (retained ``offline``, outbox closed).
    Raises :class:`~homeward.errors.ServiceStartError` when the outbox cannot be opened.
    """

    def __init__(
        self,
        home: DemoHome,
        *,
        settings: Settings,
        site: str,
        state_dir: Path,
        meters: Mapping[str, MeterPlan],
    ) -> None:
        if not settings.mqtt_url:
            raise ServiceStartError(f"gateway {home.gateway_id}", "no broker URL")
        self.home = home
        self._zone = settings.default_timezone
        self._base = GatewayConfig(
            version=0,
            uplink={},
            devices=tuple(ConfiguredDevice(d.device_id, d.address, d.kind) for d in home.devices),
        )
        try:
            self.outbox = Outbox(state_dir / "outbox.sqlite3")
        except GatewayError as exc:
            raise ServiceStartError(f"gateway {home.gateway_id}", str(exc)) from exc
        emulation = {
            device_id: EmulatedDeviceOptions(records=METER_RECORDS, first_day_s=p.first_day_s)
            for device_id, p in meters.items()
        }
        scripted = {device_id: p.scripted for device_id, p in meters.items()}
        self.ble = BleService(
            self.outbox,
            state_dir,
            wish_for(self._base, None, site_zone=self._zone),
            emulation=emulation,
            emulated_radio=lambda: _DemoRadio(state_dir, emulation, scripted),
        )
        try:
            self.uplink = Uplink(
                self.outbox,
                site=site,
                gateway_id=home.gateway_id,
                broker_url=settings.mqtt_url,
                username=settings.mqtt_username,
                password=settings.mqtt_password,
                radio_status=self.ble.status,
                on_config=self._on_config,
            )
        except GatewayError as exc:
            self.outbox.close()
            raise ServiceStartError(f"gateway {home.gateway_id}", str(exc)) from exc
        self._idle = True

    def _on_config(self, remote: GatewayConfig | None) -> None:
        self.ble.configure(wish_for(self._base, remote, site_zone=self._zone))

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the uplink, and the BLE side once the uplink has restored the cloud config kept
        in the outbox (a SQLite read; at most ``timeout_s`` seconds)."""
        self.uplink.start()
        if not self.uplink.wait_restored(timeout_s):
            log.error("gateway %s: config not restored; BLE side not started", self.home.gateway_id)
            return
        self.ble.start()

    def online(self) -> bool:
        """Whether the uplink is connected and has sent a heartbeat (it subscribes before)."""
        stats = self.uplink.stats()
        return stats.connected and stats.heartbeats > 0

    def stop_radio(self, timeout_s: float = 30.0) -> bool:
        """Stop the BLE side (writes already started complete); False if it did not stop."""
        self._idle = self.ble.stop(timeout_s)
        return self._idle

    def drained(self) -> bool:
        """Whether the ingest has acknowledged everything the outbox held."""
        return self.outbox.depth().readings == 0

    def close(self) -> None:
        """Stop the uplink (retained ``offline``) and close the outbox; what is unacknowledged
        stays in it for the next start."""
        self.uplink.stop()
        if self._idle:
            self.outbox.close()
        else:
            # Closing under a writer could fail its commit; SQLite keeps what committed.
            log.error("gateway %s: BLE side still running; outbox left open", self.home.gateway_id)


def stop_radios(gateways: Sequence[DemoGateway]) -> None:
    """Stop every gateway's BLE side: no more readings come in (the uplinks keep flushing)."""
    for gateway in gateways:
        gateway.stop_radio()


def close_gateways(gateways: Sequence[DemoGateway], *, drain_timeout_s: float) -> bool:
    """Wait up to ``drain_timeout_s`` seconds for the gateways' outboxes to empty (the ingest
    must still run), then stop their uplinks and close the outboxes. Returns True when nothing
    was left unacknowledged."""
    deadline = time.monotonic() + drain_timeout_s
    while not all(g.drained() for g in gateways) and time.monotonic() < deadline:
        time.sleep(0.1)
    drained = all(g.drained() for g in gateways)
    for gateway in gateways:
        gateway.close()
    return drained
