"""``homeward gateway``: one home gateway process (outbox + MQTT uplink + device syncs).

::

    homeward gateway --site site-sh01 --gateway-id gw-7f3a [--outbox PATH] [--config FILE]
                     [--simulate-device ID ...] [--records N] [--interval-s S] [--backlog N]
                     [--rate R] [--skew-s S] [--start EPOCH_S] [--sync-interval-s S]

The broker comes from ``HOMEWARD_MQTT_URL`` (and ``HOMEWARD_MQTT_USERNAME`` /
``HOMEWARD_MQTT_PASSWORD``); the outbox defaults to ``$HOMEWARD_DATA_DIR/gateway/<gateway id>/
outbox.sqlite3``. ``--config`` is a ``homeward.gateway-config/1`` document used as the base
settings (the cloud's retained config applies on top of it). SIGTERM or SIGINT stops the process
cleanly: the retained status turns ``offline``, unacknowledged readings stay in the outbox.

**Simulated devices.** Until the BLE side (issue 4) reads real devices, ``--simulate-device``
runs wearables with a record memory, synced the way a BLE record sync works: each sync asks the
device for the records after the outbox's cursor, measures the device's clock against the
gateway's and corrects the records' times (:class:`gateway.ClockCorrection`), and stores them with
``Outbox.put`` before anything is acknowledged. Record ``k`` (1, 2, …) of device ``d`` is a heart
rate and an SpO2 sample taken at ``start + (k-1)·interval_s`` (true UTC), drawn from
``firmware_sim``'s physiological generators seeded by the device id: the same arguments always give
the same records, across restarts and SIGKILLs. ``backlog`` records are held at start, then
``rate`` more per second (default: one per ``interval_s``, real time). The device clock runs
``skew_s`` seconds off (1/256 s resolution, as Current Time 0x2A2B reports). This is also what the
gateway fault tests drive.

The command line of ``homeward`` wires this module as: ``add_arguments(parser)``, then
``run_gateway(settings, stop, options_from_args(args))``. ``python -m homeward.gateway_runner``
runs it directly.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import numpy as np

from devices import Reading, make_reading
from firmware_sim import Scenario
from gateway import (
    DEFAULT_MAX_READINGS,
    ClockCorrection,
    GatewayError,
    Outbox,
    OutboxFullError,
    Uplink,
    UplinkConfig,
    parse_config,
)
from homeward.errors import ConfigurationError, HomewardError
from homeward.settings import Settings

log = logging.getLogger("homeward.gateway")

# Device-side resolution of Current Time 0x2A2B: Fractions256 (GATT Specification Supplement
# v8 §3.62).
_FRACTIONS_PER_S = 256
# Records handed over per sync at most: a BLE record transfer of ~15 s at typical rates.
_MAX_RECORDS_PER_SYNC = 500
# How often a device's battery and presence are written when nothing else changes.
_SEEN_EVERY_S = 30.0


@dataclass(frozen=True, slots=True)
class SimulationOptions:
    """Simulated wearables with a record memory (see the module docstring). Times in seconds;
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
    """What ``homeward gateway`` runs: the gateway's identity, its files, simulated devices."""

    site: str
    gateway_id: str
    outbox_path: Path | None = None
    config_path: Path | None = None
    simulation: SimulationOptions = field(default_factory=SimulationOptions)


