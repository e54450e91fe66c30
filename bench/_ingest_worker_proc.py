"""An ingest worker process for the benchmarks: ``homeward ingest`` with the transaction's
group size taken from ``BENCH_GROUP_MESSAGES`` (1 = one message per transaction, the write path
before docs/decisions/0002's grouping), so a benchmark can compare group sizes."""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

from homeward.settings import Settings
from monitoring.ingest import IngestWorker


def main() -> None:
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper())
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    group = int(os.environ.get("BENCH_GROUP_MESSAGES", "32"))
    IngestWorker(settings, group_messages=group).run(stop)


if __name__ == "__main__":
    main()
