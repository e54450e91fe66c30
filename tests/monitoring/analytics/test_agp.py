"""AGP percentiles by time of day, and the chart drawn from them."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.analytics.agp import agp
from monitoring.analytics.agp_chart import AgpPanel, render_png, render_svg
from monitoring.analytics.resample import SLOTS_PER_DAY, GlucoseGrid


def _grid(values: np.ndarray) -> GlucoseGrid:
    p = values.shape[0]
    return GlucoseGrid(
        values=values,
        origin_s=np.zeros(p, np.int64),
        n_days=np.full(p, values.shape[1] // SLOTS_PER_DAY, np.int64),
    )


def test_percentiles_match_linear_interpolation_per_time_of_day() -> None:
    rng = np.random.default_rng(3)
    v = rng.normal(140, 30, size=(3, 14 * SLOTS_PER_DAY))
    v[rng.random(v.shape) < 0.2] = np.nan
    v[1, :] = np.nan  # a patient without data
    prof = agp(_grid(v))
    cube = v.reshape(3, 14, SLOTS_PER_DAY)
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        want = np.nanpercentile(cube, [5, 25, 50, 75, 95], axis=1).transpose(1, 0, 2)
    np.testing.assert_allclose(prof.values_mg_dl, want, rtol=1e-12, equal_nan=True)
    assert prof.n_days[1].tolist() == [0] * SLOTS_PER_DAY


def test_a_single_day_gives_its_own_values_for_every_percentile() -> None:
    v = np.arange(SLOTS_PER_DAY, dtype=float)[None, :] + 100.0
    prof = agp(_grid(v))
    for k in range(5):
        np.testing.assert_array_equal(prof.values_mg_dl[0, k], v[0])


def _panel() -> AgpPanel:
    rng = np.random.default_rng(1)
    base = 7 + np.sin(np.arange(SLOTS_PER_DAY) / 40)
    vals = np.vstack([base - 2, base - 1, base, base + 1, base + 3]) + rng.normal(0, 0.01, 288)
    vals[:, 100:110] = np.nan
    return AgpPanel(
        title="AGP patient 1",
        subtitle="14.0 days",
        percentiles=(5, 25, 50, 75, 95),
        values=vals,
        unit="mmol/L",
        target_low=3.9,
        target_high=10.0,
        y_max=22.2,
        y_ticks=(3.9, 10.0),
        warning="insufficient data",
    )


def test_svg_chart_is_a_document_with_bands_median_and_labels() -> None:
    svg = render_svg([_panel(), _panel()])
    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
    assert svg.count("<polygon") == 8  # two bands x two stretches (gap at 08:20) x 2 panels
    assert "insufficient data" in svg
    assert ">95%</text>" in svg
    assert ">12:00</text>" in svg


def test_png_chart_is_a_valid_image_of_the_same_size() -> None:
    png = render_png([_panel()])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(png[16:20], "big")
    height = int.from_bytes(png[20:24], "big")
    assert (width, height) == (900, 330)
