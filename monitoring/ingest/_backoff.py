"""Exponential backoff with jitter, for reconnecting to the broker and to the database."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double after each failure, capped, with "equal jitter".

    The n-th delay (n = 0, 1, ...) is uniform in ``[d/2, d]`` seconds, ``d = min(cap_s, initial_s
    * 2**n)``. The jitter keeps N workers that lost the same broker or database from all coming
    back in the same instant; the lower bound ``d/2`` keeps a flapping peer from being hammered.
    Not thread-safe: one instance per retry loop.
    """

    def __init__(
        self, initial_s: float = 0.5, cap_s: float = 30.0, rng: random.Random | None = None
    ) -> None:
        if initial_s <= 0 or cap_s < initial_s:
            raise ValueError("need 0 < initial_s <= cap_s")
        self.initial_s = initial_s
        self.cap_s = cap_s
        self._failures = 0
        # Jitter, not secrecy: the default generator is fine.
        self._rng = rng or random.Random()  # noqa: S311

    @property
    def failures(self) -> int:
        """Consecutive failures since the last :meth:`reset`."""
        return self._failures

    def next(self) -> float:
        """The delay to wait after one more failure, in seconds."""
        # min() before the power would overflow float after ~1000 failures; clamp the exponent.
        ceiling = min(self.cap_s, self.initial_s * 2.0 ** min(self._failures, 64))
        self._failures += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """Forget past failures (call after a success)."""
        self._failures = 0
