"""Golden characteristic values: bytes as the Bluetooth specs lay them out, decoded by hand.

Every constant is a complete characteristic value (what a notification, indication or read
carries), with a comment on each byte. The docs pages in docs/devices/ walk through the same
bytes. Sources: the issue's checked facts (SFLOAT 0xB078, FLOAT 36.6, RACP >= N, completion and
no-records codes), the GATT Specification Supplement field tables, and the service specs.
"""

from __future__ import annotations

# --- IEEE 11073-20601 numbers -------------------------------------------------------------------

# 120 mg/dL = 0.0012 kg/L = 120 x 10^-5: exponent -5 (0xB) in the top nibble, mantissa 120 (0x078).
SFLOAT_120_MG_DL_IN_KG_L = 0xB078
FLOAT_36_6_CEL = bytes(
    [
        0x6E, 0x01, 0x00,  # mantissa 0x00016E = 366 (24-bit signed, little-endian)
        0xFF,              # exponent -1 (8-bit signed): 366 x 10^-1 = 36.6 degC
    ]
)  # fmt: skip

# --- Date Time 0x2A08 / Current Time 0x2A2B ------------------------------------------------------

DATE_TIME_2026_11_23_08_15_00 = bytes(
    [
        0xEA, 0x07,  # year 2026 (0x07EA), little-endian
        0x0B,        # month 11
        0x17,        # day 23
        0x08,        # hours 8
        0x0F,        # minutes 15
        0x00,        # seconds 0
    ]
)  # fmt: skip
DATE_TIME_NOT_KNOWN = bytes(7)  # year, month, day 0 = "not known": an unset clock

CURRENT_TIME_2026_11_23_10_00_00_5 = bytes(
    [
        0xEA, 0x07, 0x0B, 0x17, 0x0A, 0x00, 0x00,  # Date Time 2026-11-23 10:00:00
        0x01,  # Day of Week: Monday
        0x80,  # Fractions256: 128/256 s = 0.5 s
        0x01,  # Adjust Reason: manual time update
    ]
)  # fmt: skip

LOCAL_TIME_INFORMATION_CHINA = bytes(
    [
        0x20,  # Time Zone +32 x 15 min = UTC+8 (China Standard Time)
        0x00,  # DST Offset: standard time
    ]
)

# --- Glucose Measurement 0x2A18 -------------------------------------------------------------------

GLUCOSE_120_MG_DL = bytes(
    [
        0x03,        # flags: time offset present (bit 0), concentration+type+location (bit 1),
                     #        unit kg/L (bit 2 = 0), no status, no context
        0x07, 0x00,  # sequence number 7
        0xEA, 0x07, 0x0B, 0x17, 0x08, 0x0F, 0x00,  # base time 2026-11-23 08:15:00 (device-local)
        0x1E, 0x00,  # time offset +30 min -> user-facing time 08:45:00
        0x78, 0xB0,  # concentration SFLOAT 0xB078 = 120e-5 kg/L = 120 mg/dL
        0x12,        # type 2 capillary plasma (low nibble), sample location 1 finger (high nibble)
    ]
)  # fmt: skip

GLUCOSE_TOO_HIGH_MMOL = bytes(
    [
        0x0E,        # flags: concentration (bit 1), unit mol/L (bit 2), sensor status (bit 3)
        0x08, 0x00,  # sequence number 8
        0xEA, 0x07, 0x0B, 0x17, 0x0C, 0x00, 0x00,  # base time 2026-11-23 12:00:00
        0x4D, 0xC1,  # concentration SFLOAT 0xC14D = 333e-4 mol/L = 33.3 mmol/L (the meter's top)
        0x12,        # capillary plasma, finger
        0x20, 0x00,  # sensor status bit 5: result HIGHER than the device can process
    ]
)  # fmt: skip

GLUCOSE_TOO_LOW_KG_L = bytes(
    [
        0x0A,        # flags: concentration (bit 1), kg/L, sensor status (bit 3)
        0x09, 0x00,  # sequence number 9
        0xEA, 0x07, 0x0B, 0x17, 0x0D, 0x00, 0x00,  # base time 2026-11-23 13:00:00
        0x14, 0xB0,  # concentration SFLOAT 0xB014 = 20e-5 kg/L = 20 mg/dL (the meter's bottom)
        0x12,        # capillary plasma, finger
        0x40, 0x00,  # sensor status bit 6: result LOWER than the device can process
    ]
)  # fmt: skip

