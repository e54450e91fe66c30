"""A minimal MQTT 3.1.1 publisher for load generation: pre-encoded QoS 1 PUBLISH packets written
to a plain socket, with a window of messages in flight.

The ingest benchmarks stand in for hundreds of gateways that in production publish from their
own hardware, so the load generator's CPU on the benchmark machine should be as close to nothing
as honest QoS 1 allows. A general client (paho) spends its time per message in Python: building
the packet, its in-flight bookkeeping, its network thread and callbacks. Here every packet is
encoded before the clock starts, and the timed phase is only ``sendall`` of ready bytes and
reading 4-byte PUBACKs, each matched to a packet id in flight and counted.

Only what the benchmarks need: plain TCP (no TLS), no credentials, a clean session, QoS 1
PUBLISH out, CONNACK / PUBACK / PINGRESP in (any other packet is an error). MQTT 3.1.1 section
numbers are given next to each packet layout.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

# Control packet first bytes (MQTT 3.1.1 section 2.2.1, table 2.1; PUBLISH flags section 3.3.1).
_CONNECT = 0x10
_CONNACK = 0x20
_PUBLISH_QOS1 = 0x32  # type 3, DUP 0, QoS 1, RETAIN 0
_PUBACK = 0x40
_PINGREQ = b"\xc0\x00"
_PINGRESP = 0xD0
_DISCONNECT = b"\xe0\x00"
# Packet identifiers are 16-bit and non-zero (section 2.3.1).
_MAX_PACKET_ID = 0xFFFF


class BlasterError(Exception):
    """The broker refused the connection, broke the protocol, or did not answer in time."""


def _remaining_length(n: int) -> bytes:
    """The variable-length "Remaining Length" field (section 2.2.3): 7 bits a byte, at most 4."""
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"remaining length out of range: {n}")
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    """A length-prefixed UTF-8 string (section 1.5.3)."""
    data = text.encode()
    if len(data) > 0xFFFF:
        raise ValueError("an MQTT string holds at most 65,535 bytes")
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id: str, *, keepalive_s: int) -> bytes:
    """CONNECT with protocol level 4 (3.1.1) and Clean Session set, no will, no credentials
    (section 3.1); ``keepalive_s`` in seconds (0 turns the broker's keep-alive check off)."""
    body = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", keepalive_s) + _utf8(client_id)
    return bytes([_CONNECT]) + _remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """A complete QoS 1 PUBLISH of ``payload`` on ``topic`` with ``packet_id`` (1-65535)
    (section 3.3)."""
    if not 1 <= packet_id <= _MAX_PACKET_ID:
        raise ValueError(f"packet id must be 1-65535: {packet_id}")
    body_len = len(topic.encode()) + 2 + 2 + len(payload)
    return b"".join(
        (
            bytes([_PUBLISH_QOS1]),
            _remaining_length(body_len),
            _utf8(topic),
            struct.pack("!H", packet_id),
            payload,
        )
    )


def publish_packets(messages: Sequence[tuple[str, bytes]]) -> list[bytes]:
    """QoS 1 PUBLISH packets for ``(topic, payload)`` pairs, packet ids 1, 2, ... 65535, 1, ...

    An id comes round again only 65,535 messages later; :meth:`Blaster.publish` keeps far fewer
    than that in flight, so no two messages in flight share an id.
    """
    return [
        publish_packet(topic, payload, i % _MAX_PACKET_ID + 1)
        for i, (topic, payload) in enumerate(messages)
    ]


@dataclass(frozen=True, slots=True)
class BlastResult:
    """``acked`` PUBACKs matched to messages in flight, ``seconds`` from the first write to the
    last PUBACK, ``pings`` PINGREQs sent while waiting."""

    acked: int
    seconds: float
    pings: int


class Blaster:
    """One MQTT 3.1.1 connection that publishes ready-made QoS 1 packets.

    ``window`` messages at most are sent and not yet acknowledged (1 to 65,534). ``keepalive_s``
    is announced in CONNECT; when nothing has been written for half of it, a PINGREQ is sent
    so the broker keeps the connection while the window waits for PUBACKs. ``timeout_s`` (in
    seconds) bounds the wait for the CONNACK and for each next PUBACK.
    """

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        window: int = 100,
        keepalive_s: int = 60,
        timeout_s: float = 600.0,
    ) -> None:
        if not 1 <= window < _MAX_PACKET_ID:
            raise ValueError(f"window must be 1-65534: {window}")
        self._address = (host, port)
        self._client_id = client_id
        self._window = window
        self._keepalive_s = keepalive_s
        self._timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._buf = bytearray()

    def connect(self) -> None:
        """Open the connection and wait for a CONNACK that accepts it (section 3.2)."""
        sock = socket.create_connection(self._address, timeout=self._timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        sock.sendall(connect_packet(self._client_id, keepalive_s=self._keepalive_s))
        kind, body = self._read_packet(time.monotonic() + self._timeout_s)
        if kind != _CONNACK or len(body) != 2:
            raise BlasterError(f"expected CONNACK, got packet type {kind >> 4}")
        if body[1] != 0:
            raise BlasterError(f"broker refused the connection: CONNACK return code {body[1]}")

    def publish(self, packets: Sequence[bytes]) -> BlastResult:
        """Send the QoS 1 PUBLISH ``packets`` in order and return once every one has its PUBACK.

        Raises :class:`BlasterError` when two packets in flight share an id, on a PUBACK for no
        packet in flight, or when no PUBACK comes for ``timeout_s`` (PINGRESPs do not count).
        """
        sock = self._require()
        ids = [_packet_id_of(p) for p in packets]
        in_flight: set[int] = set()
        sent = acked = pings = 0
        total = len(packets)
        # Wake at least every half keep-alive (to ping) and often enough to notice the deadline.
        wake_s = min(self._keepalive_s / 2, self._timeout_s) if self._keepalive_s else 1.0
        sock.settimeout(max(0.1, wake_s))
        last_write = t0 = time.perf_counter()
        deadline = time.monotonic() + self._timeout_s
        while acked < total:
            while sent < total and len(in_flight) < self._window:
                packet_id = ids[sent]
                if packet_id in in_flight:
                    raise BlasterError(f"packet id {packet_id} is already in flight")
                sock.sendall(packets[sent])
                in_flight.add(packet_id)
                sent += 1
                last_write = time.perf_counter()
            if time.monotonic() > deadline:
                raise BlasterError(f"no PUBACK for {self._timeout_s} s: {acked} of {total}")
            try:
                data = sock.recv(65536)
            except TimeoutError:
                if self._keepalive_s and time.perf_counter() - last_write >= self._keepalive_s / 2:
                    sock.sendall(_PINGREQ)
                    last_write = time.perf_counter()
                    pings += 1
                continue
            if not data:
                raise BlasterError(f"the broker closed the connection after {acked} PUBACKs")
            self._buf += data
            for kind, body in self._packets_buffered():
                if kind == _PINGRESP:
                    continue
                if kind != _PUBACK or len(body) != 2:
                    raise BlasterError(f"unexpected packet type {kind >> 4} while publishing")
                packet_id = (body[0] << 8) | body[1]
                if packet_id not in in_flight:
                    raise BlasterError(f"PUBACK for packet id {packet_id}, which is not in flight")
                in_flight.discard(packet_id)
                acked += 1
                deadline = time.monotonic() + self._timeout_s
        return BlastResult(acked=acked, seconds=time.perf_counter() - t0, pings=pings)

    def close(self) -> None:
        """Send DISCONNECT (section 3.14) and close the socket; safe to call twice."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):  # the broker may have closed it already
            sock.sendall(_DISCONNECT)
        sock.close()

    def __enter__(self) -> Blaster:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require(self) -> socket.socket:
        if self._sock is None:
            raise BlasterError("not connected")
        return self._sock

    def _packets_buffered(self) -> list[tuple[int, bytes]]:
        """Every complete packet in the receive buffer, as (first byte, body); the rest stays."""
        out = []
        buf = self._buf
        pos = 0
        while True:
            parsed = _split_packet(buf, pos)
            if parsed is None:
                break
            kind, start, end = parsed
            out.append((kind, bytes(buf[start:end])))
            pos = end
        del buf[:pos]
        return out

    def _read_packet(self, deadline: float) -> tuple[int, bytes]:
        sock = self._require()
        while True:
            parsed = _split_packet(self._buf, 0)
            if parsed is not None:
                kind, start, end = parsed
                body = bytes(self._buf[start:end])
                del self._buf[:end]
                return kind, body
            sock.settimeout(max(0.0, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                raise BlasterError("no answer from the broker") from None
            if not data:
                raise BlasterError("the broker closed the connection")
            self._buf += data


def _packet_id_of(packet: bytes) -> int:
    """The packet identifier of a QoS 1 PUBLISH: after the fixed header and the topic name."""
    parsed = _split_packet(bytearray(packet[:8]), 0, whole=False)
    if packet[0] & 0xF6 != 0x32 or parsed is None:
        raise ValueError("not a QoS 1 PUBLISH packet")
    start = parsed[1]
    topic_len = (packet[start] << 8) | packet[start + 1]
    at = start + 2 + topic_len
    return (packet[at] << 8) | packet[at + 1]


def _split_packet(buf: bytearray, pos: int, *, whole: bool = True) -> tuple[int, int, int] | None:
    """(first byte, body start, body end) of the packet at ``pos``, or None if incomplete
    (with ``whole`` false: once the fixed header is complete)."""
    if len(buf) < pos + 2:
        return None
    length = 0
    shift = 0
    i = pos + 1
    while True:
        if i >= len(buf):
            return None
        byte = buf[i]
        length |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            break
        shift += 7
        if shift > 21:
            raise BlasterError("malformed remaining length")
    if whole and len(buf) < i + length:
        return None
    return buf[pos], i, i + length
