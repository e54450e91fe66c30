"""``homeward cgm-report FILE.csv``: the CGM metric set of an export from another CGM tool.

The command line is wired by ``homeward.cli``; this module provides :func:`cgm_report`, which
takes the arguments after the sub-command and returns the exit status. It is the only place in
:mod:`monitoring.analytics` that reads a file or writes one.

Input: a CSV file with one reading per row and a header naming the columns: ``id`` (subject),
``time`` (local date and time, ``YYYY-MM-DD HH:MM[:SS]``; a trailing UTC offset such as
``+08:00`` or ``Z`` makes it absolute) and ``glucose``. The reference implementation's export
(iglu, header ``"",id,time,gl``) is accepted as is, as are ``gl``, ``value``, ``timestamp``
and ``subject``. Glucose is in mg/dL or mmol/L (``--units``; ``auto`` tells them apart from the
values and refuses to guess when it cannot).

Output: the metric set per subject as JSON (default) or as a table for people, glucose shown in
mmol/L unless ``--display-units mg/dL``; with ``--agp FILE.svg`` or ``FILE.png``, each subject's
AGP. Exit status 0 on success, 2 for unusable input (unreadable file, missing columns, units that
cannot be told apart).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from numpy.typing import NDArray

from devices import GLUCOSE_MG_DL_PER_MMOL_L
from monitoring.analytics.agp_chart import AgpPanel, render_png, render_svg
from monitoring.analytics.glucose import CGM_METRICS, CgmConfig, CgmMetricSet, cgm_metric_set
from monitoring.analytics.series import PatientSeries
from monitoring.analytics.status import STATUS_NAMES
from monitoring.analytics.units import GlucoseUnit, detect_unit

_ID_COLS = ("id", "subject", "patient", "patient_id", "subject_id")
_TIME_COLS = ("time", "timestamp", "datetime", "date_time", "ts")
_GLU_COLS = ("glucose", "gl", "value", "sgv", "glucose_value")


class ReportInputError(Exception):
    """The CSV file cannot be turned into glucose readings."""


def _column(header: list[str], names: tuple[str, ...]) -> int:
    low = [h.strip().strip('"').lower() for h in header]
    for n in names:
        if n in low:
            return low.index(n)
    raise ReportInputError(f"no column named one of {', '.join(names)} (header: {header})")


def _parse_times(texts: list[str], tz: ZoneInfo) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """UTC seconds and UTC offsets of local (or offset-qualified) ``YYYY-MM-DD HH:MM[:SS]``."""
    naive = np.empty(len(texts), dtype=np.int64)
    explicit = np.zeros(len(texts), dtype=np.bool_)
    offset = np.zeros(len(texts), dtype=np.int64)
    for i, raw in enumerate(texts):
        s = raw.strip().replace("T", " ")
        if s.endswith("Z"):
            s = s[:-1] + "+00:00"
        try:
            d = datetime.fromisoformat(s)
        except ValueError:
            raise ReportInputError(f"row {i + 2}: cannot read time {raw!r}") from None
        if d.tzinfo is not None:
            explicit[i] = True
            off = d.utcoffset()
            offset[i] = int(off.total_seconds()) if off is not None else 0
            d = d.replace(tzinfo=None)
        naive[i] = int(d.replace(tzinfo=UTC).timestamp())
    # local wall-clock times: one zone lookup per distinct local hour, not per reading
    local = ~explicit
    if local.any():
        hours = naive[local] // 3600
        uniq, inv = np.unique(hours, return_inverse=True)
        offs = np.array(
            [
                int(
                    (
                        datetime.fromtimestamp(int(h) * 3600, UTC).replace(tzinfo=tz).utcoffset()
                        or timedelta(0)
                    ).total_seconds()
                )
                for h in uniq
            ],
            dtype=np.int64,
        )
        offset[local] = offs[inv]
    return naive - offset, offset


def read_cgm_csv(
    stream: TextIO, tz: ZoneInfo
) -> tuple[list[str], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """``(ids, patient_index, time_s, values, utc_offset_s)`` of every row of a CGM CSV export.

    Values are as written (unit not yet known); empty or ``NA`` glucose becomes NaN (dropped
    and counted by cleaning, not an error).
    """
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise ReportInputError("the file is empty") from None
    ci, ct, cg = _column(header, _ID_COLS), _column(header, _TIME_COLS), _column(header, _GLU_COLS)
    ids: list[str] = []
    times: list[str] = []
    vals: list[float] = []
    for row in reader:
        if not row or all(not c.strip() for c in row):
            continue
        try:
            ids.append(row[ci].strip())
            times.append(row[ct])
            g = row[cg].strip()
        except IndexError:
            raise ReportInputError(f"row {len(ids) + 1}: too few columns") from None
        try:
            vals.append(float(g) if g and g.upper() not in ("NA", "NAN", "NULL") else math.nan)
        except ValueError:
            raise ReportInputError(f"row {len(ids) + 1}: glucose {g!r} is not a number") from None
    if not ids:
        raise ReportInputError("the file has a header but no readings")
    order: dict[str, int] = {}
    for s in ids:
        order.setdefault(s, len(order))
    pidx = np.array([order[s] for s in ids], dtype=np.int64)
    t, off = _parse_times(times, tz)
    return list(order), pidx, t, np.array(vals, dtype=np.float64), off


def _fmt(v: float) -> float | None:
    return None if not math.isfinite(v) else float(v)


def _display_key(key: str, unit: GlucoseUnit) -> str:
    return key[: -len("_mg_dl")] + "_mmol_l" if unit == "mmol/L" else key


def subject_records(
    result: CgmMetricSet,
    ids: list[str],
    units_in: list[str],
    display: GlucoseUnit,
    notes: list[list[str]],
) -> list[dict[str, Any]]:
    """The report of each subject as JSON-ready dictionaries."""
    glucose_keys = {m.key for m in CGM_METRICS if m.glucose} | {
        k for k in result.values if k.startswith("conga_")
    }
    to_disp = 1.0 / GLUCOSE_MG_DL_PER_MMOL_L if display == "mmol/L" else 1.0
    out: list[dict[str, Any]] = []
    for p, sid in enumerate(ids):
        metrics: dict[str, float | None] = {}
        status: dict[str, str] = {}
        for key, arr in result.values.items():
            name = _display_key(key, display) if key in glucose_keys else key
            val = float(arr[p]) * (to_disp if key in glucose_keys else 1.0)
            metrics[name] = _fmt(val)
            status[name] = STATUS_NAMES[int(result.status[key][p])]
        q = result.quality
        suff = result.sufficiency
        reasons = []
        if not suff.sufficient[p]:
            if not (suff.days[p] >= 14.0):
                reasons.append("fewer than 14 days of data")
            if not (suff.active_percent[p] >= 70.0):
                reasons.append("CGM active less than 70 % of the time")
        events = []
        for name, tab in result.events.items():
            lo, hi = np.searchsorted(tab.patient, [p, p + 1])  # events are sorted by patient
            for e in range(int(lo), int(hi)):
                events.append(
                    {
                        "type": name,
                        "start": datetime.fromtimestamp(int(tab.start_s[e]), UTC).isoformat(),
                        "end": datetime.fromtimestamp(int(tab.end_s[e]), UTC).isoformat(),
                        "duration_min": float(tab.duration_min[e]),
                        ("nadir" if tab.definition.kind == "hypo" else "peak")
                        + ("_mmol_l" if display == "mmol/L" else "_mg_dl"): _fmt(
                            float(tab.extreme_mg_dl[e]) * to_disp
                        ),
                        "recovered": bool(tab.recovered[e]),
                    }
                )
        out.append(
            {
                "id": sid,
                "units_in": units_in[p],
                "sufficient": bool(suff.sufficient[p]),
                "insufficient_because": reasons,
                "targets_met": {
                    "most_adults": bool(result.targets_most_adults[p]),
                    "older_or_high_risk": bool(result.targets_older_high_risk[p]),
                },
                "data_quality": {
                    "rows": int(q.n_input[p]),
                    "dropped_not_a_number": int(q.n_nonfinite[p]),
                    "dropped_implausible": int(q.n_implausible[p]),
                    "merged_duplicate_times": int(q.n_duplicates[p]),
                    "conflicting_duplicate_times": int(q.n_conflicting[p]),
                    "unsorted": bool(q.unsorted[p]),
                    "sampling_interval_min": _fmt(float(suff.interval_min[p])),
                },
                "notes": notes[p],
                "metrics": metrics,
                "status": status,
                "events": events,
            }
        )
    return out


def _table(records: list[dict[str, Any]]) -> str:
    keys = list(records[0]["metrics"]) if records else []
    head = ["metric"] + [str(r["id"]) for r in records]
    rows = [head]
    for k in keys:
        row = [k]
        for r in records:
            v = r["metrics"][k]
            st = r["status"][k]
            cell = "-" if v is None else f"{v:.4g}"
            if st != "ok":
                cell += f" ({st})"
            row.append(cell)
        rows.append(row)
    rows.append(["sufficient"] + [str(r["sufficient"]) for r in records])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def _panels(result: CgmMetricSet, ids: list[str], display: GlucoseUnit) -> list[AgpPanel]:
    assert result.agp is not None
    f = 1.0 / GLUCOSE_MG_DL_PER_MMOL_L if display == "mmol/L" else 1.0
    panels = []
    for p, sid in enumerate(ids):
        v = result.values
        tir = v["percent_70_180_mg_dl"][p]
        sub = (
            f"{v['days'][p]:.1f} days, CGM active {v['active_percent'][p]:.0f} %, "
            f"time in range {tir:.0f} %, mean {v['mean_mg_dl'][p] * f:.1f} {display}"
        )
        warn = "" if result.sufficiency.sufficient[p] else "insufficient data"
        if display == "mmol/L":
            lo, hi, ymax, ticks = 3.9, 10.0, 22.2, (3.9, 10.0, 13.9, 20.0)
        else:
            lo, hi, ymax, ticks = 70.0, 180.0, 400.0, (70.0, 180.0, 250.0, 350.0)
        panels.append(
            AgpPanel(
                title=f"AGP {sid}",
                subtitle=sub,
                percentiles=result.agp.percentiles,
                values=result.agp.values_mg_dl[p] * f,
                unit=display,
                target_low=lo,
                target_high=hi,
                y_max=ymax,
                y_ticks=ticks,
                warning=warn,
            )
        )
    return panels


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="homeward cgm-report",
        description="Consensus CGM metrics (and the AGP) of each subject in a CSV export.",
    )
    p.add_argument("file", help="CSV with id, time and glucose columns")
    p.add_argument(
        "--units",
        choices=("auto", "mg/dL", "mmol/L"),
        default="auto",
        help="unit of the glucose column (default: tell from the values)",
    )
    p.add_argument(
        "--tz",
        default="Asia/Shanghai",
        help="time zone of the local times in the file (default Asia/Shanghai)",
    )
    p.add_argument("--format", choices=("json", "table"), default="json")
    p.add_argument("--display-units", choices=("mmol/L", "mg/dL"), default="mmol/L")
    p.add_argument(
        "--window-days",
        type=float,
        default=None,
        help="analyse only the last N days of each subject",
    )
    p.add_argument(
        "--agp",
        metavar="OUT.svg|OUT.png",
        default=None,
        help="draw each subject's ambulatory glucose profile",
    )
    return p


def cgm_report(argv: Sequence[str], stdout: TextIO | None = None) -> int:
    """Run ``homeward cgm-report`` with ``argv`` (the arguments after the sub-command).

    Returns the exit status: 0 when the report was written, 2 when the input is unusable (the
    reason is printed on stderr).
    """
    out = stdout or sys.stdout
    args = _parser().parse_args(list(argv))
    try:
        tz = ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"cgm-report: unknown time zone {args.tz!r}", file=sys.stderr)
        return 2
    try:
        with open(args.file, newline="", encoding="utf-8-sig") as fh:
            ids, pidx, t, raw, off = read_cgm_csv(fh, tz)
    except (OSError, ReportInputError) as exc:
        print(f"cgm-report: {exc}", file=sys.stderr)
        return 2

    n = len(ids)
    units_in: list[str] = []
    notes: list[list[str]] = [[] for _ in range(n)]
    values = raw.copy()
    file_unit: GlucoseUnit | None = None if args.units == "auto" else args.units
    if file_unit is None:
        file_unit = detect_unit(raw)
    # rows grouped by subject (then time) once, instead of one scan of the file per subject
    order = np.lexsort((t, pidx))
    bounds = np.concatenate(([0], np.cumsum(np.bincount(pidx, minlength=n))))
    for p in range(n):
        rows = order[bounds[p] : bounds[p + 1]]
        unit = file_unit if file_unit is not None else detect_unit(raw[rows])
        if unit is None:
            print(
                f"cgm-report: cannot tell whether subject {ids[p]!r} is in mg/dL or mmol/L; "
                "pass --units",
                file=sys.stderr,
            )
            return 2
        units_in.append(unit)
        if unit == "mmol/L":
            values[rows] = raw[rows] * GLUCOSE_MG_DL_PER_MMOL_L
        offs = off[rows]
        if offs.size and offs.min() != offs.max():
            notes[p].append(
                "UTC offset changes within the data (daylight saving); day "
                "boundaries use the offset of the first reading"
            )

    series = PatientSeries.from_arrays(pidx, t, values, n_patients=n)
    first_off = np.zeros(n, dtype=np.int64)
    has = bounds[1:] > bounds[:-1]
    first_off[has] = off[order[bounds[:-1][has]]]  # offset at each subject's first reading
    cfg = CgmConfig(window_days=args.window_days)
    result = cgm_metric_set(series, config=cfg, utc_offset_s=first_off)
    display: GlucoseUnit = args.display_units
    records = subject_records(result, ids, units_in, display, notes)
    if args.format == "json":
        doc = {
            "source": str(Path(args.file).name),
            "time_zone": args.tz,
            "display_units": display,
            "subjects": records,
        }
        out.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(_table(records))
    if args.agp:
        panels = _panels(result, ids, display)
        path = Path(args.agp)
        try:
            if path.suffix.lower() == ".png":
                path.write_bytes(render_png(panels))
            else:
                path.write_text(render_svg(panels), encoding="utf-8")
        except OSError as exc:
            print(f"cgm-report: cannot write {path}: {exc}", file=sys.stderr)
            return 2
    return 0
