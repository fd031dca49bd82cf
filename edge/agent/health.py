"""The agent's health snapshot (served by /healthz and /readyz, shown by the demo)."""

from __future__ import annotations

from dataclasses import dataclass

from edge.sources import CameraHealth


@dataclass(frozen=True, slots=True)
class AgentHealth:
    """A snapshot of the agent's state."""

    alive: bool
    ready: bool
    reasons: tuple[str, ...]  # why the agent is not ready (empty when ready)
    model: str | None  # "name version (form, providers)" once loaded
    model_error: str | None
    broker_connected: bool
    outbox_backlog: int
    open_incidents: int
    cameras: tuple[CameraHealth, ...]
    broker_error: str = ""  # why the broker is not connected, when it is not
