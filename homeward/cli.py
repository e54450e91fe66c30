"""The ``homeward`` command line.

::

    homeward migrate            apply pending schema migrations
    homeward ingest             run an ingest worker (MQTT -> PostgreSQL) until SIGTERM/SIGINT
    homeward serve              run the HTTP API, the alert panel and the alert evaluator
    homeward gateway            run one home gateway: its devices (BLE), outbox and MQTT uplink
    homeward demo               everything on one machine with simulated patients
    homeward cgm-report FILE    CGM metric set (and AGP charts) from another tool's CSV export

Configuration comes from ``HOMEWARD_*`` environment variables (see ``homeward.settings``).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from homeward import gateway_options
from homeward.errors import ConfigurationError, HomewardError
from homeward.settings import Settings


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so loops can finish their transaction and exit."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("homeward").info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _require_database(settings: Settings) -> str:
    if not settings.database_url:
        raise ConfigurationError("HOMEWARD_DATABASE_URL", "required for this command")
    return settings.database_url


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from monitoring.schema import migrate

    applied = migrate(_require_database(settings), storage=settings.storage)
    if applied:
        print("applied migrations: " + ", ".join(f"{v:04d}" for v in applied))
    else:
        print("database is up to date")
    return 0


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from monitoring.ingest import run_ingest

    _require_database(settings)
    if not settings.mqtt_url:
        raise ConfigurationError("HOMEWARD_MQTT_URL", "required for this command")
    run_ingest(settings, _stop_on_signals())
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from homeward.server import serve

    _require_database(settings)
    serve(settings, _stop_on_signals())
    return 0


def cmd_gateway(settings: Settings, args: argparse.Namespace) -> int:
    from homeward.gateway_runner import run_gateway

    options = gateway_options.options_from_args(args)
    return run_gateway(settings, _stop_on_signals(), options)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from homeward.demo import run_demo

    return run_demo(settings, _stop_on_signals(), patients=args.patients)


def cmd_cgm_report(settings: Settings, args: argparse.Namespace) -> int:
    from monitoring.analytics.cli import cgm_report

    return cgm_report(args.report_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="homeward", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending schema migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("ingest", help="run an ingest worker").set_defaults(func=cmd_ingest)
    sub.add_parser("serve", help="run the API, panel and alert evaluator").set_defaults(
        func=cmd_serve
    )
    gateway = sub.add_parser(
        "gateway",
        help="run one home gateway: BLE devices, durable outbox, MQTT uplink",
        description="One home gateway: reads this home's Bluetooth LE devices (listed in the "
        "config), keeps every reading in a durable outbox and carries them to the broker in "
        "HOMEWARD_MQTT_URL until the ingest acknowledges them. SIGTERM/SIGINT stop it cleanly.",
    )
    gateway_options.add_arguments(gateway)
    gateway.set_defaults(func=cmd_gateway)
    demo = sub.add_parser("demo", help="run the whole system with simulated patients")
    demo.add_argument("--patients", type=int, default=50, help="simulated patients (default 50)")
    demo.set_defaults(func=cmd_demo)
    report = sub.add_parser(
        "cgm-report",
        help="CGM metrics per subject from a CSV export (homeward cgm-report --help)",
        add_help=False,  # the report's own parser answers --help
    )
    report.add_argument("report_args", nargs=argparse.REMAINDER)
    report.set_defaults(func=cmd_cgm_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["cgm-report"]:
        # The report has its own parser (and --help); argparse's REMAINDER cannot pass a leading
        # option such as --help through a subcommand, so hand the arguments over directly.
        from monitoring.analytics.cli import cgm_report

        return cgm_report(argv[1:])
    args = build_parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result: int = args.func(settings, args)
    except HomewardError as exc:
        print(f"homeward: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
