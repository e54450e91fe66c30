"""Smart chopsticks: daily salt against 5 g, reused frying oil, meal timing.

The chopsticks (vendor profile, docs/devices) report, per bite, sodium in mg
(``food_sodium``) and, when dipped in cooking oil, its total polar material in percent
(``food_oil_tpm``).

* Salt: the day's salt estimate is the sum of the day's sodium x 2.54 (NaCl 58.44 g/mol over
  Na 22.99 g/mol) / 1000 g, compared with the WHO limit of less than 5 g salt a day (WHO.
  Guideline: sodium intake for adults and children. Geneva: World Health Organization, 2012,
  ISBN 978 92 4 150483 6; also the Chinese Dietary Guidelines 2022, < 5 g). It covers only
  food eaten with the chopsticks, so it is a lower bound of the true intake; days are local.
* Oil: total polar material above 25 % means the frying oil has been reused too long and
  should be discarded (German Society for Fat Science DGF recommendation, 24-27 %; the Chinese
  standard GB 2716-2018 caps frying-oil polar components at 27 %).
* Meals: bites less than ``gap_min`` (20) minutes apart belong to one meal; a meal needs at
  least ``min_bites`` (5) bites; reported per patient as meals per day and the share of meals
  starting at or after 21:00 local time (late dinners).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitoring.analytics._prep import prepare
from monitoring.analytics._thresholds import above
from monitoring.analytics.daily import DailyTable, daily
from monitoring.analytics.resample import CHINA_UTC_OFFSET_S, local_day, per_patient_offset
from monitoring.analytics.series import PatientSeries

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Salt (NaCl) per sodium by mass, 58.44 / 22.99.
SALT_PER_SODIUM = 2.54
#: WHO 2012: less than 5 g of salt per day.
SALT_LIMIT_G_PER_DAY = 5.0
#: Discard frying oil above 25 % total polar material (DGF; GB 2716-2018 caps at 27 %).
OIL_TPM_LIMIT_PCT = 25.0
MEAL_GAP_S = 20 * 60
MEAL_MIN_BITES = 5
LATE_MEAL_HOUR = 21


@dataclass(frozen=True, slots=True)
class SaltSummary:
    """Daily salt (g) and its summary per patient."""

    daily_salt_g: DailyTable
    mean_g_per_day: FloatArray
    days_over_limit: IntArray
    days: IntArray


def daily_salt(
    sodium_mg: PatientSeries, *, utc_offset_s: ArrayLike = CHINA_UTC_OFFSET_S
) -> SaltSummary:
    """Salt per local day from per-bite sodium readings, against the 5 g limit."""
    sodium_mg = prepare(sodium_mg, "food_sodium")
    table = daily(sodium_mg, "sum", utc_offset_s=utc_offset_s)
    salt = table.values * SALT_PER_SODIUM / 1000.0
    days = np.isfinite(salt).sum(axis=1).astype(np.int64)
    with np.errstate(invalid="ignore"):
        mean = np.where(days > 0, np.nansum(salt, axis=1) / np.maximum(days, 1), np.nan)
    over = above(np.where(np.isfinite(salt), salt, 0.0), SALT_LIMIT_G_PER_DAY).sum(axis=1)
    return SaltSummary(
        DailyTable(salt, table.count, table.first_day), mean, over.astype(np.int64), days
    )


@dataclass(frozen=True, slots=True)
class OilSummary:
    """Latest and worst total polar material per patient, percent."""

    latest_pct: FloatArray
    max_pct: FloatArray
    n_over_limit: IntArray
    discard_now: NDArray[np.bool_]


def reused_oil(tpm_pct: PatientSeries) -> OilSummary:
    """Total polar material readings against the 25 % discard limit."""
    tpm_pct = prepare(tpm_pct, "food_oil_tpm")
    n_p = tpm_pct.n_patients
    counts = np.diff(tpm_pct.offsets)
    has = counts > 0
    latest = np.full(n_p, np.nan)
    latest[has] = tpm_pct.values[tpm_pct.offsets[1:][has] - 1]
    mx = np.full(n_p, -np.inf)
    np.maximum.at(mx, tpm_pct.owner, tpm_pct.values)
    mx[~has] = np.nan
    over = above(tpm_pct.values, OIL_TPM_LIMIT_PCT)
    n_over = np.bincount(tpm_pct.owner[over], minlength=n_p).astype(np.int64)
    return OilSummary(latest, mx, n_over, above(np.nan_to_num(latest), OIL_TPM_LIMIT_PCT))


@dataclass(frozen=True, slots=True)
class MealTable:
    """Meals found from bite times, one row per meal, and per-patient summaries."""

    patient: IntArray
    start_s: IntArray
    end_s: IntArray
    n_bites: IntArray
    meals_per_day: FloatArray
    late_meal_percent: FloatArray


def meals(
    bites: PatientSeries,
    *,
    utc_offset_s: ArrayLike = CHINA_UTC_OFFSET_S,
    gap_s: int = MEAL_GAP_S,
    min_bites: int = MEAL_MIN_BITES,
) -> MealTable:
    """Group each patient's bites into meals (time only; values are ignored)."""
    bites = prepare(PatientSeries(bites.offsets, bites.time_s, np.zeros(bites.n_readings)))
    n_p = bites.n_patients
    off = per_patient_offset(utc_offset_s, n_p)
    t, owner = bites.time_s, bites.owner
    new = np.ones(t.size, dtype=np.bool_)
    if t.size:
        new[1:] = (owner[1:] != owner[:-1]) | (t[1:] - t[:-1] > gap_s)
    starts = np.flatnonzero(new)
    ends = np.concatenate((starts[1:], [t.size])) - 1
    n = ends - starts + 1
    keep = n >= min_bites
    starts, ends, n = starts[keep], ends[keep], n[keep]
    pat = owner[starts]
    m_start = t[starts]
    hour = ((m_start + off[pat]) % 86_400) // 3600
    n_meals = np.bincount(pat, minlength=n_p)
    n_late = np.bincount(pat[hour >= LATE_MEAL_HOUR], minlength=n_p)
    first_day = np.full(n_p, np.iinfo(np.int64).max)
    last_day = np.full(n_p, np.iinfo(np.int64).min)
    days = local_day(m_start, off[pat])
    np.minimum.at(first_day, pat, days)
    np.maximum.at(last_day, pat, days)
    span = np.where(n_meals > 0, last_day - first_day + 1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_day = np.where(span > 0, n_meals / span, np.nan)
        late = np.where(n_meals > 0, 100.0 * n_late / n_meals, np.nan)
    return MealTable(
        pat.astype(np.int64),
        m_start.astype(np.int64),
        t[ends].astype(np.int64),
        n.astype(np.int64),
        per_day,
        late,
    )
