"""A home gateway in a process of its own whose outbox fills up, for tests that kill it.

Usage: python full_outbox_gateway.py OUTBOX BROKER_URL SITE GATEWAY_ID DEVICE_ID BOUND REFUSED

Opens the real outbox bounded at BOUND readings and the real uplink (nothing acknowledges its
batches: no ingest runs), stores BOUND glucose readings of DEVICE_ID (clinical: never thinned),
then offers REFUSED more one by one, each refused because the outbox is full, as a glucometer's
sync would be. Prints "refused N" once done, then runs until killed: the gateway's own heartbeat
reports the refusals, and its last will reports it offline when it dies.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta

from devices import Reading, make_reading
from gateway import Outbox, OutboxFullError, Uplink, UplinkConfig


def main() -> None:
    path, broker_url, site, gateway_id, device_id, bound, refused = sys.argv[1:8]
    outbox = Outbox(path, max_readings=int(bound))
    uplink = Uplink(
        outbox,
        site=site,
        gateway_id=gateway_id,
        broker_url=broker_url,
        config=UplinkConfig(max_batch_readings=10, batch_linger_s=0.0, reconnect_max_s=1.0),
    )
    uplink.start()
    t0 = datetime.now(UTC) - timedelta(hours=int(bound))

    def glucose(seq: int) -> Reading:
        return make_reading(
            device_id=device_id,
            metric="glucose",
            value=6.2,
            unit="mmol/L",
            ts=t0 + timedelta(hours=seq),
            seq=seq,
        )

    outbox.put([glucose(i) for i in range(1, int(bound) + 1)])
    count = 0
    for seq in range(int(bound) + 1, int(bound) + 1 + int(refused)):
        try:
            outbox.put([glucose(seq)])
        except OutboxFullError:
            count += 1
    print(f"refused {count}", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
