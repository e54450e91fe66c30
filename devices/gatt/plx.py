"""Pulse Oximeter Service 0x1822: PLX Spot-check 0x2A5E, PLX Continuous 0x2A5F, PLX Features 0x2A60.

Layouts (Pulse Oximeter Service v1.0; GSS; byte by byte in
``docs/devices/plx-spot-check-measurement.md`` and ``plx-continuous-measurement.md``)::

    PLX Spot-check Measurement 0x2A5E (indicated; may be stored and sent later)
    flags                   uint8   bit 0 Timestamp present
                                    bit 1 Measurement Status present
                                    bit 2 Device and Sensor Status present
                                    bit 3 Pulse Amplitude Index present
                                    bit 4 Device Clock is Not Set
                                    bits 5-7 reserved
    SpO2                    SFLOAT  percent
    PR                      SFLOAT  beats per minute
    timestamp               Date Time, device-local, if bit 0
    measurement status      uint16  if bit 1
    device and sensor status uint24 if bit 2
    pulse amplitude index   SFLOAT  percent, if bit 3

    PLX Continuous Measurement 0x2A5F (notified, typically every second)
    flags                   uint8   bit 0 SpO2PR-Fast present
                                    bit 1 SpO2PR-Slow present
                                    bit 2 Measurement Status present
                                    bit 3 Device and Sensor Status present
                                    bit 4 Pulse Amplitude Index present
                                    bits 5-7 reserved
    SpO2PR-Normal           SFLOAT SpO2 %, SFLOAT PR /min
    SpO2PR-Fast             SFLOAT, SFLOAT   if bit 0
    SpO2PR-Slow             SFLOAT, SFLOAT   if bit 1
    measurement status      uint16  if bit 2
    device and sensor status uint24 if bit 3
    pulse amplitude index   SFLOAT  if bit 4

Measurement Status (bits 0-4 reserved): 5 measurement ongoing, 6 early estimated data,
7 validated data, 8 fully qualified data, 9 data from measurement storage, 10 data for
demonstration, 11 data for testing, 12 calibration ongoing, 13 measurement unavailable,
14 questionable measurement detected, 15 invalid measurement detected.

Device and Sensor Status (bits 16-23 reserved): 0 extended display update ongoing, 1 equipment
malfunction, 2 signal processing irregularity, 3 inadequate signal, 4 poor signal, 5 low
perfusion, 6 erratic signal, 7 nonpulsatile signal, 8 questionable pulse, 9 signal analysis
ongoing, 10 sensor interference, 11 sensor unconnected to user, 12 unknown sensor connected,
13 sensor displaced, 14 sensor malfunctioning, 15 sensor disconnected.

How they become quality flags (:func:`plx_status_flags`): demonstration or test data ->
``test_data``; invalid measurement, measurement unavailable -> ``invalid``; equipment or sensor
malfunction, a sensor disconnected, displaced, unconnected to the user or unknown ->
``device_fault``; ongoing, early estimate, calibration, questionable measurement or pulse and
every signal-quality bit -> ``measurement_issue``; "Device Clock is Not Set" -> ``time_fault``.

Readings: ``spo2`` and ``pulse_rate`` from the spot-check value or the continuous *Normal*
averaging (Fast and Slow are other averagings of the same signal and are not stored twice), and
``pulse_amplitude_index`` when sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag

from devices.gatt._convert import DeviceClock, numeric_reading, reading_time
from devices.gatt._wire import U16, check_uint, flags_of, pack_u24, truncated, u24
from devices.gatt.current_time import DATE_TIME_SIZE, date_time_from_bytes, date_time_to_bytes
from devices.gatt.sfloat import Numeric, decode_sfloat, encode_sfloat
from devices.reading import Quality, Reading

__all__ = [
    "PlxContinuousMeasurement",
    "PlxDeviceSensorStatus",
    "PlxFeatures",
    "PlxMeasurementStatus",
    "PlxSpotCheckMeasurement",
    "PlxSupportedFeatures",
    "SpO2PulseRate",
    "decode_plx_continuous_measurement",
    "decode_plx_features",
    "decode_plx_spot_check_measurement",
    "encode_plx_continuous_measurement",
    "encode_plx_features",
    "encode_plx_spot_check_measurement",
    "plx_continuous_to_readings",
    "plx_spot_check_to_readings",
    "plx_status_flags",
]


class PlxMeasurementStatus(IntFlag):
    """Measurement Status (uint16; bits 0-4 reserved, kept as received)."""

    NONE = 0
    MEASUREMENT_ONGOING = 1 << 5
    EARLY_ESTIMATED_DATA = 1 << 6
    VALIDATED_DATA = 1 << 7
    FULLY_QUALIFIED_DATA = 1 << 8
    DATA_FROM_MEASUREMENT_STORAGE = 1 << 9
    DATA_FOR_DEMONSTRATION = 1 << 10
    DATA_FOR_TESTING = 1 << 11
    CALIBRATION_ONGOING = 1 << 12
    MEASUREMENT_UNAVAILABLE = 1 << 13
    QUESTIONABLE_MEASUREMENT_DETECTED = 1 << 14
    INVALID_MEASUREMENT_DETECTED = 1 << 15


class PlxDeviceSensorStatus(IntFlag):
    """Device and Sensor Status (uint24; bits 16-23 reserved, kept as received)."""

    NONE = 0
    EXTENDED_DISPLAY_UPDATE_ONGOING = 1 << 0
    EQUIPMENT_MALFUNCTION_DETECTED = 1 << 1
    SIGNAL_PROCESSING_IRREGULARITY_DETECTED = 1 << 2
    INADEQUATE_SIGNAL_DETECTED = 1 << 3
    POOR_SIGNAL_DETECTED = 1 << 4
    LOW_PERFUSION_DETECTED = 1 << 5
    ERRATIC_SIGNAL_DETECTED = 1 << 6
    NONPULSATILE_SIGNAL_DETECTED = 1 << 7
    QUESTIONABLE_PULSE_DETECTED = 1 << 8
    SIGNAL_ANALYSIS_ONGOING = 1 << 9
    SENSOR_INTERFERENCE_DETECTED = 1 << 10
    SENSOR_UNCONNECTED_TO_USER = 1 << 11
    UNKNOWN_SENSOR_CONNECTED = 1 << 12
    SENSOR_DISPLACED = 1 << 13
    SENSOR_MALFUNCTIONING = 1 << 14
    SENSOR_DISCONNECTED = 1 << 15


class PlxSupportedFeatures(IntFlag):
    """PLX Features, Supported Features field (uint16; bits 8-15 reserved)."""

    NONE = 0
    MEASUREMENT_STATUS_SUPPORT_PRESENT = 1 << 0
    DEVICE_AND_SENSOR_STATUS_SUPPORT_PRESENT = 1 << 1
    SPOT_CHECK_MEASUREMENT_STORAGE = 1 << 2
    SPOT_CHECK_TIMESTAMP = 1 << 3
    SPO2PR_FAST = 1 << 4
    SPO2PR_SLOW = 1 << 5
    PULSE_AMPLITUDE_INDEX = 1 << 6
    MULTIPLE_BONDS = 1 << 7


@dataclass(frozen=True, slots=True)
class SpO2PulseRate:
    """An SpO2 (percent) and pulse rate (beats per minute) pair."""

    spo2_pct: Numeric
    pulse_rate_bpm: Numeric


@dataclass(frozen=True, slots=True)
class PlxSpotCheckMeasurement:
    """One PLX Spot-check Measurement; optional fields are ``None`` when absent.

    ``timestamp`` is naive device-local time; ``device_clock_not_set`` is the flags' bit 4 (the
    timestamp, if any, then counts from an arbitrary start).
    """

    spo2_pct: Numeric
    pulse_rate_bpm: Numeric
    timestamp: datetime | None = None
    measurement_status: PlxMeasurementStatus | None = None
    device_sensor_status: PlxDeviceSensorStatus | None = None
    pulse_amplitude_index_pct: Numeric | None = None
    device_clock_not_set: bool = False


@dataclass(frozen=True, slots=True)
class PlxContinuousMeasurement:
    """One PLX Continuous Measurement; ``normal`` is always present, the rest ``None`` if absent."""

    normal: SpO2PulseRate
    fast: SpO2PulseRate | None = None
    slow: SpO2PulseRate | None = None
    measurement_status: PlxMeasurementStatus | None = None
    device_sensor_status: PlxDeviceSensorStatus | None = None
    pulse_amplitude_index_pct: Numeric | None = None


@dataclass(frozen=True, slots=True)
class PlxFeatures:
    """PLX Features 0x2A60: what the oximeter supports.

    The two support fields are present exactly when ``supported`` says so
    (``MEASUREMENT_STATUS_SUPPORT_PRESENT``, ``DEVICE_AND_SENSOR_STATUS_SUPPORT_PRESENT``).
    """

    supported: PlxSupportedFeatures
    measurement_status_support: PlxMeasurementStatus | None = None
    device_sensor_status_support: PlxDeviceSensorStatus | None = None


_S_TIME = 0x01
_S_MSTATUS = 0x02
_S_DSTATUS = 0x04
_S_PAI = 0x08
_S_CLOCK_NOT_SET = 0x10

_C_FAST = 0x01
_C_SLOW = 0x02
_C_MSTATUS = 0x04
_C_DSTATUS = 0x08
_C_PAI = 0x10


def _sfloat_at(data: bytes, i: int, field: str) -> Numeric:
    if len(data) < i + 2:
        raise truncated(data, field, i, 2)
    return decode_sfloat(U16.unpack_from(data, i)[0])


def _statuses(
    data: bytes, i: int, has_m: bool, has_d: bool
) -> tuple[int, PlxMeasurementStatus | None, PlxDeviceSensorStatus | None]:
    m_status: PlxMeasurementStatus | None = None
    d_status: PlxDeviceSensorStatus | None = None
    if has_m:
        if len(data) < i + 2:
            raise truncated(data, "Measurement Status", i, 2)
        m_status = flags_of(PlxMeasurementStatus, U16.unpack_from(data, i)[0])
        i += 2
    if has_d:
        if len(data) < i + 3:
            raise truncated(data, "Device and Sensor Status", i, 3)
        d_status = flags_of(PlxDeviceSensorStatus, u24(data, i))
        i += 3
    return i, m_status, d_status


def decode_plx_spot_check_measurement(data: bytes) -> PlxSpotCheckMeasurement:
    """Decode a PLX Spot-check Measurement 0x2A5E value (5 ... 19 bytes)."""
    data = bytes(data)
    if len(data) < 5:
        raise truncated(data, "PLX Spot-check Measurement", 0, 5)
    flags = data[0]
    spo2 = decode_sfloat(U16.unpack_from(data, 1)[0])
    pr = decode_sfloat(U16.unpack_from(data, 3)[0])
    i = 5
    timestamp: datetime | None = None
    if flags & _S_TIME:
        timestamp = date_time_from_bytes(data, i)
        i += DATE_TIME_SIZE
    i, m_status, d_status = _statuses(data, i, bool(flags & _S_MSTATUS), bool(flags & _S_DSTATUS))
    pai = _sfloat_at(data, i, "Pulse Amplitude Index") if flags & _S_PAI else None
    return PlxSpotCheckMeasurement(
        spo2_pct=spo2,
        pulse_rate_bpm=pr,
        timestamp=timestamp,
        measurement_status=m_status,
        device_sensor_status=d_status,
        pulse_amplitude_index_pct=pai,
        device_clock_not_set=bool(flags & _S_CLOCK_NOT_SET),
    )


def _encode_statuses(
    m_status: PlxMeasurementStatus | None, d_status: PlxDeviceSensorStatus | None
) -> bytes:
    out = b""
    if m_status is not None:
        out += U16.pack(check_uint("Measurement Status", int(m_status), 16))
    if d_status is not None:
        out += pack_u24(check_uint("Device and Sensor Status", int(d_status), 24))
    return out


def encode_plx_spot_check_measurement(m: PlxSpotCheckMeasurement) -> bytes:
    """Encode a PLX Spot-check Measurement 0x2A5E value."""
    flags = 0
    body = U16.pack(encode_sfloat(m.spo2_pct)) + U16.pack(encode_sfloat(m.pulse_rate_bpm))
    if m.timestamp is not None:
        flags |= _S_TIME
        body += date_time_to_bytes(m.timestamp)
    if m.measurement_status is not None:
        flags |= _S_MSTATUS
    if m.device_sensor_status is not None:
        flags |= _S_DSTATUS
    body += _encode_statuses(m.measurement_status, m.device_sensor_status)
    if m.pulse_amplitude_index_pct is not None:
        flags |= _S_PAI
        body += U16.pack(encode_sfloat(m.pulse_amplitude_index_pct))
    if m.device_clock_not_set:
        flags |= _S_CLOCK_NOT_SET
    return bytes((flags,)) + body


def decode_plx_continuous_measurement(data: bytes) -> PlxContinuousMeasurement:
    """Decode a PLX Continuous Measurement 0x2A5F value (5 ... 20 bytes)."""
    data = bytes(data)
    if len(data) < 5:
        raise truncated(data, "PLX Continuous Measurement", 0, 5)
    flags = data[0]
    normal = SpO2PulseRate(
        decode_sfloat(U16.unpack_from(data, 1)[0]), decode_sfloat(U16.unpack_from(data, 3)[0])
    )
    i = 5
    fast: SpO2PulseRate | None = None
    if flags & _C_FAST:
        fast = SpO2PulseRate(
            _sfloat_at(data, i, "SpO2PR-Fast SpO2"), _sfloat_at(data, i + 2, "SpO2PR-Fast PR")
        )
        i += 4
    slow: SpO2PulseRate | None = None
    if flags & _C_SLOW:
        slow = SpO2PulseRate(
            _sfloat_at(data, i, "SpO2PR-Slow SpO2"), _sfloat_at(data, i + 2, "SpO2PR-Slow PR")
        )
        i += 4
    i, m_status, d_status = _statuses(data, i, bool(flags & _C_MSTATUS), bool(flags & _C_DSTATUS))
    pai = _sfloat_at(data, i, "Pulse Amplitude Index") if flags & _C_PAI else None
    return PlxContinuousMeasurement(normal, fast, slow, m_status, d_status, pai)


def encode_plx_continuous_measurement(m: PlxContinuousMeasurement) -> bytes:
    """Encode a PLX Continuous Measurement 0x2A5F value."""
    flags = 0
    body = U16.pack(encode_sfloat(m.normal.spo2_pct)) + U16.pack(
        encode_sfloat(m.normal.pulse_rate_bpm)
    )
    for bit, pair in ((_C_FAST, m.fast), (_C_SLOW, m.slow)):
        if pair is not None:
            flags |= bit
            body += U16.pack(encode_sfloat(pair.spo2_pct))
            body += U16.pack(encode_sfloat(pair.pulse_rate_bpm))
    if m.measurement_status is not None:
        flags |= _C_MSTATUS
    if m.device_sensor_status is not None:
        flags |= _C_DSTATUS
    body += _encode_statuses(m.measurement_status, m.device_sensor_status)
    if m.pulse_amplitude_index_pct is not None:
        flags |= _C_PAI
        body += U16.pack(encode_sfloat(m.pulse_amplitude_index_pct))
    return bytes((flags,)) + body


def decode_plx_features(data: bytes) -> PlxFeatures:
    """Decode a PLX Features 0x2A60 value (2, 4, 5 or 7 bytes; trailing bytes ignored)."""
    data = bytes(data)
    if len(data) < 2:
        raise truncated(data, "PLX Features", 0, 2)
    supported = flags_of(PlxSupportedFeatures, U16.unpack_from(data, 0)[0])
    _i, m_support, d_support = _statuses(
        data,
        2,
        PlxSupportedFeatures.MEASUREMENT_STATUS_SUPPORT_PRESENT in supported,
        PlxSupportedFeatures.DEVICE_AND_SENSOR_STATUS_SUPPORT_PRESENT in supported,
    )
    return PlxFeatures(supported, m_support, d_support)


def encode_plx_features(f: PlxFeatures) -> bytes:
    """Encode a PLX Features 0x2A60 value; the support fields follow ``supported``'s bits."""
    # Plain ints: ~ on an IntFlag would also clear the reserved bits 8-15 we keep.
    supported = check_uint("Supported Features", int(f.supported), 16) & ~0x0003
    if f.measurement_status_support is not None:
        supported |= PlxSupportedFeatures.MEASUREMENT_STATUS_SUPPORT_PRESENT
    if f.device_sensor_status_support is not None:
        supported |= PlxSupportedFeatures.DEVICE_AND_SENSOR_STATUS_SUPPORT_PRESENT
    return U16.pack(supported) + _encode_statuses(
        f.measurement_status_support, f.device_sensor_status_support
    )


