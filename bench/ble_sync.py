"""Records per second a glucometer sync moves over the emulated radio, against the raw transfer.

One emulated glucometer holds ``--records`` stored records. Timed, alternating for ``--rounds``
rounds on fresh radios (median reported):

- ``synced``: :meth:`gateway.ble.BleCentral.sync` end to end: connect (bond already made), read
  battery and Current Time, RACP "report all", decode every Glucose Measurement and Context,
  correct the clock, build readings, and commit them to a real outbox file in groups of
  ``flush_every`` (WAL, synchronous=FULL: one fsync per group), then the RACP completion;
- ``baseline`` ("racp_transfer_undecoded"): the same meter, the same link, the same bleak
  backend and the same RACP request over a bonded link, but the collector only counts the
  notifications until the completion indication: no decoding, no readings, no outbox.

Both include the meter's side (bumble encodes and sends each PDU; the virtual link is in process
memory, so nothing waits for air time): the ratio says what the gateway's own work costs on top
of moving the bytes. Prints one JSON line.

    python bench/ble_sync.py [--records 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from bleak import BleakClient
from bumble.link import LocalLink

from devices.gatt import uuids
from firmware_sim.ble.glucometer import Glucometer
from gateway import Outbox
from gateway.ble import BleCentral, BleConfig, DeviceKind, DeviceRegistry
from gateway.ble.backends.bumble import BumbleRadio

METER = "C0:00:00:00:BE:01"
MEASUREMENT = uuids.full_uuid(uuids.GLUCOSE_MEASUREMENT)
CONTEXT = uuids.full_uuid(uuids.GLUCOSE_MEASUREMENT_CONTEXT)
RACP = uuids.full_uuid(uuids.RECORD_ACCESS_CONTROL_POINT)
REPORT_ALL = bytes([0x01, 0x01])


async def synced(records: int, work: Path) -> float:
    """Seconds for one full BleCentral.sync of ``records`` records (enrolment not timed)."""
    link = LocalLink()
    async with (
        Glucometer(link, address=METER, records=records) as _meter,
        BumbleRadio(link, keystore_path=work / "bonds.json") as radio,
    ):
        with Outbox(work / "outbox.sqlite3") as outbox:
            central = BleCentral(
                DeviceRegistry(work / "devices.json"),
                outbox,
                config=BleConfig(idle_timeout_s=30.0),
                client_backend=radio.client_backend,
                scanner_backend=radio.scanner_backend,
            )
            await central.enroll("gluco-bench", METER, DeviceKind.GLUCOMETER)
            start = time.perf_counter()
            report = await central.sync("gluco-bench")
            elapsed = time.perf_counter() - start
            if not report.complete or report.stored != records:
                raise SystemExit(f"sync incomplete: {report}")
    return elapsed


async def baseline(records: int, work: Path) -> float:
    """Seconds for the same RACP transfer with a collector that only counts the PDUs."""
    link = LocalLink()
    async with (
        Glucometer(link, address=METER, records=records),
        BumbleRadio(link, keystore_path=work / "bonds.json") as radio,
        BleakClient(METER, backend=radio.client_backend, pair=True) as client,
    ):
        done = asyncio.Event()
        counted = [0]

        def on_measurement(_char: object, _data: bytearray) -> None:
            counted[0] += 1

        await client.start_notify(MEASUREMENT, on_measurement)
        await client.start_notify(CONTEXT, lambda _c, _d: None)
        await client.start_notify(RACP, lambda _c, _d: done.set())
        start = time.perf_counter()
        await client.write_gatt_char(RACP, REPORT_ALL, response=True)
        await done.wait()
        elapsed = time.perf_counter() - start
        if counted[0] != records:
            raise SystemExit(f"baseline got {counted[0]} of {records} records")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    synced_s: list[float] = []
    baseline_s: list[float] = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            baseline_s.append(asyncio.run(baseline(args.records, Path(a))))
            synced_s.append(asyncio.run(synced(args.records, Path(b))))
    rate = args.records / statistics.median(synced_s)
    base = args.records / statistics.median(baseline_s)
    print(
        json.dumps(
            {
                "benchmark": "ble_sync",
                "records": args.records,
                "rounds": args.rounds,
                "records_per_s": round(rate, 1),
                "baseline": "racp_transfer_undecoded",
                "baseline_records_per_s": round(base, 1),
                "ratio": round(rate / base, 3),
                "synced_s": [round(s, 3) for s in synced_s],
                "baseline_s": [round(s, 3) for s in baseline_s],
                "python": platform.python_version(),
                "bleak": version("bleak"),
                "bumble": version("bumble"),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