class SimulatedWearable:
    """A wearable holding records ``1 … records`` of heart rate and SpO2 (see module docstring).

    ``start_s``: true UTC time of record 1 (epoch s, whole seconds); ``interval_s``: time between
    records; ``skew_s``: how far the device clock runs ahead of UTC (negative: behind).
    """

    def __init__(
        self,
        device_id: str,
        *,
        start_s: float,
        interval_s: float,
        records: int | None,
        skew_s: int,
    ) -> None:
        if not (math.isfinite(interval_s) and interval_s > 0):
            raise ConfigurationError("--interval-s", "must be a positive number of seconds")
        self.device_id = device_id
        self.start_s = float(math.floor(start_s))
        self.interval_s = interval_s
        self.records = records
        self.skew_s = skew_s
        self._physiology = Scenario().physiology(device_id=device_id, boot_s=self.start_s)

    def clock(self, utc_s: float) -> datetime:
        """What the device's clock reads at true time ``utc_s`` (its own wall clock, naive)."""
        device_s = math.floor((utc_s + self.skew_s) * _FRACTIONS_PER_S) / _FRACTIONS_PER_S
        return datetime.fromtimestamp(device_s, UTC).replace(tzinfo=None)

    def true_time_s(self, seq: int) -> float:
        """True UTC time (epoch s) of record ``seq``."""
        return self.start_s + (seq - 1) * self.interval_s

    def readings(self, first_seq: int, last_seq: int, correction: ClockCorrection) -> list[Reading]:
        """Records ``first_seq … last_seq`` (inclusive), device times corrected by
        ``correction``: heart rate (/min, whole) and SpO2 (%, one decimal) per record."""
        if self.records is not None:
            last_seq = min(last_seq, self.records)
        seqs = np.arange(first_seq, last_seq + 1, dtype=np.int64)
        if seqs.size == 0:
            return []
        t_s = self.start_s + (seqs - 1) * self.interval_s
        heart_rate = np.round(self._physiology.heart_rate_per_min(t_s))
        spo2 = np.round(self._physiology.spo2_pct(t_s), 1)
        out: list[Reading] = []
        for seq, t, hr, sat in zip(
            seqs.tolist(), t_s.tolist(), heart_rate.tolist(), spo2.tolist(), strict=True
        ):
            device_ts = datetime.fromtimestamp(t + self.skew_s, UTC).replace(tzinfo=None)
            ts, flags = correction.correct(device_ts)
            out.append(
                make_reading(
                    device_id=self.device_id,
                    metric="heart_rate",
                    value=hr,
                    unit="/min",
                    ts=ts,
                    seq=seq,
                    flags=flags,
                )
            )
            out.append(
                make_reading(
                    device_id=self.device_id,
                    metric="spo2",
                    value=sat,
                    unit="%",
                    ts=ts,
                    seq=seq,
                    flags=flags,
                )
            )
        return out

    def battery_pct(self, utc_s: float) -> float:
        """A battery that loses 2 % a day from 100 % at record 1, down to 5 %."""
        return float(max(5.0, min(100.0, 100.0 - 2.0 * (utc_s - self.start_s) / 86400.0)))


class _DeviceSync:
    """Syncs one simulated device into the outbox until ``stop`` is set (one thread each, like
    one BLE connection each)."""

    def __init__(
        self,
        device: SimulatedWearable,
        outbox: Outbox,
        options: SimulationOptions,
        stop: threading.Event,
    ) -> None:
        self._device = device
        self._outbox = outbox
        self._options = options
        self._stop = stop
        self._released_at = time.monotonic()
        self._rate = options.rate_per_s or 1.0 / options.interval_s
        self._seen_at = float("-inf")

    def _released(self) -> int:
        elapsed = time.monotonic() - self._released_at
        count = self._options.backlog + math.floor(elapsed * self._rate)
        records = self._device.records
        return count if records is None else min(records, count)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sync()
            except OutboxFullError as exc:
                # Not acknowledged: the device keeps the records; the next sync offers them again.
                log.error("sync %s: %s", self._device.device_id, exc)
            except GatewayError as exc:
                log.error("sync %s failed: %s", self._device.device_id, exc)
            self._stop.wait(self._options.sync_interval_s)

    def _sync(self) -> None:
        device, outbox = self._device, self._outbox
        cursor = outbox.cursor(device.device_id) or 0
        upto = min(self._released(), cursor + _MAX_RECORDS_PER_SYNC)
        now_s = time.time()
        if upto > cursor:
            correction = ClockCorrection.measure(
                device.clock(now_s),
                datetime.fromtimestamp(now_s, UTC),
                time.monotonic(),
                outbox.boot_id,
                previous=outbox.clock(device.device_id),
            )
            readings = device.readings(cursor + 1, upto, correction)
            outbox.put(readings, clock=correction)
        if now_s - self._seen_at >= _SEEN_EVERY_S:
            outbox.device_seen(device.device_id, battery_pct=device.battery_pct(now_s))
            self._seen_at = now_s


