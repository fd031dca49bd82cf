"""The result type every doctor check returns, and the table that prints them."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(enum.StrEnum):
    """Outcome of one check; any FAIL makes the doctor exit non-zero."""

    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the doctor's table: what was checked, how it went, and the fix."""

    name: str
    status: Status
    detail: str
    fix: str = ""


def render_table(results: list[CheckResult]) -> str:
    """A plain-text table an engineer can read over SSH."""
    name_width = max([len("check"), *(len(r.name) for r in results)])
    lines = [f"{'check':<{name_width}}  status  detail", "-" * (name_width + 40)]
    for result in results:
        lines.append(f"{result.name:<{name_width}}  {result.status.value:<6}  {result.detail}")
        if result.status is not Status.OK and result.fix:
            lines.append(f"{'':<{name_width}}          fix: {result.fix}")
    failed = sum(r.status is Status.FAIL for r in results)
    warned = sum(r.status is Status.WARN for r in results)
    lines.append("")
    lines.append(f"{len(results)} checks: {failed} failed, {warned} warnings")
    return "\n".join(lines)
