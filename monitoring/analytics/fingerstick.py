"""Fingerstick (glucometer) series: fasting / post-meal readings, averages, extreme counts.

A home glucometer records a few readings a day, each with the meal context the patient chose on
the meter. Bluetooth meters send it in the Glucose Measurement Context characteristic (Glucose
Profile / Glucose Service 1.0, Bluetooth SIG 2012, "Meal" field): 1 preprandial, 2
postprandial, 3 fasting, 4 casual, 5 bedtime; 0 or a missing context means unknown.

Per patient, as of ``now_s``, over the last 7 and 30 days (``now - days < t <= now``):

* mean glucose of all readings, of fasting readings and of post-meal readings (mg/dL);
* number of readings at or below 3.9 mmol/L (hypoglycaemia in a patient with diabetes) and at
  or above 16.7 mmol/L (hyperglycaemia that calls for ketone testing and urgent review).

Sources: hypoglycaemia threshold "blood glucose <= 3.9 mmol/L" for patients treated for
diabetes, Chinese Diabetes Society, Guideline for the prevention and treatment of type 2
diabetes mellitus in China (2020 edition), Chin J Diabetes Mellitus 2021;13(4):315-409
(also ADA level 1 hypoglycaemia, < 70 mg/dL = 3.9 mmol/L); 16.7 mmol/L (300 mg/dL) is the random
glucose at or above which the national primary-care diabetes guideline (国家基层糖尿病防治
管理指南, 2022) asks for urgent referral. Targets: fasting 4.4-7.0 mmol/L and non-fasting
< 10.0 mmol/L (CDS 2020), reported as percent of fasting / post-meal readings in target.

Empty windows give count 0 and NaN means (``Status.NO_DATA``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

from devices import GLUCOSE_MG_DL_PER_MMOL_L
from monitoring.analytics._thresholds import at_least, at_most, below
from monitoring.analytics.cleaning import SeriesQuality, clean_labelled_series
from monitoring.analytics.series import PatientSeries
from monitoring.analytics.units import PLAUSIBLE_MAX_MG_DL, PLAUSIBLE_MIN_MG_DL

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class MealContext(IntEnum):
    """Meal field of the Bluetooth Glucose Measurement Context (GLS 1.0)."""

    UNKNOWN = 0
    PREPRANDIAL = 1
    POSTPRANDIAL = 2
    FASTING = 3
    CASUAL = 4
    BEDTIME = 5


#: Hypoglycaemia in treated diabetes: <= 3.9 mmol/L (CDS 2020).
HYPO_MMOL_L = 3.9
#: Urgent-review hyperglycaemia: >= 16.7 mmol/L (primary-care guideline 2022).
SEVERE_HYPER_MMOL_L = 16.7
#: CDS 2020 targets: fasting 4.4-7.0 mmol/L, non-fasting < 10.0 mmol/L.
FASTING_TARGET_MMOL_L = (4.4, 7.0)
POSTMEAL_TARGET_BELOW_MMOL_L = 10.0


@dataclass(frozen=True, slots=True)
class FingerstickWindow:
    """Summary of one window (e.g. the last 7 days) for each patient; glucose in mg/dL."""

    days: int
    n: IntArray
    mean_mg_dl: FloatArray
    n_fasting: IntArray
    fasting_mean_mg_dl: FloatArray
    fasting_in_target_percent: FloatArray
    n_post_meal: IntArray
    post_meal_mean_mg_dl: FloatArray
    post_meal_in_target_percent: FloatArray
    n_at_or_below_3_9_mmol_l: IntArray
    n_at_or_above_16_7_mmol_l: IntArray


def classify_meal(context: ArrayLike) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """``(fasting, post_meal)`` masks from meal context codes (unknown codes are neither)."""
    c = np.asarray(context)
    return c == MealContext.FASTING, c == MealContext.POSTPRANDIAL


def fingerstick_summary(
    glucose_mg_dl: PatientSeries,
    meal_context: ArrayLike,
    *,
    now_s: int,
    windows_days: tuple[int, ...] = (7, 30),
) -> tuple[list[FingerstickWindow], SeriesQuality]:
    """Fasting / post-meal averages and extreme counts over the last ``windows_days``.

    Parameters
    ----------
    glucose_mg_dl : PatientSeries
        Raw meter readings in mg/dL (cleaned here: NaN and implausible values dropped,
        duplicated instants merged, keeping their context only when all agree).
    meal_context : array_like of int, shape (n_readings,)
        Meal context code of each reading (:class:`MealContext`), parallel to the series.
    now_s : int
        End of the windows, UTC seconds (inclusive).
    windows_days : tuple of int
        Window lengths in days.

    Returns
    -------
    windows : list of FingerstickWindow
        One per window length, in the given order.
    quality : SeriesQuality
        What cleaning dropped or merged.
    """
    codes = np.asarray(meal_context, dtype=np.int64).reshape(-1)
    clean, lab, quality = clean_labelled_series(
        glucose_mg_dl, codes, plausible_min=PLAUSIBLE_MIN_MG_DL, plausible_max=PLAUSIBLE_MAX_MG_DL
    )
    assert lab is not None
    glucose_mg_dl = clean
    x = glucose_mg_dl.values
    t = glucose_mg_dl.time_s
    owner = glucose_mg_dl.owner
    n_p = glucose_mg_dl.n_patients
    fasting, post = classify_meal(lab)
    f = GLUCOSE_MG_DL_PER_MMOL_L
    low = at_most(x, HYPO_MMOL_L * f)
    high = at_least(x, SEVERE_HYPER_MMOL_L * f)
    f_lo, f_hi = FASTING_TARGET_MMOL_L
    fasting_ok = at_least(x, f_lo * f) & at_most(x, f_hi * f)
    post_ok = below(x, POSTMEAL_TARGET_BELOW_MMOL_L * f)
    out: list[FingerstickWindow] = []
    for days in windows_days:
        inside = (t > now_s - days * 86_400) & (t <= now_s)

        def count(mask: NDArray[np.bool_]) -> IntArray:
            return np.bincount(owner[mask], minlength=n_p).astype(np.int64)

        def mean(mask: NDArray[np.bool_]) -> FloatArray:
            s = np.bincount(owner[mask], weights=x[mask], minlength=n_p)
            c = count(mask)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(c > 0, s / c, np.nan)

        def pct(num: NDArray[np.bool_], den: NDArray[np.bool_]) -> FloatArray:
            c = count(den)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(c > 0, 100.0 * count(num & den) / c, np.nan)

        fi = inside & fasting
        pi = inside & post
        out.append(
            FingerstickWindow(
                days=days,
                n=count(inside),
                mean_mg_dl=mean(inside),
                n_fasting=count(fi),
                fasting_mean_mg_dl=mean(fi),
                fasting_in_target_percent=pct(fasting_ok, fi),
                n_post_meal=count(pi),
                post_meal_mean_mg_dl=mean(pi),
                post_meal_in_target_percent=pct(post_ok, pi),
                n_at_or_below_3_9_mmol_l=count(inside & low),
                n_at_or_above_16_7_mmol_l=count(inside & high),
            )
        )
    return out, quality
