"""Errors raised by the trend analytics.

::

    AnalyticsError
     └── InputError        arguments that cannot describe any patient's data (.argument, .reason)

Bad *data* (NaN, duplicated or unsorted timestamps, implausible values, too few readings) is not
an error: every routine returns a defined result for it and marks the affected metric with a
:class:`~monitoring.analytics.status.Status` other than ``OK``. :class:`InputError` is reserved
for calls that are malformed as such (offsets that do not describe the arrays, arrays of
different lengths, a non-positive window), which are programming errors of the caller.
"""

from __future__ import annotations


class AnalyticsError(Exception):
    """Root of every error raised by :mod:`monitoring.analytics`."""


class InputError(AnalyticsError, ValueError):
    """Arguments that do not describe a valid input (shapes, offsets, parameters)."""

    def __init__(self, argument: str, reason: str) -> None:
        self.argument = argument
        self.reason = reason
        super().__init__(f"{argument}: {reason}")
