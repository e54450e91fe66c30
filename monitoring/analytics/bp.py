"""Home blood pressure: the home-monitoring protocol, control against an age-dependent target,
and the morning surge.

Protocol (Stergiou GS, Palatini P, Parati G, et al. 2021 European Society of Hypertension
practice guidelines for office and out-of-office blood pressure measurement. J Hypertens
2021;39(7):1293-1302, doi:10.1097/HJH.0000000000002843; Parati G, et al. Home blood pressure
monitoring: methodology, clinical relevance and practical application: a 2021 position paper
by the ESH Working Group on Blood Pressure Monitoring. J Hypertens 2021;39(9):1742-1767,
doi:10.1097/HJH.0000000000002922): duplicate morning and evening measurements for 7 days
(at least 3), the first day discarded, the home BP is the average of all remaining readings
(at least 12).

Definition here, per patient, over the 7 local calendar days ending on the day of the
patient's last reading (or ``end_s``):

* the first day with a reading is discarded; the rest are averaged (SBP and DBP separately);
* *morning* readings are those taken 04:00-11:59 local time, *evening* 17:00-03:59;
* sufficient when >= 3 days and >= 12 readings remain; otherwise ``Status.INSUFFICIENT``
  (values still computed from what there is), no reading at all ``Status.NO_DATA``;
* controlled when both home averages are below the patient's home target;
* morning surge reported as the morning-evening SBP difference (ME-dif, Kario K. Morning
  surge in blood pressure and cardiovascular risk. Hypertension 2010;56(5):765-773,
  doi:10.1161/HYPERTENSIONAHA.110.157149); morning hypertension when the morning average is
  >= 135/85 mmHg (Umemura S, et al. The Japanese Society of Hypertension guidelines for the
  management of hypertension (JSH 2019). Hypertens Res 2019;42(9):1235-1481,
  doi:10.1038/s41440-019-0284-9).

Targets. Guidelines state office targets by age; home readings run lower, so the home
equivalent follows the office/home correspondence of the 2017 ACC/AHA guideline (Whelton PK,
et al. Hypertension 2018;71(6):e13-e115, doi:10.1161/HYP.0000000000000065, Table 11: office
120/80, 130/80, 140/90, 160/100 correspond to home 120/80, 130/80, 135/85, 145/90 mmHg),
interpolated linearly between its rows:

===================  ==================  ==================  ==================
guideline            age < 65            65-79               >= 80
===================  ==================  ==================  ==================
China 2024 (office)  < 130/80            < 140/90            < 150/90
  home equivalent    < 130/80            < 135/85            < 140/85
China 2018 (office)  < 140/90            < 150/90            < 150/90
  home equivalent    < 135/85            < 140/85            < 140/85
ESC/ESH 2018         < 130/80            < 140/80            < 140/80
  home equivalent    < 130/80            < 135/80            < 135/80
===================  ==================  ==================  ==================

Sources: Chinese Hypertension League. Chinese guidelines for the prevention and treatment of
hypertension (2024 revision). Chin J Hypertens 2024;32(7):603-700 (first-step targets by
age); Joint Committee for Guideline Revision. 2018 Chinese guidelines for prevention and
treatment of hypertension. J Geriatr Cardiol 2019;16(3):182-241,
doi:10.11909/j.issn.1671-5411.2019.03.014 (first-step targets: < 140/90, and < 150/90 from 65
years); Williams B, et al. 2018 ESC/ESH guidelines for the management of arterial
hypertension. Eur Heart J 2018;39(33):3021-3104, doi:10.1093/eurheartj/ehy339 (upper ends of
the target ranges 120-129 mmHg under 65 and 130-139 mmHg from 65, diastolic < 80). A target
set for the patient by their doctor (stored as the patient's target) replaces these defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from devices import get_metric
from monitoring.analytics.cleaning import clean_with_columns
from monitoring.analytics.errors import InputError
from monitoring.analytics.resample import CHINA_UTC_OFFSET_S, local_day, per_patient_offset
from monitoring.analytics.series import PatientSeries
from monitoring.analytics.status import Status

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
Guideline = Literal["china_2024", "china_2018", "esc_esh_2018"]

#: Protocol (ESH 2021): 7 days, first day discarded, >= 3 days and >= 12 readings.
PROTOCOL_DAYS = 7
MIN_DAYS = 3
MIN_READINGS = 12
#: Local hours of morning [04, 12) and evening [17, 24) + [0, 4) readings.
MORNING_HOURS = (4, 12)
EVENING_START_HOUR = 17
#: Morning hypertension, home morning average >= 135/85 mmHg (JSH 2019).
MORNING_HYPERTENSION_MMHG = (135.0, 85.0)

#: Office targets (SBP, DBP upper limits, mmHg) for ages < 65, 65-79, >= 80.
OFFICE_TARGETS_MMHG: dict[str, tuple[tuple[float, float], ...]] = {
    "china_2024": ((130.0, 80.0), (140.0, 90.0), (150.0, 90.0)),
    "china_2018": ((140.0, 90.0), (150.0, 90.0), (150.0, 90.0)),
    "esc_esh_2018": ((130.0, 80.0), (140.0, 80.0), (140.0, 80.0)),
}
#: Office -> home correspondence (ACC/AHA 2017, Table 11), SBP and DBP.
_OFFICE_SBP = (120.0, 130.0, 140.0, 160.0)
_HOME_SBP = (120.0, 130.0, 135.0, 145.0)
_OFFICE_DBP = (80.0, 90.0, 100.0)
_HOME_DBP = (80.0, 85.0, 90.0)


def home_equivalent_mmhg(
    office_sbp: ArrayLike, office_dbp: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Home BP corresponding to office BP (ACC/AHA 2017 Table 11, linear in between)."""
    sbp = np.interp(np.asarray(office_sbp, dtype=np.float64), _OFFICE_SBP, _HOME_SBP)
    dbp = np.interp(np.asarray(office_dbp, dtype=np.float64), _OFFICE_DBP, _HOME_DBP)
    return sbp, dbp


