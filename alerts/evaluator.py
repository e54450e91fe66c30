"""The alert evaluator: turns changed SpO2 and glucose series into alerts.

The ingest stores readings and marks each changed ``(patient, metric)`` in
``pending_evaluations`` in the same transaction, then ``NOTIFY readings_changed``. The evaluator
wakes on that notification (and every ``poll_interval_s`` anyway, in case a notification was
lost while it was disconnected), and runs :func:`evaluate_pending`:

1. in one transaction, claim up to ``batch_size`` changed series of the metrics some rule
   watches (:data:`RULE_METRICS`; :func:`monitoring.evaluations.claim_changed`,
   ``FOR UPDATE SKIP LOCKED``);
2. for each, load the readings from ``since_ts - lookback`` on (:func:`monitoring.queries.series`),
   what the rule needs of the patient (SpO2 floor) and the last resolution of each rule's alert,
   and run the pure rules (:mod:`alerts.rules.spo2`, :mod:`alerts.rules.glucose`);
3. open or update alerts (:mod:`alerts.lifecycle`) and commit: claims, alerts, events and
   notifications become visible together.

Crash safety: a crash before the commit rolls everything back and the claims return to the queue.
Each series is evaluated inside its own savepoint; if one fails (a bug, bad data) its savepoint is
rolled back, the series is queued again and logged, and the other series of the batch still
commit. The failing series is retried on a later pass, after a back-off, rather than blocking
every other patient's alerts behind it.

Lookback: a run can only qualify with new evidence if it covers at least ``sustained`` before its
newest reading, so loading from ``since_ts - (sustained + max_gap)`` is enough to *detect* every
episode; ``lookback`` (default 1 h) is larger so the reported duration and nadir describe more of
a long episode. A run that reaches back to the window start reports its duration as a lower bound.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from alerts import lifecycle
from alerts.request import AlertRequest
from alerts.rules import glucose as glucose_rules
from alerts.rules.glucose import GlucoseRuleConfig, GlucoseSnapshot, evaluate_glucose
from alerts.rules.spo2 import METRIC, RULE, SpO2RuleConfig, SpO2Snapshot, evaluate_spo2
from homeward.db import connect
from homeward.settings import Settings
from monitoring import queries
from monitoring.evaluations import CHANNEL as READINGS_CHANNEL
from monitoring.evaluations import ChangedSeries, claim_changed, mark_changed

log = logging.getLogger(__name__)

# The metrics some rule watches; other changed series stay queued for future rules (the queue
# holds one row per patient and metric, so it cannot grow without bound).
RULE_METRICS = (METRIC, glucose_rules.METRIC)

DEFAULT_LOOKBACK = timedelta(hours=1)
DEFAULT_BATCH_SIZE = 200
# The safety-net poll: notifications are lost while the listening connection is down.
DEFAULT_POLL_INTERVAL_S = 30.0
# Longest wait between checks of the stop event, in seconds.
_STOP_CHECK_S = 0.5
# Back-off after a database error or a pass in which a series failed, in seconds.
_BACKOFF_MIN_S = 1.0
_BACKOFF_MAX_S = 30.0


@dataclass(frozen=True, slots=True)
class PassResult:
    """What one :func:`evaluate_pass` did: series claimed, of which failed (re-queued), and the
    alerts opened/updated/escalated."""

    claimed: int
    failed: int
    changed_alerts: int


def evaluate_pass(
    conn: psycopg.Connection[Any],
    *,
    config: SpO2RuleConfig | None = None,
    glucose_config: GlucoseRuleConfig | None = None,
    lookback: timedelta = DEFAULT_LOOKBACK,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> PassResult:
    """Claim and evaluate up to ``batch_size`` changed series, in one transaction.

    ``conn`` may be in autocommit mode or not; the pass commits its own transaction (or, if the
    caller already has one open, runs in a savepoint of it). Raises ``ValueError`` when
    ``lookback`` is shorter than ``sustained + max_gap`` (episodes could be missed).
    """
    cfg = config or SpO2RuleConfig()
    gcfg = glucose_config or GlucoseRuleConfig()
    if lookback < cfg.sustained + cfg.max_gap:
        raise ValueError(f"lookback {lookback} is shorter than sustained + max_gap")
    failed = changed = 0
    with conn.transaction():
        claims = claim_changed(conn, metrics=RULE_METRICS, limit=batch_size)
        if not claims:
            return PassResult(0, 0, 0)
        ids = sorted({c.patient_id for c in claims})
        spo2_ids = sorted({c.patient_id for c in claims if c.metric == METRIC})
        glucose_ids = sorted({c.patient_id for c in claims if c.metric == glucose_rules.METRIC})
        floors = queries.targets(conn, spo2_ids, METRIC)
        sites = queries.patient_sites(conn, ids)
        resolved = {
            rule: lifecycle.last_resolved(conn, rule_ids, rule)
            for rule, rule_ids in (
                (RULE, spo2_ids),
                (glucose_rules.RULE_LOW, glucose_ids),
                (glucose_rules.RULE_HIGH, glucose_ids),
            )
            if rule_ids
        }
        for claim in claims:
            site_id = sites.get(claim.patient_id)
            if site_id is None:
                # Readings of a patient id that does not exist (readings carry no foreign key):
                # nothing to alert on and nothing a retry would fix.
                log.error("readings for unknown patient %s; not evaluated", claim.patient_id)
                continue
            try:
                with conn.transaction():  # a savepoint per series
                    if claim.metric == METRIC:
                        target = floors.get(claim.patient_id)
                        requests = _spo2_requests(
                            conn,
                            claim,
                            floor_pct=target.low if target is not None else None,
                            not_before=resolved[RULE].get(claim.patient_id),
                            config=cfg,
                            lookback=lookback,
                        )
                    else:
                        requests = _glucose_requests(
                            conn,
                            claim,
                            not_before_low=resolved[glucose_rules.RULE_LOW].get(claim.patient_id),
                            not_before_high=resolved[glucose_rules.RULE_HIGH].get(claim.patient_id),
                            config=gcfg,
                            lookback=lookback,
                        )
                    changed += _apply(conn, requests, site_id=site_id)
            except Exception:
                # Keep the other patients' results; put this series back for a later pass.
                log.exception(
                    "evaluating %s for patient %s failed; re-queued",
                    claim.metric,
                    claim.patient_id,
                )
                failed += 1
                mark_changed(conn, [claim])
    return PassResult(len(claims), failed, changed)


def _window_start(
    claim: ChangedSeries, lookback: timedelta, not_before: datetime | None
) -> datetime:
    start = claim.since_ts - lookback
    if not_before is not None and not_before > start:
        start = not_before
    return start


def _spo2_requests(
    conn: psycopg.Connection[Any],
    claim: ChangedSeries,
    *,
    floor_pct: float | None,
    not_before: datetime | None,
    config: SpO2RuleConfig,
    lookback: timedelta,
) -> list[AlertRequest]:
    window_start = _window_start(claim, lookback, not_before)
    s = queries.series(conn, claim.patient_id, METRIC, since=window_start)
    snapshot = SpO2Snapshot(
        patient_id=claim.patient_id,
        ts_us=s.ts_us,
        value_pct=s.value,
        trusted=s.trusted,
        floor_pct=floor_pct,
        not_before=not_before,
        window_start=window_start,
    )
    return evaluate_spo2(snapshot, config)


def _glucose_requests(
    conn: psycopg.Connection[Any],
    claim: ChangedSeries,
    *,
    not_before_low: datetime | None,
    not_before_high: datetime | None,
    config: GlucoseRuleConfig,
    lookback: timedelta,
) -> list[AlertRequest]:
    # Both rules share one load; each drops what its own last resolution already covers.
    resolutions = [t for t in (not_before_low, not_before_high) if t is not None]
    floor = min(resolutions) if len(resolutions) == 2 else None
    s = queries.series(
        conn,
        claim.patient_id,
        glucose_rules.METRIC,
        since=_window_start(claim, lookback, floor),
        flags=glucose_rules.FLAGS_READ,
    )
    disqualified = np.zeros(len(s), dtype=np.bool_)
    for flag in glucose_rules.DISQUALIFYING_FLAGS:
        disqualified |= s.flagged[flag]
    snapshot = GlucoseSnapshot(
        patient_id=claim.patient_id,
        ts_us=s.ts_us,
        value_mmol_l=s.value,
        trusted=s.trusted,
        below_range=s.flagged[glucose_rules.BELOW_RANGE_FLAG],
        above_range=s.flagged[glucose_rules.ABOVE_RANGE_FLAG],
        disqualified=disqualified,
        not_before_low=not_before_low,
        not_before_high=not_before_high,
    )
    return evaluate_glucose(snapshot, config)


def _apply(conn: psycopg.Connection[Any], requests: list[AlertRequest], *, site_id: int) -> int:
    changed = 0
    for request in requests:
        result = lifecycle.open_or_update(conn, request, site_id=site_id)
        if result.outcome in ("opened", "updated", "escalated"):
            changed += 1
            log.info(
                "alert %s %s: patient %s %s",
                result.alert_id,
                result.outcome,
                request.patient_id,
                request.title,
            )
    return changed


def evaluate_pending(
    conn: psycopg.Connection[Any],
    *,
    config: SpO2RuleConfig | None = None,
    glucose_config: GlucoseRuleConfig | None = None,
    lookback: timedelta = DEFAULT_LOOKBACK,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> int:
    """One pass of :func:`evaluate_pass`; returns the number of series claimed and evaluated
    (including any that failed and were re-queued). For tests and one-off runs."""
    return evaluate_pass(
        conn,
        config=config,
        glucose_config=glucose_config,
        lookback=lookback,
        batch_size=batch_size,
    ).claimed


class AlertEvaluator:
    """Runs :func:`evaluate_pass` whenever readings change, until stopped.

    ``run(stop)`` blocks: it LISTENs on ``readings_changed``, drains the queue, then waits for a
    notification, the poll interval or ``stop``, whichever comes first. Errors (a database outage,
    a bug) are logged and the loop restarts with exponential back-off (1-30 s); nothing is lost
    meanwhile because the queue lives in the database.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        config: SpO2RuleConfig | None = None,
        glucose_config: GlucoseRuleConfig | None = None,
        lookback: timedelta = DEFAULT_LOOKBACK,
        batch_size: int = DEFAULT_BATCH_SIZE,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
    ) -> None:
        if not settings.database_url:
            raise ValueError("the alert evaluator needs settings.database_url")
        self._url = settings.database_url
        self._config = config or SpO2RuleConfig()
        self._glucose_config = glucose_config or GlucoseRuleConfig()
        self._lookback = lookback
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self.passes = 0  # completed passes, for tests and health reporting

    def run(self, stop: threading.Event) -> None:
        """Evaluate until ``stop`` is set; returns within about half a second of it."""
        backoff = _BACKOFF_MIN_S
        while not stop.is_set():
            try:
                self._run_connected(stop)
                return
            except Exception:
                # Never let the thread die: a dead evaluator is a silent loss of every alert.
                # Database outages land here too; the queue keeps the work meanwhile.
                log.exception("alert evaluator failed; restarting in %.0f s", backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)

    def _run_connected(self, stop: threading.Event) -> None:
        with (
            connect(self._url, autocommit=True, app="homeward-evaluator-listen") as listener,
            connect(self._url, app="homeward-evaluator") as work,
        ):
            # LISTEN before the first drain: a notification sent while we drain is queued on
            # the listening connection and wakes the wait below.
            listener.execute(f"LISTEN {READINGS_CHANNEL}")
            backoff = _BACKOFF_MIN_S
            while not stop.is_set():
                result = self._drain(work, stop)
                if result.failed:
                    stop.wait(backoff)
                    backoff = min(backoff * 2, _BACKOFF_MAX_S)
                else:
                    backoff = _BACKOFF_MIN_S
                self._wait(listener, stop)

    def _drain(self, work: psycopg.Connection[Any], stop: threading.Event) -> PassResult:
        total = PassResult(0, 0, 0)
        while not stop.is_set():
            result = evaluate_pass(
                work,
                config=self._config,
                glucose_config=self._glucose_config,
                lookback=self._lookback,
                batch_size=self._batch_size,
            )
            self.passes += 1
            total = PassResult(
                total.claimed + result.claimed,
                total.failed + result.failed,
                total.changed_alerts + result.changed_alerts,
            )
            # A short batch means the queue is empty (or holds only what just failed).
            if result.claimed < self._batch_size or result.failed:
                break
        return total

    def _wait(self, listener: psycopg.Connection[Any], stop: threading.Event) -> None:
        deadline = time.monotonic() + self._poll_interval_s
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            woke = False
            for _ in listener.notifies(timeout=min(remaining, _STOP_CHECK_S), stop_after=1):
                woke = True
            if woke:
                # One pass serves every notification that arrived meanwhile: consume them.
                for _ in listener.notifies(timeout=0):
                    pass
                return