GLUCOSE_CONTROL_SOLUTION = bytes(
    [
        0x02,        # flags: concentration only
        0x0A, 0x00,  # sequence number 10
        0xEA, 0x07, 0x0B, 0x17, 0x0E, 0x00, 0x00,  # base time 2026-11-23 14:00:00
        0x64, 0xB0,  # 100e-5 kg/L = 100 mg/dL
        0x4A,        # type 10 control solution, sample location 4 control solution
    ]
)  # fmt: skip

# --- Glucose Measurement Context 0x2A34 ----------------------------------------------------------

GLUCOSE_CONTEXT_PREPRANDIAL_HBA1C = bytes(
    [
        0x42,        # flags: meal present (bit 1), HbA1c present (bit 6)
        0x07, 0x00,  # sequence number 7 (the measurement above)
        0x01,        # meal: preprandial
        0x47, 0xF0,  # HbA1c SFLOAT 0xF047 = 71e-1 = 7.1 %
    ]
)  # fmt: skip

# --- Glucose Feature 0x2A51 ----------------------------------------------------------------------

GLUCOSE_FEATURE_TYPICAL = bytes(
    [
        0x23,  # bits 0 low battery, 1 sensor malfunction, 5 result high-low detection
        0x04,  # bit 10 multiple bonds
    ]
)

# --- Record Access Control Point 0x2A52 -----------------------------------------------------------

RACP_REPORT_SEQ_AT_LEAST_251 = bytes(
    [
        0x01,        # op code: report stored records
        0x03,        # operator: greater than or equal to
        0x01,        # filter type: sequence number
        0xFB, 0x00,  # N = 251
    ]
)  # fmt: skip
RACP_REPORT_ALL = bytes([0x01, 0x01])  # report stored records, all records
RACP_REPORT_NUMBER_ALL = bytes([0x04, 0x01])  # report number of stored records, all records
RACP_DELETE_ALL = bytes([0x02, 0x01])  # delete stored records, all records
RACP_ABORT = bytes([0x03, 0x00])  # abort operation, operator Null
RACP_REPORT_TIME_RANGE = bytes(
    [
        0x01,  # report stored records
        0x04,  # within range (inclusive)
        0x02,  # filter type: user-facing time
        0xEA, 0x07, 0x0B, 0x17, 0x00, 0x00, 0x00,  # from 2026-11-23 00:00:00
        0xEA, 0x07, 0x0B, 0x17, 0x17, 0x3B, 0x3B,  # to   2026-11-23 23:59:59
    ]
)  # fmt: skip
RACP_NUMBER_OF_RECORDS_500 = bytes(
    [
        0x05,        # op code: number of stored records response
        0x00,        # operator Null
        0xF4, 0x01,  # 500 records (uint16)
    ]
)  # fmt: skip
RACP_SUCCESS = bytes(
    [
        0x06,  # op code: response code
        0x00,  # operator Null
        0x01,  # request op code: report stored records
        0x01,  # response code: success (the transfer is complete)
    ]
)
RACP_NO_RECORDS_FOUND = bytes(
    [
        0x06,  # response code
        0x00,  # operator Null
        0x01,  # request op code: report stored records
        0x06,  # response code: no records found
    ]
)

# --- Heart Rate Measurement 0x2A37 ----------------------------------------------------------------

HEART_RATE_72_CONTACT_RR = bytes(
    [
        0x16,        # flags: uint8 value (bit 0 = 0), contact supported and detected
                     #        (bits 1-2 = 11), RR-intervals present (bit 4)
        0x48,        # heart rate 72 /min
        0x00, 0x04,  # RR 1024/1024 s = 1000 ms (oldest)
        0x34, 0x03,  # RR 820/1024 s = 800.78 ms (most recent)
    ]
)  # fmt: skip
HEART_RATE_80_UINT16_ENERGY = bytes(
    [
        0x09,        # flags: uint16 value (bit 0), energy expended present (bit 3), no contact info
        0x50, 0x00,  # heart rate 80 /min as uint16
        0xF4, 0x01,  # energy expended 500 kJ
    ]
)  # fmt: skip
HEART_RATE_NO_SKIN_CONTACT = bytes(
    [
        0x04,  # flags: contact supported (bit 2) but not detected (bit 1 = 0)
        0x00,  # heart rate 0 /min: the strap is off
    ]
)