_M_TEST = PlxMeasurementStatus.DATA_FOR_DEMONSTRATION | PlxMeasurementStatus.DATA_FOR_TESTING
_M_INVALID = (
    PlxMeasurementStatus.INVALID_MEASUREMENT_DETECTED | PlxMeasurementStatus.MEASUREMENT_UNAVAILABLE
)
_M_ISSUE = (
    PlxMeasurementStatus.MEASUREMENT_ONGOING
    | PlxMeasurementStatus.EARLY_ESTIMATED_DATA
    | PlxMeasurementStatus.CALIBRATION_ONGOING
    | PlxMeasurementStatus.QUESTIONABLE_MEASUREMENT_DETECTED
)
_D_FAULT = (
    PlxDeviceSensorStatus.EQUIPMENT_MALFUNCTION_DETECTED
    | PlxDeviceSensorStatus.SENSOR_MALFUNCTIONING
    | PlxDeviceSensorStatus.SENSOR_DISCONNECTED
    | PlxDeviceSensorStatus.SENSOR_DISPLACED
    | PlxDeviceSensorStatus.SENSOR_UNCONNECTED_TO_USER
    | PlxDeviceSensorStatus.UNKNOWN_SENSOR_CONNECTED
)
_D_ISSUE = (
    PlxDeviceSensorStatus.SIGNAL_PROCESSING_IRREGULARITY_DETECTED
    | PlxDeviceSensorStatus.INADEQUATE_SIGNAL_DETECTED
    | PlxDeviceSensorStatus.POOR_SIGNAL_DETECTED
    | PlxDeviceSensorStatus.LOW_PERFUSION_DETECTED
    | PlxDeviceSensorStatus.ERRATIC_SIGNAL_DETECTED
    | PlxDeviceSensorStatus.NONPULSATILE_SIGNAL_DETECTED
    | PlxDeviceSensorStatus.QUESTIONABLE_PULSE_DETECTED
    | PlxDeviceSensorStatus.SIGNAL_ANALYSIS_ONGOING
    | PlxDeviceSensorStatus.SENSOR_INTERFERENCE_DETECTED
)


