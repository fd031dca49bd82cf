"""OASIS CAP 1.2 outputs: events as Common Alerting Protocol alerts, POSTed or in an Atom feed.

Output types ``cap``: :class:`~broker.protocols.cap.transport.CapHttpOutput`
(config :class:`~broker.protocols.cap.config.CapOutputConfig`) and ``cap_feed``:
:class:`~broker.protocols.cap.feed.CapFeedOutput` (config
:class:`~broker.protocols.cap.config.CapFeedConfig`). The pure codec
is :mod:`broker.protocols.cap.codec` (``encode_alert``/``decode_alert``) with
the spec's element table in :mod:`broker.protocols.cap.spec`; the event mapping
is :mod:`broker.protocols.cap.mapping`. Setup and semantics: docs/cap.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from broker.outputs.base import AdapterContext, OutputTransport
    from broker.outputs.registry import OutputRegistry


def _build(config: Any, name: str, context: AdapterContext) -> OutputTransport:
    from broker.protocols.cap.transport import CapHttpOutput

    return CapHttpOutput(config, name)


def _build_feed(config: Any, name: str, context: AdapterContext) -> OutputTransport:
    from broker.protocols.cap.feed import CapFeedOutput

    return CapFeedOutput(config, name)


def register(registry: OutputRegistry) -> None:
    """Register the ``cap`` (HTTP POST) and ``cap_feed`` (Atom feed) output types."""
    from broker.protocols.cap.config import CapFeedConfig, CapOutputConfig

    registry.register(
        "cap", CapOutputConfig, _build, "OASIS CAP 1.2 alerts by HTTP POST to an aggregator"
    )
    registry.register(
        "cap_feed", CapFeedConfig, _build_feed, "OASIS CAP 1.2 alerts served as an Atom feed"
    )
