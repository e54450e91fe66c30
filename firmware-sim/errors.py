"""Errors raised by the simulated firmware.

::

    FirmwareSimError
     ├── ParameterError          a signal, scenario or wearable setting outside its valid range
     │                           (.name: the parameter, .value: what was given)
     └── FleetError              a fleet that cannot be built or driven as asked
          ├── DuplicateDeviceError   two wearables with one device id (.device_id)
          └── FleetStateError        start() on a fleet that already ran (.state)

Every subclass carries the offending value, so a demo script that passes a wrong scenario is told
exactly which knob was wrong.
"""

from __future__ import annotations

from typing import Any


class FirmwareSimError(Exception):
    """Root of every error raised by :mod:`firmware_sim`."""


class ParameterError(FirmwareSimError, ValueError):
    """A parameter outside its valid range (``name`` says which, ``value`` what was given)."""

    def __init__(self, name: str, value: Any, reason: str) -> None:
        self.name = name
        self.value = value
        self.reason = reason
        super().__init__(f"{name}={value!r}: {reason}")


class FleetError(FirmwareSimError):
    """A wearable fleet that cannot be built or driven as asked."""


class DuplicateDeviceError(FleetError):
    """Two wearables of one fleet share a device id (MQTT client ids must be unique)."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        super().__init__(f"device id {device_id!r} appears more than once in the fleet")


class FleetStateError(FleetError):
    """A fleet asked to do something its state does not allow (e.g. start twice)."""

    def __init__(self, state: str, message: str) -> None:
        self.state = state
        super().__init__(f"fleet is {state}: {message}")
