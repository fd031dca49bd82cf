"""ONVIF: a device-side event service (pull points) and a client for cameras' own analytics.

Output types registered with the adapter:

- ``onvif_events``: :class:`~broker.protocols.onvif.output.OnvifEventsOutput`,
  config :class:`~broker.protocols.onvif.config.OnvifEventsConfig`; a VMS adds
  the adapter as an ONVIF device and pulls our events (docs/onvif.md);
- ``onvif_camera``: :class:`~broker.protocols.onvif.inbound.OnvifCameraSource`,
  config :class:`~broker.protocols.onvif.config.OnvifCameraConfig`; inbound only,
  it republishes a camera's own analytics events as StreetSense events.

Pure codec modules (soap, wssecurity, notification, topics, device_codec,
event_codec, timeexpr) build and parse SOAP 1.2 envelopes without I/O;
``service`` dispatches requests and ``server`` serves them over HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from broker.outputs.base import AdapterContext, OutputTransport
    from broker.outputs.registry import OutputRegistry


def _build_events(config: Any, name: str, context: AdapterContext) -> OutputTransport:
    from broker.protocols.onvif.output import OnvifEventsOutput

    return OnvifEventsOutput(name, config)


def _build_camera(config: Any, name: str, context: AdapterContext) -> OutputTransport:
    from broker.protocols.onvif.inbound import OnvifCameraSource

    return OnvifCameraSource(config, name, context)


def register(registry: OutputRegistry) -> None:
    """Register ``onvif_events`` and ``onvif_camera`` with the adapter."""
    from broker.protocols.onvif.config import OnvifCameraConfig, OnvifEventsConfig

    registry.register(
        "onvif_events",
        OnvifEventsConfig,
        _build_events,
        "ONVIF device-side event service: VMS clients subscribe with pull points",
    )
    registry.register(
        "onvif_camera",
        OnvifCameraConfig,
        _build_camera,
        "Inbound: pull-point subscription to an ONVIF camera's analytics, republished as events",
    )
