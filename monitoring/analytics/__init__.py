"""Trend analytics: clinical metrics and abnormal-trend detectors over many patients at once.

Every routine is a pure function over NumPy arrays in the ragged layout of
:class:`PatientSeries` (one flat array of readings, patients delimited by offsets), vectorised
over all patients, with its clinical source next to its constants and a
:class:`~monitoring.analytics.status.Status` per value that says when a number must not be
shown as valid. One metric family per module:

=====================  ==============================================================
module                 what
=====================  ==============================================================
``series``             :class:`PatientSeries`, the ragged layout
``cleaning``           NaN / implausible / unsorted / duplicated input made defined
``resample``           the shared 5-minute glucose grid (45-minute gap rule)
``consensus``          consensus CGM statistics, ranges and targets (Battelino 2019)
``a1c``                GMI and eA1c
``risk``               LBGI, HBGI, ADRR
``variability``        J-index, MODD, CONGA
``mage``               MAGE by the moving-average algorithm (Fernandes 2022)
``gri``                glycemia risk index (Klonoff 2023)
``sufficiency``        % CGM active and the 14-day / 70 % rule
``events``             hypo/hyperglycaemia events (level 1, 2, extended)
``agp``, ``agp_chart`` ambulatory glucose profile as data and as SVG/PNG
``glucose``            the whole CGM metric set, block-streamed
``fingerstick``        glucometer readings by meal context
``daily``, ``runs``    per-day tables; sustained runs beyond a threshold
``bp``                 home BP protocol, age-based control, morning surge
``weight``             heart-failure weight gain (> 2 kg in 3 days)
``vitals``             SpO2 floors, brady/tachycardia, resting HR trend, fever (IDSA)
``chopsticks``         daily salt vs 5 g, reused oil (TPM > 25 %), meals
``trend``              Theil-Sen slope and Mann-Kendall test
``change``             EWMA and CUSUM against the patient's own baseline
``outliers``           Hampel filter
``adherence``          missing data and measuring adherence as findings
``cli``                ``homeward cgm-report``
=====================  ==============================================================
"""

from monitoring.analytics.a1c import ea1c_percent, gmi_percent
from monitoring.analytics.adherence import (
    POLICIES,
    AdherencePolicy,
    AdherenceResult,
    adherence,
)
from monitoring.analytics.agp import AGP_PERCENTILES, AgpProfile, agp
from monitoring.analytics.agp_chart import AgpPanel, render_png, render_svg
from monitoring.analytics.bp import (
    OFFICE_TARGETS_MMHG,
    HomeBpResult,
    home_bp,
    home_equivalent_mmhg,
    home_target_mmhg,
)
from monitoring.analytics.change import ChangeResult, cusum_chart, ewma_chart
from monitoring.analytics.chopsticks import (
    MealTable,
    OilSummary,
    SaltSummary,
    daily_salt,
    meals,
    reused_oil,
)
from monitoring.analytics.cleaning import SeriesQuality, clean_labelled_series, clean_series
from monitoring.analytics.consensus import (
    THRESHOLDS_MG_DL,
    THRESHOLDS_MMOL_L,
    RangePercents,
    SummaryStats,
    TargetResult,
    mmol_thresholds_in_mg_dl,
    range_percents,
    summary_stats,
    targets_most_adults,
    targets_older_high_risk,
)
from monitoring.analytics.daily import DailyTable, daily
from monitoring.analytics.errors import AnalyticsError, InputError
from monitoring.analytics.events import (
    CONSENSUS_EVENTS,
    HYPER_LEVEL1,
    HYPER_LEVEL2,
    HYPO_EXTENDED,
    HYPO_LEVEL1,
    HYPO_LEVEL2,
    EventDefinition,
    EventSummary,
    EventTable,
    exclusive_of,
    find_all_events,
    find_events,
    summarize_events,
)
from monitoring.analytics.fingerstick import (
    FingerstickWindow,
    MealContext,
    classify_meal,
    fingerstick_summary,
)
from monitoring.analytics.glucose import (
    CGM_METRICS,
    CgmConfig,
    CgmMetricSet,
    MetricSpec,
    cgm_metric_set,
    concatenate_sets,
    iter_cgm_metric_sets,
)
from monitoring.analytics.gri import GriResult, gri
from monitoring.analytics.mage import MageResult, mage
from monitoring.analytics.outliers import HampelResult, hampel
from monitoring.analytics.resample import (
    CHINA_UTC_OFFSET_S,
    MAX_GAP_S,
    SLOT_S,
    SLOTS_PER_DAY,
    GlucoseGrid,
    resample,
)
from monitoring.analytics.risk import RiskIndices, risk_indices
from monitoring.analytics.runs import RunTable, sustained_runs
from monitoring.analytics.series import PatientSeries
from monitoring.analytics.status import STATUS_NAMES, Status
from monitoring.analytics.sufficiency import Sufficiency, sufficiency
from monitoring.analytics.trend import TrendResult, trend
from monitoring.analytics.units import detect_unit, from_mg_dl, to_mg_dl
from monitoring.analytics.variability import LagStatistic, conga, j_index, modd
from monitoring.analytics.vitals import (
    FeverAssessment,
    HeartRateEpisodes,
    RestingHeartRate,
    Spo2Summary,
    fever,
    heart_rate_episodes,
    resting_heart_rate,
    spo2_low,
)
from monitoring.analytics.weight import WeightGainResult, weight_gain

