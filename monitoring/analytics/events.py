"""Hypoglycaemia and hyperglycaemia events: sustained runs beyond a threshold.

Source: Battelino T, Alexander CM, Amiel SA, et al. Continuous glucose monitoring and metrics
for clinical trials: an international consensus statement. Lancet Diabetes Endocrinol
2023;11(1):42-57, doi:10.1016/S2213-8587(22)00319-9 (and Danne 2017,
doi:10.2337/dc17-1600):

=================  ===================  ==========================================
event              starts after         ends after
=================  ===================  ==========================================
hypo level 1       >= 15 min < 70       >= 15 min >= 70 mg/dL
hypo level 2       >= 15 min < 54       >= 15 min >= 54 mg/dL
hypo extended      > 120 min < 70       >= 15 min >= 70 mg/dL
hyper level 1      >= 15 min > 180      >= 15 min <= 180 mg/dL
hyper level 2      >= 15 min > 250      >= 15 min <= 250 mg/dL
=================  ===================  ==========================================

Definition on the 5-minute grid (``resample``), as in the reference implementation (iglu
``episode_calculation``): each grid slot stands for the 5 minutes it starts, so an event needs
3 consecutive slots beyond the threshold (3 x 5 min = 15 min; "> 120 min" needs 25 slots). The
event runs from its first slot until the first slot of the next run of >= 3 slots back across
the threshold; shorter returns (< 15 min) do not end it, and further runs beyond the threshold
before a qualifying return belong to the same event. An event that reaches a gap (a NaN slot:
no reading for > 45 min) or the end of the data ends there and is marked ``recovered=False``:
we cannot know when the patient recovered. Level 2 events are also level 1 events (as in the
consensus); ``exclusive_of`` picks the level 1 events that never reached level 2.

Empty, NaN and gappy input: no slots, no events; events never span a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from monitoring.analytics._thresholds import band_edges, bands
from monitoring.analytics.resample import SLOT_S, GlucoseGrid
from monitoring.analytics.series import PatientSeries

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
EventKind = Literal["hypo", "hyper"]


@dataclass(frozen=True, slots=True)
class EventDefinition:
    """One kind of glycaemic event.

    Attributes
    ----------
    name : str
        Stable key, e.g. ``"hypo_level1"``.
    kind : {"hypo", "hyper"}
        Below (``<``) or above (``>``) the threshold.
    threshold_mg_dl : float
        The glucose threshold, mg/dL.
    min_duration_min : float
        Minutes beyond the threshold needed to start (a multiple of 5 on the grid).
    end_duration_min : float
        Minutes back across the threshold needed to end.
    """

    name: str
    kind: EventKind
    threshold_mg_dl: float
    min_duration_min: float = 15.0
    end_duration_min: float = 15.0

    @property
    def min_slots(self) -> int:
        """Slots needed to start (``ceil(min_duration / 5 min)``)."""
        return int(np.ceil(self.min_duration_min * 60 / SLOT_S))

    @property
    def end_slots(self) -> int:
        """Slots needed to end."""
        return int(np.ceil(self.end_duration_min * 60 / SLOT_S))


HYPO_LEVEL1 = EventDefinition("hypo_level1", "hypo", 70.0)
HYPO_LEVEL2 = EventDefinition("hypo_level2", "hypo", 54.0)
#: "> 120 consecutive minutes" on a 5-minute grid is at least 25 slots, i.e. 125 minutes.
HYPO_EXTENDED = EventDefinition("hypo_extended", "hypo", 70.0, min_duration_min=125.0)
HYPER_LEVEL1 = EventDefinition("hyper_level1", "hyper", 180.0)
HYPER_LEVEL2 = EventDefinition("hyper_level2", "hyper", 250.0)
CONSENSUS_EVENTS: tuple[EventDefinition, ...] = (
    HYPO_LEVEL1,
    HYPO_LEVEL2,
    HYPO_EXTENDED,
    HYPER_LEVEL1,
    HYPER_LEVEL2,
)


@dataclass(frozen=True, slots=True)
class EventTable:
    """Events of one definition for a block of patients, one row per event, by patient.

    Attributes
    ----------
    patient : int64
        Row of the patient in the grid.
    start_s, end_s : int64
        UTC seconds: first slot beyond the threshold; first slot of the recovery (or the end of
        the data stretch when ``recovered`` is false).
    duration_min : float64
        ``(end_s - start_s) / 60``.
    mean_mg_dl : float64
        Mean grid glucose over the event.
    extreme_mg_dl : float64
        Nadir (hypo) or peak (hyper) of the *readings* the event's grid values were
        interpolated from: the lowest/highest value the sensor actually reported.
    extreme_time_s : int64
        When that reading was taken.
    recovered : bool
        False when the event ran into a gap or the end of the data.
    """

    definition: EventDefinition
    patient: IntArray
    start_s: IntArray
    end_s: IntArray
    duration_min: FloatArray
    mean_mg_dl: FloatArray
    extreme_mg_dl: FloatArray
    extreme_time_s: IntArray
    recovered: BoolArray
    _start_flat: IntArray
    _end_flat: IntArray

    def __len__(self) -> int:
        return int(self.patient.size)


@dataclass(frozen=True, slots=True)
class EventSummary:
    """Per-patient summary of one event definition (the reference implementation's columns)."""

    n_events: IntArray
    events_per_day: FloatArray
    mean_duration_min: FloatArray
    mean_glucose_mg_dl: FloatArray


def _reduce_pairs(
    ufunc: np.ufunc, values: FloatArray, start: IntArray, end: IntArray
) -> FloatArray:
    """``ufunc.reduce(values[start[i]:end[i]])`` for non-empty ranges (``start < end``)."""
    out = np.empty(start.size)
    if start.size == 0:
        return out
    inner = end < values.size
    if inner.any():
        idx = np.empty(2 * int(inner.sum()), dtype=np.int64)
        idx[0::2] = start[inner]
        idx[1::2] = end[inner]
        out[inner] = ufunc.reduceat(values, idx)[0::2]
    for i in np.flatnonzero(~inner):  # ranges running to the end of the array (at most a few)
        out[i] = ufunc.reduce(values[start[i] :])
    return out


class _ReadingIndex:
    """Sorted search key over the cleaned readings of a block (built once, on first use)."""

    def __init__(self, readings: PatientSeries) -> None:
        self.readings = readings
        t = readings.time_s
        self.t0 = int(t.min()) if t.size else 0
        self.span = int(t.max()) - self.t0 + 1 if t.size else 1
        self._key: IntArray | None = None

    @property
    def key(self) -> IntArray:
        if self._key is None:
            r = self.readings
            self._key = r.owner * self.span + (r.time_s - self.t0)
        return self._key

    def at_or_before(self, patient: IntArray, time_s: IntArray) -> IntArray:
        return np.searchsorted(self.key, patient * self.span + (time_s - self.t0), "right") - 1

    def at_or_after(self, patient: IntArray, time_s: IntArray) -> IntArray:
        return np.searchsorted(self.key, patient * self.span + (time_s - self.t0), "left")


def find_events(
    grid: GlucoseGrid, definition: EventDefinition, readings_mg_dl: PatientSeries
) -> EventTable:
    """Find every event of ``definition`` in every patient's grid row.

    Parameters
    ----------
    grid : GlucoseGrid
        Glucose in mg/dL on the 5-minute grid.
    definition : EventDefinition
        Threshold and durations.
    readings_mg_dl : PatientSeries
        The cleaned readings the grid was built from (for the nadir/peak readings).

    Returns
    -------
    EventTable
        Events in patient order, then time order.
    """
    return find_all_events(grid, (definition,), readings_mg_dl)[definition.name]


def find_all_events(
    grid: GlucoseGrid,
    definitions: tuple[EventDefinition, ...],
    readings_mg_dl: PatientSeries,
) -> dict[str, EventTable]:
    """Find the events of several definitions, sharing one pass over the grid.

    Notes
    -----
    Fully vectorised: one code per slot records which thresholds it is beyond, the grid is
    run-length encoded once, and each definition merges those runs into runs of "no value",
    "within" and "beyond" its threshold; qualifying start and end runs are found with
    boolean masks, each start is paired with the next qualifying end of its stretch by
    ``np.searchsorted``, starts sharing an end are merged, and means and extremes come from
    ``ufunc.reduceat`` over the event ranges.
    """
    out: dict[str, EventTable] = {}
    s_n = grid.n_slots
    flat = grid.values.reshape(-1)
    if flat.size == 0 or not definitions:
        return {d.name: _empty_table(d) for d in definitions}
    valid = np.isfinite(flat)
    lower = sorted({d.threshold_mg_dl for d in definitions if d.kind == "hypo"})
    upper = sorted({d.threshold_mg_dl for d in definitions if d.kind == "hyper"})
    # one band per slot (a binary search over all thresholds), 0 where there is no value
    code = bands(flat, band_edges(tuple(lower), tuple(upper))).astype(np.int16) + 1
    code[~valid] = 0
    change = np.empty(flat.size, dtype=np.bool_)
    change[0] = True
    np.not_equal(code[1:], code[:-1], out=change[1:])
    change[::s_n] = True  # rows never share a run
    rs_all = np.flatnonzero(change)
    rl_all = np.diff(np.concatenate((rs_all, [flat.size])))
    rc_all = code[rs_all]
    row_start = rs_all % s_n == 0
    fz = np.where(valid, flat, 0.0)
    index = _ReadingIndex(readings_mg_dl)
    n_codes = len(lower) + len(upper) + 2
    for d in definitions:
        band = np.arange(n_codes) - 1  # band of each code; code 0 is "no value"
        if d.kind == "hypo":
            beyond = band <= lower.index(d.threshold_mg_dl)
        else:
            beyond = band >= len(lower) + upper.index(d.threshold_mg_dl) + 1
        lut = np.where(beyond, 2, 1)
        lut[0] = 0
        cls = lut[rc_all]  # 0 none, 1 within, 2 beyond
        new = np.empty(cls.size, dtype=np.bool_)
        new[0] = True
        new[1:] = (cls[1:] != cls[:-1]) | row_start[1:]
        idx = np.flatnonzero(new)
        rs = rs_all[idx]
        rl = np.add.reduceat(rl_all, idx)
        rc = cls[idx]
        out[d.name] = _events_from_runs(grid, d, rs, rl, rc, fz, index)
    return out


def _events_from_runs(
    grid: GlucoseGrid,
    definition: EventDefinition,
    rs: IntArray,
    rl: IntArray,
    rc: NDArray[np.int64],
    fz: FloatArray,
    index: _ReadingIndex,
) -> EventTable:
    s_n = grid.n_slots
    keep = rc > 0
    rs, rl, rc = rs[keep], rl[keep], rc[keep]
    if rs.size == 0:
        return _empty_table(definition)
    ends = rs + rl
    newseg = np.empty(rs.size, dtype=np.bool_)
    newseg[0] = True
    newseg[1:] = (rs[1:] != ends[:-1]) | (rs[1:] % s_n == 0)
    seg = np.cumsum(newseg) - 1
    last_run = np.flatnonzero(np.concatenate((newseg[1:], [True])))
    seg_end = ends[last_run]

    s_idx = np.flatnonzero((rc == 2) & (rl >= definition.min_slots))
    e_idx = np.flatnonzero((rc == 1) & (rl >= definition.end_slots))
    if s_idx.size == 0:
        return _empty_table(definition)
    k = np.searchsorted(e_idx, s_idx, side="right")
    if e_idx.size:
        e_run = e_idx[np.minimum(k, e_idx.size - 1)]
        recovered = (k < e_idx.size) & (seg[e_run] == seg[s_idx])
    else:
        e_run = s_idx
        recovered = np.zeros(s_idx.size, dtype=np.bool_)
    ev_start = rs[s_idx]
    ev_end = np.where(recovered, rs[e_run], seg_end[seg[s_idx]])
    first = np.empty(ev_start.size, dtype=np.bool_)
    first[0] = True
    first[1:] = ev_end[1:] != ev_end[:-1]
    ev_start, ev_end, recovered = ev_start[first], ev_end[first], recovered[first]

    n_slots = ev_end - ev_start
    mean = _reduce_pairs(np.add, fz, ev_start, ev_end) / n_slots
    patient = ev_start // s_n
    slot_first = ev_start - patient * s_n
    slot_last = ev_end - 1 - patient * s_n
    origin = grid.origin_s[patient]
    start_s = origin + slot_first * SLOT_S
    end_s = origin + (slot_last + 1) * SLOT_S

    # Readings the event's grid values were interpolated from: from the last reading at or
    # before the first slot to the first reading at or after the last slot.
    readings_mg_dl = index.readings
    t = readings_mg_dl.time_s
    x = readings_mg_dl.values
    a = index.at_or_before(patient, origin + slot_first * SLOT_S)
    b = index.at_or_after(patient, origin + slot_last * SLOT_S)
    lo = readings_mg_dl.offsets[patient]
    hi = readings_mg_dl.offsets[patient + 1] - 1
    a = np.clip(a, lo, hi)
    b = np.clip(b, lo, hi)
    if definition.kind == "hypo":
        ext = _reduce_pairs(np.minimum, x, a, b + 1)
    else:
        ext = _reduce_pairs(np.maximum, x, a, b + 1)
    # time of the first reading equal to the extreme within [a, b]
    rng = b - a + 1
    pos = np.repeat(a, rng) + (
        np.arange(int(rng.sum()), dtype=np.int64) - np.repeat(np.cumsum(rng) - rng, rng)
    )
    hit = np.where(x[pos] == np.repeat(ext, rng), pos, np.iinfo(np.int64).max)
    first_hit = np.minimum.reduceat(hit, np.cumsum(rng) - rng)
    return EventTable(
        definition=definition,
        patient=patient.astype(np.int64),
        start_s=start_s.astype(np.int64),
        end_s=end_s.astype(np.int64),
        duration_min=(n_slots * (SLOT_S / 60.0)).astype(np.float64),
        mean_mg_dl=mean,
        extreme_mg_dl=ext,
        extreme_time_s=t[first_hit].astype(np.int64),
        recovered=recovered,
        _start_flat=ev_start.astype(np.int64),
        _end_flat=ev_end.astype(np.int64),
    )


def _empty_table(definition: EventDefinition) -> EventTable:
    zi = np.zeros(0, dtype=np.int64)
    zf = np.zeros(0, dtype=np.float64)
    return EventTable(
        definition=definition,
        patient=zi,
        start_s=zi,
        end_s=zi,
        duration_min=zf,
        mean_mg_dl=zf,
        extreme_mg_dl=zf,
        extreme_time_s=zi,
        recovered=np.zeros(0, dtype=np.bool_),
        _start_flat=zi,
        _end_flat=zi,
    )


def exclusive_of(level1: EventTable, level2: EventTable) -> BoolArray:
    """Which level 1 events contain no level 2 event (the reference's ``lv1_excl``)."""
    starts2 = level2._start_flat
    inside = np.searchsorted(starts2, level1._end_flat, side="left") - np.searchsorted(
        starts2, level1._start_flat, side="left"
    )
    return np.asarray(inside == 0)


def summarize_events(
    events: EventTable, grid: GlucoseGrid, mask: BoolArray | None = None
) -> EventSummary:
    """Per-patient count, rate, mean duration and mean glucose of (a subset of) events.

    ``events_per_day`` divides by the days of grid slots that hold a value (as the reference
    implementation does), so a patient with gaps is not credited with days without data.
    Patients without events get 0 events, rate 0, and NaN duration and glucose.
    """
    n = grid.n_patients
    sel = np.ones(len(events), dtype=np.bool_) if mask is None else mask
    pat = events.patient[sel]
    count = np.bincount(pat, minlength=n).astype(np.int64)
    dur = np.bincount(pat, weights=events.duration_min[sel], minlength=n)
    glu = np.bincount(pat, weights=events.mean_mg_dl[sel], minlength=n)
    valid_days = np.isfinite(grid.values).sum(axis=1) * (SLOT_S / 86_400.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_day = np.where(valid_days > 0, count / valid_days, np.nan)
        mean_dur = np.where(count > 0, dur / count, np.nan)
        mean_glu = np.where(count > 0, glu / count, np.nan)
    return EventSummary(
        n_events=count,
        events_per_day=per_day,
        mean_duration_min=mean_dur,
        mean_glucose_mg_dl=mean_glu,
    )


__all__ = [
    "CONSENSUS_EVENTS",
    "HYPER_LEVEL1",
    "HYPER_LEVEL2",
    "HYPO_EXTENDED",
    "HYPO_LEVEL1",
    "HYPO_LEVEL2",
    "EventDefinition",
    "EventSummary",
    "EventTable",
    "exclusive_of",
    "find_all_events",
    "find_events",
    "summarize_events",
]
