"""A gateway in a process of its own, for tests that SIGKILL it.

Usage: python gateway_process.py OUTBOX BROKER_URL SITE GATEWAY_ID COUNT

Stores COUNT SpO2 readings in the outbox, starts the uplink, prints "published" once the first
batch went out, then runs until killed.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta

from devices import make_reading
from gateway import Outbox, Uplink, UplinkConfig


def main() -> None:
    path, broker_url, site, gateway_id, count = sys.argv[1:6]
    outbox = Outbox(path)
    t0 = datetime.now(UTC) - timedelta(hours=1)
    outbox.put(
        make_reading(
            device_id=f"{gateway_id}-ox",
            metric="spo2",
            value=96,
            unit="%",
            ts=t0 + timedelta(seconds=i),
            seq=i,
        )
        for i in range(int(count))
    )
    uplink = Uplink(
        outbox,
        site=site,
        gateway_id=gateway_id,
        broker_url=broker_url,
        config=UplinkConfig(max_batch_readings=50, batch_linger_s=0.0, max_in_flight_batches=4),
    )
    uplink.start()
    while uplink.stats().published_batches < 4:
        time.sleep(0.02)
    print("published", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
