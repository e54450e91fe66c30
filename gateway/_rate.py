"""A token bucket in readings: how fast the uplink may publish."""

from __future__ import annotations


class TokenBucket:
    """Refills at ``rate_per_s`` tokens a second up to ``capacity``; starts full.

    :meth:`take` lets a request through when the bucket holds at least ``min(n, capacity)``
    tokens and then subtracts all ``n`` (the balance may go negative): a request larger than the
    bucket waits for a full bucket instead of never passing. Not thread-safe; times are the
    caller's monotonic seconds.
    """

    def __init__(self, rate_per_s: float, capacity: float, now_s: float) -> None:
        self._rate = rate_per_s
        self._capacity = capacity
        self._tokens = capacity
        self._at = now_s

    def configure(self, rate_per_s: float, capacity: float) -> None:
        """New rate and capacity; tokens above the new capacity are cut."""
        self._rate = rate_per_s
        self._capacity = capacity
        self._tokens = min(self._tokens, capacity)

    def _refill(self, now_s: float) -> None:
        if now_s > self._at:
            self._tokens = min(self._capacity, self._tokens + (now_s - self._at) * self._rate)
        self._at = max(self._at, now_s)

    def can_take(self, n: float, now_s: float) -> bool:
        self._refill(now_s)
        return self._tokens >= min(n, self._capacity)

    def take(self, n: float, now_s: float) -> bool:
        """Spend ``n`` tokens if :meth:`can_take`; returns whether it did."""
        if not self.can_take(n, now_s):
            return False
        self._tokens -= n
        return True
