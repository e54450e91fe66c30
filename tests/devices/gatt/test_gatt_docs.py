"""docs/devices/ shows the exact bytes of the golden fixtures, and every page it promises exists."""

from __future__ import annotations

import re
from pathlib import Path

import gatt_golden

DOCS = Path(__file__).resolve().parents[3] / "docs" / "devices"
FIXTURE = re.compile(r"Fixture `(\w+)`[^\n]*\n\n```\n([0-9A-F ]+)\n```")


def test_every_worked_example_is_its_golden_fixture_byte_for_byte() -> None:
    seen = 0
    for page in sorted(DOCS.glob("*.md")):
        for name, hex_bytes in FIXTURE.findall(page.read_text(encoding="utf-8")):
            assert bytes.fromhex(hex_bytes) == getattr(gatt_golden, name), (page.name, name)
            seen += 1
    assert seen >= 25


def test_every_page_the_index_and_the_codecs_name_exists() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\(([a-z0-9-]+\.md)\)", index))
    codecs = Path(__file__).resolve().parents[3] / "devices" / "gatt"
    for module in codecs.glob("*.py"):
        named |= set(re.findall(r"docs/devices/([a-z0-9-]+\.md)", module.read_text()))
        named |= set(re.findall(r"``([a-z0-9-]+\.md)``", module.read_text()))
    assert named
    missing = sorted(n for n in named if not (DOCS / n).is_file())
    assert not missing