__all__ = [
    "AGP_PERCENTILES",
    "CGM_METRICS",
    "CHINA_UTC_OFFSET_S",
    "CONSENSUS_EVENTS",
    "HYPER_LEVEL1",
    "HYPER_LEVEL2",
    "HYPO_EXTENDED",
    "HYPO_LEVEL1",
    "HYPO_LEVEL2",
    "MAX_GAP_S",
    "OFFICE_TARGETS_MMHG",
    "POLICIES",
    "SLOTS_PER_DAY",
    "SLOT_S",
    "STATUS_NAMES",
    "THRESHOLDS_MG_DL",
    "THRESHOLDS_MMOL_L",
    "AdherencePolicy",
    "AdherenceResult",
    "AgpPanel",
    "AgpProfile",
    "AnalyticsError",
    "CgmConfig",
    "CgmMetricSet",
    "ChangeResult",
    "DailyTable",
    "EventDefinition",
    "EventSummary",
    "EventTable",
    "FeverAssessment",
    "FingerstickWindow",
    "GlucoseGrid",
    "GriResult",
    "HampelResult",
    "HeartRateEpisodes",
    "HomeBpResult",
    "InputError",
    "LagStatistic",
    "MageResult",
    "MealContext",
    "MealTable",
    "MetricSpec",
    "OilSummary",
    "PatientSeries",
    "RangePercents",
    "RestingHeartRate",
    "RiskIndices",
    "RunTable",
    "SaltSummary",
    "SeriesQuality",
    "Spo2Summary",
    "Status",
    "Sufficiency",
    "SummaryStats",
    "TargetResult",
    "TrendResult",
    "WeightGainResult",
    "adherence",
    "agp",
    "cgm_metric_set",
    "classify_meal",
    "clean_labelled_series",
    "clean_series",
    "concatenate_sets",
    "conga",
    "cusum_chart",
    "daily",
    "daily_salt",
    "detect_unit",
    "ea1c_percent",
    "ewma_chart",
    "exclusive_of",
    "fever",
    "find_all_events",
    "find_events",
    "fingerstick_summary",
    "from_mg_dl",
    "gmi_percent",
    "gri",
    "hampel",
    "heart_rate_episodes",
    "home_bp",
    "home_equivalent_mmhg",
    "home_target_mmhg",
    "iter_cgm_metric_sets",
    "j_index",
    "mage",
    "meals",
    "mmol_thresholds_in_mg_dl",
    "modd",
    "range_percents",
    "render_png",
    "render_svg",
    "resample",
    "resting_heart_rate",
    "reused_oil",
    "risk_indices",
    "spo2_low",
    "sufficiency",
    "summarize_events",
    "summary_stats",
    "sustained_runs",
    "targets_most_adults",
    "targets_older_high_risk",
    "to_mg_dl",
    "trend",
    "weight_gain",
]
