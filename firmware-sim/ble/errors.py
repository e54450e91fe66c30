"""Errors raised by the emulated Bluetooth LE peripherals.

::

    firmware_sim.errors.FirmwareSimError
     ├── firmware_sim.errors.ParameterError   a device or fault setting out of range (.name, .value)
     └── PeripheralError                      an emulated peripheral asked to do what it cannot
          └── PeripheralStateError            e.g. start() twice, a record before start() (.state)
"""

from __future__ import annotations

from firmware_sim.errors import FirmwareSimError


class PeripheralError(FirmwareSimError):
    """An emulated peripheral cannot do what was asked."""


class PeripheralStateError(PeripheralError):
    """A peripheral asked to do something its state does not allow (``state`` says which)."""

    def __init__(self, state: str, message: str) -> None:
        self.state = state
        super().__init__(f"peripheral is {state}: {message}")
