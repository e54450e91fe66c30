"""Per-patient, per-metric status codes.

Every metric array returned by :mod:`monitoring.analytics` comes with a parallel ``int8`` array
of :class:`Status` codes. A value is shown to a doctor as a number only when its status is
``OK``; any other status means "do not trust this number" and says why. Values whose status is
not ``OK`` are either NaN (nothing could be computed) or, for :attr:`Status.INSUFFICIENT`, the
number computed from the data that exists, kept so that a report can show it greyed out.
"""

from __future__ import annotations

from enum import IntEnum


class Status(IntEnum):
    """Why a metric value may or may not be shown."""

    #: Computed from enough data; show it.
    OK = 0
    #: The patient has no usable reading in the window; the value is NaN.
    NO_DATA = 1
    #: Some data, but less than the metric's definition or the consensus requires (e.g. fewer
    #: than 70 % of the expected CGM readings, fewer than two days for MODD). The value is the
    #: number computed from the data that exists, or NaN when even that is impossible.
    INSUFFICIENT = 2
    #: The definition yields no number for this data (e.g. CV of a zero mean, MAGE of a trace
    #: without any excursion larger than one SD). The value is NaN.
    UNDEFINED = 3


STATUS_NAMES: dict[int, str] = {s.value: s.name.lower() for s in Status}
