"""TETRA radio output: alerts as SDS-TL text over a terminal's PEI (ETSI EN 300 392-5).

Output type ``tetra``: :class:`~broker.protocols.tetra.transport.TetraPeiTransport`,
config :class:`~broker.protocols.tetra.config.TetraConfig`. Handset replies
(``ACK|FALSE|CONFIRM <id>``) become operator actions through the adapter
context. Setup and message format: docs/tetra.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from broker.outputs.base import AdapterContext, OutputTransport
    from broker.outputs.registry import OutputRegistry


def _build(config: Any, name: str, context: AdapterContext) -> OutputTransport:
    from broker.protocols.tetra.transport import TetraPeiTransport

    return TetraPeiTransport(config, name, context)


def register(registry: OutputRegistry) -> None:
    """Register the ``tetra`` output type with the adapter."""
    from broker.protocols.tetra.config import TetraConfig

    registry.register(
        "tetra",
        TetraConfig,
        _build,
        "TETRA radio: SDS-TL text alerts over a terminal's PEI, handset replies back",
    )
