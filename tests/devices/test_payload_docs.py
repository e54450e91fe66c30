"""docs/payload-schema.md is what gateway vendors code against: it must name every metric and flag.

A metric added to the catalog but missing from the written schema would be refused by a vendor's
own validator, or sent in a unit we do not accept; these checks keep the two in step.
"""

from __future__ import annotations

import re
from pathlib import Path

from devices import METRICS, UNTRUSTED, Quality

# The doc typesets a range with a minus sign (U+2212) and an en dash (U+2013) between the ends.
MINUS, EN_DASH = "\u2212", "\u2013"
DOC = Path(__file__).resolve().parents[2] / "docs" / "payload-schema.md"


def _table_rows(first_header: str) -> dict[str, list[str]]:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"| {first_header} |")
    rows: dict[str, list[str]] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells
    return rows


def test_every_catalog_metric_is_documented_with_its_units_and_range() -> None:
    rows = _table_rows("code")
    assert set(rows) == set(METRICS)
    for code, metric in METRICS.items():
        _, _, unit, also, plausible, loinc, clinical = rows[code]
        assert unit == f"`{metric.unit}`", code
        assert set(re.findall(r"`([^`]+)`", also)) == set(metric.extra_units), code
        ends = plausible.replace(MINUS, "-").replace(" ", "").split(EN_DASH)
        low, high = (float(x) for x in ends)
        assert (low, high) == (metric.plausible_min, metric.plausible_max), code
        assert loinc == (metric.loinc or "—"), code
        assert clinical == ("yes" if metric.clinical else "no"), code


def test_every_quality_flag_is_documented_with_whether_rules_trust_it() -> None:
    rows = _table_rows("flag")
    assert set(rows) == {q.value for q in Quality}
    for flag, cells in rows.items():
        assert cells[1], f"{flag} has no meaning written"
        assert (cells[2] == "yes") == (flag in UNTRUSTED), flag
