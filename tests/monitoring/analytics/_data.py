"""Loading the public 5-subject CGM dataset and building small hand-made series."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
from datasets import cgm_5_subject_csv

from monitoring.analytics.cli import read_cgm_csv
from monitoring.analytics.series import PatientSeries

#: 2025-03-01 00:00 China Standard Time in UTC seconds: a local midnight.
MIDNIGHT_CST = 1_740_787_200 - 8 * 3600


@lru_cache(maxsize=1)
def five_subjects() -> tuple[list[str], PatientSeries]:
    """The iglu example data in mg/dL, times read as China local time."""
    with open(cgm_5_subject_csv(), newline="", encoding="utf-8") as fh:
        ids, pidx, t, values, _ = read_cgm_csv(fh, ZoneInfo("Asia/Shanghai"))
    return ids, PatientSeries.from_arrays(pidx, t, values, n_patients=len(ids))


def series(*patients: Sequence[tuple[float, float]]) -> PatientSeries:
    """Patients given as ``[(minutes after MIDNIGHT_CST, value), ...]``."""
    return PatientSeries.from_lists(
        [
            (
                np.array([MIDNIGHT_CST + round(m * 60) for m, _ in p], dtype=np.int64),
                np.array([v for _, v in p], dtype=np.float64),
            )
            for p in patients
        ]
    )


def every_5_min(values: Sequence[float], start_min: float = 0.0) -> list[tuple[float, float]]:
    """Readings every 5 minutes from ``start_min``."""
    return [(start_min + 5 * i, v) for i, v in enumerate(values)]
