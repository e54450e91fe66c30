"""The ``homeward gateway`` options: what the command line accepts, as :class:`GatewayOptions`.

Kept apart from :mod:`homeward.gateway_runner` (which loads the Bluetooth stack, NumPy and the
simulators) so that building the ``homeward`` parser stays cheap for every other command.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path

from homeward.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class SimulationOptions:
    """Simulated wearables with a record memory (:mod:`homeward.gateway_runner`). Times in s;
    ``start_s`` is the true UTC time of record 1 in epoch seconds (None: ``backlog`` records
    before now), ``records`` None means no end."""

    device_ids: tuple[str, ...] = ()
    records: int | None = None
    interval_s: float = 10.0
    backlog: int = 0
    rate_per_s: float | None = None
    skew_s: int = 0
    start_s: float | None = None
    sync_interval_s: float = 5.0


@dataclass(frozen=True, slots=True)
class GatewayOptions:
    """What ``homeward gateway`` runs: the gateway's identity, its files, its radio (the host's
    adapter, or ``emulated_radio`` with the per-device options of ``emulation_path``) and
    simulated devices."""

    site: str
    gateway_id: str
    outbox_path: Path | None = None
    config_path: Path | None = None
    simulation: SimulationOptions = field(default_factory=SimulationOptions)
    emulated_radio: bool = False
    emulation_path: Path | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``homeward gateway`` options."""
    parser.add_argument("--site", required=True, help="site code (topic segment)")
    parser.add_argument("--gateway-id", required=True, help="this gateway's id (MQTT client id)")
    parser.add_argument("--outbox", type=Path, help="outbox file (default under the data dir)")
    parser.add_argument(
        "--config",
        type=Path,
        help="homeward.gateway-config/2 (or /1) document: base settings and this home's devices",
    )
    radio = parser.add_argument_group("Bluetooth LE radio (default: the host's adapter)")
    radio.add_argument(
        "--emulated-radio",
        action="store_true",
        help="run the config's devices as emulated peripherals on an in-process radio",
    )
    radio.add_argument(
        "--emulated-devices",
        type=Path,
        metavar="FILE",
        help="homeward.emulated-devices/1: how each emulated device behaves",
    )
    sim = parser.add_argument_group("simulated wearables (record memory, no radio)")
    sim.add_argument(
        "--simulate-device",
        action="append",
        default=[],
        metavar="ID",
        help="a simulated heart-rate and SpO2 wearable with this device id (repeatable)",
    )
    sim.add_argument("--records", type=int, help="records each device holds in all")
    sim.add_argument("--interval-s", type=float, default=10.0, help="device time between records")
    sim.add_argument("--backlog", type=int, default=0, help="records held at start")
    sim.add_argument("--rate", type=float, help="records released per second (default real time)")
    sim.add_argument("--skew-s", type=int, default=0, help="device clock error in seconds")
    sim.add_argument("--start", type=float, help="UTC epoch seconds of record 1")
    sim.add_argument("--sync-interval-s", type=float, default=5.0, help="seconds between syncs")


def options_from_args(args: argparse.Namespace) -> GatewayOptions:
    """:class:`GatewayOptions` from parsed :func:`add_arguments` options."""
    for name in ("backlog", "records"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise ConfigurationError(f"--{name}", "must be ≥ 0")
    for name in ("rate", "sync_interval_s"):
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigurationError(f"--{name.replace('_', '-')}", "must be > 0")
    return GatewayOptions(
        site=args.site,
        gateway_id=args.gateway_id,
        outbox_path=args.outbox,
        config_path=args.config,
        emulated_radio=args.emulated_radio,
        emulation_path=args.emulated_devices,
        simulation=SimulationOptions(
            device_ids=tuple(args.simulate_device),
            records=args.records,
            interval_s=args.interval_s,
            backlog=args.backlog,
            rate_per_s=args.rate,
            skew_s=args.skew_s,
            start_s=args.start,
            sync_interval_s=args.sync_interval_s,
        ),
    )