def _base_settings(config_path: Path | None) -> tuple[UplinkConfig, int]:
    if config_path is None:
        return UplinkConfig(), DEFAULT_MAX_READINGS
    try:
        doc = parse_config(config_path.read_bytes())
        return doc.resolve(UplinkConfig(), DEFAULT_MAX_READINGS)
    except OSError as exc:
        raise ConfigurationError("--config", f"cannot read {config_path}: {exc}") from None
    except GatewayError as exc:
        raise ConfigurationError("--config", str(exc)) from None


def run_gateway(settings: Settings, stop: threading.Event, options: GatewayOptions) -> int:
    """Run one gateway until ``stop`` is set; returns the exit status (0).

    Raises :class:`~homeward.errors.ConfigurationError` for a missing broker URL, a bad config
    file or identity, :class:`~homeward.errors.ServiceStartError`-like
    :class:`~homeward.errors.HomewardError` when the outbox cannot be opened.
    """
    if not settings.mqtt_url:
        raise ConfigurationError("HOMEWARD_MQTT_URL", "the gateway needs a broker")
    base, bound = _base_settings(options.config_path)
    path = options.outbox_path or settings.data_dir / "gateway" / options.gateway_id / (
        "outbox.sqlite3"
    )
    try:
        outbox = Outbox(path, max_readings=bound)
    except GatewayError as exc:
        raise HomewardError(f"gateway outbox: {exc}") from exc
    try:
        uplink = Uplink(
            outbox,
            site=options.site,
            gateway_id=options.gateway_id,
            broker_url=settings.mqtt_url,
            config=base,
            username=settings.mqtt_username,
            password=settings.mqtt_password,
        )
    except GatewayError as exc:
        outbox.close()
        raise ConfigurationError("--site/--gateway-id", str(exc)) from None
    for event in outbox.health().corruption_events:
        log.error("outbox was corrupt at %s; kept as %s", event.at, event.moved_to)
    sim = options.simulation
    start_s = sim.start_s
    if start_s is None:
        start_s = time.time() - sim.backlog * sim.interval_s
    syncs = [
        _DeviceSync(
            SimulatedWearable(
                device_id,
                start_s=start_s,
                interval_s=sim.interval_s,
                records=sim.records,
                skew_s=sim.skew_s,
            ),
            outbox,
            sim,
            stop,
        )
        for device_id in sim.device_ids
    ]
    uplink.start()
    threads = [
        threading.Thread(target=s.run, name=f"sync-{i}", daemon=True) for i, s in enumerate(syncs)
    ]
    for t in threads:
        t.start()
    log.info(
        "gateway %s of %s running: outbox %s, %d simulated device(s)",
        options.gateway_id,
        options.site,
        path,
        len(syncs),
    )
    try:
        stop.wait()
    finally:
        for t in threads:
            t.join(10)
        uplink.stop()
        outbox.close()
        log.info("gateway %s stopped", options.gateway_id)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``homeward gateway`` options."""
    parser.add_argument("--site", required=True, help="site code (topic segment)")
    parser.add_argument("--gateway-id", required=True, help="this gateway's id (MQTT client id)")
    parser.add_argument("--outbox", type=Path, help="outbox file (default under the data dir)")
    parser.add_argument("--config", type=Path, help="homeward.gateway-config/1 base settings")
    sim = parser.add_argument_group("simulated devices (until BLE devices are read)")
    sim.add_argument("--simulate-device", action="append", default=[], metavar="ID")
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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m homeward.gateway_runner``: the same as ``homeward gateway``."""
    parser = argparse.ArgumentParser(prog="homeward gateway", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    try:
        return run_gateway(settings, stop, options_from_args(args))
    except HomewardError as exc:
        print(f"homeward gateway: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
