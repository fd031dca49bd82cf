"""Registration of the DC-09 output types with the adapter's output registry."""

from __future__ import annotations

from broker.outputs.base import AdapterContext
from broker.outputs.registry import OutputRegistry
from broker.protocols.dc09.config import Dc09OutputConfig
from broker.protocols.dc09.transmitter import Dc09Transmitter


def _build_transmitter(
    config: Dc09OutputConfig, name: str, context: AdapterContext
) -> Dc09Transmitter:
    return Dc09Transmitter(config, name, context)


def register_types(registry: OutputRegistry) -> None:
    """Register ``dc09`` (transmitter to an alarm receiving centre)."""
    registry.register(
        "dc09",
        Dc09OutputConfig,
        _build_transmitter,
        "SIA DC-09 transmitter to an alarm receiving centre (TCP/UDP, AES, failover)",
    )