# --- Blood Pressure Measurement 0x2A35 / Intermediate Cuff Pressure 0x2A36 ------------------------

BLOOD_PRESSURE_128_82_FULL = bytes(
    [
        0x1E,        # flags: mmHg (bit 0 = 0), time stamp, pulse rate, user id, status (bits 1-4)
        0x80, 0x00,  # systolic SFLOAT 128 mmHg
        0x52, 0x00,  # diastolic SFLOAT 82 mmHg
        0x61, 0x00,  # mean arterial pressure SFLOAT 97 mmHg
        0xEA, 0x07, 0x0B, 0x17, 0x07, 0x1E, 0x00,  # time stamp 2026-11-23 07:30:00
        0x47, 0x00,  # pulse rate SFLOAT 71 /min
        0x01,        # user id 1
        0x04, 0x00,  # measurement status bit 2: irregular pulse detected
    ]
)  # fmt: skip
BLOOD_PRESSURE_KPA = bytes(
    [
        0x01,        # flags: kPa (bit 0), nothing else
        0xAB, 0xF0,  # systolic SFLOAT 171e-1 = 17.1 kPa (128.3 mmHg)
        0x6D, 0xF0,  # diastolic SFLOAT 109e-1 = 10.9 kPa
        0x82, 0xF0,  # mean arterial pressure SFLOAT 130e-1 = 13.0 kPa
    ]
)  # fmt: skip
INTERMEDIATE_CUFF_PRESSURE_150 = bytes(
    [
        0x00,        # flags: mmHg, nothing else
        0x96, 0x00,  # current cuff pressure SFLOAT 150 mmHg
        0xFF, 0x07,  # diastolic field unused: NaN
        0xFF, 0x07,  # mean arterial pressure field unused: NaN
    ]
)  # fmt: skip

# --- PLX Spot-check 0x2A5E / Continuous 0x2A5F ----------------------------------------------------

PLX_SPOT_CHECK_97_FULL = bytes(
    [
        0x0F,        # flags: timestamp, measurement status, device+sensor status, PAI (0-3)
        0x61, 0x00,  # SpO2 SFLOAT 97 %
        0x48, 0x00,  # pulse rate SFLOAT 72 /min
        0xEA, 0x07, 0x0B, 0x17, 0x07, 0x00, 0x00,  # timestamp 2026-11-23 07:00:00
        0x80, 0x00,  # measurement status bit 7: validated data
        0x00, 0x00, 0x00,  # device and sensor status: nothing to report (uint24)
        0x19, 0xF0,  # pulse amplitude index SFLOAT 25e-1 = 2.5 %
    ]
)  # fmt: skip
PLX_CONTINUOUS_88_LOW_PERFUSION = bytes(
    [
        0x08,        # flags: device and sensor status present (bit 3)
        0x58, 0x00,  # SpO2PR-Normal SpO2 SFLOAT 88 %
        0x5F, 0x00,  # SpO2PR-Normal pulse rate SFLOAT 95 /min
        0x20, 0x00, 0x00,  # device and sensor status bit 5: low perfusion detected
    ]
)  # fmt: skip
PLX_CONTINUOUS_DEMONSTRATION = bytes(
    [
        0x04,        # flags: measurement status present (bit 2)
        0x61, 0x00,  # SpO2 97 %
        0x48, 0x00,  # pulse rate 72 /min
        0x00, 0x04,  # measurement status bit 10: data for demonstration
    ]
)  # fmt: skip

# --- Weight Measurement 0x2A9D --------------------------------------------------------------------

