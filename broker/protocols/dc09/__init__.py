"""SIA DC-09 (ANSI/SIA DC-09): pure codec, transmitter output and receiver listener.

The adapter core finds this package through :mod:`broker.outputs.catalog` and
calls :func:`register`, which adds the ``dc09`` (transmitter to an alarm
receiving centre) and ``dc09_receiver`` (listener for legacy panels) types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from broker.outputs.registry import OutputRegistry


def register(registry: OutputRegistry) -> None:
    """Add the DC-09 output types to ``registry`` (imports the transports lazily)."""
    from broker.protocols.dc09.plugin import register_types

    register_types(registry)
