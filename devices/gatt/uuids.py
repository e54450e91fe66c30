"""UUIDs of the GATT services and characteristics Homeward reads.

16-bit values are Bluetooth SIG assigned numbers ("Assigned Numbers": GATT services and
GATT characteristics); a 16-bit UUID ``0xXXXX`` stands for the 128-bit
``0000XXXX-0000-1000-8000-00805F9B34FB`` (Core Specification v5.4, Vol 3, Part B, 2.5.1), which
:func:`full_uuid` spells out the way bleak and bumble print it.

The smart chopsticks have no SIG profile; their vendor service uses 128-bit UUIDs from one random
base (``b1fdXXXX-4491-4d38-b3be-7a6a39df4b90``, generated with uuid4 for Homeward), the 16-bit slot
in bytes 2-3 numbering service and characteristics, as Nordic's UART service does. See
``docs/devices/chopsticks.md``.
"""

from __future__ import annotations

__all__ = [
    "BATTERY_LEVEL",
    "BATTERY_SERVICE",
    "BLOOD_PRESSURE_FEATURE",
    "BLOOD_PRESSURE_MEASUREMENT",
    "BLOOD_PRESSURE_SERVICE",
    "CHOPSTICKS_BITE_MEASUREMENT",
    "CHOPSTICKS_FEATURE",
    "CHOPSTICKS_MEAL_EVENT",
    "CHOPSTICKS_SERVICE",
    "CURRENT_TIME",
    "CURRENT_TIME_SERVICE",
    "DATE_TIME",
    "DAY_DATE_TIME",
    "DEVICE_INFORMATION_SERVICE",
    "GLUCOSE_FEATURE",
    "GLUCOSE_MEASUREMENT",
    "GLUCOSE_MEASUREMENT_CONTEXT",
    "GLUCOSE_SERVICE",
    "HEALTH_THERMOMETER_SERVICE",
    "HEART_RATE_MEASUREMENT",
    "HEART_RATE_SERVICE",
    "INTERMEDIATE_CUFF_PRESSURE",
    "INTERMEDIATE_TEMPERATURE",
    "LOCAL_TIME_INFORMATION",
    "MEASUREMENT_INTERVAL",
    "PLX_CONTINUOUS_MEASUREMENT",
    "PLX_FEATURES",
    "PLX_SPOT_CHECK_MEASUREMENT",
    "PULSE_OXIMETER_SERVICE",
    "RECORD_ACCESS_CONTROL_POINT",
    "SIG_BASE_UUID",
    "TEMPERATURE_MEASUREMENT",
    "TEMPERATURE_TYPE",
    "WEIGHT_MEASUREMENT",
    "WEIGHT_SCALE_FEATURE",
    "WEIGHT_SCALE_SERVICE",
    "full_uuid",
    "short_uuid",
]

SIG_BASE_UUID = "00000000-0000-1000-8000-00805f9b34fb"

# Services (Assigned Numbers, GATT Services).
CURRENT_TIME_SERVICE = 0x1805
GLUCOSE_SERVICE = 0x1808
HEALTH_THERMOMETER_SERVICE = 0x1809
DEVICE_INFORMATION_SERVICE = 0x180A
HEART_RATE_SERVICE = 0x180D
BATTERY_SERVICE = 0x180F
BLOOD_PRESSURE_SERVICE = 0x1810
WEIGHT_SCALE_SERVICE = 0x181D
PULSE_OXIMETER_SERVICE = 0x1822

# Characteristics (Assigned Numbers, GATT Characteristics).
DATE_TIME = 0x2A08
DAY_DATE_TIME = 0x2A0A
LOCAL_TIME_INFORMATION = 0x2A0F
GLUCOSE_MEASUREMENT = 0x2A18
BATTERY_LEVEL = 0x2A19
TEMPERATURE_MEASUREMENT = 0x2A1C
TEMPERATURE_TYPE = 0x2A1D
INTERMEDIATE_TEMPERATURE = 0x2A1E
MEASUREMENT_INTERVAL = 0x2A21
CURRENT_TIME = 0x2A2B
GLUCOSE_MEASUREMENT_CONTEXT = 0x2A34
BLOOD_PRESSURE_MEASUREMENT = 0x2A35
INTERMEDIATE_CUFF_PRESSURE = 0x2A36
HEART_RATE_MEASUREMENT = 0x2A37
BLOOD_PRESSURE_FEATURE = 0x2A49
GLUCOSE_FEATURE = 0x2A51
RECORD_ACCESS_CONTROL_POINT = 0x2A52
PLX_SPOT_CHECK_MEASUREMENT = 0x2A5E
PLX_CONTINUOUS_MEASUREMENT = 0x2A5F
PLX_FEATURES = 0x2A60
WEIGHT_MEASUREMENT = 0x2A9D
WEIGHT_SCALE_FEATURE = 0x2A9E

# Homeward smart chopsticks (vendor profile, docs/devices/chopsticks.md).
CHOPSTICKS_SERVICE = "b1fd0001-4491-4d38-b3be-7a6a39df4b90"
CHOPSTICKS_BITE_MEASUREMENT = "b1fd0002-4491-4d38-b3be-7a6a39df4b90"
CHOPSTICKS_MEAL_EVENT = "b1fd0003-4491-4d38-b3be-7a6a39df4b90"
CHOPSTICKS_FEATURE = "b1fd0004-4491-4d38-b3be-7a6a39df4b90"


def full_uuid(uuid: int | str) -> str:
    """The lower-case 128-bit string form: ``0x2A18`` -> ``00002a18-0000-1000-8000-00805f9b34fb``.

    A string is returned lower-cased (vendor UUIDs are already 128-bit).
    """
    if isinstance(uuid, str):
        return uuid.lower()
    if not 0 <= uuid <= 0xFFFF:
        raise ValueError(f"not a 16-bit UUID: {uuid:#x}")
    return f"0000{uuid:04x}{SIG_BASE_UUID[8:]}"


def short_uuid(uuid: str) -> int | None:
    """The 16-bit SIG number of a 128-bit UUID string built on the SIG base, else ``None``."""
    u = uuid.lower()
    if len(u) == 36 and u.startswith("0000") and u[8:] == SIG_BASE_UUID[8:]:
        try:
            return int(u[4:8], 16)
        except ValueError:
            return None
    return None
