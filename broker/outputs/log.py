"""The ``log`` output: one line per event to a file or to the Python log.

Useful for the demo and for audits of what was sent where. A line is either
the event's wire JSON or a short human-readable summary.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from broker.outputs.base import AdapterContext, DeliveryResult, Outcome, OutputHealth
from broker.outputs.registry import OutputRegistry
from events import Event, encode

logger = logging.getLogger(__name__)


class LogOutputConfig(BaseModel):
    """Settings of a ``log`` output."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path | None = Field(
        default=None, description="Append lines here; the Python log when absent."
    )
    format: Literal["json", "text"] = Field(default="text", description="Wire JSON or a summary.")


def format_line(event: Event, fmt: Literal["json", "text"]) -> str:
    """The line written for ``event``."""
    if fmt == "json":
        return encode(event).decode()
    return (
        f"{event.published_at.isoformat()} {event.severity.value.upper()} "
        f"{event.site}/{event.agent}/{event.source.id} {event.category} "
        f"{event.phase.value} conf={event.confidence:.2f} event={event.event_id} "
        f"incident={event.incident_id} {event.summary}"
    ).rstrip()


class LogOutput:
    """Writes a line per event; a write error is a retry."""

    def __init__(self, config: LogOutputConfig, name: str) -> None:
        self._config = config
        self._name = name
        self._last_success: float | None = None
        self._last_error: str | None = None

    @property
    def name(self) -> str:
        """The output's configured name."""
        return self._name

    async def start(self) -> None:
        """Create the file's folder when needed."""
        if self._config.path is not None:
            self._config.path.parent.mkdir(parents=True, exist_ok=True)

    def _append(self, line: str) -> None:
        assert self._config.path is not None
        with self._config.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    async def deliver(self, event: Event) -> DeliveryResult:
        """Write the event's line."""
        line = format_line(event, self._config.format)
        if self._config.path is None:
            logger.info("[%s] %s", self._name, line)
        else:
            try:
                await asyncio.to_thread(self._append, line)
            except OSError as exc:
                self._last_error = str(exc)
                return DeliveryResult(Outcome.RETRY, f"write failed: {exc}")
        self._last_success = time.time()
        self._last_error = None
        return DeliveryResult(Outcome.DELIVERED)

    def health(self) -> OutputHealth:
        """Healthy unless the last write failed."""
        return OutputHealth(
            connected=self._last_error is None,
            detail=str(self._config.path or "python log"),
            last_success_at=self._last_success,
            last_error=self._last_error,
        )

    async def close(self) -> None:
        """Nothing to close: the file is opened per line."""


def _build(config: LogOutputConfig, name: str, context: AdapterContext) -> LogOutput:
    return LogOutput(config, name)


def register(registry: OutputRegistry) -> None:
    """Register the ``log`` output type."""
    registry.register("log", LogOutputConfig, _build, "one line per event to a file or the log")
