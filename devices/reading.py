"""The ``Reading`` model: one value of one metric from one device at one instant."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from devices.metrics import get_metric


class Quality(StrEnum):
    """Quality flags a reading may carry.

    A flagged reading is stored (nothing is silently dropped) but rules skip readings whose
    flags say the value cannot be trusted; see :data:`UNTRUSTED`.
    """

    IMPLAUSIBLE = "implausible"  # outside the metric's plausible range
    NAN = "nan"  # IEEE 11073 NaN: the device had no value
    NRES = "nres"  # IEEE 11073 NRes: not at this resolution
    POS_INF = "pos_inf"  # above the device's measuring range ("HI")
    NEG_INF = "neg_inf"  # below the device's measuring range ("LO")
    RESERVED = "reserved"  # a reserved special value
    DEVICE_FAULT = "device_fault"  # the device annunciated a sensor fault
    MEASUREMENT_ISSUE = "measurement_issue"  # body movement, cuff fit, sample size...
    CLOCK_ESTIMATED = "clock_estimated"  # device time corrected by a measured offset
    THINNED = "thinned"  # the gateway dropped neighbouring high-rate samples
    # Annunciations of the Bluetooth health profiles (devices/gatt, docs/devices/):
    INVALID = "invalid"  # the device itself marked the measurement invalid or unavailable
    TEST_DATA = "test_data"  # control solution, demonstration or test data: not the patient's
    LOW_BATTERY = "low_battery"  # the device's battery was low when it measured
    TIME_FAULT = "time_fault"  # the device reported a clock fault or an unset clock
    IRREGULAR_PULSE = "irregular_pulse"  # a BP cuff detected an irregular pulse (AF screening)
    # Context, not quality: the meal a glucose reading relates to (Glucose Measurement Context).
    MEAL_PREPRANDIAL = "meal_preprandial"
    MEAL_POSTPRANDIAL = "meal_postprandial"
    MEAL_FASTING = "meal_fasting"
    MEAL_CASUAL = "meal_casual"  # snacks, drinks
    MEAL_BEDTIME = "meal_bedtime"


# Readings with any of these flags are stored but never trigger an alert.
UNTRUSTED: frozenset[str] = frozenset(
    {
        Quality.IMPLAUSIBLE,
        Quality.NAN,
        Quality.NRES,
        Quality.POS_INF,
        Quality.NEG_INF,
        Quality.RESERVED,
        Quality.DEVICE_FAULT,
        Quality.INVALID,
        Quality.TEST_DATA,
    }
)

# Flags that stand in for a missing number: a reading may have ``value=None`` only with one.
VALUELESS: frozenset[str] = frozenset(
    {Quality.NAN, Quality.NRES, Quality.POS_INF, Quality.NEG_INF, Quality.RESERVED}
)

DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
FLAG_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True, slots=True)
class Reading:
    """One measured value.

    ``value`` is in the metric's canonical unit (``unit`` says which), or ``None`` when the device
    sent a special value (then ``flags`` holds one of :data:`VALUELESS`). ``ts`` is the moment of
    measurement, timezone-aware UTC, already clock-corrected. ``seq`` is the device's record
    sequence number (wearables count their samples); with ``device_id``, ``metric`` and ``ts`` it is
    the idempotency key, so a reading delivered twice is stored once.
    """

    device_id: str
    metric: str
    value: float | None
    unit: str
    ts: datetime
    seq: int
    flags: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not DEVICE_ID_RE.match(self.device_id):
            raise ValueError(f"invalid device id {self.device_id!r}")
        metric = get_metric(self.metric)
        if self.unit != metric.unit:
            raise ValueError(
                f"reading of {self.metric} must be in canonical unit {metric.unit!r}, "
                f"not {self.unit!r}; convert with Metric.to_canonical first"
            )
        if self.ts.tzinfo is None or self.ts.utcoffset() is None:
            raise ValueError("reading timestamp must be timezone-aware")
        if self.seq < 0 or self.seq > 2**63 - 1:
            raise ValueError(f"sequence number out of range: {self.seq}")
        if self.value is None:
            if not (self.flags & VALUELESS):
                raise ValueError("a reading without a value must carry a special-value flag")
        elif not math.isfinite(self.value):
            raise ValueError("reading value must be finite; use a special-value flag instead")
        for f in self.flags:
            if not FLAG_RE.match(f):
                raise ValueError(f"invalid quality flag {f!r}")

    @property
    def key(self) -> tuple[str, str, int, datetime]:
        """The idempotency key ``(device_id, metric, seq, ts)``."""
        return (self.device_id, self.metric, self.seq, self.ts.astimezone(UTC))

    @property
    def trusted(self) -> bool:
        """True when the value may be used by alert rules."""
        return self.value is not None and not (self.flags & UNTRUSTED)


def make_reading(
    *,
    device_id: str,
    metric: str,
    value: float | None,
    unit: str,
    ts: datetime,
    seq: int,
    flags: frozenset[str] | set[str] = frozenset(),
) -> Reading:
    """Build a reading from a value in any accepted unit.

    Converts ``value`` to the metric's canonical unit and adds the ``implausible`` flag when the
    converted value is outside the plausible range. Raises :class:`devices.UnitError` or
    :class:`devices.UnknownMetricError` for units and metrics the catalog does not know.
    """
    m = get_metric(metric)
    out_flags = set(flags)
    canonical: float | None = None
    if value is not None:
        canonical = m.to_canonical(float(value), unit)
        if math.isfinite(canonical) and not m.is_plausible(canonical):
            out_flags.add(Quality.IMPLAUSIBLE)
    return Reading(
        device_id=device_id,
        metric=metric,
        value=canonical,
        unit=m.unit,
        ts=ts.astimezone(UTC),
        seq=seq,
        flags=frozenset(out_flags),
    )
