"""The edge agent: :class:`Agent` assembles sources, inference, fusion, outbox and API."""

from edge.agent.health import AgentHealth
from edge.agent.runtime import VERSION, Agent

__all__ = ["VERSION", "Agent", "AgentHealth"]
