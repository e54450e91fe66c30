"""``homeward cgm-report``: a doctor's CSV export in, the metric set out."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from datasets import cgm_5_subject_csv

from monitoring.analytics.cli import cgm_report
from tests.monitoring.analytics import iglu_reference as ref


def _run(args: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    code = cgm_report(args, stdout=out)
    return code, out.getvalue()


def test_iglu_export_gives_one_json_report_per_subject_in_mmol_l() -> None:
    code, text = _run([str(cgm_5_subject_csv())])
    assert code == 0
    doc = json.loads(text)
    assert [s["id"] for s in doc["subjects"]] == list(ref.SUBJECTS)
    s1 = doc["subjects"][0]
    assert s1["units_in"] == "mg/dL"
    assert s1["metrics"]["mean_mmol_l"] == pytest.approx(ref.MEAN[0] / 18.0156, rel=1e-12)
    assert s1["metrics"]["mage_mmol_l"] == pytest.approx(ref.MAGE[0] / 18.0156, rel=1e-12)
    assert s1["status"]["mean_mmol_l"] == "insufficient"
    assert s1["insufficient_because"] == ["fewer than 14 days of data"]
    assert s1["data_quality"]["rows"] == 2915


def test_table_for_people_and_mg_dl_on_request(tmp_path: Path) -> None:
    code, text = _run([str(cgm_5_subject_csv()), "--format", "table", "--display-units", "mg/dL"])
    assert code == 0
    assert text.splitlines()[0].split()[:3] == ["metric", "Subject", "1"]
    assert "mean_mg_dl" in text
    assert "(insufficient)" in text


def test_id_time_glucose_columns_in_mmol_l_are_detected(tmp_path: Path) -> None:
    f = tmp_path / "export.csv"
    rows = ["id,time,glucose"] + [
        f"p1,2025-03-01 {h:02d}:{m:02d}:00,{6.0 + (m % 3) / 10:.1f}"
        for h in range(6)
        for m in range(0, 60, 5)
    ]
    f.write_text("\n".join(rows) + "\n")
    code, text = _run([str(f)])
    assert code == 0
    s = json.loads(text)["subjects"][0]
    assert s["units_in"] == "mmol/L"
    assert s["metrics"]["mean_mmol_l"] == pytest.approx(6.1, abs=1e-9)


def test_units_that_cannot_be_told_apart_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "mixed.csv"
    f.write_text(
        "id,time,glucose\na,2025-03-01 00:00,6.5\na,2025-03-01 00:05,120\n"
        "a,2025-03-01 00:10,7.0\na,2025-03-01 00:15,130\n"
    )
    code, _ = _run([str(f)])
    assert code == 2
    assert "--units" in capsys.readouterr().err
    code, _ = _run([str(f), "--units", "mg/dL"])
    assert code == 0


def test_times_with_an_offset_are_absolute(tmp_path: Path) -> None:
    f = tmp_path / "utc.csv"
    f.write_text("id,time,gl\na,2025-03-01T00:00:00Z,100\na,2025-03-01T00:05:00+00:00,110\n")
    code, text = _run([str(f), "--units", "mg/dL", "--display-units", "mg/dL"])
    assert code == 0
    s = json.loads(text)["subjects"][0]
    assert s["metrics"]["mean_mg_dl"] == 105.0


def test_missing_column_and_missing_file_exit_2(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("who,when,what\n1,2,3\n")
    assert _run([str(f)])[0] == 2
    assert _run([str(tmp_path / "absent.csv")])[0] == 2


def test_agp_chart_is_written_as_svg_or_png(tmp_path: Path) -> None:
    svg, png = tmp_path / "agp.svg", tmp_path / "agp.png"
    assert _run([str(cgm_5_subject_csv()), "--agp", str(svg)])[0] == 0
    assert svg.read_text().count("AGP Subject") == 5
    assert _run([str(cgm_5_subject_csv()), "--agp", str(png)])[0] == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
