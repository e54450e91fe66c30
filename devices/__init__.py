"""The shared vocabulary of Homeward: metrics, readings, payloads, topics. Pure, no I/O."""

from devices.broker_url import BrokerAddress, parse_broker_url
from devices.errors import DecodeError, DevicesError, PayloadError, UnitError, UnknownMetricError
from devices.metrics import METRICS, Metric, get_metric
from devices.payload import (
    ACK_SCHEMA,
    SCHEMA,
    Ack,
    Batch,
    RejectedReading,
    encode_ack,
    encode_batch,
    format_ts,
    parse_ack,
    parse_batch,
    parse_ts,
)
from devices.reading import DEVICE_ID_RE, UNTRUSTED, VALUELESS, Quality, Reading, make_reading
from devices.topics import Topic, parse_topic, subscription, topic
from devices.units import GLUCOSE_MG_DL_PER_MMOL_L, mg_dl_to_mmol_l, mmol_l_to_mg_dl

__all__ = [
    "ACK_SCHEMA",
    "DEVICE_ID_RE",
    "GLUCOSE_MG_DL_PER_MMOL_L",
    "METRICS",
    "SCHEMA",
    "UNTRUSTED",
    "VALUELESS",
    "Ack",
    "Batch",
    "BrokerAddress",
    "DecodeError",
    "DevicesError",
    "Metric",
    "PayloadError",
    "Quality",
    "Reading",
    "RejectedReading",
    "Topic",
    "UnitError",
    "UnknownMetricError",
    "encode_ack",
    "encode_batch",
    "format_ts",
    "get_metric",
    "make_reading",
    "mg_dl_to_mmol_l",
    "mmol_l_to_mg_dl",
    "parse_ack",
    "parse_batch",
    "parse_broker_url",
    "parse_topic",
    "parse_ts",
    "subscription",
    "topic",
]
