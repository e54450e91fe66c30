"""Gateway outbox: readings stored durably per second, group commit against one commit per put.

``threads`` device syncs (one per BLE connection) call ``Outbox.put`` as fast as they can, each
call holding ``readings_per_put`` readings, ``puts`` calls each; every call returns only after its
fsync'ed commit. The same workload runs twice in one process on the same disk: with group
commit (concurrent callers share a transaction and its fsync) and with ``group_commit=False``
(the baseline: every put its own transaction and fsync), alternating for ``rounds`` rounds; the
median run of each is reported. Prints one JSON line.

    python bench/gateway_outbox.py [--threads 16] [--readings-per-put 1] [--puts 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devices import Reading, make_reading
from gateway import Outbox

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def _readings(device: str, first_seq: int, n: int) -> list[Reading]:
    return [
        make_reading(
            device_id=device,
            metric="heart_rate",
            value=60 + (first_seq + i) % 40,
            unit="/min",
            ts=T0 + timedelta(seconds=first_seq + i),
            seq=first_seq + i,
        )
        for i in range(n)
    ]


def run(
    directory: Path, *, group_commit: bool, threads: int, per_put: int, puts: int
) -> dict[str, Any]:
    """Each of ``threads`` callers stores ``puts`` calls of ``per_put`` readings; timed until
    the last caller is done."""
    # Build the readings first: the benchmark measures storing, not making readings.
    work = [
        [_readings(f"dev-{t}", 1 + i * per_put, per_put) for i in range(puts)]
        for t in range(threads)
    ]
    barrier = threading.Barrier(threads + 1)
    with Outbox(directory / "outbox.sqlite3", group_commit=group_commit) as outbox:

        def device(t: int) -> None:
            barrier.wait()
            for readings in work[t]:
                outbox.put(readings)

        workers = [threading.Thread(target=device, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        barrier.wait()
        started = time.perf_counter()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - started
        health = outbox.health()
        assert outbox.depth().readings == threads * puts * per_put
    return {
        "seconds": round(elapsed, 3),
        "readings_per_s": round(threads * puts * per_put / elapsed, 1),
        "puts_per_s": round(health.put_calls / elapsed, 1),
        "commits_per_s": round(health.put_commits / elapsed, 1),
        "mean_puts_per_commit": round(health.put_calls / max(1, health.put_commits), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--readings-per-put", type=int, default=1)
    parser.add_argument("--puts", type=int, default=500, help="put() calls per thread")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; median kept")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {"group_commit": [], "one_commit_per_put": []}
    # Alternate the two variants so a noisy neighbour on the shared machine hits both alike;
    # each run in a fresh directory under the working directory (a real disk, not a tmpfs
    # that ignores fsync).
    for _ in range(args.rounds):
        for name, group in (("one_commit_per_put", False), ("group_commit", True)):
            with tempfile.TemporaryDirectory(dir=Path.cwd()) as d:
                runs[name].append(
                    run(
                        Path(d),
                        group_commit=group,
                        threads=args.threads,
                        per_put=args.readings_per_put,
                        puts=args.puts,
                    )
                )
    median = {
        name: sorted(results, key=lambda r: r["readings_per_s"])[len(results) // 2]
        for name, results in runs.items()
    }
    ratio = (
        median["group_commit"]["readings_per_s"] / median["one_commit_per_put"]["readings_per_s"]
    )
    print(
        json.dumps(
            {
                "bench": "gateway_outbox",
                "threads": args.threads,
                "readings_per_put": args.readings_per_put,
                "puts_per_thread": args.puts,
                "rounds": args.rounds,
                "group_commit": median["group_commit"],
                "baseline_one_commit_per_put": median["one_commit_per_put"],
                "ratio_to_baseline": round(ratio, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
