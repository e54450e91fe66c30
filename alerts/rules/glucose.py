"""Hypoglycaemia and severe hyperglycaemia: a glucose reading the doctor must see today.

Two rules over one patient's glucose readings, each with its own alert (so a patient who swings
from a high to a low has both on the panel): :data:`RULE_LOW` and :data:`RULE_HIGH`. Like every
rule they are pure: a :class:`GlucoseSnapshot` in, :class:`~alerts.request.AlertRequest` objects
out; :mod:`alerts.lifecycle` opens, updates and escalates the alert.

Definition
----------
Glucose in the home comes mostly from fingerstick meters, where each reading is a deliberate
measurement: **one reading is enough**; there is no "sustained" requirement as for SpO2 (a CGM's
five-minutely values make the alert fire on the first low value, which is what a CGM's own urgent
low alarm does too).

Readings at or before ``not_before`` (the last resolution of the rule's alert) do not count, so a
resolved alert is followed by a new one only on evidence gathered after the doctor's resolution.

*Low* (:data:`RULE_LOW`): the qualifying readings are

* trusted readings (no flag of :data:`devices.UNTRUSTED`) at or below :data:`LEVEL1_MMOL_L`, and
* readings flagged ``neg_inf``: the meter showed "LO", below its measuring range (typically
  < 0.6-1.1 mmol/L). They have no value and are untrusted as numbers, but "LO" is the most
  dangerous glucose reading there is; it counts unless the same reading is also flagged
  ``test_data`` (control solution), ``invalid`` or ``device_fault``.

Severity ``critical`` when any qualifying reading is below :data:`LEVEL2_MMOL_L` or is "LO",
``high`` otherwise.

*High* (:data:`RULE_HIGH`): trusted readings at or above :data:`HIGH_MMOL_L`, and "HI" readings
(``pos_inf``, above the meter's range, typically > 33.3 mmol/L) under the same exclusions.
Severity ``critical`` at or above :data:`CRITICAL_HIGH_MMOL_L` or "HI", ``high`` otherwise.

One request per rule summarises every qualifying reading in the snapshot (first, last, count,
nadir or peak, how many were "LO"/"HI"); the lifecycle merges it into the patient's active alert.

Clinical basis of the thresholds
--------------------------------
* ``<= 3.9 mmol/L`` (70 mg/dL), level 1 hypoglycaemia: Chinese Diabetes Society, Guideline for
  the prevention and treatment of type 2 diabetes mellitus in China (2020 edition): in people
  with diabetes any glucose <= 3.9 mmol/L counts as hypoglycaemia; the International
  Hypoglycaemia Study Group (Diabetes Care 2017;40:155-157, doi:10.2337/dc16-2215) and the ADA
  Standards of Care use < 70 mg/dL (3.9 mmol/L). The inclusive bound matches the fingerstick
  summary of :mod:`monitoring.analytics.fingerstick` ("readings <= 3.9 mmol/L").
* ``< 3.0 mmol/L`` (54 mg/dL), level 2 "clinically significant" hypoglycaemia: same IHSG 2017
  statement, adopted by the ADA and the CDS 2020 guideline. Older adults are the patients most
  at risk of its harms (falls, arrhythmia, cognitive decline), hence critical.
* ``>= 16.7 mmol/L`` (300 mg/dL): the fingerstick threshold of the programme's analytics
  (issue 5, :mod:`monitoring.analytics.fingerstick`), the level at which Chinese guidance asks
  for ketones to be checked and a hyperglycaemic crisis to be considered. The exact guideline
  passage has not been verified by us; the constant is configurable per deployment through
  :class:`GlucoseRuleConfig`.
* ``>= 33.3 mmol/L`` (600 mg/dL), critical: the glucose criterion of the hyperglycaemic
  hyperosmolar state (Umpierrez GE et al., Hyperglycemic crises in adults with diabetes: a
  consensus report, Diabetes Care 2024), which is also where most home meters stop reading
  and show "HI".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from alerts.errors import RuleInputError
from alerts.request import AlertRequest, Severity
from alerts.rules.spo2 import from_epoch_us, to_epoch_us
from devices import GLUCOSE_MG_DL_PER_MMOL_L

RULE_LOW = "glucose_low"
RULE_HIGH = "glucose_high"
METRIC = "glucose"

# Thresholds in mmol/L (the metric's canonical unit); sources in the module docstring.
LEVEL1_MMOL_L = 3.9  # hypoglycaemia, inclusive (CDS 2020; IHSG 2017 < 70 mg/dL)
LEVEL2_MMOL_L = 3.0  # clinically significant hypoglycaemia, exclusive (IHSG 2017)
HIGH_MMOL_L = 16.7  # severe hyperglycaemia, inclusive (issue 5 fingerstick threshold)
CRITICAL_HIGH_MMOL_L = 33.3  # hyperosmolar range, inclusive (Umpierrez et al. 2024)

# Quality flags the rules read as well as values. "LO"/"HI" count as the most extreme reading
# unless the same reading is control solution, marked invalid by the device, or a sensor fault.
BELOW_RANGE_FLAG = "neg_inf"
ABOVE_RANGE_FLAG = "pos_inf"
DISQUALIFYING_FLAGS = ("test_data", "invalid", "device_fault")
FLAGS_READ = (BELOW_RANGE_FLAG, ABOVE_RANGE_FLAG, *DISQUALIFYING_FLAGS)

Int64Array = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class GlucoseRuleConfig:
    """Thresholds of both rules in mmol/L; defaults are the module constants (with sources)."""

    level1_mmol_l: float = LEVEL1_MMOL_L
    level2_mmol_l: float = LEVEL2_MMOL_L
    high_mmol_l: float = HIGH_MMOL_L
    critical_high_mmol_l: float = CRITICAL_HIGH_MMOL_L

    def __post_init__(self) -> None:
        if not 0.0 < self.level2_mmol_l <= self.level1_mmol_l:
            raise RuleInputError(RULE_LOW, "need 0 < level 2 <= level 1 threshold")
        if not self.level1_mmol_l < self.high_mmol_l <= self.critical_high_mmol_l:
            raise RuleInputError(RULE_HIGH, "need level 1 < high <= critical high threshold")


@dataclass(frozen=True, slots=True)
class GlucoseSnapshot:
    """One patient's glucose evidence, as the evaluator loaded it.

    ``ts_us``: int64 microseconds since the Unix epoch (UTC), any order. ``value_mmol_l``: NaN
    where the reading has no value. ``trusted``: False for readings flagged in
    :data:`devices.UNTRUSTED` or without a value. ``below_range`` / ``above_range``: the reading
    is flagged ``neg_inf`` ("LO") / ``pos_inf`` ("HI"). ``disqualified``: flagged ``test_data``,
    ``invalid`` or ``device_fault``. ``not_before``: evidence at or before this instant does not
    count (the last resolution of the rule's alert), or None; it is per rule, since resolving
    the low alert says nothing about highs.
    """

    patient_id: int
    ts_us: Int64Array
    value_mmol_l: Float64Array
    trusted: BoolArray
    below_range: BoolArray
    above_range: BoolArray
    disqualified: BoolArray
    not_before_low: datetime | None = None
    not_before_high: datetime | None = None


def evaluate_glucose(
    snapshot: GlucoseSnapshot, config: GlucoseRuleConfig | None = None
) -> list[AlertRequest]:
    """The low and/or high request for ``snapshot`` (at most one of each, low first).

    Empty input or no qualifying reading gives an empty list. Raises :class:`RuleInputError`
    when the arrays are not one-dimensional or differ in length.
    """
    cfg = config or GlucoseRuleConfig()
    ts = np.asarray(snapshot.ts_us, dtype=np.int64)
    value = np.asarray(snapshot.value_mmol_l, dtype=np.float64)
    trusted = np.asarray(snapshot.trusted, dtype=np.bool_)
    below_range = np.asarray(snapshot.below_range, dtype=np.bool_)
    above_range = np.asarray(snapshot.above_range, dtype=np.bool_)
    disqualified = np.asarray(snapshot.disqualified, dtype=np.bool_)
    named = {
        "value_mmol_l": value,
        "trusted": trusted,
        "below_range": below_range,
        "above_range": above_range,
        "disqualified": disqualified,
    }
    for name, column in named.items():
        if column.ndim != 1 or ts.ndim != 1:
            raise RuleInputError(METRIC, f"ts_us and {name} must be one-dimensional")
        if column.size != ts.size:
            raise RuleInputError(METRIC, f"{name} has {column.size} entries, ts_us {ts.size}")
    usable = trusted & np.isfinite(value)
    with np.errstate(invalid="ignore"):
        low_value = usable & (value <= cfg.level1_mmol_l)
        high_value = usable & (value >= cfg.high_mmol_l)
        low_critical = usable & (value < cfg.level2_mmol_l)
        high_critical = usable & (value >= cfg.critical_high_mmol_l)
    lo = below_range & ~disqualified
    hi = above_range & ~disqualified

    requests: list[AlertRequest] = []
    low = _request(
        snapshot.patient_id,
        RULE_LOW,
        ts,
        value,
        qualifying=low_value | lo,
        critical=low_critical | lo,
        out_of_range=lo,
        not_before=snapshot.not_before_low,
        cfg=cfg,
    )
    if low is not None:
        requests.append(low)
    high = _request(
        snapshot.patient_id,
        RULE_HIGH,
        ts,
        value,
        qualifying=high_value | hi,
        critical=high_critical | hi,
        out_of_range=hi,
        not_before=snapshot.not_before_high,
        cfg=cfg,
    )
    if high is not None:
        requests.append(high)
    return requests


def _request(
    patient_id: int,
    rule: str,
    ts: Int64Array,
    value: Float64Array,
    *,
    qualifying: BoolArray,
    critical: BoolArray,
    out_of_range: BoolArray,
    not_before: datetime | None,
    cfg: GlucoseRuleConfig,
) -> AlertRequest | None:
    keep = qualifying.copy()
    if not_before is not None:
        keep &= ts > to_epoch_us(not_before)
    if not keep.any():
        return None
    times = ts[keep]
    values = value[keep]
    numeric = values[np.isfinite(values)]
    n_out_of_range = int(out_of_range[keep].sum())
    is_low = rule == RULE_LOW
    severity = Severity.CRITICAL if critical[keep].any() else Severity.HIGH
    extreme: float | None = None
    if numeric.size:
        extreme = float(numeric.min() if is_low else numeric.max())
    latest = int(np.argmax(times))
    latest_value = values[latest]
    if is_low:
        threshold = cfg.level1_mmol_l
        shown = "LO" if n_out_of_range else f"{extreme:.1f} mmol/L"
        title = f"Hypoglycaemia: glucose {shown}" + (
            f" ({int(keep.sum())} readings)" if keep.sum() > 1 else ""
        )
    else:
        threshold = cfg.high_mmol_l
        shown = "HI" if n_out_of_range else f"{extreme:.1f} mmol/L"
        title = f"Severe hyperglycaemia: glucose {shown}" + (
            f" ({int(keep.sum())} readings)" if keep.sum() > 1 else ""
        )
    detail: dict[str, Any] = {
        "metric": METRIC,
        "unit": "mmol/L",
        "direction": "low" if is_low else "high",
        "threshold_mmol_l": threshold,
        "critical_threshold_mmol_l": cfg.level2_mmol_l if is_low else cfg.critical_high_mmol_l,
        "readings": int(keep.sum()),
        "out_of_range_readings": n_out_of_range,
        "extreme_mmol_l": extreme,
        "extreme_mg_dl": None if extreme is None else round(extreme * GLUCOSE_MG_DL_PER_MMOL_L),
        "latest_mmol_l": None if not np.isfinite(latest_value) else float(latest_value),
    }
    return AlertRequest(
        patient_id=patient_id,
        rule=rule,
        severity=severity,
        title=title,
        evidence_start=from_epoch_us(int(times.min())),
        evidence_end=from_epoch_us(int(times.max())),
        detail=detail,
    )


def describe(detail: Mapping[str, Any]) -> str:
    """One line of evidence for the panel, from a request's ``detail``.

    >>> describe({"direction": "low", "extreme_mmol_l": 2.6, "readings": 2,
    ...           "out_of_range_readings": 0, "threshold_mmol_l": 3.9})
    'lowest glucose 2.6 mmol/L (47 mg/dL), 2 readings <= 3.9 mmol/L'
    >>> describe({"direction": "high", "extreme_mmol_l": None, "readings": 1,
    ...           "out_of_range_readings": 1, "threshold_mmol_l": 16.7})
    'meter showed HI (above its range), 1 reading >= 16.7 mmol/L'
    """
    low = detail.get("direction") == "low"
    n = int(detail.get("readings", 0))
    threshold = detail.get("threshold_mmol_l")
    extreme = detail.get("extreme_mmol_l")
    out = int(detail.get("out_of_range_readings", 0))
    if out:
        head = "meter showed LO (below its range)" if low else "meter showed HI (above its range)"
    elif extreme is None:
        head = "glucose ?"
    else:
        mg = round(float(extreme) * GLUCOSE_MG_DL_PER_MMOL_L)
        head = f"{'lowest' if low else 'highest'} glucose {float(extreme):.1f} mmol/L ({mg} mg/dL)"
    bound = f"{'<=' if low else '>='} {threshold:g} mmol/L" if threshold is not None else ""
    return f"{head}, {n} reading{'s' if n != 1 else ''} {bound}".rstrip()
