"""Faults an emulated peripheral can be told to commit, all off by default.

=========================  ==================================================================
field                      what the device does
=========================  ==================================================================
``disconnect_after``       drops the link right after sending that many measurement
                           notifications in one connection (once; later connections are clean)
``corrupt``                sends these measurement notifications (1-based count over the
                           device's life; for a glucometer: these record sequence numbers)
                           as damaged bytes instead
``corrupt_repeats``        False: each listed notification is damaged once, a resend is good;
                           True: damaged every time (a record broken in the device's memory)
``battery_pct``            the Battery Level it reports (%, 0-100; ≤ 10 is "low")
``silent``                 accepts connections but never answers an ATT request
``clock_error_s``          (on the device's :class:`~firmware_sim.ble.DeviceClock`) a wrong clock
=========================  ==================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware_sim.errors import ParameterError

# Battery level at or below which a device is "low" (what most meters show as the empty-battery
# icon; the Battery Service itself defines no threshold, BAS v1.1 §3.1).
LOW_BATTERY_PCT = 10


@dataclass(frozen=True, slots=True)
class Faults:
    """What to get wrong, see the module table."""

    disconnect_after: int | None = None
    corrupt: frozenset[int] = field(default_factory=frozenset)
    corrupt_repeats: bool = False
    battery_pct: int = 85
    silent: bool = False

    def __post_init__(self) -> None:
        if self.disconnect_after is not None and self.disconnect_after < 0:
            raise ParameterError("disconnect_after", self.disconnect_after, "must be ≥ 0")
        if not 0 <= self.battery_pct <= 100:
            raise ParameterError("battery_pct", self.battery_pct, "must be within 0-100 %")
        if any(n < 1 for n in self.corrupt):
            raise ParameterError("corrupt", sorted(self.corrupt), "counts start at 1")
