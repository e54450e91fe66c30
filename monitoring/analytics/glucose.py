"""The full CGM metric set for many patients at once, block by block.

:func:`cgm_metric_set` runs every glucose routine of this package over a
:class:`~monitoring.analytics.series.PatientSeries` of glucose readings in mg/dL:

1. ``clean_series`` (drop NaN/implausible, sort, merge duplicated instants);
2. reading-based metrics: consensus statistics and ranges, GMI, eA1c, J-index, LBGI, HBGI,
   ADRR, GRI, data sufficiency;
3. ``resample`` onto the shared 5-minute grid, then grid-based metrics: MODD, CONGA(n), MAGE,
   hypo/hyperglycaemia events and the AGP.

Patients are processed ``block_patients`` at a time so that the grid and its intermediates
(a few arrays of ``block_patients x 288 x days`` float64) bound the memory whatever the number
of patients; :func:`iter_cgm_metric_sets` streams blocks from any source (e.g. a database
cursor) without ever holding more than one.

Every value comes with a :class:`~monitoring.analytics.status.Status`; see
:data:`CGM_METRICS` for each key's unit, definition and source.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitoring.analytics.a1c import ea1c_percent, gmi_percent
from monitoring.analytics.agp import AGP_PERCENTILES, AgpProfile, agp
from monitoring.analytics.cleaning import SeriesQuality, clean_series
from monitoring.analytics.consensus import (
    mmol_thresholds_in_mg_dl,
    range_percents,
    summary_stats,
    targets_most_adults,
    targets_older_high_risk,
)
from monitoring.analytics.events import (
    CONSENSUS_EVENTS,
    HYPER_LEVEL1,
    HYPER_LEVEL2,
    HYPO_LEVEL1,
    HYPO_LEVEL2,
    EventDefinition,
    EventTable,
    exclusive_of,
    find_all_events,
    summarize_events,
)
from monitoring.analytics.gri import gri
from monitoring.analytics.mage import LONG_MA, SHORT_MA, mage
from monitoring.analytics.resample import (
    CHINA_UTC_OFFSET_S,
    MAX_GAP_S,
    SLOT_S,
    per_patient_offset,
    resample,
)
from monitoring.analytics.risk import risk_indices
from monitoring.analytics.series import PatientSeries
from monitoring.analytics.status import Status
from monitoring.analytics.sufficiency import (
    MIN_ACTIVE_PERCENT,
    MIN_DAYS,
    Sufficiency,
    sufficiency,
)
from monitoring.analytics.units import PLAUSIBLE_MAX_MG_DL, PLAUSIBLE_MIN_MG_DL
from monitoring.analytics.variability import conga, j_index, modd

FloatArray = NDArray[np.float64]
StatusArray = NDArray[np.int8]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """What one key of :attr:`CgmMetricSet.values` means.

    ``glucose`` is true for concentrations (stored in mg/dL, shown in mmol/L on request: the
    key's ``_mg_dl`` suffix then becomes ``_mmol_l``).
    """

    key: str
    unit: str
    glucose: bool
    description: str


def _event_specs() -> list[MetricSpec]:
    out: list[MetricSpec] = []
    for d in CONSENSUS_EVENTS:
        out += [
            MetricSpec(f"{d.name}_events", "count", False, f"number of {d.name} events"),
            MetricSpec(f"{d.name}_per_day", "1/d", False, f"{d.name} events per day of data"),
            MetricSpec(
                f"{d.name}_mean_duration_min", "min", False, f"mean {d.name} event duration"
            ),
        ]
    out += [
        MetricSpec(
            "hypo_level1_exclusive_events",
            "count",
            False,
            "level 1 hypo events that never reached level 2",
        ),
        MetricSpec(
            "hyper_level1_exclusive_events",
            "count",
            False,
            "level 1 hyper events that never reached level 2",
        ),
    ]
    return out


#: Every key of the metric set, in report order.
CGM_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("n_readings", "count", False, "readings used after cleaning"),
    MetricSpec("days", "d", False, "days of the period (consensus: >= 14)"),
    MetricSpec("active_percent", "%", False, "percent of expected readings present (>= 70)"),
    MetricSpec("mean_mg_dl", "mg/dL", True, "mean glucose"),
    MetricSpec("sd_mg_dl", "mg/dL", True, "sample standard deviation"),
    MetricSpec("cv_percent", "%", False, "coefficient of variation (target <= 36 %)"),
    MetricSpec("gmi_percent", "%", False, "glucose management indicator (Bergenstal 2018)"),
    MetricSpec("ea1c_percent", "%", False, "ADAG estimated A1c (Nathan 2008)"),
    MetricSpec("percent_below_54_mg_dl", "%", False, "readings < 54 mg/dL (level 2 hypo)"),
    MetricSpec("percent_below_70_mg_dl", "%", False, "readings < 70 mg/dL (incl. < 54)"),
    MetricSpec("percent_70_180_mg_dl", "%", False, "readings 70-180 mg/dL (time in range)"),
    MetricSpec("percent_above_180_mg_dl", "%", False, "readings > 180 mg/dL (incl. > 250)"),
    MetricSpec("percent_above_250_mg_dl", "%", False, "readings > 250 mg/dL (level 2 hyper)"),
    MetricSpec("percent_below_3_0_mmol_l", "%", False, "readings < 3.0 mmol/L"),
    MetricSpec("percent_below_3_9_mmol_l", "%", False, "readings < 3.9 mmol/L (incl. < 3.0)"),
    MetricSpec("percent_3_9_10_0_mmol_l", "%", False, "readings 3.9-10.0 mmol/L"),
    MetricSpec("percent_above_10_0_mmol_l", "%", False, "readings > 10.0 mmol/L"),
    MetricSpec("percent_above_13_9_mmol_l", "%", False, "readings > 13.9 mmol/L"),
    MetricSpec("lbgi", "1", False, "low blood glucose index (Kovatchev)"),
    MetricSpec("hbgi", "1", False, "high blood glucose index (Kovatchev)"),
    MetricSpec("adrr", "1", False, "average daily risk range (Kovatchev 2006)"),
    MetricSpec("j_index", "1", False, "J-index 0.001 (mean + SD)^2, mg/dL"),
    MetricSpec("gri", "1", False, "glycemia risk index (Klonoff 2023), 0-100"),
    MetricSpec("gri_hypo_component", "%", False, "GRI hypoglycaemia component"),
    MetricSpec("gri_hyper_component", "%", False, "GRI hyperglycaemia component"),
    MetricSpec("modd_mg_dl", "mg/dL", True, "mean of daily differences"),
    MetricSpec("mage_mg_dl", "mg/dL", True, "mean amplitude of glycaemic excursions (MA)"),
    *_event_specs(),
)


@dataclass(frozen=True, slots=True)
class CgmConfig:
    """Parameters of the metric set (defaults are the consensus / reference values).

    ``window_days``: when set, each patient is analysed over the ``window_days`` before their
    last reading (ending one 5-minute slot after it) and data sufficiency counts the whole
    window, so that a sensor started late or stopped early shows as missing data. When
    ``None`` the period is the patient's data itself, first to last reading, as the reference
    implementation does.
    """

    utc_offset_s: int | tuple[int, ...] = CHINA_UTC_OFFSET_S
    conga_hours: tuple[float, ...] = (1.0, 24.0)
    mage_short_ma: int = SHORT_MA
    mage_long_ma: int = LONG_MA
    max_gap_s: int = MAX_GAP_S
    min_days: float = MIN_DAYS
    min_active_percent: float = MIN_ACTIVE_PERCENT
    events: tuple[EventDefinition, ...] = CONSENSUS_EVENTS
    keep_events: bool = True
    keep_agp: bool = True
    window_days: float | None = None
    agp_percentiles: tuple[float, ...] = AGP_PERCENTILES

    def conga_key(self, hours: float) -> str:
        """Key of CONGA(n) in the metric set."""
        return f"conga_{hours:g}h_mg_dl"


@dataclass(frozen=True)
class CgmMetricSet:
    """The metric set of ``n_patients`` patients.

    Attributes
    ----------
    values : dict of str to ndarray, shape (n_patients,)
        Metric values; keys and units in :data:`CGM_METRICS` (plus ``conga_<n>h_mg_dl``).
    status : dict of str to ndarray of int8
        :class:`Status` of each value.
    targets_most_adults, targets_older_high_risk : ndarray of bool
        All consensus targets of the group met (false when the data is insufficient).
    sufficiency : Sufficiency
    quality : SeriesQuality
        What cleaning dropped or merged.
    events : dict of str to EventTable
        Events by definition name (empty when ``keep_events`` is false).
    agp : AgpProfile or None
    """

    values: dict[str, FloatArray]
    status: dict[str, StatusArray]
    targets_most_adults: BoolArray
    targets_older_high_risk: BoolArray
    sufficiency: Sufficiency
    quality: SeriesQuality
    events: dict[str, EventTable] = field(default_factory=dict)
    agp: AgpProfile | None = None

    @property
    def n_patients(self) -> int:
        """Number of patients."""
        return int(self.quality.n_input.size)


def _status_base(n: NDArray[np.int64], suff: Sufficiency) -> StatusArray:
    st = np.full(n.size, Status.OK, dtype=np.int8)
    st[~suff.sufficient] = Status.INSUFFICIENT
    st[n == 0] = Status.NO_DATA
    return st


def _with_nan(base: StatusArray, value: FloatArray, when_nan: Status) -> StatusArray:
    st = base.copy()
    st[(~np.isfinite(value)) & (base != Status.NO_DATA)] = when_nan
    return st


def _compute_block(
    readings_mg_dl: PatientSeries, utc_offset_s: ArrayLike, cfg: CgmConfig
) -> CgmMetricSet:
    clean, quality = clean_series(
        readings_mg_dl, plausible_min=PLAUSIBLE_MIN_MG_DL, plausible_max=PLAUSIBLE_MAX_MG_DL
    )
    n_p = clean.n_patients
    off = per_patient_offset(utc_offset_s, n_p)
    window: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None
    if cfg.window_days is not None:
        clean, ws, we = _last_days(clean, cfg.window_days)
        window = (ws, we)
    stats = summary_stats(clean)
    rng = range_percents(clean)
    rng_mmol = range_percents(clean, mmol_thresholds_in_mg_dl())
    risk = risk_indices(clean, utc_offset_s=off)
    suff = sufficiency(
        clean,
        window_start_s=None if window is None else window[0],
        window_end_s=None if window is None else window[1],
        min_days=cfg.min_days,
        min_active_percent=cfg.min_active_percent,
    )
    g = gri(rng)
    grid = resample(clean, utc_offset_s=off, max_gap_s=cfg.max_gap_s)
    md = modd(grid)
    mg = mage(grid, short_ma=cfg.mage_short_ma, long_ma=cfg.mage_long_ma)

    v: dict[str, FloatArray] = {
        "n_readings": stats.n.astype(np.float64),
        "days": suff.days,
        "active_percent": suff.active_percent,
        "mean_mg_dl": stats.mean_mg_dl,
        "sd_mg_dl": stats.sd_mg_dl,
        "cv_percent": stats.cv_percent,
        "gmi_percent": gmi_percent(stats.mean_mg_dl),
        "ea1c_percent": ea1c_percent(stats.mean_mg_dl),
        "percent_below_54_mg_dl": rng.below_l2,
        "percent_below_70_mg_dl": rng.below_l1,
        "percent_70_180_mg_dl": rng.in_range,
        "percent_above_180_mg_dl": rng.above_l1,
        "percent_above_250_mg_dl": rng.above_l2,
        "percent_below_3_0_mmol_l": rng_mmol.below_l2,
        "percent_below_3_9_mmol_l": rng_mmol.below_l1,
        "percent_3_9_10_0_mmol_l": rng_mmol.in_range,
        "percent_above_10_0_mmol_l": rng_mmol.above_l1,
        "percent_above_13_9_mmol_l": rng_mmol.above_l2,
        "lbgi": risk.lbgi,
        "hbgi": risk.hbgi,
        "adrr": risk.adrr,
        "j_index": j_index(stats.mean_mg_dl, stats.sd_mg_dl),
        "gri": g.gri,
        "gri_hypo_component": g.hypo_component,
        "gri_hyper_component": g.hyper_component,
        "modd_mg_dl": md.value,
        "mage_mg_dl": mg.mage_mg_dl,
    }
    base = _status_base(stats.n, suff)
    s: dict[str, StatusArray] = {k: base.copy() for k in v}
    s["n_readings"] = np.where(stats.n == 0, Status.NO_DATA, Status.OK).astype(np.int8)
    s["days"] = _with_nan(s["n_readings"], suff.days, Status.INSUFFICIENT)
    s["active_percent"] = _with_nan(s["n_readings"], suff.active_percent, Status.INSUFFICIENT)
    for k in ("sd_mg_dl", "cv_percent", "j_index"):
        s[k] = _with_nan(base, v[k], Status.INSUFFICIENT)
    s["modd_mg_dl"] = _with_nan(base, md.value, Status.INSUFFICIENT)
    mage_st = _with_nan(base, mg.mage_mg_dl, Status.UNDEFINED)
    mage_st[(mg.n_segments == 0) & (base != Status.NO_DATA)] = Status.INSUFFICIENT
    s["mage_mg_dl"] = mage_st
    for h in cfg.conga_hours:
        c = conga(grid, h)
        key = cfg.conga_key(h)
        v[key] = c.value
        s[key] = _with_nan(base, c.value, Status.INSUFFICIENT)

    events: dict[str, EventTable] = {}
    found = find_all_events(grid, cfg.events, clean)
    for d in cfg.events:
        tab = found[d.name]
        events[d.name] = tab
        summ = summarize_events(tab, grid)
        v[f"{d.name}_events"] = summ.n_events.astype(np.float64)
        v[f"{d.name}_per_day"] = summ.events_per_day
        v[f"{d.name}_mean_duration_min"] = summ.mean_duration_min
        s[f"{d.name}_events"] = base.copy()
        s[f"{d.name}_per_day"] = _with_nan(base, summ.events_per_day, Status.INSUFFICIENT)
        s[f"{d.name}_mean_duration_min"] = _with_nan(base, summ.mean_duration_min, Status.UNDEFINED)
    for lv1, lv2, key in (
        (HYPO_LEVEL1, HYPO_LEVEL2, "hypo_level1_exclusive_events"),
        (HYPER_LEVEL1, HYPER_LEVEL2, "hyper_level1_exclusive_events"),
    ):
        if lv1.name in events and lv2.name in events:
            excl = exclusive_of(events[lv1.name], events[lv2.name])
            cnt = np.bincount(events[lv1.name].patient[excl], minlength=n_p)
            v[key] = cnt.astype(np.float64)
            s[key] = base.copy()

    sufficient = suff.sufficient & (stats.n > 0)
    t_most = targets_most_adults(rng, stats.cv_percent).all_met & sufficient
    t_old = targets_older_high_risk(rng, stats.cv_percent).all_met & sufficient
    return CgmMetricSet(
        values=v,
        status=s,
        targets_most_adults=t_most,
        targets_older_high_risk=t_old,
        sufficiency=suff,
        quality=quality,
        events=events if cfg.keep_events else {},
        agp=agp(grid, cfg.agp_percentiles) if cfg.keep_agp else None,
    )


def _last_days(
    clean: PatientSeries, days: float
) -> tuple[PatientSeries, NDArray[np.int64], NDArray[np.int64]]:
    """Keep each patient's readings of the ``days`` ending one slot after their last one."""
    n = clean.n_patients
    counts = np.diff(clean.offsets)
    has = counts > 0
    end = np.zeros(n, dtype=np.int64)
    end[has] = clean.time_s[clean.offsets[1:][has] - 1] + SLOT_S
    start = end - round(days * 86_400)
    keep = clean.time_s >= start[clean.owner]
    owner = clean.owner[keep]
    new_counts = np.bincount(owner, minlength=n).astype(np.int64)
    offsets = np.concatenate(([0], np.cumsum(new_counts))).astype(np.int64)
    return PatientSeries(offsets, clean.time_s[keep], clean.values[keep]), start, end


BlockSource = PatientSeries | Callable[[], PatientSeries]


def _run_block(source: BlockSource, off: ArrayLike, cfg: CgmConfig) -> CgmMetricSet:
    block = source() if callable(source) else source
    return _compute_block(block, off, cfg)


def iter_cgm_metric_sets(
    blocks: Iterable[BlockSource],
    *,
    config: CgmConfig | None = None,
    utc_offsets_s: Iterable[ArrayLike] | None = None,
    workers: int = 1,
    start_method: str = "forkserver",
) -> Iterator[CgmMetricSet]:
    """Compute the metric set of each block of patients as it arrives.

    Parameters
    ----------
    blocks : iterable of PatientSeries, or of picklable callables returning one
        Glucose readings in mg/dL, one series per block of patients. A callable (e.g.
        ``functools.partial(load_block, patient_ids)``) is called in the worker, so that each
        worker loads its own block instead of receiving it through a pipe.
    config : CgmConfig, optional
    utc_offsets_s : iterable of array_like, optional
        Per-block UTC offsets; default ``config.utc_offset_s`` for every patient.
    workers : int
        Blocks computed concurrently in worker processes (separate processes scale with the
        cores; threads do not, because the sequential steps hold the GIL and the allocator
        serialises large temporaries). At most ``workers`` blocks are in flight at a time, so
        memory stays bounded whatever the number of blocks. Blocks and results are pickled
        between processes, which costs a few percent.
    start_method : str
        How worker processes start (``multiprocessing``): ``"forkserver"`` (default, safe in
        a threaded server) or ``"fork"`` (faster start, for single-threaded scripts).

    Yields
    ------
    CgmMetricSet
        One per block, in the blocks' order.
    """
    cfg = config or CgmConfig()
    offs = iter(utc_offsets_s) if utc_offsets_s is not None else None

    def jobs() -> Iterator[tuple[BlockSource, ArrayLike]]:
        for block in blocks:
            off: ArrayLike = next(offs) if offs is not None else cfg.utc_offset_s
            yield block, off

    if workers <= 1:
        for block, off in jobs():
            yield _run_block(block, off, cfg)
        return
    ctx = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        ctx.set_forkserver_preload([__name__])  # workers start with this package imported
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: deque[Future[CgmMetricSet]] = deque()
        for block, off in jobs():
            pending.append(pool.submit(_run_block, block, off, cfg))
            if len(pending) >= workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def cgm_metric_set(
    readings_mg_dl: PatientSeries,
    *,
    config: CgmConfig | None = None,
    utc_offset_s: ArrayLike | None = None,
    block_patients: int = 1024,
    workers: int = 1,
) -> CgmMetricSet:
    """The full CGM metric set of every patient.

    Parameters
    ----------
    readings_mg_dl : PatientSeries
        Raw glucose readings in mg/dL (any order, duplicates, NaN allowed).
    config : CgmConfig, optional
        Parameters; defaults follow the consensus and the reference implementation.
    utc_offset_s : int or array_like of int, optional
        Local time minus UTC per patient (default ``config.utc_offset_s``, China, UTC+8).
    block_patients : int
        Patients per block; bounds memory at roughly 150 MB per 1000 patients x 14 days.
    workers : int
        Blocks computed concurrently in worker processes.

    Returns
    -------
    CgmMetricSet
    """
    cfg = config or CgmConfig()
    n = readings_mg_dl.n_patients
    off = per_patient_offset(cfg.utc_offset_s if utc_offset_s is None else utc_offset_s, n)
    bp = max(block_patients, 1)
    starts = list(range(0, max(n, 1), bp))
    blocks = (readings_mg_dl.block(a, min(a + bp, n)) for a in starts)
    offsets = (off[a : min(a + bp, n)] for a in starts)
    parts = list(iter_cgm_metric_sets(blocks, config=cfg, utc_offsets_s=offsets, workers=workers))
    return concatenate_sets(parts)


def concatenate_sets(parts: list[CgmMetricSet]) -> CgmMetricSet:
    """Join the metric sets of consecutive blocks of patients."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    values = {k: np.concatenate([p.values[k] for p in parts]) for k in first.values}
    status = {k: np.concatenate([p.status[k] for p in parts]) for k in first.status}
    suff = Sufficiency(
        *(
            np.concatenate([getattr(p.sufficiency, f) for p in parts])
            for f in ("interval_min", "expected_readings", "active_percent", "days", "sufficient")
        )
    )
    events: dict[str, EventTable] = {}
    if first.events:
        shift = np.cumsum([0] + [p.n_patients for p in parts[:-1]])
        for name in first.events:
            tabs = [p.events[name] for p in parts]
            events[name] = EventTable(
                definition=tabs[0].definition,
                patient=np.concatenate([t.patient + s for t, s in zip(tabs, shift, strict=True)]),
                start_s=np.concatenate([t.start_s for t in tabs]),
                end_s=np.concatenate([t.end_s for t in tabs]),
                duration_min=np.concatenate([t.duration_min for t in tabs]),
                mean_mg_dl=np.concatenate([t.mean_mg_dl for t in tabs]),
                extreme_mg_dl=np.concatenate([t.extreme_mg_dl for t in tabs]),
                extreme_time_s=np.concatenate([t.extreme_time_s for t in tabs]),
                recovered=np.concatenate([t.recovered for t in tabs]),
                _start_flat=np.zeros(0, np.int64),
                _end_flat=np.zeros(0, np.int64),
            )
    agp_out = None
    if first.agp is not None:
        agp_out = AgpProfile(
            first.agp.percentiles,
            np.concatenate([p.agp.values_mg_dl for p in parts if p.agp is not None]),
            np.concatenate([p.agp.n_days for p in parts if p.agp is not None]),
        )
    return CgmMetricSet(
        values=values,
        status=status,
        targets_most_adults=np.concatenate([p.targets_most_adults for p in parts]),
        targets_older_high_risk=np.concatenate([p.targets_older_high_risk for p in parts]),
        sufficiency=suff,
        quality=SeriesQuality.concatenate([p.quality for p in parts]),
        events=events,
        agp=agp_out,
    )