def plx_status_flags(
    measurement_status: PlxMeasurementStatus | None,
    device_sensor_status: PlxDeviceSensorStatus | None,
) -> frozenset[Quality]:
    """The quality flags of the two PLX status fields (see the module docstring)."""
    out: set[Quality] = set()
    if measurement_status:
        if measurement_status & _M_TEST:
            out.add(Quality.TEST_DATA)
        if measurement_status & _M_INVALID:
            out.add(Quality.INVALID)
        if measurement_status & _M_ISSUE:
            out.add(Quality.MEASUREMENT_ISSUE)
    if device_sensor_status:
        if device_sensor_status & _D_FAULT:
            out.add(Quality.DEVICE_FAULT)
        if device_sensor_status & _D_ISSUE:
            out.add(Quality.MEASUREMENT_ISSUE)
    return frozenset(out)


def _pair_readings(
    pair: SpO2PulseRate,
    pai: Numeric | None,
    *,
    device_id: str,
    seq: int,
    ts: datetime,
    flags: set[str],
) -> list[Reading]:
    out = [
        numeric_reading(
            device_id=device_id,
            metric="spo2",
            value=pair.spo2_pct,
            unit="%",
            ts=ts,
            seq=seq,
            flags=flags,
        ),
        numeric_reading(
            device_id=device_id,
            metric="pulse_rate",
            value=pair.pulse_rate_bpm,
            unit="/min",
            ts=ts,
            seq=seq,
            flags=flags,
        ),
    ]
    if pai is not None:
        out.append(
            numeric_reading(
                device_id=device_id,
                metric="pulse_amplitude_index",
                value=pai,
                unit="%",
                ts=ts,
                seq=seq,
                flags=flags,
            )
        )
    return out


