"""The MQTT topic layout shared by agents and adapters.

    streetsense/v1/<site>/<agent>/events/<category>   events (QoS 1)
    streetsense/v1/<site>/<agent>/sensors/<sensor>    raw lamppost sensor JSON (QoS 1)
    streetsense/v1/<site>/<agent>/status              retained AgentStatus, Last Will = offline
    streetsense/v1/<site>/<agent>/acks                OperatorAction back to the agent (QoS 1)
    streetsense/v1/<site>/<agent>/cmd                 commands to the agent (QoS 1)

Every level after the prefix is an :data:`events.model.Identifier`, so no level
can contain ``/``, ``+`` or ``#``.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "streetsense/v1"


def events(site: str, agent: str, category: str) -> str:
    """Topic an agent publishes an event of ``category`` on."""
    return f"{PREFIX}/{site}/{agent}/events/{category}"


def sensors(site: str, agent: str, sensor: str) -> str:
    """Topic a lamppost sensor publishes its raw readings on."""
    return f"{PREFIX}/{site}/{agent}/sensors/{sensor}"


def status(site: str, agent: str) -> str:
    """Retained status topic of an agent (the Last Will goes here too)."""
    return f"{PREFIX}/{site}/{agent}/status"


def acks(site: str, agent: str) -> str:
    """Topic carrying operator actions back to an agent."""
    return f"{PREFIX}/{site}/{agent}/acks"


def commands(site: str, agent: str) -> str:
    """Topic carrying commands to an agent."""
    return f"{PREFIX}/{site}/{agent}/cmd"


def agent_prefix(site: str, agent: str) -> str:
    """Everything an agent may publish under (its ACL prefix)."""
    return f"{PREFIX}/{site}/{agent}/"


ALL_EVENTS = f"{PREFIX}/+/+/events/#"
ALL_STATUS = f"{PREFIX}/+/+/status"


def shared(group: str, topic_filter: str) -> str:
    """MQTT v5 shared-subscription filter: instances in ``group`` split the load."""
    return f"$share/{group}/{topic_filter}"


@dataclass(frozen=True, slots=True)
class TopicParts:
    """A parsed StreetSense topic."""

    site: str
    agent: str
    kind: str  # events, sensors, status, acks, cmd
    leaf: str | None  # category or sensor, when the kind has one


def parse(topic: str) -> TopicParts:
    """Split a StreetSense topic; raise ValueError for anything else."""
    parts = topic.split("/")
    if len(parts) < 5 or "/".join(parts[:2]) != PREFIX:
        raise ValueError(f"not a StreetSense topic: {topic!r}")
    site, agent, kind, *rest = parts[2:]
    if kind in {"events", "sensors"} and len(rest) == 1:
        return TopicParts(site, agent, kind, rest[0])
    if kind in {"status", "acks", "cmd"} and not rest:
        return TopicParts(site, agent, kind, None)
    raise ValueError(f"not a StreetSense topic: {topic!r}")
