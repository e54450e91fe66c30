"""Errors raised by the gateway's Bluetooth LE side.

::

    gateway.errors.GatewayError
     └── BleError                      the BLE side cannot do what was asked
          ├── RegistryError            the device registry file cannot be used (.path, .detail)
          ├── NotEnrolledError         a device that is not on this home's allow-list (.device_id)
          ├── EnrolmentError           pairing at enrolment failed (.device_id, .reason)
          ├── BondLostError            a bonded device no longer accepts our keys (.device_id)
          ├── DeviceUnreachableError   no connection after every retry (.device_id, .attempts)
          └── SyncError                a session with a device ended early (.device_id, .reason)
               └── RacpError           the device answered a RACP request with an error code
                                       (.device_id, .op_code, .response_code)

bleak's exceptions (and, under them, the radio's) are translated where the gateway calls bleak:
callers catch these classes only.
"""

from __future__ import annotations

from pathlib import Path

from gateway.errors import GatewayError


class BleError(GatewayError):
    """Root of every error raised by :mod:`gateway.ble`."""


class RegistryError(BleError):
    """The device registry at ``path`` cannot be read or written."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"device registry {path}: {detail}")


class NotEnrolledError(BleError, KeyError):
    """A device id that is not on this home's allow-list."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        super().__init__(f"device {device_id!r} is not enrolled at this gateway")

    def __str__(self) -> str:
        return f"device {self.device_id!r} is not enrolled at this gateway"


class EnrolmentError(BleError):
    """Pairing with a device at enrolment failed."""

    def __init__(self, device_id: str, reason: str) -> None:
        self.device_id = device_id
        self.reason = reason
        super().__init__(f"cannot enrol {device_id}: {reason}")


class BondLostError(BleError):
    """A device the gateway bonded with refuses the stored keys: it must be paired again."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        super().__init__(f"{device_id} lost its bond with this gateway (pair it again)")


class DeviceUnreachableError(BleError):
    """No connection to the device after ``attempts`` tries."""

    def __init__(self, device_id: str, attempts: int, detail: str) -> None:
        self.device_id = device_id
        self.attempts = attempts
        self.detail = detail
        super().__init__(f"{device_id}: no connection after {attempts} attempts ({detail})")


class SyncError(BleError):
    """A session with a device ended before its data was all read."""

    def __init__(self, device_id: str, reason: str) -> None:
        self.device_id = device_id
        self.reason = reason
        super().__init__(f"{device_id}: {reason}")


class RacpError(SyncError):
    """The device answered a Record Access Control Point request with an error response code."""

    def __init__(self, device_id: str, op_code: int, response_code: int) -> None:
        self.op_code = op_code
        self.response_code = response_code
        super().__init__(
            device_id, f"RACP op code 0x{op_code:02X} answered response code 0x{response_code:02X}"
        )
