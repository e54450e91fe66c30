"""Device clock correction: measured once per sync, applied the same way to every record of it.

A glucometer's clock is set by hand, drifts, resets to 2000-01-01 when the battery is changed,
or runs in local time. Its records carry *device* time. At each sync the gateway reads the
device's current time (Current Time 0x2A2B or Date Time 0x2A08) and its own UTC clock at the same
moment; :meth:`ClockCorrection.measure` turns the pair into a whole-second offset, and
:meth:`ClockCorrection.correct` maps every record's device time to UTC with that offset::

    previous = outbox.clock(device_id)                   # what the last sync applied, or None
    correction = ClockCorrection.measure(
        device_now, datetime.now(UTC), time.monotonic(), boot_id, previous=previous
    )
    ts, flags = correction.correct(record.device_time)   # flags has clock_estimated if shifted
    outbox.put(readings, clock=correction)               # keeps the provenance of each reading

**Deterministic.** The corrected time depends only on the record's device time and the offset,
and the offset is chosen so that re-measuring does not move it:

1. ``raw = gateway_utc - device_time`` in seconds.
2. If a ``previous`` correction of this device is given and ``raw`` lies within ``tolerance_s``
   of its offset, that offset is kept (hysteresis): a record read again in a later sync (a
   transfer cut off before its records were stored) gets the same UTC time, hence the same
   idempotency key ``(device_id, metric, seq, ts)``.
3. Otherwise, if ``|raw| ≤ tolerance_s``, the clock is right to within what can be measured:
   offset 0, nothing is changed, no flag.
4. Otherwise the offset is ``raw`` rounded to whole seconds (device record times have one-second
   resolution: GATT Date Time 0x2A08, GATT Specification Supplement v8 §3.70), and every
   corrected reading carries :attr:`devices.Quality.CLOCK_ESTIMATED`: one offset measured now
   stands in for the clock error at the moment each older record was taken.

A reading already in the outbox is never corrected again: the outbox stores the corrected time,
so a resend carries the same bytes. The residual risk is a first measurement (no ``previous``:
a new device, or a fresh outbox after corruption) whose raw offset falls on the other side of a
rounding boundary than the first time: records re-read then would arrive with a timestamp one
second apart. Devices that answer Current Time (1/256 s resolution, Fractions256) and a read
latency of tens of milliseconds make that rare; writing the correct time to the device (when it
allows it) removes it.

Naive device times are the device's wall clock in whatever zone it was set to; they are treated
as UTC-labelled for the arithmetic, so a device set to China Standard Time gets an offset of about
-8 h and its records come out in true UTC. Pure: no I/O, no clock reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from devices import Quality
from gateway.errors import ClockError

# Read latency of one GATT read (a few connection intervals, 7.5 ms-4 s by Core Spec v5.4 Vol 6
# Part B §4.5.1; tens of ms in practice) plus the one-second truncation of Date Time 0x2A08:
# a clock closer than this to the gateway's cannot be told apart from a correct one.
CLOCK_TOLERANCE_S = 2.0

_ESTIMATED: frozenset[str] = frozenset({Quality.CLOCK_ESTIMATED.value})


def _as_utc(ts: datetime) -> datetime:
    """Aware → UTC; naive → the same wall-clock reading labelled UTC (see module docstring)."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where one reading's timestamp came from.

    ``device_time``: what the device's clock said for the record (UTC-labelled; equal to the
    reading's ``ts`` when no correction was applied). ``gateway_utc``: the gateway's UTC clock
    when the device's clock was measured (or when the reading was stored, for readings put
    without a clock). ``monotonic_s``: the gateway's monotonic clock at that moment, in seconds;
    comparable only within one ``boot_id`` (``/proc/sys/kernel/random/boot_id``).
    ``clock_offset_s``: whole seconds added to the device time (0: not corrected).
    """

    device_time: datetime
    gateway_utc: datetime
    monotonic_s: float
    boot_id: str
    clock_offset_s: int


@dataclass(frozen=True, slots=True)
class ClockCorrection:
    """One measurement of a device's clock against the gateway's, and the offset it implies.

    ``offset_s`` (whole seconds) is added to device times: ``utc = device_time + offset_s``.
    ``measured_offset_s`` is the raw difference it was chosen from. ``device_time`` is ``None``
    for a :meth:`gateway_clock` correction (the device has no clock; the gateway stamped its
    readings). ``estimated`` is true when ``offset_s`` is not 0.
    """

    device_time: datetime | None
    gateway_utc: datetime
    monotonic_s: float
    boot_id: str
    offset_s: int
    measured_offset_s: float

    @property
    def estimated(self) -> bool:
        return self.offset_s != 0

    @classmethod
    def measure(
        cls,
        device_time: datetime,
        gateway_utc: datetime,
        monotonic_s: float,
        boot_id: str,
        *,
        previous: ClockCorrection | None = None,
        tolerance_s: float = CLOCK_TOLERANCE_S,
    ) -> ClockCorrection:
        """The correction for a device whose clock read ``device_time`` when the gateway's UTC
        clock read ``gateway_utc`` (aware) and its monotonic clock ``monotonic_s`` (seconds, in
        boot ``boot_id``). ``previous``: the correction the last sync of the same device applied
        (``Outbox.clock(device_id)``). ``tolerance_s`` (≥ 0): see the module docstring.

        Raises :class:`~gateway.errors.ClockError` for a naive ``gateway_utc``, a non-finite
        ``monotonic_s`` or ``tolerance_s``, or an empty ``boot_id``.
        """
        cls._check(gateway_utc, monotonic_s, boot_id)
        if not (math.isfinite(tolerance_s) and tolerance_s >= 0):
            raise ClockError(tolerance_s, "tolerance_s must be a finite number ≥ 0")
        device_utc = _as_utc(device_time)
        raw = (gateway_utc.astimezone(UTC) - device_utc).total_seconds()
        if previous is not None and abs(raw - previous.offset_s) <= tolerance_s:
            offset = previous.offset_s
        elif abs(raw) <= tolerance_s:
            offset = 0
        else:
            offset = round(raw)
        return cls(
            device_time=device_utc,
            gateway_utc=gateway_utc.astimezone(UTC),
            monotonic_s=float(monotonic_s),
            boot_id=boot_id,
            offset_s=offset,
            measured_offset_s=raw,
        )

    @classmethod
    def gateway_clock(
        cls, gateway_utc: datetime, monotonic_s: float, boot_id: str
    ) -> ClockCorrection:
        """No device clock: the readings were stamped by the gateway itself (e.g. heart-rate
        notifications, which carry no time). Nothing is corrected, nothing is flagged."""
        cls._check(gateway_utc, monotonic_s, boot_id)
        return cls(
            device_time=None,
            gateway_utc=gateway_utc.astimezone(UTC),
            monotonic_s=float(monotonic_s),
            boot_id=boot_id,
            offset_s=0,
            measured_offset_s=0.0,
        )

    @staticmethod
    def _check(gateway_utc: datetime, monotonic_s: float, boot_id: str) -> None:
        if gateway_utc.tzinfo is None or gateway_utc.utcoffset() is None:
            raise ClockError(gateway_utc, "gateway_utc must be timezone-aware")
        if not math.isfinite(monotonic_s):
            raise ClockError(monotonic_s, "monotonic_s must be finite")
        if not boot_id:
            raise ClockError(boot_id, "boot_id must not be empty")

    def correct(self, device_ts: datetime) -> tuple[datetime, frozenset[str]]:
        """The UTC time of a record stamped ``device_ts`` by the device, and the quality flags
        the correction adds (``{"clock_estimated"}`` when the offset is not 0, else empty)."""
        ts = _as_utc(device_ts)
        if self.offset_s == 0:
            return ts, frozenset()
        return ts + timedelta(seconds=self.offset_s), _ESTIMATED

    def provenance(self, corrected_ts: datetime) -> Provenance:
        """The provenance of a reading this correction stamped ``corrected_ts`` (UTC)."""
        return Provenance(
            device_time=_as_utc(corrected_ts) - timedelta(seconds=self.offset_s),
            gateway_utc=self.gateway_utc,
            monotonic_s=self.monotonic_s,
            boot_id=self.boot_id,
            clock_offset_s=self.offset_s,
        )
