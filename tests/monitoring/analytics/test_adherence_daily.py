"""Adherence findings, and the daily aggregation they use."""

from __future__ import annotations

import numpy as np

from monitoring.analytics.adherence import HIGH, NONE, WARNING, AdherencePolicy, adherence
from monitoring.analytics.daily import daily
from monitoring.analytics.series import PatientSeries

MIDNIGHT = 1_740_787_200 - 8 * 3600
DAY = 86_400


def test_daily_aggregates_by_local_day() -> None:
    t = [MIDNIGHT + 3600, MIDNIGHT + 7200, MIDNIGHT + DAY + 60]
    s = PatientSeries.from_lists([(t, [3.0, 1.0, 5.0])])
    assert daily(s, "first").values.tolist() == [[3.0, 5.0]]
    assert daily(s, "median").values.tolist() == [[2.0, 5.0]]
    assert daily(s, "max").values.tolist() == [[3.0, 5.0]]
    assert daily(s, "count").count.tolist() == [[2, 1]]
    # UTC days differ: 01:00 China time is 17:00 UTC the day before
    assert daily(s, "count", utc_offset_s=0).count.tolist() == [[2, 1]]
    assert daily(s, "sum", utc_offset_s=0).first_day == (MIDNIGHT + 3600) // DAY


def test_findings_and_severities() -> None:
    now = MIDNIGHT + 20 * DAY + 12 * 3600
    policy = AdherencePolicy(silent_after_h=72.0)
    every_day = [now - d * DAY for d in range(14)]
    every_third = [now - d * DAY for d in range(0, 14, 3)]
    silent_4d = [now - d * DAY for d in range(4, 14)]
    silent_13d = [now - 13 * DAY]
    s = PatientSeries.from_lists(
        [(t, np.ones(len(t))) for t in (every_day, every_third, silent_4d, silent_13d, [])]
    )
    r = adherence(s, policy, now_s=now)
    assert r.finding.tolist() == [
        "ok",
        "measuring_less",
        "device_silent",
        "device_silent",
        "no_data",
    ]
    assert r.severity.tolist() == [NONE, WARNING, WARNING, HIGH, HIGH]
    assert r.days_measured.tolist()[:2] == [14, 5]
