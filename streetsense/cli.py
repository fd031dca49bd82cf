"""The ``streetsense`` command: one entry point, subcommands imported lazily.

streetsense demo                            whole pipeline on bundled media
streetsense edge run --config FILE          run an edge agent
streetsense broker run --config FILE        run a broker adapter
streetsense broker audit-verify --db FILE   verify the audit log's hash chain
streetsense broker report --config FILE     transparency report of a period
streetsense broker retention --config FILE  apply the retention rules once, now
streetsense config check FILE               validate an agent or adapter config
streetsense doctor --config FILE            check a box before and after deployment
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def _edge_run(args: argparse.Namespace) -> int:
    from edge.main import run_agent

    return run_agent(Path(args.config))


def _broker_run(args: argparse.Namespace) -> int:
    from broker.main import run_adapter

    return run_adapter(Path(args.config))


def _audit_verify(args: argparse.Namespace) -> int:
    from broker.audit_cli import verify_command

    return verify_command(args.db)


def _broker_report(args: argparse.Namespace) -> int:
    from broker.report_render import report_command

    return report_command(Path(args.config), args.since, args.until, args.format)


def _broker_retention(args: argparse.Namespace) -> int:
    from broker.retention import retention_command

    return retention_command(Path(args.config))


def _config_check(args: argparse.Namespace) -> int:
    from streetsense.config_check import check_config_file

    return check_config_file(Path(args.file))


def _demo(args: argparse.Namespace) -> int:
    from streetsense.demo import run_demo

    return run_demo(
        duration=args.duration,
        quiet=args.quiet,
        card=Path(args.card) if args.card else None,
        broker=args.broker,
    )


def _doctor(args: argparse.Namespace) -> int:
    from streetsense.doctor import run_doctor

    return run_doctor(Path(args.config))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and shell completion)."""
    parser = argparse.ArgumentParser(prog="streetsense", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR (demo: WARNING, else INFO)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the whole pipeline on bundled sample media")
    demo.add_argument("--duration", type=float, default=45.0, help="seconds to run")
    demo.add_argument("--quiet", action="store_true", help="no progress display")
    demo.add_argument("--card", help="model card to use instead of the shipped one")
    demo.add_argument(
        "--broker",
        choices=["auto", "mosquitto", "embedded"],
        default="auto",
        help="MQTT broker to start: mosquitto, the embedded Python one, or auto "
        "(mosquitto when installed)",
    )
    demo.set_defaults(handler=_demo)

    edge = commands.add_parser("edge", help="edge agent").add_subparsers(dest="sub", required=True)
    edge_run = edge.add_parser("run", help="run an agent")
    edge_run.add_argument("--config", required=True, help="agent YAML config")
    edge_run.set_defaults(handler=_edge_run)

    broker = commands.add_parser("broker", help="broker adapter").add_subparsers(
        dest="sub", required=True
    )
    broker_run = broker.add_parser("run", help="run an adapter")
    broker_run.add_argument("--config", required=True, help="adapter YAML config")
    broker_run.set_defaults(handler=_broker_run)
    verify = broker.add_parser("audit-verify", help="verify the audit log's hash chain")
    verify.add_argument(
        "--db", required=True, help="audit database (SQLite path or PostgreSQL DSN)"
    )
    verify.set_defaults(handler=_audit_verify)
    report = broker.add_parser("report", help="transparency report of a period")
    report.add_argument("--config", required=True, help="adapter YAML config")
    report.add_argument("--since", help="period start, ISO 8601 (UTC if no zone); default 30 days")
    report.add_argument("--until", help="period end (excluded), ISO 8601; default now")
    report.add_argument("--format", choices=["markdown", "json"], default="markdown")
    report.set_defaults(handler=_broker_report)
    sweep = broker.add_parser("retention", help="apply the retention rules once, now")
    sweep.add_argument("--config", required=True, help="adapter YAML config")
    sweep.set_defaults(handler=_broker_retention)

    config = commands.add_parser("config", help="configuration").add_subparsers(
        dest="sub", required=True
    )
    check = config.add_parser("check", help="validate an agent or adapter config")
    check.add_argument("file")
    check.set_defaults(handler=_config_check)

    doctor = commands.add_parser("doctor", help="check an edge box")
    doctor.add_argument("--config", required=True, help="agent YAML config")
    doctor.set_defaults(handler=_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, configure logging, run the chosen subcommand."""
    args = build_parser().parse_args(argv)
    default_level = "WARNING" if args.command == "demo" else "INFO"
    logging.basicConfig(
        level=(args.log_level or default_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
