"""The ``onvif_camera`` source: a pull-point subscription to a camera's own analytics.

Uses onvif-zeep-async as the client. Mapped notifications are republished
through :meth:`AdapterContext.publish_event`; a publish that fails is retried
(pulling pauses meanwhile, so the camera's queue holds the rest). Any failure
of the session (camera down, subscription lost, auth refused) closes it and
reconnects after a jittered, doubling, capped delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from lxml import etree

from broker.metrics import OUTPUT_UP, PROTOCOL_MESSAGES, PROTOCOL_REJECTED
from broker.outputs.base import AdapterContext, DeliveryResult, Outcome, OutputHealth
from broker.protocols.onvif.config import OnvifCameraConfig
from broker.protocols.onvif.errors import CameraError, InvalidArgumentError
from broker.protocols.onvif.inbound_mapping import CameraMessage, TopicMapper
from broker.protocols.onvif.notification import PropertyOperation, SimpleItem, parse_message
from events import Event

logger = logging.getLogger(__name__)
_CLOSE_TIMEOUT_S = 5.0
_PROXY_VARIABLES = ("http_proxy", "https_proxy")


def camera_message(holder: Any) -> CameraMessage:
    """Convert a zeep ``NotificationMessage`` into a :class:`CameraMessage`.

    zeep hands the ``tt:Message`` over as an object when it knows the schema,
    or as an lxml element when it does not; both are accepted.
    """
    try:
        topic = holder.Topic._value_1
        message = holder.Message._value_1
    except AttributeError as exc:
        raise InvalidArgumentError("notification without Topic or Message") from exc
    if not isinstance(topic, str) or not topic.strip():
        raise InvalidArgumentError("notification without a topic")
    if isinstance(message, etree._Element):
        utc_time, operation, source, data = parse_message(message)
        return CameraMessage(topic.strip(), utc_time, operation, source, data)
    try:
        utc_time = message.UtcTime
        operation_text = message.PropertyOperation
        source = _zeep_items(message.Source)
        data = _zeep_items(message.Data)
    except AttributeError as exc:
        raise InvalidArgumentError("tt:Message lacks UtcTime, Source or Data") from exc
    if not isinstance(utc_time, datetime):
        raise InvalidArgumentError("tt:Message without a valid UtcTime")
    if utc_time.tzinfo is None:
        utc_time = utc_time.replace(tzinfo=UTC)
    try:
        operation = PropertyOperation(operation_text) if operation_text else None
    except ValueError as exc:
        raise InvalidArgumentError(f"unknown PropertyOperation {operation_text!r}") from exc
    return CameraMessage(topic.strip(), utc_time, operation, source, data)


def _zeep_items(holder: Any) -> tuple[SimpleItem, ...]:
    if holder is None:
        return ()
    return tuple(SimpleItem(str(item.Name), str(item.Value)) for item in (holder.SimpleItem or []))


class OnvifCameraSource:
    """An inbound component with the OutputTransport shape (it delivers nothing)."""

    def __init__(self, config: OnvifCameraConfig, name: str, context: AdapterContext) -> None:
        self._config = config
        self._name = name
        self._context = context
        self._mapper = TopicMapper(config)
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._connected = False
        self._lost = asyncio.Event()
        self._last_success: float | None = None
        self._last_error: str | None = None
        self.published = 0

    @property
    def name(self) -> str:
        """The component's name from the adapter config."""
        return self._name

    async def start(self) -> None:
        """Start the subscribe-and-pull loop in the background."""
        self._closing = False
        self._task = asyncio.create_task(self._run(), name=f"onvif-camera-{self._name}")

    async def deliver(self, event: Event) -> DeliveryResult:
        """An ONVIF camera source takes no deliveries: route nothing to it."""
        return DeliveryResult(Outcome.REJECTED, "onvif_camera is an inbound source")

    def health(self) -> OutputHealth:
        """Connected while a pull-point subscription on the camera is live."""
        where = f"{self._config.host}:{self._config.port}"
        return OutputHealth(
            connected=self._connected,
            detail=f"camera {where}, {self.published} event(s) published",
            last_success_at=self._last_success,
            last_error=self._last_error,
        )

    async def close(self) -> None:
        """Stop pulling and unsubscribe (best effort)."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._set_connected(False)

    async def _run(self) -> None:
        delay = self._config.reconnect_min_s
        while not self._closing:
            pulled_before = self._last_success
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any client failure means: reconnect
                self._last_error = _describe(exc)
                logger.warning("onvif camera %s: %s; reconnecting", self._name, self._last_error)
            self._set_connected(False)
            if self._last_success != pulled_before:
                delay = self._config.reconnect_min_s
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._config.reconnect_max_s)

    async def _session(self) -> None:
        from onvif import ONVIFCamera

        # ONVIFCamera() deletes http(s)_proxy from os.environ; keep them for the rest of
        # the adapter (its own sessions ignore the environment anyway).
        proxies = {key: os.environ[key] for key in _PROXY_VARIABLES if key in os.environ}
        try:
            camera = ONVIFCamera(
                self._config.host,
                self._config.port,
                self._config.username,
                self._config.password.get_secret_value(),
                adjust_time=self._config.adjust_time,
            )
        finally:
            os.environ.update(proxies)
        manager: Any = None
        self._lost.clear()
        try:
            await camera.update_xaddrs()
            manager = await camera.create_pullpoint_manager(
                timedelta(seconds=self._config.subscription_s), self._lost.set
            )
            service = manager.get_service()
            self._set_connected(True)
            logger.info("onvif camera %s: subscribed to %s", self._name, self._config.host)
            loop = asyncio.get_running_loop()
            while not self._closing:
                started = loop.time()
                result = await service.PullMessages(
                    {
                        "MessageLimit": self._config.message_limit,
                        "Timeout": timedelta(seconds=self._config.pull_timeout_s),
                    }
                )
                self._last_success = time.time()
                self._last_error = None
                holders = result.NotificationMessage or []
                for holder in holders:
                    await self._handle(holder)
                if self._lost.is_set():
                    raise CameraError("the camera lost our subscription")
                if not holders and loop.time() - started < self._config.pull_timeout_s / 10:
                    # Some cameras answer at once instead of waiting: do not spin on them.
                    await asyncio.sleep(min(1.0, self._config.pull_timeout_s))
        finally:
            if manager is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(manager.shutdown(), _CLOSE_TIMEOUT_S)
            with contextlib.suppress(Exception):
                await camera.close()

    async def _handle(self, holder: Any) -> None:
        PROTOCOL_MESSAGES.labels(self._name, "in", "notification").inc()
        try:
            event = self._mapper.map(camera_message(holder))
        except InvalidArgumentError as exc:
            PROTOCOL_REJECTED.labels("onvif", "bad_notification").inc()
            logger.info("onvif camera %s: notification rejected: %s", self._name, exc)
            return
        if event is None:
            PROTOCOL_MESSAGES.labels(self._name, "in", "ignored").inc()
            return
        await self._publish(event)

    async def _publish(self, event: Event) -> None:
        delay = self._config.reconnect_min_s
        while True:
            try:
                await self._context.publish_event(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep the event, retry
                logger.warning(
                    "onvif camera %s: publishing %s failed (%s); retrying",
                    self._name,
                    event.event_id,
                    exc,
                )
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self._config.reconnect_max_s)
                continue
            self.published += 1
            return

    def _set_connected(self, connected: bool) -> None:
        self._connected = connected
        OUTPUT_UP.labels(self._name).set(1 if connected else 0)


def _describe(exc: BaseException) -> str:
    from onvif.util import stringify_onvif_error

    text = stringify_onvif_error(exc) if isinstance(exc, Exception) else str(exc)
    return f"{type(exc).__name__}: {text}"[:300]
