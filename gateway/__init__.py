"""The home gateway: a durable outbox for device readings and the MQTT uplink that empties it.

::

    outbox = Outbox(data_dir / "outbox.sqlite3")
    uplink = Uplink(outbox, site="site-a", gateway_id="gw-7f3a", broker_url="mqtt://broker:1883")
    uplink.start()

    previous = outbox.clock(device_id)
    correction = ClockCorrection.measure(device_now, gateway_utc, monotonic_s, boot_id,
                                         previous=previous)
    ...                                   # readings stamped with correction.correct(device_ts)
    try:
        outbox.put(readings, clock=correction)   # returns after the durable (group) commit
    except OutboxFullError:
        ...                               # do not acknowledge: the device keeps the records
    ...
    uplink.stop(); outbox.close()

The BLE side (issue 4) feeds :meth:`Outbox.put` and resumes each device after :meth:`Outbox.cursor`.
A process that runs it beside the uplink joins the two through the uplink's public hooks::

    def use_config(doc: GatewayConfig | None) -> None:
        ...                               # give the radio the devices this document lists

    uplink = Uplink(outbox, ..., radio_status=radio_status,  # () -> RadioStatus, per heartbeat
                    on_config=use_config)                  # every config document put in force
    uplink.start()
    uplink.wait_restored()                # the kept cloud config is in force: start the radio

See docs/gateway.md and docs/gateway-status-schema.md.
"""

from gateway._boot import current_boot_id
from gateway.clock import CLOCK_TOLERANCE_S, ClockCorrection, Provenance
from gateway.config import CONFIG_SCHEMA, GatewayConfig, UplinkConfig, parse_config
from gateway.errors import (
    ClockError,
    ConfigError,
    GatewayError,
    OutboxClosedError,
    OutboxCorruptError,
    OutboxError,
    OutboxFullError,
    OutboxLockedError,
    OutboxSchemaError,
    UplinkError,
    UplinkStateError,
)
from gateway.outbox import (
    DEFAULT_MAX_READINGS,
    CorruptionEvent,
    DeviceRecord,
    Outbox,
    OutboxBatch,
    OutboxDepth,
    OutboxHealth,
)
from gateway.status import (
    STATE_OFFLINE,
    STATE_ONLINE,
    STATUS_SCHEMA,
    ConfigState,
    Heartbeat,
    RadioDeviceStatus,
    RadioStatus,
    SessionOutcome,
    encode_offline,
    parse_status,
)
from gateway.uplink import Uplink, UplinkStats

__all__ = [
    "CLOCK_TOLERANCE_S",
    "CONFIG_SCHEMA",
    "DEFAULT_MAX_READINGS",
    "STATE_OFFLINE",
    "STATE_ONLINE",
    "STATUS_SCHEMA",
    "ClockCorrection",
    "ClockError",
    "ConfigError",
    "ConfigState",
    "CorruptionEvent",
    "DeviceRecord",
    "GatewayConfig",
    "GatewayError",
    "Heartbeat",
    "Outbox",
    "OutboxBatch",
    "OutboxClosedError",
    "OutboxCorruptError",
    "OutboxDepth",
    "OutboxError",
    "OutboxFullError",
    "OutboxHealth",
    "OutboxLockedError",
    "OutboxSchemaError",
    "Provenance",
    "RadioDeviceStatus",
    "RadioStatus",
    "SessionOutcome",
    "Uplink",
    "UplinkConfig",
    "UplinkError",
    "UplinkStateError",
    "UplinkStats",
    "current_boot_id",
    "encode_offline",
    "parse_config",
    "parse_status",
]
