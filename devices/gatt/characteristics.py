"""Every characteristic Homeward reads, by UUID: its name and its decoder and encoder.

The gateway routes a notification by the characteristic's UUID (``decode_characteristic``);
the simulator looks up the encoder; the tests fuzz every decoder from this one table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from devices.gatt import (
    battery,
    blood_pressure,
    chopsticks,
    current_time,
    glucose,
    heart_rate,
    plx,
    racp,
    thermometer,
    uuids,
    weight,
)

__all__ = ["CHARACTERISTICS", "CharacteristicCodec", "codec_for", "decode_characteristic"]


@dataclass(frozen=True, slots=True)
class CharacteristicCodec:
    """A characteristic's 128-bit UUID (lower case), name, and its decode/encode functions.

    For the Record Access Control Point, ``decode``/``encode`` are the client's direction
    (responses in, requests out); the server side uses :mod:`devices.gatt.racp` directly.
    """

    uuid: str
    name: str
    decode: Callable[[bytes], Any]
    encode: Callable[[Any], bytes]


def _codec(
    uuid: int | str, name: str, decode: Callable[[bytes], Any], encode: Callable[[Any], bytes]
) -> CharacteristicCodec:
    return CharacteristicCodec(uuids.full_uuid(uuid), name, decode, encode)


_ALL = (
    _codec(
        uuids.DATE_TIME,
        "Date Time",
        current_time.decode_date_time,
        current_time.encode_date_time,
    ),
    _codec(
        uuids.DAY_DATE_TIME,
        "Day Date Time",
        current_time.decode_day_date_time,
        current_time.encode_day_date_time,
    ),
    _codec(
        uuids.CURRENT_TIME,
        "Current Time",
        current_time.decode_current_time,
        current_time.encode_current_time,
    ),
    _codec(
        uuids.LOCAL_TIME_INFORMATION,
        "Local Time Information",
        current_time.decode_local_time_information,
        current_time.encode_local_time_information,
    ),
    _codec(
        uuids.GLUCOSE_MEASUREMENT,
        "Glucose Measurement",
        glucose.decode_glucose_measurement,
        glucose.encode_glucose_measurement,
    ),
    _codec(
        uuids.GLUCOSE_MEASUREMENT_CONTEXT,
        "Glucose Measurement Context",
        glucose.decode_glucose_measurement_context,
        glucose.encode_glucose_measurement_context,
    ),
    _codec(
        uuids.GLUCOSE_FEATURE,
        "Glucose Feature",
        glucose.decode_glucose_feature,
        glucose.encode_glucose_feature,
    ),
    _codec(
        uuids.RECORD_ACCESS_CONTROL_POINT,
        "Record Access Control Point",
        racp.decode_racp_response,
        racp.encode_racp_request,
    ),
    _codec(
        uuids.HEART_RATE_MEASUREMENT,
        "Heart Rate Measurement",
        heart_rate.decode_heart_rate_measurement,
        heart_rate.encode_heart_rate_measurement,
    ),
    _codec(
        uuids.BLOOD_PRESSURE_MEASUREMENT,
        "Blood Pressure Measurement",
        blood_pressure.decode_blood_pressure_measurement,
        blood_pressure.encode_blood_pressure_measurement,
    ),
    _codec(
        uuids.INTERMEDIATE_CUFF_PRESSURE,
        "Intermediate Cuff Pressure",
        blood_pressure.decode_intermediate_cuff_pressure,
        blood_pressure.encode_intermediate_cuff_pressure,
    ),
    _codec(
        uuids.BLOOD_PRESSURE_FEATURE,
        "Blood Pressure Feature",
        blood_pressure.decode_blood_pressure_feature,
        blood_pressure.encode_blood_pressure_feature,
    ),
    _codec(
        uuids.PLX_SPOT_CHECK_MEASUREMENT,
        "PLX Spot-check Measurement",
        plx.decode_plx_spot_check_measurement,
        plx.encode_plx_spot_check_measurement,
    ),
    _codec(
        uuids.PLX_CONTINUOUS_MEASUREMENT,
        "PLX Continuous Measurement",
        plx.decode_plx_continuous_measurement,
        plx.encode_plx_continuous_measurement,
    ),
    _codec(uuids.PLX_FEATURES, "PLX Features", plx.decode_plx_features, plx.encode_plx_features),
    _codec(
        uuids.WEIGHT_MEASUREMENT,
        "Weight Measurement",
        weight.decode_weight_measurement,
        weight.encode_weight_measurement,
    ),
    _codec(
        uuids.WEIGHT_SCALE_FEATURE,
        "Weight Scale Feature",
        weight.decode_weight_scale_feature,
        weight.encode_weight_scale_feature,
    ),
    _codec(
        uuids.TEMPERATURE_MEASUREMENT,
        "Temperature Measurement",
        thermometer.decode_temperature_measurement,
        thermometer.encode_temperature_measurement,
    ),
    _codec(
        uuids.INTERMEDIATE_TEMPERATURE,
        "Intermediate Temperature",
        thermometer.decode_intermediate_temperature,
        thermometer.encode_intermediate_temperature,
    ),
    _codec(
        uuids.TEMPERATURE_TYPE,
        "Temperature Type",
        thermometer.decode_temperature_type,
        thermometer.encode_temperature_type,
    ),
    _codec(
        uuids.MEASUREMENT_INTERVAL,
        "Measurement Interval",
        thermometer.decode_measurement_interval,
        thermometer.encode_measurement_interval,
    ),
    _codec(
        uuids.BATTERY_LEVEL,
        "Battery Level",
        battery.decode_battery_level,
        battery.encode_battery_level,
    ),
    _codec(
        uuids.CHOPSTICKS_BITE_MEASUREMENT,
        "Chopsticks Bite Measurement",
        chopsticks.decode_bite_measurement,
        chopsticks.encode_bite_measurement,
    ),
    _codec(
        uuids.CHOPSTICKS_MEAL_EVENT,
        "Chopsticks Meal Event",
        chopsticks.decode_meal_event,
        chopsticks.encode_meal_event,
    ),
    _codec(
        uuids.CHOPSTICKS_FEATURE,
        "Chopsticks Feature",
        chopsticks.decode_chopsticks_feature,
        chopsticks.encode_chopsticks_feature,
    ),
)

CHARACTERISTICS: Mapping[str, CharacteristicCodec] = MappingProxyType({c.uuid: c for c in _ALL})
"""Codecs by lower-case 128-bit UUID string."""


def codec_for(uuid: int | str) -> CharacteristicCodec:
    """The codec of a 16-bit SIG number or a 128-bit UUID string; ``KeyError`` if unknown."""
    return CHARACTERISTICS[uuids.full_uuid(uuid)]


def decode_characteristic(uuid: int | str, data: bytes) -> Any:
    """Decode ``data`` as the characteristic ``uuid`` (``KeyError`` for an unknown UUID)."""
    return codec_for(uuid).decode(data)
