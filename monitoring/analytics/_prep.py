"""Every public routine cleans its own input, so bad input always has one defined meaning.

``prepare(series, "spo2")`` applies :func:`~monitoring.analytics.cleaning.clean_series` with
the device catalog's plausible range of the metric (``devices.get_metric``); ``prepare(series)``
without a metric only drops NaN/infinite values, sorts and merges duplicated instants (for
derived series such as daily means, whose unit the caller chooses). Cleaning a clean series is a
few cheap passes (sortedness is proved with one ``np.diff``).
"""

from __future__ import annotations

import math

from devices import get_metric
from monitoring.analytics.cleaning import clean_series
from monitoring.analytics.series import PatientSeries


def prepare(series: PatientSeries, metric: str | None = None) -> PatientSeries:
    """The cleaned series (see module docstring)."""
    if metric is None:
        lo, hi = -math.inf, math.inf
    else:
        m = get_metric(metric)
        lo, hi = m.plausible_min, m.plausible_max
    cleaned, _ = clean_series(series, plausible_min=lo, plausible_max=hi)
    return cleaned
