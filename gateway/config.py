"""The gateway's settings: :class:`UplinkConfig`, and the versioned config document from the cloud.

The cloud publishes a retained config document on ``homeward/v1/{site}/{gateway_id}/config``;
the uplink applies it without a restart::

    {"schema": "homeward.gateway-config/2", "version": 7,
     "uplink": {"flush_readings_per_s": 200, "heartbeat_interval_s": 30},
     "outbox": {"max_readings": 400000},
     "devices": [{"device_id": "gluco-7", "address": "C0:11:22:33:44:55", "kind": "glucometer"}],
     "ble": {"resync_interval_s": 600}}

* ``schema``: ``homeward.gateway-config/1`` (``uplink`` and ``outbox`` only) or ``/2``, which adds
  ``devices`` and ``ble``. A /1 document naming ``devices`` is refused (a gateway that predates
  them refuses an unknown field too), so the cloud sends /2 only where it lists devices.
* ``version``: an integer ≥ 0 the cloud raises with every change. A document with the version
  already applied is a redelivery (every reconnect brings the retained copy) and changes nothing;
  a lower version is refused as stale.
* ``uplink``: any field of :class:`UplinkConfig`; ``outbox.max_readings``: the outbox bound.
* ``devices``: this home's Bluetooth LE devices (:class:`ConfiguredDevice`), the whole list. The
  gateway enrols the ones newly listed and takes the ones no longer listed off its allow-list.
  Left out, the list is not managed by this document.
* ``ble``: settings of the BLE side (:data:`BLE_FIELDS`).
* Fields left out take the gateway's **base** value (its defaults, or the local config file the
  runner was started with), not the previously applied value: the document is the whole wish.
* Unknown fields, wrong types and values outside their range refuse the whole document with a
  :class:`~gateway.errors.ConfigError` naming the field (``devices[2].address``); the gateway keeps
  its current settings and reports the refusal in its status. So does an outbox bound below twice
  what the in-flight batches can hold (readings in a batch cannot be thinned).

The same format is used for the local config file (``homeward gateway --config FILE``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from zoneinfo import ZoneInfo

from devices import DEVICE_ID_RE
from devices.payload import MAX_READINGS_PER_BATCH
from gateway.errors import ConfigError

CONFIG_SCHEMA_V1 = "homeward.gateway-config/1"
CONFIG_SCHEMA_V2 = "homeward.gateway-config/2"
#: The newest schema: what this gateway understands in full.
CONFIG_SCHEMA = CONFIG_SCHEMA_V2
# A config document is small; anything bigger is not one.
MAX_CONFIG_BYTES = 64 * 1024
#: The most devices one home's document may list (a home has a handful; the heartbeat reports
#: at most 64 devices).
MAX_CONFIGURED_DEVICES = 64
#: The kinds of :class:`gateway.ble.DeviceKind`, by value (kept equal by a test; spelled out
#: here so that reading a config does not import the Bluetooth stack).
DEVICE_KINDS = frozenset(
    {"glucometer", "bp_cuff", "heart_rate", "pulse_oximeter", "scale", "thermometer", "chopsticks"}
)
_ADDRESS_RE = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


@dataclass(frozen=True, slots=True)
class UplinkConfig:
    """Uplink settings (times in seconds).

    ``max_batch_readings``: the largest batch (500 readings ≈ 70 KB of JSON: a backlog flushes in
    few messages, each far below the broker's packet limit). ``batch_linger_s``: how long the
    first waiting reading may wait for others to fill its batch. ``max_in_flight_batches``:
    batches sent but not acknowledged (an application cap: paho's message ids are 16-bit, and
    each unacknowledged batch is broker memory). ``ack_timeout_s`` / ``ack_timeout_max_s``:
    first and largest wait for the ingest's ack before resending. ``reconnect_min_s`` /
    ``reconnect_max_s``: backoff bounds. ``keepalive_s``: MQTT keepalive. ``connect_timeout_s``:
    TCP connect and CONNACK wait. ``poll_interval_s``: the loop's longest sleep (latency of a new
    reading). ``flush_readings_per_s``: the most readings per second the gateway publishes,
    resends included (a token bucket holding one batch): a backlog after an outage drains at this
    rate, so ten thousand gateways coming back together cannot flatten the ingest.
    ``heartbeat_interval_s``: how often the retained status is refreshed.
    """

    max_batch_readings: int = 500
    batch_linger_s: float = 1.0
    max_in_flight_batches: int = 8
    ack_timeout_s: float = 30.0
    ack_timeout_max_s: float = 600.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 60.0
    keepalive_s: int = 30
    connect_timeout_s: float = 5.0
    poll_interval_s: float = 0.05
    # 500 readings/s: one full batch a second. A day of a 1 Hz HR + SpO2 wearable (172,800
    # readings) drains in under six minutes; 200 gateways at full rate equal the ingest's
    # 100,000 readings/s target, and the in-flight cap slows the rest to the ingest's pace.
    flush_readings_per_s: float = 500.0
    heartbeat_interval_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("max_batch_readings", "max_in_flight_batches", "keepalive_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(name, value, "must be an integer")
        if not 1 <= self.max_batch_readings <= MAX_READINGS_PER_BATCH:
            raise ConfigError(
                "max_batch_readings",
                self.max_batch_readings,
                f"must be 1-{MAX_READINGS_PER_BATCH} (the payload limit)",
            )
        if not 1 <= self.max_in_flight_batches <= 100:
            raise ConfigError("max_in_flight_batches", self.max_in_flight_batches, "must be 1-100")
        for name in (
            "ack_timeout_s",
            "ack_timeout_max_s",
            "reconnect_min_s",
            "reconnect_max_s",
            "connect_timeout_s",
            "poll_interval_s",
            "flush_readings_per_s",
            "heartbeat_interval_s",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(name, value, "must be a number")
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(name, value, "must be a positive finite number")
        if isinstance(self.batch_linger_s, bool) or not isinstance(
            self.batch_linger_s, int | float
        ):
            raise ConfigError("batch_linger_s", self.batch_linger_s, "must be a number")
        if not (math.isfinite(self.batch_linger_s) and self.batch_linger_s >= 0):
            raise ConfigError("batch_linger_s", self.batch_linger_s, "must be ≥ 0 s")
        if self.ack_timeout_max_s < self.ack_timeout_s:
            raise ConfigError("ack_timeout_max_s", self.ack_timeout_max_s, "< ack_timeout_s")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ConfigError("reconnect_max_s", self.reconnect_max_s, "< reconnect_min_s")
        if not 5 <= self.keepalive_s <= 3600:
            raise ConfigError("keepalive_s", self.keepalive_s, "must be 5-3600 s")
        if self.heartbeat_interval_s < 0.1:
            raise ConfigError("heartbeat_interval_s", self.heartbeat_interval_s, "must be ≥ 0.1 s")
        if self.flush_readings_per_s < 1:
            raise ConfigError(
                "flush_readings_per_s", self.flush_readings_per_s, "must be ≥ 1 reading/s"
            )


_UPLINK_FIELDS = frozenset(f.name for f in fields(UplinkConfig))
_INT_FIELDS = frozenset({"max_batch_readings", "max_in_flight_batches", "keepalive_s"})


def check_outbox_bound(max_readings: int, uplink: UplinkConfig) -> None:
    """Refuse an outbox bound that in-flight batches could fill: readings in a batch cannot be
    thinned, so the bound must hold at least twice ``max_in_flight_batches *
    max_batch_readings``."""
    floor = 2 * uplink.max_in_flight_batches * uplink.max_batch_readings
    if isinstance(max_readings, bool) or not isinstance(max_readings, int):
        raise ConfigError("outbox.max_readings", max_readings, "must be an integer")
    if max_readings < floor:
        raise ConfigError(
            "outbox.max_readings",
            max_readings,
            f"must be ≥ {floor} (twice max_in_flight_batches * max_batch_readings)",
        )


@dataclass(frozen=True, slots=True)
class ConfiguredDevice:
    """One Bluetooth LE device of this home, as a config document lists it.

    ``device_id`` is the id its readings carry (the cloud's device registry knows it);
    ``address`` its Bluetooth address ("AA:BB:CC:DD:EE:FF", stored upper case); ``kind`` one of
    :data:`DEVICE_KINDS`. Raises :class:`~gateway.errors.ConfigError` naming the bad field.
    """

    device_id: str
    address: str
    kind: str

    def __post_init__(self) -> None:
        if not isinstance(self.device_id, str) or not DEVICE_ID_RE.match(self.device_id):
            raise ConfigError("device_id", self.device_id, "must be a device id ([A-Za-z0-9._-])")
        if not isinstance(self.address, str) or not _ADDRESS_RE.match(self.address):
            raise ConfigError("address", self.address, "must be a Bluetooth address AA:BB:…:FF")
        if self.kind not in DEVICE_KINDS:
            raise ConfigError("kind", self.kind, f"must be one of {sorted(DEVICE_KINDS)}")
        object.__setattr__(self, "address", self.address.upper())

    def to_json(self) -> dict[str, str]:
        return {"device_id": self.device_id, "address": self.address, "kind": self.kind}


# The ``ble`` section: integer fields with their ranges, then durations in seconds (positive,
# finite), then the site's IANA time zone. The ranges are those gateway.ble.BleConfig and
# ConnectionPolicy accept, so a document that parses always builds one.
_BLE_INT_FIELDS: Mapping[str, tuple[int, int]] = {
    "max_connections": (1, 32),
    "connect_attempts": (1, 100),
}
_BLE_SECONDS_FIELDS = frozenset(
    {
        "connect_timeout_s",
        "idle_timeout_s",
        "settle_s",
        "resync_interval_s",
        "retry_interval_s",
        "stream_flush_s",
        "not_seen_after_s",
    }
)
#: Every field the ``ble`` section may set (see docs/gateway-status-schema.md for each).
BLE_FIELDS = frozenset({*_BLE_INT_FIELDS, *_BLE_SECONDS_FIELDS, "site_zone"})


def _ble_value(name: str, value: Any) -> int | float | str:
    where = f"ble.{name}"
    if name not in BLE_FIELDS:
        raise ConfigError(where, value, "unknown field")
    if name == "site_zone":
        if not isinstance(value, str) or not value:
            raise ConfigError(where, value, "must be an IANA time zone name")
        try:
            ZoneInfo(value)
        except (KeyError, ValueError) as exc:
            raise ConfigError(where, value, "not an IANA time zone") from exc
        return value
    if name in _BLE_INT_FIELDS:
        low, high = _BLE_INT_FIELDS[name]
        number = _number(where, value, True)
        if not low <= number <= high:
            raise ConfigError(where, value, f"must be {low}-{high}")
        return number
    number = _number(where, value, False)
    if not (math.isfinite(number) and number > 0):
        raise ConfigError(where, value, "must be a positive finite number of seconds")
    return number


def _devices(value: Any) -> tuple[ConfiguredDevice, ...]:
    if not isinstance(value, list):
        raise ConfigError("devices", value, "must be a list")
    if len(value) > MAX_CONFIGURED_DEVICES:
        raise ConfigError("devices", len(value), f"more than {MAX_CONFIGURED_DEVICES} devices")
    out: list[ConfiguredDevice] = []
    ids: set[str] = set()
    addresses: dict[str, str] = {}
    for i, entry in enumerate(value):
        where = f"devices[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(where, entry, "must be an object")
        for name in ("device_id", "address", "kind"):
            if name not in entry:
                raise ConfigError(f"{where}.{name}", None, "missing")
        unknown = sorted(set(entry) - {"device_id", "address", "kind"})
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}", entry[unknown[0]], "unknown field")
        try:
            device = ConfiguredDevice(entry["device_id"], entry["address"], entry["kind"])
        except ConfigError as exc:
            raise ConfigError(f"{where}.{exc.name}", exc.value, exc.reason) from None
        if device.device_id in ids:
            raise ConfigError(f"{where}.device_id", device.device_id, "listed twice")
        if device.address in addresses:
            raise ConfigError(
                f"{where}.address",
                device.address,
                f"already listed for {addresses[device.address]}",
            )
        ids.add(device.device_id)
        addresses[device.address] = device.device_id
        out.append(device)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """A parsed ``homeward.gateway-config/1`` or ``/2`` document.

    ``uplink`` and ``ble`` hold the fields the document sets (the rest keep their base values).
    ``devices`` is the home's device list, or None when the document does not manage it (an
    empty tuple: no devices at all).
    """

    version: int
    uplink: Mapping[str, int | float]
    outbox_max_readings: int | None = None
    devices: tuple[ConfiguredDevice, ...] | None = None
    ble: Mapping[str, int | float | str] = field(default_factory=dict)

    def resolve(self, base: UplinkConfig, base_max_readings: int) -> tuple[UplinkConfig, int]:
        """The settings this document asks for on top of the gateway's base settings.

        Raises :class:`~gateway.errors.ConfigError` (``name`` like ``uplink.max_batch_readings``)
        when a value is out of range or the outbox bound is too small for the uplink.
        """
        try:
            overrides: dict[str, Any] = dict(self.uplink)
            uplink = replace(base, **overrides)
        except ConfigError as exc:
            raise ConfigError(f"uplink.{exc.name}", exc.value, exc.reason) from None
        bound = base_max_readings if self.outbox_max_readings is None else self.outbox_max_readings
        if self.outbox_max_readings is not None:
            check_outbox_bound(bound, uplink)
        return uplink, bound

    def encode(self) -> bytes:
        """The document as UTF-8 JSON (what the cloud publishes, retained), in the oldest schema
        that holds it: /1 unless it lists devices or sets ``ble``, so older gateways take it."""
        v2 = self.devices is not None or bool(self.ble)
        doc: dict[str, Any] = {
            "schema": CONFIG_SCHEMA_V2 if v2 else CONFIG_SCHEMA_V1,
            "version": self.version,
            "uplink": dict(self.uplink),
        }
        if self.outbox_max_readings is not None:
            doc["outbox"] = {"max_readings": self.outbox_max_readings}
        if self.devices is not None:
            doc["devices"] = [d.to_json() for d in self.devices]
        if self.ble:
            doc["ble"] = dict(self.ble)
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def _number(name: str, value: Any, integer: bool) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(name, value, "must be a number")
    if integer and not isinstance(value, int):
        raise ConfigError(name, value, "must be an integer")
    return value


def parse_config(raw: bytes) -> GatewayConfig:
    """Validate a ``homeward.gateway-config/1`` or ``/2`` document (bytes of UTF-8 JSON).

    Checks the shape, the field names and their types, every device entry and the ``ble``
    values; the uplink's value ranges are checked by :meth:`GatewayConfig.resolve`. Raises
    :class:`~gateway.errors.ConfigError` naming the field (``devices[1].kind``).
    """
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError("document", f"{len(raw)} bytes", f"larger than {MAX_CONFIG_BYTES}")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigError("document", raw[:40], f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError("document", type(doc).__name__, "must be a JSON object")
    schema = doc.get("schema")
    if schema not in (CONFIG_SCHEMA_V1, CONFIG_SCHEMA_V2):
        raise ConfigError("schema", schema, f"must be {CONFIG_SCHEMA_V1!r} or {CONFIG_SCHEMA_V2!r}")
    known = {"schema", "version", "uplink", "outbox"}
    if schema == CONFIG_SCHEMA_V2:
        known |= {"devices", "ble"}
    unknown = sorted(set(doc) - known)
    if unknown:
        reason = "unknown field"
        if unknown[0] in ("devices", "ble"):
            reason = f"unknown field in {CONFIG_SCHEMA_V1} (it needs {CONFIG_SCHEMA_V2})"
        raise ConfigError(unknown[0], doc[unknown[0]], reason)
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ConfigError("version", version, "must be an integer ≥ 0")
    uplink_doc = doc.get("uplink", {})
    if not isinstance(uplink_doc, dict):
        raise ConfigError("uplink", uplink_doc, "must be an object")
    uplink: dict[str, int | float] = {}
    for name, value in uplink_doc.items():
        if name not in _UPLINK_FIELDS:
            raise ConfigError(f"uplink.{name}", value, "unknown field")
        uplink[name] = _number(f"uplink.{name}", value, name in _INT_FIELDS)
    outbox_doc = doc.get("outbox", {})
    if not isinstance(outbox_doc, dict):
        raise ConfigError("outbox", outbox_doc, "must be an object")
    max_readings: int | None = None
    for name, value in outbox_doc.items():
        if name != "max_readings":
            raise ConfigError(f"outbox.{name}", value, "unknown field")
        max_readings = int(_number("outbox.max_readings", value, True))
        if max_readings < 1:
            raise ConfigError("outbox.max_readings", value, "must be ≥ 1")
    devices = None if "devices" not in doc else _devices(doc["devices"])
    ble_doc = doc.get("ble", {})
    if not isinstance(ble_doc, dict):
        raise ConfigError("ble", ble_doc, "must be an object")
    ble = {name: _ble_value(name, value) for name, value in ble_doc.items()}
    return GatewayConfig(
        version=version,
        uplink=uplink,
        outbox_max_readings=max_readings,
        devices=devices,
        ble=ble,
    )
