"""MQTT topic names. Topics carry site and gateway ids only, never personal data.

``homeward/v1/{site}/{gateway_id}/readings``  batches, gateway → cloud, QoS 1
``homeward/v1/{site}/{gateway_id}/ack``       ``homeward.ack/1``, cloud → gateway, QoS 1
``homeward/v1/{site}/{gateway_id}/status`` retained: ``online``, heartbeat, last will ``offline``
``homeward/v1/{site}/{gateway_id}/config``    retained, cloud → gateway

A Wi-Fi device that speaks MQTT itself uses its own device id in the ``gateway_id`` place.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.reading import DEVICE_ID_RE

PREFIX = "homeward/v1"
KINDS = ("readings", "ack", "status", "config")


@dataclass(frozen=True, slots=True)
class Topic:
    site: str
    gateway_id: str
    kind: str

    def __str__(self) -> str:
        return f"{PREFIX}/{self.site}/{self.gateway_id}/{self.kind}"


def topic(site: str, gateway_id: str, kind: str) -> str:
    """The topic string for ``kind`` (one of :data:`KINDS`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown topic kind {kind!r}")
    for part in (site, gateway_id):
        if not DEVICE_ID_RE.match(part):
            raise ValueError(f"invalid topic segment {part!r}")
    return f"{PREFIX}/{site}/{gateway_id}/{kind}"


def subscription(kind: str, *, share_group: str | None = None) -> str:
    """Wildcard subscription for ``kind`` from every site and gateway.

    With ``share_group`` it becomes an MQTT shared subscription (``$share/group/...``), so N
    workers split the stream between them.
    """
    base = f"{PREFIX}/+/+/{kind}"
    return f"$share/{share_group}/{base}" if share_group else base


def parse_topic(text: str) -> Topic:
    """Split a concrete topic; raises ``ValueError`` for anything outside the scheme."""
    parts = text.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != PREFIX or parts[4] not in KINDS:
        raise ValueError(f"not a Homeward topic: {text!r}")
    if not (DEVICE_ID_RE.match(parts[2]) and DEVICE_ID_RE.match(parts[3])):
        raise ValueError(f"invalid ids in topic {text!r}")
    return Topic(site=parts[2], gateway_id=parts[3], kind=parts[4])
