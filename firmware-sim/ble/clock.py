"""The clock inside an emulated device: local time, possibly wrong, possibly settable.

Home health devices keep local wall-clock time with no time zone (the Glucose Measurement's Base
Time is a local Date Time, Glucose Service v1.0 §3.106; the Time Offset field is optional), set by
the user or by a gateway through the Current Time Service. Their clocks are often wrong: never set
after a battery change (the clock starts at the year 2000 or the firmware date), or years off
after a wrong manual setting. A :class:`DeviceClock` models that::

    device_local(t) = t + utc_offset_s + error_s         (t: true time, epoch seconds UTC)

``error_s`` is how far the device is from true local time; writing the Current Time sets it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from firmware_sim.errors import ParameterError
from firmware_sim.signals import SHANGHAI_UTC_OFFSET_S

_EPOCH = datetime(1970, 1, 1)


@dataclass(slots=True)
class DeviceClock:
    """A device's local clock, ``error_s`` seconds off true local time (UTC + ``utc_offset_s``).

    ``wall`` gives true time as epoch seconds (``time.time``). ``writable`` says whether the
    device accepts a Current Time write (many glucometers do not).
    """

    error_s: float = 0.0
    utc_offset_s: float = SHANGHAI_UTC_OFFSET_S
    writable: bool = True
    wall: Callable[[], float] = field(default=time.time, repr=False)

    def __post_init__(self) -> None:
        if not math.isfinite(self.error_s) or abs(self.error_s) > 100 * 365.25 * 86400:
            raise ParameterError("error_s", self.error_s, "must be finite and within 100 years")
        if abs(self.utc_offset_s) > 14 * 3600:
            raise ParameterError("utc_offset_s", self.utc_offset_s, "must be within ±14 h")

    def local_at(self, true_s: float) -> datetime:
        """What the device's clock showed at true instant ``true_s`` (naive local datetime)."""
        return _EPOCH + timedelta(seconds=true_s + self.utc_offset_s + self.error_s)

    def now(self) -> datetime:
        """The device's local time now (naive), to whole microseconds."""
        return self.local_at(self.wall())

    def set_local(self, local: datetime) -> None:
        """Set the clock to ``local`` (naive local time, what a Current Time write carries).

        A timezone-aware value is converted to the device's zone first.
        """
        if local.tzinfo is not None:
            local = (local.astimezone(UTC) + timedelta(seconds=self.utc_offset_s)).replace(
                tzinfo=None
            )
        true_local = _EPOCH + timedelta(seconds=self.wall() + self.utc_offset_s)
        self.error_s = (local - true_local).total_seconds()
