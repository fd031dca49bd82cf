"""Registration of the DC-09 output types with the adapter's output registry."""

from __future__ import annotations

from broker.outputs.base import AdapterContext
from broker.outputs.registry import OutputRegistry
from broker.protocols.dc09.config import Dc09OutputConfig, Dc09ReceiverConfig
from broker.protocols.dc09.receiver import Dc09Receiver
from broker.protocols.dc09.transmitter import Dc09Transmitter


def _build_transmitter(
    config: Dc09OutputConfig, name: str, context: AdapterContext
) -> Dc09Transmitter:
    return Dc09Transmitter(config, name, context)


def _build_receiver(config: Dc09ReceiverConfig, name: str, context: AdapterContext) -> Dc09Receiver:
    return Dc09Receiver(config, name, context)


def register_types(registry: OutputRegistry) -> None:
    """Register ``dc09`` (transmitter to a receiving centre) and ``dc09_receiver`` (panels in)."""
    registry.register(
        "dc09",
        Dc09OutputConfig,
        _build_transmitter,
        "SIA DC-09 transmitter to an alarm receiving centre (TCP/UDP, AES, failover)",
    )
    registry.register(
        "dc09_receiver",
        Dc09ReceiverConfig,
        _build_receiver,
        "SIA DC-09 receiver for legacy panels and call points (listens on start; takes no deliveries)",
    )
