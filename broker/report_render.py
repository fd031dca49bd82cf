"""The transparency report as JSON (machines) and Markdown (people), and its command.

``streetsense broker report --config FILE [--since ISO] [--until ISO]
[--format markdown|json]`` calls :func:`report_command`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from broker.config import SqliteStorage, load_adapter_config
from broker.errors import StorageError
from broker.report import TransparencyReport, build_report
from broker.storage import open_database
from streetsense.configfile import ConfigError

REPORT_VERSION = 1


def report_dict(report: TransparencyReport) -> dict[str, Any]:
    """The report as plain JSON-ready data (``report_version`` 1)."""
    data = asdict(report)
    data["report_version"] = REPORT_VERSION
    data["events_total"] = report.events_total
    data["outcomes"] = [
        {**asdict(row), "false_alarm_share": row.false_alarm_share} for row in report.outcomes
    ]
    data["not_done"] = list(report.not_done)
    data["coverage"] = list(report.coverage)
    return data


def report_json(report: TransparencyReport) -> str:
    """The report as indented JSON text."""
    return json.dumps(report_dict(report), indent=2, sort_keys=True) + "\n"


def _table(header: list[str], rows: list[list[str]], empty: str) -> list[str]:
    if not rows:
        return [empty, ""]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def report_markdown(report: TransparencyReport) -> str:
    """The report as Markdown for people."""
    out = [
        "# StreetSense transparency report",
        "",
        f"Period: {report.since} to {report.until} (UTC, end excluded). "
        f"Generated {report.generated_at} from the adapter's database.",
        "",
        "## What the system does not do",
        "",
        *(f"- {line}" for line in report.not_done),
        "",
    ]
    if report.coverage:
        out += ["## Coverage", "", *(f"- {line}" for line in report.coverage), ""]
    out += [f"## Events received: {report.events_total}", ""]
    out += _table(["category", "site", "events"],
                  [[c, s, str(n)] for c, sites in report.events.items() for s, n in sites.items()],
                  "None.")  # fmt: skip
    out += [f"## Alerts opened: {report.alerts_opened}", "",
            "Outcome of each alert as of the end of the period. False-alarm share = dismissed"
            " / (confirmed + dismissed).", ""]  # fmt: skip
    out += _table(
        ["category", "alerts", "confirmed", "dismissed (false alarm)", "acknowledged only",
         "unanswered", "false-alarm share"],
        [[o.category, str(o.alerts), str(o.confirmed), str(o.dismissed),
          str(o.acknowledged_only), str(o.unanswered), _share(o.false_alarm_share)]
         for o in report.outcomes],
        "None.",
    )  # fmt: skip
    r = report.response
    out += ["## Time to the first operator answer", "",
            f"{r.answered} alert(s) answered: median {_seconds(r.median_s)}, "
            f"90th percentile {_seconds(r.p90_s)} (nearest rank).", ""]  # fmt: skip
    verbs = ["acknowledge", "confirm", "dismiss", "refused"]
    out += ["## Operator answers by channel", ""]
    out += _table(["channel", *verbs],
                  [[ch, *(str(a.get(v, 0)) for v in verbs)] for ch, a in report.answers.items()],
                  "None.")  # fmt: skip
    out += ["## Deliveries per output", ""]
    out += _table(
        ["output", "delivered", "after retries", "failed attempts", "dead-lettered", "requeued"],
        [[d.output, str(d.delivered), str(d.delivered_after_retry), str(d.retry_attempts),
          str(d.dead_lettered), str(d.requeued)] for d in report.deliveries],
        "None.",
    )  # fmt: skip
    out += ["## Inbound events from legacy systems", ""]
    out += _table(["channel", "events"], [[c, str(n)] for c, n in report.inbound.items()],
                  "None.")  # fmt: skip
    out += ["## Models behind the suggestions", ""]
    out += _table(
        ["model", "version", "events", "alerts"],
        [[m.name or "none (sensor, panel or external)", m.version or "-", str(m.events),
          str(m.alerts)] for m in report.models],
        "None.",
    )  # fmt: skip
    out += ["## Retention purges", ""]
    out += _table(["at", "kind", "records", "older than", "by"],
                  [[p.at, p.kind, str(p.count), p.older_than, p.actor] for p in report.purges],
                  "None in this period.")  # fmt: skip
    c = report.chain
    out += ["## Audit chain", ""]
    if c.verified:
        start = (f"from anchor seq {c.anchor_seq} (rows before {c.pruned_before} pruned), "
                 f"anchor hash `{c.anchor_hash}`" if c.anchor_seq is not None else "from seq 1")  # fmt: skip
        out += [f"Verified: {c.rows} rows, chain intact {start}.", ""]
    else:
        out += [f"**BROKEN** at row seq {c.broken_seq}: {c.reason} ({c.rows} rows checked).", ""]
    return "\n".join(out)


def _moment(text: str | None) -> datetime | None:
    """ISO 8601 date or time; without a zone it is taken as UTC."""
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def report_command(config: Path, since: str | None, until: str | None, fmt: str) -> int:
    """``streetsense broker report``: print the report; 2 for a bad config, period or db."""
    try:
        adapter = load_adapter_config(config)
        start, end = _moment(since), _moment(until)
    except (ConfigError, ValueError) as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    storage = adapter.storage
    if isinstance(storage, SqliteStorage) and not storage.path.is_file():
        print(f"report: no such database file: {storage.path}", file=sys.stderr)
        return 2
    try:
        database = open_database(storage, "report")
        try:
            report = build_report(database, start, end)
        finally:
            database.close()
    except StorageError as exc:
        print(f"report: cannot read the database: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(report_json(report) if fmt == "json" else report_markdown(report))
    return 0
