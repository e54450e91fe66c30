"""Heart Rate Service 0x180D: Heart Rate Measurement 0x2A37 (notified, about once a second).

Layout (Heart Rate Service v1.0; GSS "Heart Rate Measurement"; byte by byte in
``docs/devices/heart-rate-measurement.md``)::

    flags              uint8    bit 0 value format: 0 = uint8, 1 = uint16
                                bits 1-2 sensor contact: 0/1 not supported,
                                         2 supported, no contact, 3 supported, contact
                                bit 3 Energy Expended present
                                bit 4 RR-Interval(s) present
                                bits 5-7 reserved
    heart rate         uint8 or uint16, beats per minute
    energy expended    uint16   kilojoules since the last reset, if bit 3 (65535 = at least)
    RR-intervals       uint16 each, 1/1024 s, if bit 4: every byte to the end of the value,
                                the oldest interval first

With RR-intervals present the bytes after the fixed fields are all RR values, so an odd number of
them (or none, though bit 4 announces them) is a :class:`~devices.errors.DecodeError`. Without
them, trailing bytes are ignored like everywhere in :mod:`devices.gatt`. The encoder picks the
uint8 format whenever the value fits, as the spec recommends.

The measurement carries no timestamp: the gateway stamps it on arrival (``ts_fallback``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from devices.errors import DecodeError
from devices.gatt._convert import DeviceClock, numeric_reading, reading_time
from devices.gatt._wire import U16, check_uint, truncated
from devices.gatt.errors import EncodeError
from devices.reading import Quality, Reading

__all__ = [
    "ENERGY_EXPENDED_MAX_KJ",
    "RR_INTERVAL_UNITS_PER_S",
    "HeartRateMeasurement",
    "SensorContact",
    "decode_heart_rate_measurement",
    "encode_heart_rate_measurement",
    "heart_rate_to_readings",
]

RR_INTERVAL_UNITS_PER_S = 1024  # Heart Rate Service, RR-Interval field: resolution 1/1024 s
ENERGY_EXPENDED_MAX_KJ = 0xFFFF  # HRS: the field saturates here until reset

_F_UINT16 = 0x01
_F_CONTACT_DETECTED = 0x02
_F_CONTACT_SUPPORTED = 0x04
_F_ENERGY = 0x08
_F_RR = 0x10


class SensorContact(IntEnum):
    """Sensor Contact Status (flags bits 1-2; the value 1 also means "not supported")."""

    NOT_SUPPORTED = 0
    NOT_DETECTED = 2  # supported, but the strap/watch is not touching skin
    DETECTED = 3


# Flags bits 1-2 -> status; 0 and 1 both mean "not supported".
_CONTACT = (
    SensorContact.NOT_SUPPORTED,
    SensorContact.NOT_SUPPORTED,
    SensorContact.NOT_DETECTED,
    SensorContact.DETECTED,
)


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """One Heart Rate Measurement notification.

    ``heart_rate_bpm`` in beats per minute (0 ... 65535 as sent), ``energy_expended_kj`` in kJ
    (``None`` when absent), ``rr_intervals_1024`` the RR-intervals in units of 1/1024 s as sent
    (empty when absent), oldest first.
    """

    heart_rate_bpm: int
    sensor_contact: SensorContact = SensorContact.NOT_SUPPORTED
    energy_expended_kj: int | None = None
    rr_intervals_1024: tuple[int, ...] = ()

    @property
    def rr_intervals_ms(self) -> tuple[float, ...]:
        """RR-intervals in milliseconds."""
        return tuple(rr * 1000 / RR_INTERVAL_UNITS_PER_S for rr in self.rr_intervals_1024)


def decode_heart_rate_measurement(data: bytes) -> HeartRateMeasurement:
    """Decode a Heart Rate Measurement 0x2A37 value."""
    data = bytes(data)
    n = len(data)
    if n < 2:
        raise truncated(data, "Heart Rate Measurement", 0, 2)
    flags = data[0]
    if flags & _F_UINT16:
        if n < 3:
            raise truncated(data, "Heart Rate (uint16)", 1, 2)
        hr = U16.unpack_from(data, 1)[0]
        i = 3
    else:
        hr = data[1]
        i = 2
    contact_bits = (flags >> 1) & 0x03
    contact = _CONTACT[contact_bits]
    energy: int | None = None
    if flags & _F_ENERGY:
        if n < i + 2:
            raise truncated(data, "Energy Expended", i, 2)
        energy = U16.unpack_from(data, i)[0]
        i += 2
    rr: tuple[int, ...] = ()
    if flags & _F_RR:
        rest = n - i
        if rest < 2 or rest % 2:
            raise DecodeError(
                f"RR-Interval announced: need a positive even number of bytes, {rest} given", data
            )
        rr = tuple(U16.unpack_from(data, j)[0] for j in range(i, n, 2))
    return HeartRateMeasurement(hr, contact, energy, rr)


def encode_heart_rate_measurement(m: HeartRateMeasurement) -> bytes:
    """Encode a Heart Rate Measurement 0x2A37 value (uint8 format when the value fits)."""
    hr = check_uint("Heart Rate", m.heart_rate_bpm, 16)
    flags = 0
    if hr > 0xFF:
        flags |= _F_UINT16
        body = bytearray(U16.pack(hr))
    else:
        body = bytearray((hr,))
    if m.sensor_contact == SensorContact.DETECTED:
        flags |= _F_CONTACT_SUPPORTED | _F_CONTACT_DETECTED
    elif m.sensor_contact == SensorContact.NOT_DETECTED:
        flags |= _F_CONTACT_SUPPORTED
    elif m.sensor_contact != SensorContact.NOT_SUPPORTED:
        raise EncodeError("Sensor Contact", m.sensor_contact, "not a SensorContact")
    if m.energy_expended_kj is not None:
        flags |= _F_ENERGY
        body += U16.pack(check_uint("Energy Expended", m.energy_expended_kj, 16))
    if m.rr_intervals_1024:
        flags |= _F_RR
        for rr in m.rr_intervals_1024:
            body += U16.pack(check_uint("RR-Interval", rr, 16))
    return bytes((flags,)) + bytes(body)


def heart_rate_to_readings(
    m: HeartRateMeasurement,
    *,
    device_id: str,
    seq: int,
    ts_fallback: datetime,
    clock: DeviceClock | None = None,
    flags: Iterable[str] = (),
) -> list[Reading]:
    """``heart_rate``, ``energy_expended`` (if sent) and one ``rr_interval`` per RR value.

    All at ``ts_fallback`` (the arrival time; the notification carries no time, ``clock`` is
    accepted for a uniform signature and unused) with the caller's ``seq``. The RR-intervals end
    at the last beat: interval *k* is stamped ``ts_fallback`` minus the intervals after it, less
    one microsecond per later interval so that every reading keeps its own idempotency key even
    for zero-length intervals. No skin contact (when the sensor can tell) flags every reading
    ``measurement_issue``.
    """
    ts = reading_time(None, ts_fallback=ts_fallback, clock=clock)
    common = set(flags)
    if m.sensor_contact == SensorContact.NOT_DETECTED:
        common.add(Quality.MEASUREMENT_ISSUE)
    out = [
        numeric_reading(
            device_id=device_id,
            metric="heart_rate",
            value=float(m.heart_rate_bpm),
            unit="/min",
            ts=ts,
            seq=seq,
            flags=common,
        )
    ]
    if m.energy_expended_kj is not None:
        out.append(
            numeric_reading(
                device_id=device_id,
                metric="energy_expended",
                value=float(m.energy_expended_kj),
                unit="kJ",
                ts=ts,
                seq=seq,
                flags=common,
            )
        )
    later_units = 0
    count = len(m.rr_intervals_1024)
    stamped: list[Reading] = []
    for k in range(count - 1, -1, -1):
        rr = m.rr_intervals_1024[k]
        later = count - 1 - k
        at = ts - timedelta(seconds=later_units / RR_INTERVAL_UNITS_PER_S, microseconds=later)
        stamped.append(
            numeric_reading(
                device_id=device_id,
                metric="rr_interval",
                value=rr * 1000 / RR_INTERVAL_UNITS_PER_S,
                unit="ms",
                ts=at,
                seq=seq,
                flags=common,
            )
        )
        later_units += rr
    out.extend(reversed(stamped))
    return out