def home_target_mmhg(
    age_years: ArrayLike, guideline: Guideline = "china_2024"
) -> tuple[FloatArray, FloatArray]:
    """Default home BP target (SBP, DBP upper limits, mmHg) for each patient's age."""
    if guideline not in OFFICE_TARGETS_MMHG:
        raise InputError("guideline", f"unknown guideline {guideline!r}")
    age = np.asarray(age_years, dtype=np.float64)
    band = np.where(age < 65.0, 0, np.where(age < 80.0, 1, 2))
    table = np.asarray(OFFICE_TARGETS_MMHG[guideline])
    return home_equivalent_mmhg(table[band, 0], table[band, 1])


@dataclass(frozen=True, slots=True)
class HomeBpResult:
    """Per-patient home BP by the protocol (mmHg); see the module docstring."""

    n_readings: IntArray
    n_days: IntArray
    sbp_mmhg: FloatArray
    dbp_mmhg: FloatArray
    morning_sbp_mmhg: FloatArray
    morning_dbp_mmhg: FloatArray
    evening_sbp_mmhg: FloatArray
    evening_dbp_mmhg: FloatArray
    morning_evening_difference_mmhg: FloatArray
    target_sbp_mmhg: FloatArray
    target_dbp_mmhg: FloatArray
    controlled: BoolArray
    morning_hypertension: BoolArray
    status: NDArray[np.int8]


