"""Helpers shared by the ONVIF tests: events, a running service, raw SOAP requests."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY

from broker.protocols.onvif import namespaces as ns
from broker.protocols.onvif.config import OnvifEventsConfig
from broker.protocols.onvif.notification import Notification, PropertyOperation, SimpleItem, Topic
from broker.protocols.onvif.output import OnvifEventsOutput
from broker.protocols.onvif.timeexpr import format_datetime
from broker.protocols.onvif.wssecurity import password_digest
from events import ActionKind, Event, Phase, Severity, Source, SourceKind, new_id, utc_now

USER = "operator"
PASSWORD = "s3cret-pass"


def make_event(
    phase: Phase = Phase.START,
    *,
    incident_id: str | None = None,
    category: str = "fight",
    camera: str = "cam-north",
    confidence: float = 0.87,
    severity: Severity = Severity.HIGH,
) -> Event:
    """A valid StreetSense event."""
    now = utc_now()
    return Event(
        event_id=new_id(),
        incident_id=incident_id or new_id(),
        phase=phase,
        site="site-1",
        agent="agent-1",
        source=Source(kind=SourceKind.CAMERA, id=camera),
        category=category,
        severity=severity,
        confidence=confidence,
        occurred_at=now,
        published_at=now,
    )


def events_config(**overrides: Any) -> OnvifEventsConfig:
    """Config of a service on a free port of 127.0.0.1 with one user."""
    values: dict[str, Any] = {
        "listen_host": "127.0.0.1",
        "listen_port": 0,
        "users": [{"username": USER, "password": PASSWORD}],
        "categories": ["fight", "fall"],
    }
    values.update(overrides)
    return OnvifEventsConfig.model_validate(values)


@asynccontextmanager
async def running_output(name: str, **overrides: Any) -> AsyncIterator[OnvifEventsOutput]:
    """A started onvif_events output, closed afterwards."""
    output = OnvifEventsOutput(name, events_config(**overrides))
    await output.start()
    try:
        yield output
    finally:
        await output.close()


def security_header(
    user: str = USER,
    password: str = PASSWORD,
    *,
    created: datetime | None = None,
    nonce: bytes | None = None,
) -> str:
    """A WS-Security UsernameToken header with a PasswordDigest."""
    nonce = nonce if nonce is not None else secrets.token_bytes(16)
    created_text = format_datetime(created or datetime.now(UTC))
    digest = password_digest(nonce, created_text, password)
    return (
        f'<wsse:Security xmlns:wsse="{ns.WSSE}" xmlns:wsu="{ns.WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{user}</wsse:Username>"
        f'<wsse:Password Type="{ns.WSSE_PASSWORD_DIGEST}">{digest}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created_text}</wsu:Created>"
        "</wsse:UsernameToken></wsse:Security>"
    )


def envelope(body: str, header: str = "") -> bytes:
    """A SOAP 1.2 envelope around ``body``."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{ns.SOAP_ENV}" '
        f'xmlns:tev="{ns.TEV}" xmlns:tds="{ns.TDS}" xmlns:wsnt="{ns.WSNT}" xmlns:tns1="{ns.TNS1}">'
        f"<s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def counter(name: str, labels: dict[str, str]) -> float:
    """Current value of a Prometheus counter sample (0 when never incremented)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def rejected(reason: str) -> float:
    """streetsense_adapter_protocol_rejected_total for ONVIF and ``reason``."""
    return counter(
        "streetsense_adapter_protocol_rejected_total", {"protocol": "onvif", "reason": reason}
    )


class Collector:
    """An AdapterContext that records published events; may fail the first publishes."""

    def __init__(self, failures: int = 0) -> None:
        self.events: list[Event] = []
        self.failures = failures

    async def operator_action(
        self, alert_ref: str, action: ActionKind, *, operator: str, channel: str, note: str = ""
    ) -> bool:
        return False

    async def publish_event(self, event: Event) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the adapter has no MQTT publisher yet")
        self.events.append(event)


MOTION = Topic(ns.TNS1, ("RuleEngine", "CellMotionDetector", "Motion"))


def motion(
    active: bool, operation: PropertyOperation, token: str = "VideoSource_1"
) -> Notification:
    return Notification(
        topic=MOTION,
        utc_time=datetime.now(UTC),
        operation=operation,
        source=(SimpleItem("VideoSourceConfigurationToken", token), SimpleItem("Rule", "MyMotion")),
        data=(SimpleItem("IsMotion", "true" if active else "false"),),
        property_key=f"motion/{token}",
    )
