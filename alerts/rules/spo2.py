"""Sustained low SpO2: the patient's oxygen saturation stays below their floor for minutes.

The rule is pure: it reads a :class:`SpO2Snapshot` (one patient's recent SpO2 readings as NumPy
arrays, the patient's floor and the time before which evidence does not count) and returns
:class:`~alerts.request.AlertRequest` objects, one per qualifying episode. Opening, updating and
escalating alerts is :mod:`alerts.lifecycle`'s job.

Definition
----------
Only *trusted* readings count (``trusted`` false, or a NaN value, drops a reading: the quality
flags in :data:`devices.UNTRUSTED` mean the value cannot be used). Readings at or before
``not_before`` (the last time this rule's alert for the patient was resolved) are dropped too, so
that a resolved alert is followed by a new one only on evidence gathered after the resolution.

The remaining readings are sorted by time. A *run* is a maximal sequence of consecutive readings
that are all strictly below the floor, in which no two neighbours are more than ``max_gap`` apart.
A run is broken by

* any trusted reading at or above the floor (one good reading is enough), or
* a gap between neighbouring readings longer than ``max_gap`` (no evidence the patient stayed
  low in between; a gap of exactly ``max_gap`` does not break the run).

A run *qualifies* when its last reading is at least ``sustained`` after its first one (exactly
``sustained`` qualifies). Each qualifying run yields one request with severity

* ``critical`` when the run's median value is below ``floor - critical_depth_pct``,
* ``high`` otherwise.

Clinical basis of the defaults
------------------------------
* Floor 90 %: BTS guideline for oxygen use in adults in healthcare and emergency settings (2017),
  O'Driscoll BR et al., Thorax 72(Suppl 1):ii1-ii90, doi:10.1136/thoraxjnl-2016-209729, sets the
  target range 94-98 % for most acutely ill adults and 88-92 % for those at risk of hypercapnic
  (type 2) respiratory failure, such as many COPD patients. Our patients are elderly and at home,
  many with chronic cardiopulmonary disease whose *usual* resting SpO2 sits at 92-95 %; a floor at
  the bottom of the acute target (94 %) would alert on their baseline and train doctors to ignore
  the panel. 90 % corresponds to PaO2 of about 8 kPa (60 mmHg), the conventional threshold of
  respiratory failure, where the oxyhaemoglobin dissociation curve steepens so that small further
  falls in PaO2 cost much saturation. 90 % lies inside the 88-92 % band, so a patient at risk of
  hypercapnic failure who sits at target would trigger it: such patients get their own floor,
  ``patient_targets(metric='spo2').low = 88`` as the BTS range suggests. A per-patient floor
  always wins over the default.
* Critical at median below floor - 5 points: NEWS2 (Royal College of Physicians, 2017) gives its
  maximum single-parameter score of 3, which triggers urgent clinical review on its own, at SpO2
  <= 83 % on its scale 2 (target 88-92 %), i.e. 5 points below that target's floor; on scale 1
  (target 94-98 %) at <= 91 %. For the 90 % default floor this places "critical" below 85 %, a
  level widely treated as severe hypoxaemia. The median (not the nadir) decides, so a single
  artefactual dip cannot make an episode critical; the nadir is reported as evidence.
* Sustained 5 min, max gap 2 min: home pulse oximeters misread during movement, poor perfusion or
  a displaced probe for seconds to a minute at a time; ISO 80601-2-61 only requires an accuracy
  (A_rms) of 4 % over 70-100 %. Requiring five minutes of consecutive low readings removes such
  transients while still raising the alert within minutes, which is as fast as a family doctor's
  panel can act on it. Wearables here sample SpO2 every 1-60 s, so two minutes without a trusted
  reading means the device lost the signal and the run cannot be vouched for.

All thresholds are module constants, overridable per call through :class:`SpO2RuleConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from alerts.errors import RuleInputError
from alerts.request import AlertRequest, Severity

RULE = "spo2_low_sustained"
METRIC = "spo2"

# Default floor in % SpO2 (see the module docstring: BTS 2017, doi:10.1136/thoraxjnl-2016-209729).
DEFAULT_FLOOR_PCT = 90.0
# Critical when the run's median is this many percentage points below the floor (NEWS2 2017,
# scale 2: a score of 3 at <= 83 % against a floor of 88 %).
CRITICAL_DEPTH_PCT = 5.0
# Minimum time from the first to the last low reading of a run.
SUSTAINED = timedelta(minutes=5)
# Longest gap between neighbouring low readings that still counts as one run.
MAX_GAP = timedelta(minutes=2)

FloorSource = Literal["patient_target", "default"]

Int64Array = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_US_PER_S = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SpO2RuleConfig:
    """Thresholds of the rule; defaults are the module constants (with their sources)."""

    default_floor_pct: float = DEFAULT_FLOOR_PCT
    critical_depth_pct: float = CRITICAL_DEPTH_PCT
    sustained: timedelta = SUSTAINED
    max_gap: timedelta = MAX_GAP

    def __post_init__(self) -> None:
        if not 0.0 < self.default_floor_pct <= 100.0:
            raise RuleInputError(RULE, f"default floor {self.default_floor_pct} % not in (0, 100]")
        if self.critical_depth_pct < 0:
            raise RuleInputError(RULE, "critical depth must not be negative")
        if self.sustained <= timedelta(0):
            raise RuleInputError(RULE, "sustained duration must be positive")
        if self.max_gap <= timedelta(0):
            raise RuleInputError(RULE, "max gap must be positive")


@dataclass(frozen=True, slots=True)
class SpO2Snapshot:
    """One patient's SpO2 evidence, as the evaluator loaded it.

    Parameters
    ----------
    patient_id
        The patient the readings belong to.
    ts_us
        Reading times, int64 microseconds since the Unix epoch (UTC). Any order.
    value_pct
        SpO2 in % (the metric's canonical unit). NaN where the reading had no value.
    trusted
        False for readings whose quality flags make them unusable (:data:`devices.UNTRUSTED`).
    floor_pct
        The patient's floor from ``patient_targets`` (metric ``spo2``, column ``low``), or None to
        use the configured default.
    not_before
        Evidence at or before this instant does not count (the last resolution of this rule's
        alert for the patient), or None.
    window_start
        Earliest reading time the evaluator loaded, or None when it loaded everything. A run that
        starts within ``max_gap`` of it may have begun earlier; its duration is then a lower bound
        and ``detail["duration_is_lower_bound"]`` says so.
    """

    patient_id: int
    ts_us: Int64Array
    value_pct: Float64Array
    trusted: BoolArray
    floor_pct: float | None = None
    not_before: datetime | None = None
    window_start: datetime | None = None


def to_epoch_us(t: datetime) -> int:
    """A timezone-aware datetime as integer microseconds since the Unix epoch (exact)."""
    if t.tzinfo is None:
        raise RuleInputError(RULE, "times must be timezone-aware")
    return (t - _EPOCH) // timedelta(microseconds=1)


def from_epoch_us(us: int) -> datetime:
    """Integer microseconds since the Unix epoch as a UTC datetime (exact)."""
    return _EPOCH + timedelta(microseconds=int(us))


@dataclass(frozen=True, slots=True)
class _Runs:
    """Qualifying runs, one entry per run, as parallel arrays."""

    first_us: Int64Array
    last_us: Int64Array
    count: Int64Array
    nadir: Float64Array
    median: Float64Array


def find_low_runs(
    ts_us: Int64Array,
    value: Float64Array,
    *,
    floor: float,
    sustained_us: int,
    max_gap_us: int,
) -> _Runs:
    """Runs of consecutive values below ``floor`` lasting at least ``sustained_us``.

    ``ts_us`` must be sorted ascending and ``value`` finite (the caller filters). Vectorised: the
    work is a handful of NumPy passes over the readings whatever their number; empty input gives
    empty arrays.
    """
    n = ts_us.size
    if n == 0:
        empty_i = np.empty(0, dtype=np.int64)
        empty_f = np.empty(0, dtype=np.float64)
        return _Runs(empty_i, empty_i, empty_i, empty_f, empty_f)
    low = value < floor
    # close[i]: reading i is within max_gap of reading i-1.
    close = np.zeros(n, dtype=np.bool_)
    close[1:] = np.diff(ts_us) <= max_gap_us
    prev_low = np.zeros(n, dtype=np.bool_)
    prev_low[1:] = low[:-1]
    # A low reading continues the run of the previous one when that was low and close enough.
    continues = low & prev_low & close
    starts = low & ~continues
    next_continues = np.zeros(n, dtype=np.bool_)
    next_continues[:-1] = continues[1:]
    ends = low & ~next_continues
    first_idx = np.flatnonzero(starts)
    last_idx = np.flatnonzero(ends)
    qualifies = (ts_us[last_idx] - ts_us[first_idx]) >= sustained_us

    # Per-run statistics over the low readings only: runs are contiguous in ``low_values``.
    low_values = value[low]
    offsets = np.flatnonzero(starts[low])
    counts = (last_idx - first_idx + 1).astype(np.int64)
    nadir = np.minimum.reduceat(low_values, offsets)
    # Median per run without a Python loop: sort values within each run (run ids are already
    # non-decreasing, so lexsort keeps runs contiguous), then take the middle element(s).
    run_ids = np.repeat(np.arange(offsets.size), counts)
    sorted_values = low_values[np.lexsort((low_values, run_ids))]
    median = (
        sorted_values[offsets + (counts - 1) // 2] + sorted_values[offsets + counts // 2]
    ) / 2.0

    return _Runs(
        first_us=ts_us[first_idx][qualifies],
        last_us=ts_us[last_idx][qualifies],
        count=counts[qualifies],
        nadir=nadir[qualifies],
        median=median[qualifies],
    )


def evaluate_spo2(
    snapshot: SpO2Snapshot, config: SpO2RuleConfig | None = None
) -> list[AlertRequest]:
    """Alert requests for every sustained-low episode in ``snapshot``, oldest first.

    Returns an empty list for empty input, input with no trusted readings after ``not_before``,
    or no run lasting ``config.sustained``. Raises :class:`RuleInputError` when the arrays differ
    in length or the floor is not in (0, 100] %.
    """
    cfg = config or SpO2RuleConfig()
    ts = np.asarray(snapshot.ts_us, dtype=np.int64)
    values = np.asarray(snapshot.value_pct, dtype=np.float64)
    trusted = np.asarray(snapshot.trusted, dtype=np.bool_)
    if not (ts.ndim == values.ndim == trusted.ndim == 1):
        raise RuleInputError(RULE, "ts_us, value_pct and trusted must be one-dimensional")
    if not (ts.size == values.size == trusted.size):
        raise RuleInputError(
            RULE, f"array lengths differ: ts {ts.size}, value {values.size}, trusted {trusted.size}"
        )
    floor_source: FloorSource = "default" if snapshot.floor_pct is None else "patient_target"
    floor = cfg.default_floor_pct if snapshot.floor_pct is None else float(snapshot.floor_pct)
    if not 0.0 < floor <= 100.0:
        raise RuleInputError(RULE, f"floor {floor} % not in (0, 100]")

    keep = trusted & np.isfinite(values)
    if snapshot.not_before is not None:
        keep &= ts > to_epoch_us(snapshot.not_before)
    ts, values = ts[keep], values[keep]
    # Sort by time; ties broken by value so that the result does not depend on input order.
    order = np.lexsort((values, ts))
    ts, values = ts[order], values[order]

    max_gap_us = cfg.max_gap // timedelta(microseconds=1)
    runs = find_low_runs(
        ts,
        values,
        floor=floor,
        sustained_us=cfg.sustained // timedelta(microseconds=1),
        max_gap_us=max_gap_us,
    )
    # A run starting near the window's start may have begun before it, unless nothing before the
    # window counts anyway (not_before at or after the window start).
    window_start_us: int | None = None
    if snapshot.window_start is not None and (
        snapshot.not_before is None or snapshot.window_start > snapshot.not_before
    ):
        window_start_us = to_epoch_us(snapshot.window_start)
    critical_below = floor - cfg.critical_depth_pct
    requests: list[AlertRequest] = []
    for i in range(runs.first_us.size):  # one iteration per episode, not per reading
        first_us, last_us = int(runs.first_us[i]), int(runs.last_us[i])
        median, nadir = float(runs.median[i]), float(runs.nadir[i])
        duration_s = (last_us - first_us) / _US_PER_S
        lower_bound = window_start_us is not None and first_us - window_start_us <= max_gap_us
        severity = Severity.CRITICAL if median < critical_below else Severity.HIGH
        requests.append(
            AlertRequest(
                patient_id=snapshot.patient_id,
                rule=RULE,
                severity=severity,
                title=f"SpO2 below {floor:g} % for {'≥ ' if lower_bound else ''}"
                f"{int(duration_s // 60)} min",
                evidence_start=from_epoch_us(first_us),
                evidence_end=from_epoch_us(last_us),
                detail={
                    "metric": METRIC,
                    "unit": "%",
                    "floor_pct": floor,
                    "floor_source": floor_source,
                    "critical_below_pct": critical_below,
                    "median_pct": median,
                    "nadir_pct": nadir,
                    "readings": int(runs.count[i]),
                    "duration_s": duration_s,
                    "duration_is_lower_bound": lower_bound,
                    "sustained_s": cfg.sustained.total_seconds(),
                    "max_gap_s": cfg.max_gap.total_seconds(),
                },
            )
        )
    return requests


def describe(detail: Mapping[str, Any]) -> str:
    """One line of evidence for the panel, from a request's ``detail``.

    >>> describe({"median_pct": 86.0, "duration_s": 420.0, "nadir_pct": 84.0, "floor_pct": 90.0})
    'SpO2 86 % for 7 min, nadir 84 % (floor 90 %)'
    """
    duration_min = int(float(detail.get("duration_s", 0.0)) // 60)
    hours, minutes = divmod(duration_min, 60)
    span = f"{hours} h {minutes} min" if hours else f"{minutes} min"
    if detail.get("duration_is_lower_bound"):
        span = "≥ " + span
    return (
        f"SpO2 {_pct(detail.get('median_pct'))} % for {span},"
        f" nadir {_pct(detail.get('nadir_pct'))} % (floor {_pct(detail.get('floor_pct'))} %)"
    )


def _pct(value: Any) -> str:
    return "?" if value is None else f"{round(float(value), 1):g}"
