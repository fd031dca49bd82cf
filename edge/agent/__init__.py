"""The edge agent: :class:`Agent` assembles sources, inference, fusion, outbox and API."""

from edge.agent.health import AgentHealth
from edge.agent.runtime import Agent, agent_version

__all__ = ["Agent", "AgentHealth", "agent_version"]