def home_bp(
    sbp_mmhg: PatientSeries,
    dbp_mmhg: ArrayLike,
    *,
    age_years: ArrayLike | None = None,
    target_sbp_mmhg: ArrayLike | None = None,
    target_dbp_mmhg: ArrayLike | None = None,
    guideline: Guideline = "china_2024",
    utc_offset_s: ArrayLike = CHINA_UTC_OFFSET_S,
    end_s: ArrayLike | None = None,
) -> HomeBpResult:
    """Home BP of each patient by the 7-day protocol, and whether it is controlled.

    Parameters
    ----------
    sbp_mmhg : PatientSeries
        Systolic readings; ``dbp_mmhg`` holds the diastolic value of each, in order. Pairs with
        a NaN or implausible value are dropped, duplicated instants averaged.
    dbp_mmhg : array_like, shape (n_readings,)
    age_years : array_like, shape (n_patients,), optional
        Ages for the default targets of ``guideline``.
    target_sbp_mmhg, target_dbp_mmhg : array_like, optional
        The patients' own home targets (override the guideline; NaN entries fall back).
    guideline : {"china_2024", "china_2018", "esc_esh_2018"}
    utc_offset_s : int or array_like
        Local time minus UTC, seconds.
    end_s : array_like of int, optional
        End of the protocol window per patient (UTC s); default each patient's last reading.

    Returns
    -------
    HomeBpResult
    """
    n_p = sbp_mmhg.n_patients
    dbp = np.asarray(dbp_mmhg, dtype=np.float64)
    if dbp.shape != sbp_mmhg.values.shape:
        raise InputError("dbp_mmhg", "must have one value per systolic reading")
    # NaN / implausible pairs dropped, duplicated instants averaged (both pressures)
    ms, md = get_metric("bp_systolic"), get_metric("bp_diastolic")
    sbp_mmhg, _, (dbp,), _ = clean_with_columns(
        sbp_mmhg,
        None,
        ((dbp, md.plausible_min, md.plausible_max),),
        plausible_min=ms.plausible_min,
        plausible_max=ms.plausible_max,
    )
    off = per_patient_offset(utc_offset_s, n_p)
    owner = sbp_mmhg.owner
    t = sbp_mmhg.time_s
    sbp = sbp_mmhg.values
    counts = np.diff(sbp_mmhg.offsets)
    has = counts > 0
    if end_s is None:
        end = np.zeros(n_p, dtype=np.int64)
        end[has] = t[sbp_mmhg.offsets[1:][has] - 1]
    else:
        end = np.broadcast_to(np.asarray(end_s, dtype=np.int64), (n_p,))
    day = local_day(t, off[owner])
    last_day = local_day(end, off)
    in_window = (
        (day <= last_day[owner]) & (day > last_day[owner] - PROTOCOL_DAYS) & (t <= end[owner])
    )
    first_day = np.full(n_p, np.iinfo(np.int64).max)
    np.minimum.at(first_day, owner[in_window], day[in_window])
    use = in_window & (day > first_day[owner])
    hour = ((t + off[owner]) % 86_400) // 3600
    morning = use & (hour >= MORNING_HOURS[0]) & (hour < MORNING_HOURS[1])
    evening = use & ((hour >= EVENING_START_HOUR) | (hour < MORNING_HOURS[0]))

    def mean(mask: BoolArray, v: FloatArray) -> FloatArray:
        c = np.bincount(owner[mask], minlength=n_p)
        s = np.bincount(owner[mask], weights=v[mask], minlength=n_p)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c > 0, s / c, np.nan)

    n_read = np.bincount(owner[use], minlength=n_p).astype(np.int64)
    uo, ud = owner[use], day[use]  # sorted by time within each patient
    new_day = np.ones(uo.size, dtype=np.bool_)
    new_day[1:] = (uo[1:] != uo[:-1]) | (ud[1:] != ud[:-1])
    n_days = np.bincount(uo[new_day], minlength=n_p).astype(np.int64)
    sbp_m, dbp_m = mean(use, sbp), mean(use, dbp)
    m_s, m_d = mean(morning, sbp), mean(morning, dbp)
    e_s, e_d = mean(evening, sbp), mean(evening, dbp)

    if age_years is not None:
        def_s, def_d = home_target_mmhg(np.broadcast_to(np.asarray(age_years), (n_p,)), guideline)
    else:
        def_s, def_d = home_target_mmhg(np.zeros(n_p), guideline)
    ts = (
        def_s
        if target_sbp_mmhg is None
        else np.where(
            np.isfinite(np.asarray(target_sbp_mmhg, dtype=np.float64)),
            np.asarray(target_sbp_mmhg, dtype=np.float64),
            def_s,
        )
    )
    td = (
        def_d
        if target_dbp_mmhg is None
        else np.where(
            np.isfinite(np.asarray(target_dbp_mmhg, dtype=np.float64)),
            np.asarray(target_dbp_mmhg, dtype=np.float64),
            def_d,
        )
    )
    status = np.full(n_p, Status.OK, dtype=np.int8)
    status[(n_days < MIN_DAYS) | (n_read < MIN_READINGS)] = Status.INSUFFICIENT
    status[n_read == 0] = Status.NO_DATA
    controlled = (sbp_m < ts) & (dbp_m < td) & (status == Status.OK)
    morning_htn = (m_s >= MORNING_HYPERTENSION_MMHG[0]) | (m_d >= MORNING_HYPERTENSION_MMHG[1])
    return HomeBpResult(
        n_readings=n_read,
        n_days=n_days,
        sbp_mmhg=sbp_m,
        dbp_mmhg=dbp_m,
        morning_sbp_mmhg=m_s,
        morning_dbp_mmhg=m_d,
        evening_sbp_mmhg=e_s,
        evening_dbp_mmhg=e_d,
        morning_evening_difference_mmhg=m_s - e_s,
        target_sbp_mmhg=np.asarray(ts, dtype=np.float64),
        target_dbp_mmhg=np.asarray(td, dtype=np.float64),
        controlled=np.asarray(controlled),
        morning_hypertension=np.asarray(morning_htn & np.isfinite(m_s)),
        status=status,
    )
