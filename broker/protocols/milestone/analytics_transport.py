"""Deliver events as XProtect analytics events: AnalyticsEvent XML over HTTP (httpx).

The event server's analytics port (9090 unless changed; off until enabled in
Tools > Options > Analytics Events) takes ``POST /`` with ``text/xml``. The
answer decides the outcome (:func:`classify_response`): 200 delivered, 4xx
rejected, 5xx / timeout / refused connection retried.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

import httpx

from broker.metrics import PROTOCOL_MESSAGES, PROTOCOL_REJECTED
from broker.outputs.base import DeliveryResult, Outcome, OutputHealth
from broker.protocols.milestone.analytics_codec import (
    AnalyticsContent,
    CameraRef,
    build_analytics_event,
    classify_response,
)
from broker.protocols.milestone.config import MilestoneAnalyticsConfig
from broker.protocols.milestone.health import HealthTracker, probe_tcp
from broker.protocols.milestone.template import SourceNames, Template, clean_text, event_fields
from events import Event

logger = logging.getLogger(__name__)

PROTOCOL = "milestone_analytics"


class MilestoneAnalyticsTransport:
    """An :class:`~broker.outputs.base.OutputTransport` for XProtect analytics events."""

    def __init__(self, config: MilestoneAnalyticsConfig, name: str) -> None:
        self.config = config
        self._name = name
        self._zone = ZoneInfo(config.timezone)
        self._message = Template(config.message_template)
        self._description = Template(config.description_template)
        self._custom_tag = Template(config.custom_tag_template)
        cameras = {key: m.name for key, m in config.cameras.items() if m.name}
        self._names = SourceNames(cameras, {})
        self._client: httpx.AsyncClient | None = None
        self._health = HealthTracker(name)
        scheme = "https" if config.https else "http"
        self.url = f"{scheme}://{config.host}:{config.port}/"

    @property
    def name(self) -> str:
        """The output's name from the adapter config."""
        return self._name

    async def start(self) -> None:
        """Create the HTTP client (connections are pooled and kept alive)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.config.timeout_s,
                verify=self.config.verify_tls,
            )
        await probe_tcp(self._health, self.config.host, self.config.port, self.config.timeout_s)
        logger.info("milestone analytics output %s -> %s", self._name, self.url)

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def health(self) -> OutputHealth:
        """Health as of the last attempt."""
        return self._health.snapshot()

    def camera_for(self, event: Event) -> CameraRef | None:
        """The XProtect camera of the event's source; None when unmapped and required."""
        mapping = self.config.cameras.get(event.source.id)
        if mapping is not None:
            return CameraRef(mapping.name, mapping.id, mapping.server_id)
        if self.config.require_camera_mapping:
            return None
        return CameraRef(name=event.source.id)

    def document(self, event: Event, camera: CameraRef) -> bytes:
        """The AnalyticsEvent XML for ``event``."""
        fields = event_fields(event, self._zone, self._names)
        mapping = self.config.cameras.get(event.source.id)
        location = mapping.location if mapping and mapping.location else event.site
        content = AnalyticsContent(
            message=self._message.render(fields, clean_text),
            description=self._description.render(fields, clean_text),
            location=clean_text(location),
            custom_tag=self._custom_tag.render(fields, clean_text),
            vendor=clean_text(self.config.vendor),
        )
        return build_analytics_event(event, content, camera)

    async def deliver(self, event: Event) -> DeliveryResult:
        """POST one AnalyticsEvent; never raises for peer problems."""
        camera = self.camera_for(event)
        if camera is None:
            PROTOCOL_REJECTED.labels(PROTOCOL, "unmapped_camera").inc()
            return DeliveryResult(
                Outcome.REJECTED, f"source {event.source.id!r} has no XProtect camera mapping"
            )
        body = self.document(event, camera)
        if self._client is None:
            await self.start()
        assert self._client is not None
        try:
            response = await self._client.post(
                self.url, content=body, headers={"Content-Type": "text/xml; charset=utf-8"}
            )
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self._health.down(detail)
            return DeliveryResult(Outcome.RETRY, detail)
        PROTOCOL_MESSAGES.labels(self._name, "out", "analytics_event").inc()
        PROTOCOL_MESSAGES.labels(self._name, "in", f"http_{response.status_code}").inc()
        verdict = classify_response(response.status_code, response.text)
        if verdict.outcome is Outcome.DELIVERED:
            self._health.up(verdict.detail)
        elif verdict.outcome is Outcome.RETRY:
            self._health.down(verdict.detail)
        else:
            PROTOCOL_REJECTED.labels(PROTOCOL, verdict.reason).inc()
            self._health.up("reachable")
            self._health.note_error(verdict.detail)
        return DeliveryResult(verdict.outcome, verdict.detail)