def plx_spot_check_to_readings(
    m: PlxSpotCheckMeasurement,
    *,
    device_id: str,
    seq: int,
    ts_fallback: datetime,
    clock: DeviceClock | None = None,
    flags: Iterable[str] = (),
) -> list[Reading]:
    """``spo2``, ``pulse_rate`` and (if sent) ``pulse_amplitude_index`` of a spot check.

    Time: ``clock(m.timestamp)`` with a clock and a timestamp, else ``ts_fallback``. An unset
    device clock adds ``time_fault`` (the gateway's clock correction still applies).
    """
    ts = reading_time(m.timestamp, ts_fallback=ts_fallback, clock=clock)
    common = set(flags) | plx_status_flags(m.measurement_status, m.device_sensor_status)
    if m.device_clock_not_set:
        common.add(Quality.TIME_FAULT)
    return _pair_readings(
        SpO2PulseRate(m.spo2_pct, m.pulse_rate_bpm),
        m.pulse_amplitude_index_pct,
        device_id=device_id,
        seq=seq,
        ts=ts,
        flags=common,
    )


def plx_continuous_to_readings(
    m: PlxContinuousMeasurement,
    *,
    device_id: str,
    seq: int,
    ts_fallback: datetime,
    clock: DeviceClock | None = None,
    flags: Iterable[str] = (),
) -> list[Reading]:
    """``spo2`` and ``pulse_rate`` of the Normal averaging, ``pulse_amplitude_index`` if sent.

    Continuous measurements carry no time: all at ``ts_fallback`` (``clock`` is unused).
    """
    ts = reading_time(None, ts_fallback=ts_fallback, clock=clock)
    common = set(flags) | plx_status_flags(m.measurement_status, m.device_sensor_status)
    return _pair_readings(
        m.normal, m.pulse_amplitude_index_pct, device_id=device_id, seq=seq, ts=ts, flags=common
    )
