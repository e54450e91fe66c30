"""The ingest: MQTT batches in, readings and dead letters out, acknowledged after the commit.

* :func:`store_messages` is the whole database side of a group of messages, in one
  transaction; :func:`store_batch` the same for one message.
* :class:`IngestWorker` / :func:`run_ingest` is the process around it (``homeward ingest``).

The write path and its reasons are in ``docs/decisions/0002-ingest-write-path.md``; the payload
and the reason codes of dead letters in ``docs/payload-schema.md``.
"""

from monitoring.ingest._backoff import Backoff
from monitoring.ingest._store import (
    DEVICE_NOT_ASSIGNED,
    DEVICE_OF_OTHER_SITE,
    GATEWAY_MISMATCH,
    INVALID_TOPIC,
    STORAGE_REFUSED,
    UNKNOWN_DEVICE,
    DeadLetter,
    Message,
    StoreResult,
    dead_letter_message,
    store_batch,
    store_messages,
)
from monitoring.ingest._worker import IngestWorker, is_transient, run_ingest, subscription_filter

__all__ = [
    "DEVICE_NOT_ASSIGNED",
    "DEVICE_OF_OTHER_SITE",
    "GATEWAY_MISMATCH",
    "INVALID_TOPIC",
    "STORAGE_REFUSED",
    "UNKNOWN_DEVICE",
    "Backoff",
    "DeadLetter",
    "IngestWorker",
    "Message",
    "StoreResult",
    "dead_letter_message",
    "is_transient",
    "run_ingest",
    "store_batch",
    "store_messages",
    "subscription_filter",
]
