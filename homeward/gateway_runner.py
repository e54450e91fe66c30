"""``homeward gateway``: one home gateway process (outbox, MQTT uplink, BLE devices).

::

    homeward gateway --site site-sh01 --gateway-id gw-7f3a [--outbox PATH] [--config FILE]
                     [--emulated-radio [--emulated-devices FILE]]
                     [--simulate-device ID ...] [--records N] [--interval-s S] [--backlog N]
                     [--rate R] [--skew-s S] [--start EPOCH_S] [--sync-interval-s S]

The broker comes from ``HOMEWARD_MQTT_URL`` (and ``HOMEWARD_MQTT_USERNAME`` /
``HOMEWARD_MQTT_PASSWORD``); the outbox defaults to ``$HOMEWARD_DATA_DIR/gateway/<gateway id>/
outbox.sqlite3``, and the gateway keeps its other files (BLE allow-list, bond keys) in the
outbox's directory. ``--config`` is a ``homeward.gateway-config/2`` (or ``/1``) document used as
the base settings (the cloud's retained config applies on top of it).

**Threads.** The uplink runs in its own thread (:class:`gateway.Uplink`), the BLE side on an
asyncio loop in another (:class:`homeward.gateway_ble.BleService`), and the simulated devices
each in one more: none of them waits for another; they meet in the outbox. The uplink and the BLE
side are joined only through the uplink's public hooks: ``radio_status`` puts the radio's status
into the heartbeat (a BLE problem appearing or going away sends one at once), ``on_config`` hands
the BLE side every config document put in force, and the BLE side starts only once
:meth:`gateway.Uplink.wait_restored` says the cloud config kept in the outbox is back in force, so
that a device only the cloud lists is never dropped (and its bond deleted) because the base
config, read first, does not list it.

**BLE devices.** The config's ``devices`` list names this home's Bluetooth LE devices: newly
listed ones are enrolled (and paired once), the central syncs each as it comes in range, and the
readings go into the outbox the uplink flushes. The heartbeat carries the radio's status and its
problems. The radio is the host's adapter; ``--emulated-radio`` runs the listed devices as
emulated peripherals on an in-process radio instead (:mod:`homeward.gateway_emulation`,
configured by ``--emulated-devices``).

**Stopping.** SIGTERM or SIGINT stops the process cleanly, in this order: the BLE side (scan
ended, sessions cancelled; every outbox write already started completes, and a cancelled RACP
transfer resumes after the outbox's cursor next time), the simulated devices, the uplink (the
retained status turns ``offline``), and last the outbox. Unacknowledged readings stay in it.

**Simulated devices.** ``--simulate-device`` runs wearables with a record memory, synced the
way a BLE record sync works, without a radio: each sync asks the
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
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import numpy as np

from devices import Reading, make_reading
from firmware_sim import Scenario
from gateway import (
    DEFAULT_MAX_READINGS,
    ClockCorrection,
    GatewayConfig,
    GatewayError,
    Outbox,
    OutboxFullError,
    Uplink,
    UplinkConfig,
    parse_config,
)
from homeward.errors import ConfigurationError, HomewardError
from homeward.gateway_ble import BleService, wish_for
from homeward.gateway_emulation import EmulatedDeviceOptions, parse_emulation
from homeward.gateway_options import (
    GatewayOptions,
    SimulationOptions,
    add_arguments,
    options_from_args,
)
from homeward.settings import Settings

__all__ = [
    "GatewayOptions",
    "SimulatedWearable",
    "SimulationOptions",
    "add_arguments",
    "main",
    "options_from_args",
    "run_gateway",
]

log = logging.getLogger("homeward.gateway")

# Device-side resolution of Current Time 0x2A2B: Fractions256 (GATT Specification Supplement
# v8 §3.62).
_FRACTIONS_PER_S = 256
# Records handed over per sync at most: a BLE record transfer of ~15 s at typical rates.
_MAX_RECORDS_PER_SYNC = 500
# How often a device's battery and presence are written when nothing else changes.
_SEEN_EVERY_S = 30.0
# How long a clean stop waits for the BLE side: a session cancelled mid-transfer disconnects and
# an outbox write in progress completes well within this.
_BLE_STOP_TIMEOUT_S = 30.0


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


def _base_settings(
    config_path: Path | None, site_zone: str
) -> tuple[UplinkConfig, int, GatewayConfig | None]:
    """The base uplink settings, outbox bound and document of the local config file."""
    if config_path is None:
        return UplinkConfig(), DEFAULT_MAX_READINGS, None
    try:
        doc = parse_config(config_path.read_bytes())
        uplink, bound = doc.resolve(UplinkConfig(), DEFAULT_MAX_READINGS)
        wish_for(doc, None, site_zone=site_zone)  # the BLE settings, checked before anything runs
        return uplink, bound, doc
    except OSError as exc:
        raise ConfigurationError("--config", f"cannot read {config_path}: {exc}") from None
    except GatewayError as exc:
        raise ConfigurationError("--config", str(exc)) from None


def _emulation(options: GatewayOptions) -> dict[str, EmulatedDeviceOptions] | None:
    """The emulated radio's per-device options (None: the host's adapter)."""
    if not options.emulated_radio:
        if options.emulation_path is not None:
            raise ConfigurationError("--emulated-devices", "needs --emulated-radio")
        return None
    if options.emulation_path is None:
        return {}
    try:
        return parse_emulation(options.emulation_path.read_bytes())
    except OSError as exc:
        raise ConfigurationError(
            "--emulated-devices", f"cannot read {options.emulation_path}: {exc}"
        ) from None


def run_gateway(settings: Settings, stop: threading.Event, options: GatewayOptions) -> int:
    """Run one gateway until ``stop`` is set; returns the exit status (0).

    Raises :class:`~homeward.errors.ConfigurationError` for a missing broker URL, a bad config
    file or identity, :class:`~homeward.errors.ServiceStartError`-like
    :class:`~homeward.errors.HomewardError` when the outbox cannot be opened.
    """
    if not settings.mqtt_url:
        raise ConfigurationError("HOMEWARD_MQTT_URL", "the gateway needs a broker")
    zone = settings.default_timezone
    base, bound, base_doc = _base_settings(options.config_path, zone)
    emulation = _emulation(options)
    path = options.outbox_path or settings.data_dir / "gateway" / options.gateway_id / (
        "outbox.sqlite3"
    )
    try:
        outbox = Outbox(path, max_readings=bound)
    except GatewayError as exc:
        raise HomewardError(f"gateway outbox: {exc}") from exc
    ble = BleService(
        outbox, path.parent, wish_for(base_doc, None, site_zone=zone), emulation=emulation
    )

    def on_config(remote: GatewayConfig | None) -> None:
        # Should wish_for refuse, the uplink logs and counts it; the BLE side keeps its wish.
        ble.configure(wish_for(base_doc, remote, site_zone=zone))

    try:
        uplink = Uplink(
            outbox,
            site=options.site,
            gateway_id=options.gateway_id,
            broker_url=settings.mqtt_url,
            config=base,
            username=settings.mqtt_username,
            password=settings.mqtt_password,
            radio_status=ble.status,
            on_config=on_config,
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
    # The BLE side reads the device list only once the cloud config kept in the outbox is back
    # in force and handed to on_config (a restore is one SQLite read): see the module docstring.
    while not uplink.wait_restored(0.2) and not stop.is_set():
        pass
    ble.start()
    threads = [
        threading.Thread(target=s.run, name=f"sync-{i}", daemon=True) for i, s in enumerate(syncs)
    ]
    for t in threads:
        t.start()
    log.info(
        "gateway %s of %s running: outbox %s, %s radio, %d simulated device(s)",
        options.gateway_id,
        options.site,
        path,
        ble.radio_name,
        len(syncs),
    )
    try:
        stop.wait()
    finally:
        # Producers first, so nothing writes to the outbox once it is closed.
        idle = ble.stop(_BLE_STOP_TIMEOUT_S)
        for t in threads:
            t.join(10)
        idle = idle and not any(t.is_alive() for t in threads)
        uplink.stop()
        if idle:
            outbox.close()
        else:
            # Closing under a writer could fail its commit; the process exit that follows
            # releases the file, and SQLite keeps every transaction that committed.
            log.error(
                "gateway %s: a device side did not stop; outbox left open", options.gateway_id
            )
        log.info("gateway %s stopped", options.gateway_id)
    return 0


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