WEIGHT_72_35_KG_BMI = bytes(
    [
        0x0E,        # flags: SI (bit 0 = 0), time stamp, user id, BMI and height (bits 1-3)
        0x86, 0x38,  # weight 14470 x 0.005 kg = 72.35 kg
        0xEA, 0x07, 0x0B, 0x17, 0x07, 0x00, 0x00,  # time stamp 2026-11-23 07:00:00
        0x01,        # user id 1
        0xF1, 0x00,  # BMI 241 x 0.1 = 24.1 kg/m2
        0xC4, 0x06,  # height 1732 x 0.001 m = 1.732 m
    ]
)  # fmt: skip
WEIGHT_UNSUCCESSFUL = bytes(
    [
        0x00,        # flags: SI, nothing else
        0xFF, 0xFF,  # weight 0xFFFF: measurement unsuccessful
    ]
)  # fmt: skip
WEIGHT_159_5_LB = bytes(
    [
        0x01,        # flags: imperial (bit 0)
        0x4E, 0x3E,  # weight 15950 x 0.01 lb = 159.5 lb
    ]
)  # fmt: skip

# --- Temperature Measurement 0x2A1C ---------------------------------------------------------------

TEMPERATURE_36_6_EAR = bytes(
    [
        0x06,                    # flags: Celsius (bit 0 = 0), time stamp (bit 1), type (bit 2)
        0x6E, 0x01, 0x00, 0xFF,  # FLOAT 366e-1 = 36.6 degC
        0xEA, 0x07, 0x0B, 0x17, 0x07, 0x00, 0x00,  # time stamp 2026-11-23 07:00:00
        0x03,                    # temperature type 3: ear
    ]
)  # fmt: skip
TEMPERATURE_98_6_F = bytes(
    [
        0x01,                    # flags: Fahrenheit (bit 0)
        0xDA, 0x03, 0x00, 0xFF,  # FLOAT 986e-1 = 98.6 degF (37.0 degC)
    ]
)  # fmt: skip

# --- Battery Level 0x2A19 -------------------------------------------------------------------------

BATTERY_LEVEL_90 = bytes(
    [
        0x5A,  # 90 % of full charge
    ]
)

# --- Smart chopsticks (docs/devices/chopsticks.md) ------------------------------------------------

CHOPSTICKS_BITE_FULL = bytes(
    [
        0x1F,        # flags: time stamp, oil TPM, food temperature, pH, sodium (bits 0-4)
        0x2A, 0x00,  # sequence number 42
        0xEA, 0x07, 0x0B, 0x17, 0x0C, 0x05, 0x1E,  # time stamp 2026-11-23 12:05:30
        0xB9, 0xF0,  # oil TPM SFLOAT 185e-1 = 18.5 %
        0x8C, 0xF2,  # food temperature SFLOAT 652e-1 = 65.2 degC
        0x3A, 0xF0,  # pH SFLOAT 58e-1 = 5.8
        0x78, 0x00,  # sodium SFLOAT 120 mg
    ]
)  # fmt: skip
CHOPSTICKS_BITE_TIP_OUT_OF_FOOD = bytes(
    [
        0x24,        # flags: food temperature (bit 2), sensor status (bit 5)
        0x2B, 0x00,  # sequence number 43
        0xFF, 0x07,  # food temperature NaN: nothing measured
        0x01, 0x00,  # sensor status bit 0: tip not in food
    ]
)  # fmt: skip
CHOPSTICKS_MEAL_STARTED = bytes(
    [
        0x01,        # flags: time stamp present
        0x29, 0x00,  # sequence number 41
        0x01,        # event: meal started
        0xEA, 0x07, 0x0B, 0x17, 0x0C, 0x00, 0x00,  # time stamp 2026-11-23 12:00:00
    ]
)  # fmt: skip
CHOPSTICKS_MEAL_ENDED = bytes(
    [
        0x03,        # flags: time stamp (bit 0), meal summary (bit 1)
        0x2C, 0x00,  # sequence number 44
        0x02,        # event: meal ended
        0xEA, 0x07, 0x0B, 0x17, 0x0C, 0x1E, 0x00,  # time stamp 2026-11-23 12:30:00
        0x23, 0x00,  # bite count 35
        0xE2, 0x04,  # total sodium SFLOAT 1250 (0x4E2, exponent 0) mg
    ]
)  # fmt: skip
CHOPSTICKS_FEATURE_ALL = bytes(
    [
        0x7F,  # bits 0-6: TPM, temperature, pH, sodium, time stamps, stored records, meal events
        0x00,
    ]
)
