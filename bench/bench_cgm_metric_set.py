"""Benchmark: the full CGM metric set for 10,000 patients x 14 days of 5-minute CGM.

Prints one JSON line. The synthetic readings (``_cgm_synth``) are generated first and kept in a
compact store (int32 seconds, int16 mg/dL: 6 bytes a reading), then timed: each block is
expanded to the analytics layout (int64 / float64), streamed through
``iter_cgm_metric_sets`` (clean, reading metrics, grid, MODD, CONGA 1 h and 24 h, MAGE, five
event kinds with their tables, AGP) and its result dropped. Peak RSS is the process high-water
mark, reset after the store is built, so it measures the analytics' working set plus the store.

The baseline (``_baseline_pandas``: one DataFrame per patient, pandas groupby/rolling, Python
loops where the algorithms are sequential) runs on the first ``--baseline-patients`` patients
in the same process, after a check that both give the same numbers; its time per patient is
scaled to all patients for the ratio.

Usage: python bench/bench_cgm_metric_set.py [--patients 10000] [--days 14] [--block 500]
       [--workers 2] [--baseline-patients 50]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _baseline_pandas import metrics_one
from _cgm_synth import START_S, synth_block

from monitoring.analytics import CgmConfig, PatientSeries, iter_cgm_metric_sets


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak_rss() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


STORE: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []


def expand_block(i: int) -> PatientSeries:
    """Block ``i`` of the compact store in the analytics layout (called in the worker)."""
    off, t32, g16 = STORE[i]
    return PatientSeries(off, t32.astype(np.int64) + START_S, g16.astype(np.float64))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--block", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline-patients", type=int, default=50)
    args = ap.parse_args()

    store = STORE
    t_gen = time.perf_counter()
    for a in range(0, args.patients, args.block):
        b = synth_block(a, min(args.block, args.patients - a), days=args.days)
        store.append((b.offsets, (b.time_s - START_S).astype(np.int32), b.values.astype(np.int16)))
    gen_s = time.perf_counter() - t_gen
    n_readings = int(sum(int(o[-1]) for o, _, _ in store))
    rss_store_mb = _status_kb("VmRSS") / 1024
    _reset_peak_rss()

    def blocks():  # each worker expands its compact block to the analytics layout itself
        return [functools.partial(expand_block, i) for i in range(len(store))]

    cfg = CgmConfig()
    checksum = 0.0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for r in iter_cgm_metric_sets(blocks(), config=cfg, workers=args.workers, start_method="fork"):
        checksum += float(np.nansum(r.values["mage_mg_dl"]))
        checksum += float(sum(len(e) for e in r.events.values()))
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    peak_mb = _status_kb("VmHWM") / 1024
    child_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    # baseline on the first patients, same process, same data; first check agreement
    first = expand_block(0)
    nb = min(args.baseline_patients, first.n_patients)
    ours = next(iter_cgm_metric_sets([first.block(0, nb)], config=cfg))
    t1 = time.perf_counter()
    worst = 0.0
    for p in range(nb):
        t, g = first.patient(p)
        base = metrics_one(t, g)
        for k, v in base.items():
            o = ours.agp.values_mg_dl[p, 2, 0] if k.startswith("agp") else ours.values[k][p]
            if np.isfinite(v) or np.isfinite(o):
                worst = max(worst, abs(v - o) / max(abs(o), 1e-12))
    base_s_per_patient = (time.perf_counter() - t1) / nb
    base_total = base_s_per_patient * args.patients
    print(
        json.dumps(
            {
                "benchmark": "cgm_metric_set",
                "patients": args.patients,
                "days": args.days,
                "readings": n_readings,
                "block_patients": args.block,
                "workers": args.workers,
                "seconds": round(seconds, 3),
                "cpu_seconds": round(cpu, 3),
                "readings_per_second": round(n_readings / seconds),
                "peak_rss_mb": round(peak_mb, 1),
                "worker_peak_rss_mb": round(child_peak_mb, 1),
                "input_store_rss_mb": round(rss_store_mb, 1),
                "baseline": "pandas per patient (bench/_baseline_pandas.py)",
                "baseline_patients_measured": nb,
                "baseline_seconds_per_patient": round(base_s_per_patient, 4),
                "baseline_seconds_scaled": round(base_total, 1),
                "ratio": round(base_total / seconds, 1),
                "max_relative_difference_vs_baseline": worst,
                "data_generation_seconds": round(gen_s, 1),
                "checksum": round(checksum, 3),
                "machine": f"{platform.machine()}, {os.cpu_count()} cpus, Python "
                f"{platform.python_version()}, numpy {np.__version__}",
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
