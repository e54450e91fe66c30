"""``homeward gateway --emulated-radio``: the home's Bluetooth LE devices, emulated in-process.

The gateway's config lists the home's devices (id, address, kind). With ``--emulated-radio`` the
gateway does not open the host's adapter: it puts its own virtual controller
(:class:`gateway.ble.backends.bumble.BumbleRadio`) on an in-process bumble ``LocalLink`` and
starts one :mod:`firmware_sim.ble` peripheral per listed device on the same link, at that device's
address, so the BLE side talks real ATT/GATT/SMP to them. It is what the demo and the tests run.

How each device behaves comes from an optional ``--emulated-devices FILE``
(``homeward.emulated-devices/1``); a device the file does not name gets the defaults::

    {"schema": "homeward.emulated-devices/1",
     "devices": {"gluco-7": {"records": 500, "seed": 3, "first_day_s": 1767196800,
                             "battery_pct": 8, "clock_error_s": -3600}}}

==================  ===================================================================
field               meaning (default)
==================  ===================================================================
``seed``            the generators' seed (CRC-32 of the device id: each device its own)
``records``         stored records at start: a glucometer's fingersticks (40), a cuff's,
                    scale's or thermometer's stored readings (14, 7, 14), the bites of
                    one meal the chopsticks hold (0: none); ignored by streams
``first_day_s``     glucometer: local midnight (epoch s) of the first record's day
                    (the meter's default: far enough back that every record is past)
``record_interval_s``  glucometer: seconds between records of a transfer (0)
``interval_s``      heart-rate band, oximeter: seconds between notifications (1)
``battery_pct``     Battery Level reported, % (85; ≤ 10 is low)
``silent``          accepts connections and never answers (false)
``clock_error_s``   how far the device clock is off local time, s (0)
``clock_writable``  whether the device accepts a Current Time write (true)
``disconnect_after``  drops the first link after this many measurements (null)
``corrupt``         measurement counts (glucometer: sequence numbers) sent damaged ([])
``corrupt_repeats`` damaged every time they are sent, not once (false)
``forget_bonds``    the device starts without its bonds (a reset): a gateway that had
                    paired with it finds the bond lost (false)
==================  ===================================================================

Everything is seeded, so the same file gives the same records on every run (a glucometer's
record times depend on ``first_day_s``, else on the day the gateway starts). The devices' bond
keys are kept in ``<gateway dir>/emulated-devices/<address>.json``, next to the gateway's own
(``ble-bonds.json``), so a bond outlives a gateway restart on both sides as it does for real
devices; records and readings are generated afresh at every start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import TracebackType
from typing import Any

from bumble.link import LocalLink

from firmware_sim.ble import (
    BloodPressureCuff,
    Chopsticks,
    DeviceClock,
    Faults,
    Glucometer,
    HeartRateWearable,
    PulseOximeter,
    Scale,
    Thermometer,
)
from firmware_sim.ble._peripheral import Peripheral
from firmware_sim.errors import FirmwareSimError
from gateway.ble.backends.bumble import BleakClientBumble, BleakScannerBumble, BumbleRadio
from gateway.config import ConfiguredDevice
from homeward.errors import ConfigurationError

log = logging.getLogger("homeward.gateway.emulated")

EMULATION_SCHEMA = "homeward.emulated-devices/1"
# An emulation file is a handful of small objects.
_MAX_BYTES = 256 * 1024
# Stored records a device of each kind holds when the file does not say: ten days of a
# glucometer's four tests, a week of twice-daily BP, a week of weighings, a week of two
# temperature readings a day; chopsticks hold no meal.
DEFAULT_RECORDS: Mapping[str, int] = {
    "glucometer": 40,
    "bp_cuff": 14,
    "scale": 7,
    "thermometer": 14,
    "chopsticks": 0,
}


@dataclass(frozen=True, slots=True)
class EmulatedDeviceOptions:
    """How one emulated device behaves (see the module table; times in seconds)."""

    seed: int | None = None
    records: int | None = None
    first_day_s: float | None = None
    record_interval_s: float = 0.0
    interval_s: float = 1.0
    battery_pct: int = 85
    silent: bool = False
    clock_error_s: float = 0.0
    clock_writable: bool = True
    disconnect_after: int | None = None
    corrupt: tuple[int, ...] = ()
    corrupt_repeats: bool = False
    forget_bonds: bool = False


_INTS = frozenset({"seed", "records", "battery_pct", "disconnect_after"})
_FLOATS = frozenset({"first_day_s", "record_interval_s", "interval_s", "clock_error_s"})
_BOOLS = frozenset({"silent", "clock_writable", "corrupt_repeats", "forget_bonds"})
_NULLABLE = frozenset({"seed", "records", "first_day_s", "disconnect_after"})


def _bad(where: str, value: Any, reason: str) -> ConfigurationError:
    return ConfigurationError("--emulated-devices", f"{where} = {value!r}: {reason}")


def _option(where: str, name: str, value: Any) -> Any:
    if value is None and name in _NULLABLE:
        return None
    if name in _BOOLS:
        if not isinstance(value, bool):
            raise _bad(where, value, "must be true or false")
        return value
    if name == "corrupt":
        if not isinstance(value, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in value
        ):
            raise _bad(where, value, "must be a list of counts ≥ 1")
        return tuple(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(where, value, "must be a number")
    if name in _INTS:
        if not isinstance(value, int):
            raise _bad(where, value, "must be an integer")
        return value
    if not math.isfinite(value):
        raise _bad(where, value, "must be finite")
    return float(value)


def parse_emulation(raw: bytes) -> dict[str, EmulatedDeviceOptions]:
    """The per-device options of a ``homeward.emulated-devices/1`` document, by device id.

    Raises :class:`~homeward.errors.ConfigurationError` naming the bad entry; value ranges are
    checked when the device is built (:func:`build_peripheral`).
    """
    if len(raw) > _MAX_BYTES:
        raise _bad("document", f"{len(raw)} bytes", f"larger than {_MAX_BYTES}")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _bad("document", raw[:40], f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != EMULATION_SCHEMA:
        raise _bad("schema", doc.get("schema") if isinstance(doc, dict) else doc, "unknown")
    unknown = sorted(set(doc) - {"schema", "devices"})
    if unknown:
        raise _bad(unknown[0], doc[unknown[0]], "unknown field")
    devices = doc.get("devices", {})
    if not isinstance(devices, dict):
        raise _bad("devices", devices, "must be an object keyed by device id")
    names = {f.name for f in fields(EmulatedDeviceOptions)}
    out: dict[str, EmulatedDeviceOptions] = {}
    for device_id, entry in devices.items():
        if not isinstance(entry, dict):
            raise _bad(f"devices.{device_id}", entry, "must be an object")
        options: dict[str, Any] = {}
        for name, value in entry.items():
            where = f"devices.{device_id}.{name}"
            if name not in names:
                raise _bad(where, value, "unknown field")
            options[name] = _option(where, name, value)
        out[device_id] = EmulatedDeviceOptions(**options)
    return out


def default_seed(device_id: str) -> int:
    """The seed of a device whose options name none: stable across runs and machines."""
    return zlib.crc32(device_id.encode("utf-8"))


def build_peripheral(
    link: LocalLink,
    device: ConfiguredDevice,
    options: EmulatedDeviceOptions,
    *,
    keystore_path: Path | None = None,
) -> Peripheral:
    """The (not yet started) emulated peripheral for ``device``, behaving as ``options`` say.

    Raises :class:`~homeward.errors.ConfigurationError` for options outside their range.
    """
    seed = default_seed(device.device_id) if options.seed is None else options.seed
    records = options.records
    if records is None:
        records = DEFAULT_RECORDS.get(device.kind, 0)
    try:
        faults = Faults(
            disconnect_after=options.disconnect_after,
            corrupt=frozenset(options.corrupt),
            corrupt_repeats=options.corrupt_repeats,
            battery_pct=options.battery_pct,
            silent=options.silent,
        )
        clock = DeviceClock(error_s=options.clock_error_s, writable=options.clock_writable)
        common: dict[str, Any] = {
            "address": device.address,
            "seed": seed,
            "faults": faults,
            "clock": clock,
            "keystore_path": keystore_path,
        }
        peripheral: Peripheral
        match device.kind:
            case "glucometer":
                peripheral = Glucometer(
                    link,
                    records=records,
                    first_day_s=options.first_day_s,
                    record_interval_s=options.record_interval_s,
                    **common,
                )
            case "bp_cuff":
                peripheral = BloodPressureCuff(link, readings=records, **common)
            case "scale":
                peripheral = Scale(link, readings=records, **common)
            case "thermometer":
                peripheral = Thermometer(link, readings=records, **common)
            case "heart_rate":
                peripheral = HeartRateWearable(link, interval_s=options.interval_s, **common)
            case "pulse_oximeter":
                peripheral = PulseOximeter(link, interval_s=options.interval_s, **common)
            case "chopsticks":
                chopsticks = Chopsticks(link, **common)
                if records:
                    chopsticks.eat(records)
                peripheral = chopsticks
            case _:
                raise ConfigurationError("devices", f"no emulated device of kind {device.kind!r}")
    except FirmwareSimError as exc:
        raise _bad(f"devices.{device.device_id}", options, str(exc)) from None
    return peripheral


class EmulatedRadio:
    """The gateway's emulated radio and the home's emulated devices on one ``LocalLink``.

    ``state_dir`` is the gateway's directory: the gateway's bond keys go to ``ble-bonds.json``,
    each device's to ``emulated-devices/<address>.json``. ``options`` are the per-device
    options by device id. Use as an async context manager; :meth:`ensure` starts a device.
    """

    def __init__(self, state_dir: Path, options: Mapping[str, EmulatedDeviceOptions]) -> None:
        # bumble's LocalLink.__init__ carries no annotations.
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        self.state_dir = state_dir
        self.options = dict(options)
        self.radio = BumbleRadio(self.link, keystore_path=state_dir / "ble-bonds.json")
        self.peripherals: dict[ConfiguredDevice, Peripheral] = {}
        #: Devices that could not be emulated, with the reason.
        self.failed: dict[ConfiguredDevice, str] = {}

    @property
    def client_backend(self) -> type[BleakClientBumble]:
        return self.radio.client_backend

    @property
    def scanner_backend(self) -> type[BleakScannerBumble]:
        return self.radio.scanner_backend

    async def __aenter__(self) -> EmulatedRadio:
        await self.radio.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.radio.close()
        for peripheral in self.peripherals.values():
            try:
                await peripheral.stop()
            except Exception:  # stopping: a device that fails to stop holds nothing of ours
                log.debug("emulated %s did not stop cleanly", peripheral.address, exc_info=True)
        self.peripherals.clear()

    async def ensure(self, device: ConfiguredDevice) -> None:
        """Start the emulated device for ``device`` unless it runs already (one per id, address
        and kind: a device listed again with a new address is a new device). A device whose
        options are out of range is logged once and not started (nothing answers at its
        address, as for a device out of range)."""
        if device in self.peripherals or device in self.failed:
            return
        options = self.options.get(device.device_id, EmulatedDeviceOptions())
        keystore = self.state_dir / "emulated-devices" / f"{device.address.replace(':', '')}.json"
        try:
            if options.forget_bonds:
                with contextlib.suppress(FileNotFoundError):
                    keystore.unlink()
            peripheral = build_peripheral(self.link, device, options, keystore_path=keystore)
            await peripheral.start()
        except (ConfigurationError, FirmwareSimError, OSError) as exc:
            self.failed[device] = str(exc)
            log.error("cannot emulate %s: %s", device.device_id, exc)
            return
        self.peripherals[device] = peripheral
        log.info("emulated %s %s at %s", device.kind, device.device_id, device.address)
