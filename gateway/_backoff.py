"""Reconnect delays: exponential backoff with full jitter.

After the broker comes back, every device of a fleet (or every gateway of a city) reconnects. With
plain exponential backoff they all retry at the same instants and hit the broker in waves; "full
jitter" draws each delay uniformly from ``[0, min(cap, base·2^attempt)]``, which spreads them out
and, in AWS's measurements, does the least total work ("Exponential Backoff And Jitter", AWS
Architecture Blog, Marc Brooker, 2015).
"""

from __future__ import annotations

import random


def full_jitter_delay_s(attempt: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Seconds to wait before reconnect attempt number ``attempt`` (0 for the first retry).

    Uniform in ``[0, min(cap_s, base_s · 2**attempt)]``; ``attempt`` beyond 62 is treated as 62.
    """
    ceiling = min(cap_s, base_s * float(2 ** min(max(attempt, 0), 62)))
    return rng.uniform(0.0, ceiling)
