"""The ``onvif_events`` output: StreetSense events as an ONVIF device's pull-point events."""

from __future__ import annotations

import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from broker.metrics import OUTPUT_UP
from broker.outputs.base import DeliveryResult, Outcome, OutputHealth
from broker.protocols.onvif.config import OnvifEventsConfig
from broker.protocols.onvif.device_codec import DeviceInfo
from broker.protocols.onvif.notification import from_event
from broker.protocols.onvif.notify import NotifyPusher
from broker.protocols.onvif.server import OnvifHttpServer
from broker.protocols.onvif.service import EventService, ServiceSettings
from broker.protocols.onvif.subscriptions import SubscriptionLimits, SubscriptionManager
from broker.protocols.onvif.throttle import AuthThrottle
from broker.protocols.onvif.wssecurity import UsernameTokenVerifier
from events import Event

logger = logging.getLogger(__name__)
_RECENT_IDS = 10_000  # a redelivery of one of these is not queued twice


def _utc_now() -> datetime:
    return datetime.now(UTC)


class OnvifEventsOutput:
    """An :class:`~broker.outputs.base.OutputTransport` serving an ONVIF event service.

    ``deliver`` queues the event in every live pull point (once per event id:
    a redelivery by the core is not queued again). While no VMS is
    subscribed it answers RETRY (unless ``require_subscriber`` is off), so the
    core's durable queue keeps the events until a VMS subscribes.
    """

    def __init__(
        self,
        name: str,
        config: OnvifEventsConfig,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._name = name
        self._config = config
        self.manager = SubscriptionManager(
            name,
            SubscriptionLimits(
                max_subscriptions=config.max_pull_points,
                queue_size=config.queue_size,
                default_termination=timedelta(seconds=config.default_termination_s),
                min_termination=timedelta(seconds=config.min_termination_s),
                max_termination=timedelta(seconds=config.max_termination_s),
            ),
            clock=clock,
        )
        settings = ServiceSettings(
            categories=config.categories,
            device_info=DeviceInfo(
                manufacturer=config.manufacturer,
                model=config.model,
                serial_number=config.serial_number,
                hostname=config.hostname or socket.gethostname(),
            ),
            advertised_url=config.advertised_url,
            max_pull_timeout=timedelta(seconds=config.max_pull_timeout_s),
            max_message_limit=config.max_message_limit,
            max_body_bytes=config.max_body_bytes,
            max_pull_points=config.max_pull_points,
            pre_auth_discovery=config.pre_auth_discovery,
        )
        verifier = UsernameTokenVerifier(
            {user.username: user.password.get_secret_value() for user in config.users},
            max_skew=timedelta(seconds=config.max_clock_skew_s),
            allow_password_text=config.allow_password_text,
        )
        throttle = AuthThrottle(
            config.auth_max_failures,
            window=timedelta(seconds=config.auth_window_s),
            lockout=timedelta(seconds=config.auth_lockout_s),
        )
        self._pusher = NotifyPusher(name, self.manager) if config.allow_push else None
        self._server = OnvifHttpServer(
            EventService(
                name, settings, self.manager, verifier, throttle=throttle, pusher=self._pusher
            ),
            self.manager,
            host=config.listen_host,
            port=config.listen_port,
            max_body_bytes=config.max_body_bytes,
        )
        self._recent: OrderedDict[str, None] = OrderedDict()  # event ids already queued
        self._last_success: float | None = None
        self._last_error: str | None = None

    @property
    def name(self) -> str:
        """The output's name from the adapter config."""
        return self._name

    @property
    def port(self) -> int:
        """The port the SOAP server is bound to."""
        return self._server.port

    async def start(self) -> None:
        """Start the SOAP server."""
        await self._server.start()
        OUTPUT_UP.labels(self._name).set(0)

    async def deliver(self, event: Event) -> DeliveryResult:
        """Queue the event in the pull points; RETRY while none exists (see class doc)."""
        if not self._server.running:
            return DeliveryResult(Outcome.RETRY, "ONVIF service not running")
        self.manager.expire()
        if self.manager.active == 0 and self._config.require_subscriber:
            self._last_error = "no ONVIF subscriber"
            OUTPUT_UP.labels(self._name).set(0)
            return DeliveryResult(Outcome.RETRY, "no ONVIF subscriber")
        if event.event_id in self._recent:
            return DeliveryResult(Outcome.DELIVERED, "already queued (same event id)")
        queued = self.manager.publish(from_event(event))
        self._recent[event.event_id] = None
        if len(self._recent) > _RECENT_IDS:
            self._recent.popitem(last=False)
        self._last_success = time.time()
        OUTPUT_UP.labels(self._name).set(1 if self.manager.active else 0)
        if queued == 0:
            return DeliveryResult(Outcome.DELIVERED, "no subscriber's filter selects this topic")
        return DeliveryResult(Outcome.DELIVERED, f"queued for {queued} pull point(s)")

    def health(self) -> OutputHealth:
        """Connected while at least one VMS holds a live subscription."""
        active = self.manager.active
        return OutputHealth(
            connected=self._server.running and active > 0,
            detail=f"{active} pull point(s), {self.manager.queued} message(s) queued, port {self.port}",
            last_success_at=self._last_success,
            last_error=self._last_error,
        )

    async def close(self) -> None:
        """Stop the server and drop the subscriptions."""
        await self._server.close()
        if self._pusher is not None:
            await self._pusher.close()
        OUTPUT_UP.labels(self._name).set(0)
