"""The ONVIF device and event service: SOAP request bytes in, SOAP response bytes out.

Routing is by the body element's qualified name; subscription operations
(PullMessages, Renew, ...) find their pull point from the request path
``/onvif/subscription/<id>``, the address CreatePullPointSubscription returned.
Authentication follows ONVIF's access classes: discovery calls are PRE_AUTH
(a token, when present, is still checked); everything else needs a valid
WS-UsernameToken.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lxml import etree

from broker.metrics import PROTOCOL_MESSAGES, PROTOCOL_REJECTED
from broker.protocols.onvif import device_codec, event_codec
from broker.protocols.onvif import namespaces as ns
from broker.protocols.onvif.errors import (
    ActionNotSupportedError,
    NotAuthorizedError,
    ResourceUnknownError,
    SoapFault,
)
from broker.protocols.onvif.notify import NotifyPusher
from broker.protocols.onvif.soap import SoapRequest, build_envelope, build_fault, parse_request
from broker.protocols.onvif.subscriptions import SubscriptionManager
from broker.protocols.onvif.throttle import AuthThrottle
from broker.protocols.onvif.wssecurity import UsernameTokenVerifier, parse_username_token

logger = logging.getLogger(__name__)

DEVICE_PATH = "/onvif/device_service"
EVENTS_PATH = "/onvif/event_service"
SUBSCRIPTION_PATH = "/onvif/subscription/"


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """Behaviour of the service, built from the output's config."""

    categories: tuple[str, ...] = ()
    device_info: device_codec.DeviceInfo = field(default_factory=device_codec.DeviceInfo)
    advertised_url: str | None = None  # e.g. "https://adapter.example:8443"; default: Host header
    max_pull_timeout: timedelta = timedelta(seconds=120)
    max_message_limit: int = 1024
    max_body_bytes: int = 256 * 1024
    max_pull_points: int = 32
    pre_auth_discovery: bool = True


@dataclass(frozen=True, slots=True)
class SoapResponse:
    """An HTTP status and a SOAP envelope."""

    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class _Call:
    request: SoapRequest
    base_url: str
    subscription_id: str | None
    now: datetime


_Handler = Callable[[_Call], Awaitable[tuple[etree._Element, str]]]
_PRE_AUTH = {
    "GetSystemDateAndTime",
    "GetServices",
    "GetServiceCapabilities",
    "GetCapabilities",
    "GetHostname",
}
_NO_AUTH = {"GetSystemDateAndTime"}  # clients fetch the clock before they can sign


