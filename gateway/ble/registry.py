"""The devices of this home: the allow-list, with what the gateway remembers about each one.

Only devices in the registry are ever connected to; everything else heard on the air (the
neighbour's glucometer through the wall) is counted and ignored. For each device the registry
keeps its address and kind, and whether the gateway bonded with it at enrolment (so a refused key
is recognised as a *lost* bond, not as a device that never had one) and when the bond was found
lost. (Record cursors and clock corrections live in the outbox, in the transaction that stores
the readings they belong to.)

The file (``ble-devices.json`` in the gateway's data directory) is rewritten whole on every change:
a temporary file, fsync, rename, fsync of the directory. It is small (a home has a handful of
devices) and changes rarely (enrolment, bond events).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from devices import DEVICE_ID_RE
from gateway.ble.errors import NotEnrolledError, RegistryError
from gateway.ble.profiles import DeviceKind

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class EnrolledDevice:
    """One device of this home.

    ``address`` is its Bluetooth address ("AA:BB:CC:DD:EE:FF", upper case). ``bonded`` is True once
    pairing at enrolment succeeded; ``bond_lost_at`` is when the device was found to refuse the
    bond (UTC), ``None`` while it holds.
    """

    device_id: str
    address: str
    kind: DeviceKind
    bonded: bool = False
    bond_lost_at: datetime | None = None

    def __post_init__(self) -> None:
        if not DEVICE_ID_RE.match(self.device_id):
            raise ValueError(f"invalid device id {self.device_id!r}")
        parts = self.address.split(":")
        if len(parts) != 6 or any(len(p) != 2 for p in parts):
            raise ValueError(f"invalid Bluetooth address {self.address!r}")
        int("".join(parts), 16)
        object.__setattr__(self, "address", self.address.upper())

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind.value,
            "bonded": self.bonded,
            "bond_lost_at": None if self.bond_lost_at is None else self.bond_lost_at.isoformat(),
        }

    @classmethod
    def from_json(cls, device_id: str, data: dict[str, Any]) -> EnrolledDevice:
        lost = data.get("bond_lost_at")
        return cls(
            device_id=device_id,
            address=str(data["address"]),
            kind=DeviceKind(data["kind"]),
            bonded=bool(data.get("bonded", False)),
            bond_lost_at=None if lost is None else datetime.fromisoformat(str(lost)),
        )


class DeviceRegistry:
    """The allow-list of this home, stored durably at ``path`` (created on first change)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._devices: dict[str, EnrolledDevice] = {}
        self._load()

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise RegistryError(self.path, f"cannot read: {exc}") from exc
        try:
            doc = json.loads(text)
            if doc.get("version") != FORMAT_VERSION:
                raise RegistryError(self.path, f"unsupported format version {doc.get('version')!r}")
            self._devices = {
                device_id: EnrolledDevice.from_json(device_id, entry)
                for device_id, entry in doc["devices"].items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RegistryError(self.path, f"not a device registry ({exc})") from exc

    def _save(self) -> None:
        doc = {
            "version": FORMAT_VERSION,
            "devices": {d.device_id: d.to_json() for d in self._devices.values()},
        }
        directory = self.path.parent
        temp = self.path.with_name(self.path.name + ".tmp")
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(doc, out, indent=2, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise RegistryError(self.path, f"cannot write: {exc}") from exc

    def __iter__(self) -> Iterator[EnrolledDevice]:
        return iter(list(self._devices.values()))

    def __len__(self) -> int:
        return len(self._devices)

    def get(self, device_id: str) -> EnrolledDevice:
        """The enrolled device ``device_id``; :class:`NotEnrolledError` if there is none."""
        try:
            return self._devices[device_id]
        except KeyError:
            raise NotEnrolledError(device_id) from None

    def by_address(self, address: str) -> EnrolledDevice | None:
        """The enrolled device with Bluetooth address ``address``, or None (not ours)."""
        wanted = address.upper()
        for device in self._devices.values():
            if device.address == wanted:
                return device
        return None

    def enroll(self, device_id: str, address: str, kind: DeviceKind) -> EnrolledDevice:
        """Add a device to the allow-list (or change its address/kind); returns the entry.

        A device enrolled again keeps nothing of its former bond state.
        """
        device = EnrolledDevice(device_id=device_id, address=address, kind=kind)
        clash = self.by_address(device.address)
        if clash is not None and clash.device_id != device_id:
            raise ValueError(f"address {device.address} is already enrolled as {clash.device_id}")
        self._devices[device_id] = device
        self._save()
        return device

    def remove(self, device_id: str) -> None:
        """Take a device off the allow-list (nothing happens if it is not on it)."""
        if self._devices.pop(device_id, None) is not None:
            self._save()

    def update(self, device_id: str, **changes: Any) -> EnrolledDevice:
        """Change fields of an enrolled device and store the registry; returns the new entry."""
        device = dataclasses.replace(self.get(device_id), **changes)
        if device != self._devices[device_id]:
            self._devices[device_id] = device
            self._save()
        return device
