"""Which high-rate samples to drop when the outbox is full: a pure plan, no I/O.

The rule the simulated wearable's firmware uses for its RAM buffer (docs/simulator.md), so a
reading thinned anywhere looks alike in the database: within the *older half* of the waiting
readings, every second sample of each thinnable series (one device, one metric) is dropped,
counting back from the newest sample of the window (which survives), and the kept neighbours are
flagged ``thinned``. A long outage costs resolution of old data, never the
recent minutes. Passes repeat (each one on what the previous left) until enough is freed; when the
older half has nothing left to thin the whole queue is considered; when that has nothing either,
the plan frees less than asked and the caller refuses the new readings.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence


def thinning_plan(series: Sequence[Hashable | None], need: int) -> tuple[set[int], set[int]]:
    """Positions to drop and positions to flag ``thinned``, freeing at least ``need`` if possible.

    ``series[i]`` is the series key of the i-th waiting reading in storage order (oldest first),
    or ``None`` for a reading that must never be thinned (clinical). Returns ``(drop, flag)``,
    disjoint sets of positions; ``len(drop)`` may exceed ``need`` (a pass halves a whole window,
    which leaves headroom so the next readings do not thin again at once) or fall short of it
    (nothing left to thin). ``need ≤ 0`` returns two empty sets.
    """
    drop: set[int] = set()
    flag: set[int] = set()
    alive = list(range(len(series)))
    while len(drop) < need and alive:
        newly: list[int] = []
        for window in (max(2, len(alive) // 2), len(alive)):
            by_series: dict[Hashable, list[int]] = {}
            for i in alive[:window]:
                key = series[i]
                if key is not None:
                    by_series.setdefault(key, []).append(i)
            for positions in by_series.values():
                if len(positions) >= 2:
                    # Counted back from the newest, so the newest sample of a window survives.
                    newly.extend(positions[-2::-2])
                    flag.update(positions[-1::-2])
            if newly:
                break
        if not newly:
            break
        drop.update(newly)
        gone = set(newly)
        alive = [i for i in alive if i not in gone]
    return drop, flag - drop
