"""The gateway's settings: :class:`UplinkConfig`, and the versioned config document from the cloud.

The cloud publishes a retained ``homeward.gateway-config/1`` document on
``homeward/v1/{site}/{gateway_id}/config``; the uplink applies it without a restart::

    {"schema": "homeward.gateway-config/1", "version": 7,
     "uplink": {"flush_readings_per_s": 200, "heartbeat_interval_s": 30},
     "outbox": {"max_readings": 400000}}

* ``version``: an integer ≥ 0 the cloud raises with every change. A document with the version
  already applied is a redelivery (every reconnect brings the retained copy) and changes nothing;
  a lower version is refused as stale.
* ``uplink``: any field of :class:`UplinkConfig`; ``outbox.max_readings``: the outbox bound.
  Fields left out take the gateway's **base** value (its defaults, or the local config file the
  runner was started with), not the previously applied value: the document is the whole wish.
* Unknown fields, wrong types and values outside their range refuse the whole document with a
  :class:`~gateway.errors.ConfigError` naming the field; the gateway keeps its current settings
  and reports the refusal in its status. So does an outbox bound below twice what the in-flight
  batches can hold (readings in a batch cannot be thinned).

The same format is used for the local config file (``homeward gateway --config FILE``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from devices.payload import MAX_READINGS_PER_BATCH
from gateway.errors import ConfigError

CONFIG_SCHEMA = "homeward.gateway-config/1"
# A config document is small; anything bigger is not one.
MAX_CONFIG_BYTES = 64 * 1024


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
class GatewayConfig:
    """A parsed ``homeward.gateway-config/1`` document: ``uplink`` holds the fields it sets."""

    version: int
    uplink: Mapping[str, int | float]
    outbox_max_readings: int | None = None

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
        """The document as UTF-8 JSON (what the cloud publishes, retained)."""
        doc: dict[str, Any] = {
            "schema": CONFIG_SCHEMA,
            "version": self.version,
            "uplink": dict(self.uplink),
        }
        if self.outbox_max_readings is not None:
            doc["outbox"] = {"max_readings": self.outbox_max_readings}
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def _number(name: str, value: Any, integer: bool) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(name, value, "must be a number")
    if integer and not isinstance(value, int):
        raise ConfigError(name, value, "must be an integer")
    return value


def parse_config(raw: bytes) -> GatewayConfig:
    """Validate a ``homeward.gateway-config/1`` document (bytes of UTF-8 JSON).

    Checks the shape, the field names and their types; value ranges are checked by
    :meth:`GatewayConfig.resolve`. Raises :class:`~gateway.errors.ConfigError` naming the field.
    """
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError("document", f"{len(raw)} bytes", f"larger than {MAX_CONFIG_BYTES}")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigError("document", raw[:40], f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError("document", type(doc).__name__, "must be a JSON object")
    if doc.get("schema") != CONFIG_SCHEMA:
        raise ConfigError("schema", doc.get("schema"), f"must be {CONFIG_SCHEMA!r}")
    unknown = set(doc) - {"schema", "version", "uplink", "outbox"}
    if unknown:
        raise ConfigError(sorted(unknown)[0], doc[sorted(unknown)[0]], "unknown field")
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
    return GatewayConfig(version=version, uplink=uplink, outbox_max_readings=max_readings)