class EventService:
    """Answers the SOAP requests of one onvif_events output."""

    def __init__(
        self,
        output: str,
        settings: ServiceSettings,
        manager: SubscriptionManager,
        verifier: UsernameTokenVerifier,
        *,
        throttle: AuthThrottle | None = None,
        pusher: NotifyPusher | None = None,
    ) -> None:
        self._output = output
        self._throttle = throttle or AuthThrottle()
        self._pusher = pusher
        self._settings = settings
        self._manager = manager
        self._verifier = verifier
        self._handlers: dict[tuple[str, str], _Handler] = {
            (ns.TDS, "GetSystemDateAndTime"): self._system_date_and_time,
            (ns.TDS, "GetServices"): self._services,
            (ns.TDS, "GetCapabilities"): self._capabilities,
            (ns.TDS, "GetServiceCapabilities"): self._device_service_capabilities,
            (ns.TDS, "GetDeviceInformation"): self._device_information,
            (ns.TDS, "GetHostname"): self._hostname,
            (ns.TDS, "GetScopes"): self._scopes,
            (ns.TEV, "GetServiceCapabilities"): self._event_service_capabilities,
            (ns.TEV, "GetEventProperties"): self._event_properties,
            (ns.TEV, "CreatePullPointSubscription"): self._create_pull_point,
            (ns.TEV, "PullMessages"): self._pull_messages,
            (ns.TEV, "SetSynchronizationPoint"): self._synchronize,
            (ns.WSNT, "Subscribe"): self._subscribe,
            (ns.WSNT, "Renew"): self._renew,
            (ns.WSNT, "Unsubscribe"): self._unsubscribe,
        }

    async def handle(self, path: str, body: bytes, base_url: str, peer: str = "") -> SoapResponse:
        """Answer one HTTP POST from ``peer``; never raises for bad input (faults are answers)."""
        now = self._manager.now()
        kind = "unparsed"
        try:
            request = parse_request(body, max_bytes=self._settings.max_body_bytes)
            namespace, name = request.operation
            handler = self._handlers.get((namespace, name))
            kind = name if handler is not None else "unknown"
            PROTOCOL_MESSAGES.labels(self._output, "in", kind).inc()
            if handler is None:
                raise ActionNotSupportedError(f"operation {name[:64]} is not supported")
            self._authenticate(request, name, now, peer)
            call = _Call(request, base_url.rstrip("/"), _subscription_id(path), now)
            element, action = await handler(call)
        except SoapFault as fault:
            return self._fault(fault, kind, now)
        return SoapResponse(
            200, build_envelope(element, action=action, relates_to=request.message_id)
        )

    def _fault(self, fault: SoapFault, kind: str, now: datetime) -> SoapResponse:
        if isinstance(fault, ResourceUnknownError) and fault.detail_xml is None:
            fault.detail_xml = event_codec.resource_unknown_detail(now)
        PROTOCOL_REJECTED.labels("onvif", fault.reason).inc()
        PROTOCOL_MESSAGES.labels(self._output, "out", "fault").inc()
        logger.debug(
            "onvif %s: %s answered with fault %s: %s", self._output, kind, fault.reason, fault.text
        )
        return SoapResponse(fault.http_status, build_fault(fault))

    def _authenticate(self, request: SoapRequest, name: str, now: datetime, peer: str) -> None:
        if name in _NO_AUTH:
            return
        token = None
        try:
            token = parse_username_token(request.header)
            if token is None and self._settings.pre_auth_discovery and name in _PRE_AUTH:
                return
            self._check_throttle(peer, now)
            user = self._verifier.verify(token, now)
        except NotAuthorizedError as exc:
            if exc.reason != "throttled":
                self._throttle.failed(peer, now)
            logger.warning(
                "onvif %s: %s refused from %s: %s (user %r)",
                self._output,
                name,
                peer or "?",
                exc.reason,
                token.username[:64] if token else None,
            )
            raise
        logger.debug("onvif %s: %s by %s from %s", self._output, name, user, peer or "?")

    def _check_throttle(self, peer: str, now: datetime) -> None:
        if self._throttle.locked(peer, now):
            raise NotAuthorizedError("too many failed logins; try later", reason="throttled")

    def _endpoints(self, call: _Call) -> device_codec.Endpoints:
        base = (self._settings.advertised_url or call.base_url).rstrip("/")
        return device_codec.Endpoints(device=base + DEVICE_PATH, events=base + EVENTS_PATH)

    def _subscription_address(self, call: _Call, subscription_id: str) -> str:
        base = (self._settings.advertised_url or call.base_url).rstrip("/")
        return f"{base}{SUBSCRIPTION_PATH}{subscription_id}"

    @staticmethod
    def _require_subscription(call: _Call) -> str:
        if call.subscription_id is None:
            raise ResourceUnknownError("this address is not a subscription")
        return call.subscription_id

    async def _system_date_and_time(self, call: _Call) -> tuple[etree._Element, str]:
        return device_codec.system_date_and_time(call.now), ""

    async def _services(self, call: _Call) -> tuple[etree._Element, str]:
        include = device_codec.parse_include_capability(call.request.body)
        element = device_codec.get_services(
            self._endpoints(call),
            include_capability=include,
            max_pull_points=self._settings.max_pull_points,
        )
        return element, ""

    async def _capabilities(self, call: _Call) -> tuple[etree._Element, str]:
        categories = device_codec.parse_categories(call.request.body)
        return device_codec.get_capabilities(self._endpoints(call), categories), ""

    async def _device_service_capabilities(self, call: _Call) -> tuple[etree._Element, str]:
        return device_codec.device_service_capabilities(), ""

    async def _device_information(self, call: _Call) -> tuple[etree._Element, str]:
        return device_codec.get_device_information(self._settings.device_info), ""

    async def _hostname(self, call: _Call) -> tuple[etree._Element, str]:
        return device_codec.get_hostname(self._settings.device_info), ""

    async def _scopes(self, call: _Call) -> tuple[etree._Element, str]:
        return device_codec.get_scopes(self._settings.device_info), ""

    async def _event_service_capabilities(self, call: _Call) -> tuple[etree._Element, str]:
        capabilities = device_codec.event_capabilities_element(self._settings.max_pull_points)
        return (
            event_codec.service_capabilities_response(capabilities),
            f"{event_codec.ACTION_TEV}/GetServiceCapabilitiesResponse",
        )

    async def _event_properties(self, call: _Call) -> tuple[etree._Element, str]:
        return (
            event_codec.event_properties_response(self._settings.categories),
            f"{event_codec.ACTION_TEV}/GetEventPropertiesResponse",
        )

    async def _create_pull_point(self, call: _Call) -> tuple[etree._Element, str]:
        request = event_codec.parse_create_pull_point(call.request.body, call.now)
        subscription = self._manager.create(request.topic_filter, request.termination)
        element = event_codec.create_pull_point_response(
            self._subscription_address(call, subscription.id), call.now, subscription.termination
        )
        return element, f"{event_codec.ACTION_TEV}/CreatePullPointSubscriptionResponse"

    async def _subscribe(self, call: _Call) -> tuple[etree._Element, str]:
        if self._pusher is None:
            raise ActionNotSupportedError("push subscriptions are disabled; use a pull point")
        request = event_codec.parse_subscribe(call.request.body, call.now)
        subscription = self._manager.create(
            request.topic_filter, request.termination, consumer=request.consumer
        )
        address = self._subscription_address(call, subscription.id)
        self._pusher.start(subscription, address)
        element = event_codec.subscribe_response(address, call.now, subscription.termination)
        return element, f"{event_codec.ACTION_PRODUCER}/SubscribeResponse"

    async def _pull_messages(self, call: _Call) -> tuple[etree._Element, str]:
        subscription_id = self._require_subscription(call)
        request = event_codec.parse_pull_messages(
            call.request.body,
            max_timeout=self._settings.max_pull_timeout,
            max_limit=self._settings.max_message_limit,
        )
        self._manager.get(subscription_id)
        notifications = await self._manager.pull(
            subscription_id, request.timeout, request.message_limit
        )
        subscription = self._manager.get(subscription_id)
        element = event_codec.pull_messages_response(
            self._subscription_address(call, subscription_id),
            self._manager.now(),
            subscription.termination,
            notifications,
        )
        return element, f"{event_codec.ACTION_PULL}/PullMessagesResponse"

    async def _synchronize(self, call: _Call) -> tuple[etree._Element, str]:
        self._manager.synchronize(self._require_subscription(call))
        return (
            event_codec.empty_response(ns.TEV, "SetSynchronizationPointResponse"),
            f"{event_codec.ACTION_PULL}/SetSynchronizationPointResponse",
        )

    async def _renew(self, call: _Call) -> tuple[etree._Element, str]:
        subscription_id = self._require_subscription(call)
        requested = event_codec.parse_renew(call.request.body, call.now)
        termination = self._manager.renew(subscription_id, requested)
        return (
            event_codec.renew_response(call.now, termination),
            f"{event_codec.ACTION_MANAGER}/RenewResponse",
        )

    async def _unsubscribe(self, call: _Call) -> tuple[etree._Element, str]:
        self._manager.unsubscribe(self._require_subscription(call))
        return (
            event_codec.empty_response(ns.WSNT, "UnsubscribeResponse"),
            f"{event_codec.ACTION_MANAGER}/UnsubscribeResponse",
        )


def _subscription_id(path: str) -> str | None:
    if not path.startswith(SUBSCRIPTION_PATH):
        return None
    candidate = path[len(SUBSCRIPTION_PATH) :].strip("/")
    return candidate if candidate and len(candidate) <= 64 and candidate.isalnum() else None
