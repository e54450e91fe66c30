"""The bounded hand-over between the MQTT network thread and the database thread."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message as received, waiting for its transaction.

    ``generation`` numbers the broker connection it came on: a ``mid`` is only meaningful to the
    connection that delivered it, so the worker acks it only on that same connection.
    """

    generation: int
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_at: datetime


class Inbox:
    """A FIFO bounded by message count and payload bytes, whose producer never blocks.

    :meth:`offer` returns False instead of waiting when full: the producer is paho's network
    thread, which must keep answering the broker. A refused message was not acknowledged, so the
    broker still holds it; the worker reconnects to have it redelivered.
    """

    def __init__(self, max_items: int = 4000, max_bytes: int = 64 * 1024 * 1024) -> None:
        if max_items < 1 or max_bytes < 1:
            raise ValueError("an inbox holds at least one message")
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items: deque[Inbound] = deque()
        self._bytes = 0
        self._cond = threading.Condition()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def offer(self, item: Inbound) -> bool:
        """Append ``item`` unless that would exceed a bound; never blocks.

        One message larger than ``max_bytes`` is still accepted into an empty inbox, so no
        message can be refused forever.
        """
        with self._cond:
            size = len(item.payload)
            if self._items and (
                len(self._items) >= self.max_items or self._bytes + size > self.max_bytes
            ):
                return False
            self._items.append(item)
            self._bytes += size
            self._cond.notify()
            return True

    def nearly_full(self) -> bool:
        """True from a quarter of either bound on: the producer should stop taking messages in.

        A quarter, not more: one read of paho's may deliver as many messages as it has packets
        in flight, so the producer overshoots the moment it stops."""
        with self._cond:
            return len(self._items) >= self.max_items // 4 or self._bytes >= self.max_bytes // 4

    @property
    def bytes(self) -> int:
        """Payload bytes waiting."""
        with self._cond:
            return self._bytes

    def oldest_received_at(self) -> datetime | None:
        """When the oldest waiting message was received; None when the inbox is empty."""
        with self._cond:
            return self._items[0].received_at if self._items else None

    def get_group(self, timeout_s: float, max_items: int, max_bytes: int) -> list[Inbound]:
        """The oldest message (waiting up to ``timeout_s`` seconds) and, without waiting, the
        ones queued behind it, up to ``max_items`` messages and ``max_bytes`` payload bytes (the
        first message is taken whatever its size). Empty if nothing came."""
        first = self.get(timeout_s)
        if first is None:
            return []
        group = [first]
        size = len(first.payload)
        with self._cond:
            while self._items and len(group) < max_items:
                nxt = self._items[0]
                if size + len(nxt.payload) > max_bytes:
                    break
                self._items.popleft()
                self._bytes -= len(nxt.payload)
                size += len(nxt.payload)
                group.append(nxt)
        return group

    def get(self, timeout_s: float) -> Inbound | None:
        """The oldest message, waiting up to ``timeout_s`` seconds; None if none came."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not self._items:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            item = self._items.popleft()
            self._bytes -= len(item.payload)
            return item

    def drop_before(self, generation: int) -> int:
        """Remove QoS 1/2 messages received on connections older than ``generation``; returns how
        many.

        Only for a reconnect where the broker kept our session: it redelivers every such message
        we have not acknowledged, so the old copies would only be stored twice (harmlessly) and
        could never be acked. QoS 0 messages are kept: the broker sends those once only.
        """
        with self._cond:
            keep = deque(m for m in self._items if m.generation >= generation or m.qos == 0)
            dropped = len(self._items) - len(keep)
            self._items = keep
            self._bytes = sum(len(m.payload) for m in keep)
            return dropped
