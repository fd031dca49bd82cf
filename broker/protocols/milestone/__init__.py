"""Milestone XProtect outputs: generic events (TCP/UDP) and analytics events (HTTP XML).

Output types registered with the adapter:

- ``milestone_generic``: :class:`MilestoneGenericTransport`, config
  :class:`MilestoneGenericConfig`;
- ``milestone_analytics``: :class:`MilestoneAnalyticsTransport`, config
  :class:`MilestoneAnalyticsConfig`.

Setup on the XProtect side: docs/milestone.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from broker.outputs.base import AdapterContext, OutputTransport
    from broker.outputs.registry import OutputRegistry


def _build_generic(config: Any, name: str, context: AdapterContext) -> OutputTransport:
    from broker.protocols.milestone.generic_transport import MilestoneGenericTransport

    return MilestoneGenericTransport(config, name)


def _build_analytics(config: Any, name: str, context: AdapterContext) -> OutputTransport:
    from broker.protocols.milestone.analytics_transport import MilestoneAnalyticsTransport

    return MilestoneAnalyticsTransport(config, name)


def register(registry: OutputRegistry) -> None:
    """Register ``milestone_generic`` and ``milestone_analytics`` with the adapter."""
    from broker.protocols.milestone.config import MilestoneAnalyticsConfig, MilestoneGenericConfig

    registry.register(
        "milestone_generic",
        MilestoneGenericConfig,
        _build_generic,
        "Milestone XProtect generic events (TCP/UDP data source, compatible or international)",
    )
    registry.register(
        "milestone_analytics",
        MilestoneAnalyticsConfig,
        _build_analytics,
        "Milestone XProtect analytics events (AnalyticsEvent XML over HTTP)",
    )
