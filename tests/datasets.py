"""Where the public datasets for tests live.

The datasets sit beside the project (``../shared/data`` from the repository root), not inside it.
``HOMEWARD_TEST_DATA_DIR`` overrides the location. A missing dataset fails the test that needs
it with the places searched: a test that silently skipped would hide a missing check.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """The folder holding the shared datasets (``cgm/...``)."""
    candidates = []
    env = os.environ.get("HOMEWARD_TEST_DATA_DIR")
    if env:
        candidates.append(Path(env))
    candidates += [REPO.parent / "shared" / "data", Path("/work/shared/data")]
    for c in candidates:
        if c.is_dir():
            return c
    pytest.fail(
        "the shared test datasets were not found; looked in "
        + ", ".join(str(c) for c in candidates)
        + " (set HOMEWARD_TEST_DATA_DIR)",
        pytrace=False,
    )


def cgm_5_subject_csv() -> Path:
    """iglu's ``example_data_5_subject``: 5 subjects, local times, glucose in mg/dL."""
    return data_dir() / "cgm" / "iglu_example_data_5_subject.csv"
