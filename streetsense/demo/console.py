"""What the demo prints: alerts as an operator would see them, progress, and the summary."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from events import Event, OperatorAction
from streetsense.demo.arc import ArcMessage

BOLD, DIM, RED, YELLOW, GREEN, RESET = (
    "\033[1m",
    "\033[2m",
    "\033[31m",
    "\033[33m",
    "\033[32m",
    "\033[0m",
)
SEVERITY_COLOURS = {
    "critical": RED + BOLD,
    "high": RED,
    "medium": YELLOW,
    "low": GREEN,
    "info": DIM,
}


class Console:
    """Writes operator-style lines; a single progress line is redrawn on a terminal."""

    def __init__(self, *, quiet: bool, colour: bool | None = None) -> None:
        self.quiet = quiet
        self.tty = sys.stdout.isatty()
        self.colour = self.tty if colour is None else colour
        self._progress_shown = False

    def _paint(self, text: str, style: str) -> str:
        return f"{style}{text}{RESET}" if self.colour else text

    def _write(self, line: str) -> None:
        if self._progress_shown and self.tty:
            sys.stdout.write("\r\033[K")
            self._progress_shown = False
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def info(self, text: str) -> None:
        """A plain status line."""
        self._write(self._paint(text, DIM))

    def alert(self, event: Event) -> None:
        """An event as the operator's console would list it."""
        when = event.occurred_at.astimezone(UTC).strftime("%H:%M:%S")
        severity = self._paint(
            f"{event.severity.value.upper():8}", SEVERITY_COLOURS[event.severity.value]
        )
        evidence = ", ".join(
            f"{label} {score:.2f}" for label, score in event.evidence.scores.items()
        )
        readings = ", ".join(
            f"{r.quantity} {r.value:g} {r.unit}" for r in event.evidence.readings[-2:]
        )
        detail = "; ".join(part for part in (evidence, readings) if part)
        review = "suggestion: needs operator review" if event.requires_review else "information"
        self._write(
            f"{when} {severity} {event.phase.value.upper():6} {event.category:15} "
            f"{event.source.kind.value} {event.source.id:12} conf {event.confidence:.2f} "
            f"incident {event.incident_id[:8]}  [{detail}]  {review}"
        )

    def arc(self, message: ArcMessage) -> None:
        """A frame the alarm receiving centre accepted."""
        codes = "/".join(message.codes) or message.token
        self._write(
            self._paint(
                f"    ARC  DC-09 {message.token} #{message.sequence:04d} account {message.account} "
                f"{codes} {message.text[:60]}  -> ACK",
                GREEN,
            )
        )

    def action(self, action: OperatorAction) -> None:
        """An operator's answer reaching the agent."""
        self._write(
            self._paint(
                f"    AGENT received operator {action.action.value} of incident {action.incident_id[:8]} "
                f"by {action.operator} via {action.channel}",
                BOLD,
            )
        )

    def progress(self, text: str) -> None:
        """Redraw the progress line (a plain line every few seconds when not on a terminal)."""
        if self.quiet:
            return
        if self.tty:
            sys.stdout.write("\r\033[K" + self._paint(text, DIM))
            sys.stdout.flush()
            self._progress_shown = True
        else:
            self._write(text)


def clock() -> str:
    """The current UTC time for status lines."""
    return datetime.now(UTC).strftime("%H:%M:%S")
