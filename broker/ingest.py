"""Consume agents' events from MQTT (v5 shared subscription, manual acks).

The paho network thread appends each message to an inbox and wakes the event
loop once per burst (not once per message); one consumer task takes them in
arrival order, in batches, classifies them
(:mod:`broker.intake`), and has the core accept the valid events in one
transaction. Only then are the messages PUBACKed, in arrival order, so a crash
before the commit means the broker redelivers (and dedupe drops whatever had
already been accepted). Rejected payloads are counted by reason and acked, so
a poison message is never redelivered forever.

The session is persistent (``clean_start=False`` with a session expiry): a
restarted instance with the same client id resumes and receives what was
queued or left unacknowledged for it. ``receive_maximum`` asks the broker to
bound how many unacknowledged messages it sends (and so the in-memory inbox),
but mosquitto 2.0.11 was measured exceeding it once acknowledgements flow
(about 2,900 unacknowledged with a maximum of 200 under a burst): the inbox is
bounded by the broker's backlog for this session.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import ssl
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from broker import metrics
from broker.config import MqttConfig
from broker.errors import StorageError
from broker.intake import EventIn, Rejected, StatusIn, Verdict, classify
from events import AgentState, topics

logger = logging.getLogger(__name__)

BATCH_MAX = 500
PUBLISH_TIMEOUT_S = 10.0

AcceptFn = Callable[[Sequence[EventIn]], Awaitable[object]]


class _Incoming(NamedTuple):
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int  # which connection delivered it (mids are per connection)


def apply_status(status: StatusIn) -> None:
    """Update the agent-online gauge from an agent's retained status."""
    gauge = metrics.AGENTS_ONLINE.labels(status.site, status.agent)
    online = status.status is not None and status.status.state is AgentState.ONLINE
    gauge.set(1.0 if online else 0.0)


def count_rejection(topic: str, rejected: Rejected) -> None:
    """Count a rejected payload by reason and log it (without the payload)."""
    metrics.REJECTED.labels("mqtt", rejected.reason).inc()
    logger.warning("rejected MQTT message on %s (%s): %s", topic, rejected.reason, rejected.detail)


class MqttIngest:
    """The adapter's MQTT client: subscribes, feeds the core, publishes acks."""

    def __init__(self, config: MqttConfig, accept: AcceptFn) -> None:
        self._config = config
        self._accept = accept
        self._loop: asyncio.AbstractEventLoop | None = None
        # filled by the paho thread, drained by the consumer task; deque appends and
        # pops are atomic, and the loop is woken once per burst (``_wake_pending``)
        self._inbox: collections.deque[_Incoming] = collections.deque()
        self._arrived = asyncio.Event()
        self._wake_pending = False
        self._generation = 0
        self._connected = threading.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._client = self._build_client()

    # -- paho set-up ------------------------------------------------------

    def _build_client(self) -> mqtt.Client:
        config = self._config
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if config.username is not None:
            password = config.password.get_secret_value() if config.password else None
            client.username_pw_set(config.username, password)
        if config.tls is not None:
            client.tls_set(
                ca_certs=str(config.tls.ca_file) if config.tls.ca_file else None,
                certfile=str(config.tls.cert_file) if config.tls.cert_file else None,
                keyfile=str(config.tls.key_file) if config.tls.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
            client.tls_insecure_set(config.tls.insecure)
        client.reconnect_delay_set(
            max(1, math.ceil(config.reconnect_min_s)), max(1, math.ceil(config.reconnect_max_s))
        )
        client.max_queued_messages_set(10_000)  # our own publishes while disconnected
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _connect_properties(self) -> Properties:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._config.session_expiry_s
        properties.ReceiveMaximum = self._config.receive_maximum
        properties.MaximumPacketSize = self._config.max_packet_bytes
        return properties

    @property
    def subscription(self) -> str:
        """The shared event subscription of this instance."""
        return topics.shared(self._config.shared_group, self._config.topic_filter)

    # -- paho callbacks (network thread) ----------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                    reason: object, properties: object) -> None:  # fmt: skip
        if getattr(reason, "is_failure", False):
            logger.error("MQTT connection refused: %s", reason)
            return
        self._generation += 1
        self._connected.set()
        logger.info(
            "connected to MQTT %s:%s as %s (session present: %s)",
            self._config.host, self._config.port, self._config.client_id, flags.session_present,
        )  # fmt: skip
        client.subscribe(
            [
                (self.subscription, SubscribeOptions(qos=1)),
                (topics.ALL_STATUS, SubscribeOptions(qos=1)),
            ]
        )

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object,
                       reason: object, properties: object) -> None:  # fmt: skip
        self._connected.clear()
        if self._stopping:
            logger.debug("MQTT disconnected on stop")
            return
        logger.warning("MQTT disconnected: %s", reason)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        incoming = _Incoming(
            message.topic, bytes(message.payload), message.mid, message.qos, self._generation
        )
        self._inbox.append(incoming)
        if self._wake_pending:
            return  # the consumer has a wake-up coming and drains the inbox after it
        loop = self._loop
        if loop is not None and not loop.is_closed():
            self._wake_pending = True
            loop.call_soon_threadsafe(self._arrived.set)

    # -- lifecycle ---------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the MQTT connection is up."""
        return self._connected.is_set()

    async def start(self) -> None:
        """Connect in the background (retrying) and start consuming."""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._consume(), name="mqtt-ingest")
        self._client.connect_async(
            self._config.host,
            self._config.port,
            keepalive=self._config.keepalive_s,
            clean_start=False,
            properties=self._connect_properties(),
        )
        self._client.loop_start()

    async def wait_connected(self, limit_s: float) -> bool:
        """Wait until connected; False after ``limit_s`` seconds."""
        return await asyncio.to_thread(self._connected.wait, limit_s)

    async def stop(self) -> None:
        """Disconnect (the session and unacknowledged messages stay with the broker)."""
        self._stopping = True
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- consuming ---------------------------------------------------------

    async def _consume(self) -> None:
        """Drain the inbox in batches, two stages deep.

        A batch is classified while the previous one commits (the commit runs in a
        worker thread and mostly waits for the disk); batches still commit and are
        acknowledged strictly one after the other, in arrival order.
        """
        inbox = self._inbox
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            self._wake_pending = False  # before draining: a later arrival wakes us again
            committing: asyncio.Task[None] | None = None
            try:
                while inbox:
                    batch = [inbox.popleft() for _ in range(min(len(inbox), BATCH_MAX))]
                    accepted = self._classify(batch)
                    if committing is not None:
                        await committing
                    committing = asyncio.create_task(self._commit(batch, accepted))
                if committing is not None:
                    await committing
            finally:
                if committing is not None and not committing.done():
                    committing.cancel()  # stopping: its messages stay unacknowledged

    async def _process(self, batch: list[_Incoming]) -> None:
        """Classify, accept durably and acknowledge one batch."""
        await self._commit(batch, self._classify(batch))

    def _classify(self, batch: list[_Incoming]) -> list[EventIn]:
        """The valid events of ``batch``; statuses are applied, rejections counted."""
        accepted: list[EventIn] = []
        for incoming in batch:
            verdict: Verdict = classify(incoming.topic, incoming.payload)
            if isinstance(verdict, EventIn):
                accepted.append(verdict)
            elif isinstance(verdict, StatusIn):
                apply_status(verdict)
            else:
                count_rejection(incoming.topic, verdict)
        return accepted

    async def _commit(self, batch: list[_Incoming], accepted: list[EventIn]) -> None:
        """Accept ``accepted`` in one transaction, then acknowledge every message of ``batch``."""
        if accepted:
            try:
                await self._accept_durably(accepted)
            except Exception:  # a bug, not the storage: isolate the event that trips it
                logger.exception("accepting a batch failed; retrying its events one by one")
                for item in accepted:
                    try:
                        await self._accept_durably([item])
                    except Exception:
                        logger.exception("event %s cannot be accepted", item.event.event_id)
                        metrics.REJECTED.labels("mqtt", "internal_error").inc()
        generation, ack = self._generation, self._client.ack
        for incoming in batch:
            if incoming.qos > 0 and incoming.generation == generation:
                ack(incoming.mid, incoming.qos)
            # a message from an earlier connection is redelivered on this one

    async def _accept_durably(self, items: list[EventIn]) -> None:
        """Accept ``items``; while the storage is down, keep retrying (nothing is acked)."""
        delay = 0.5
        while True:
            try:
                await self._accept(items)
                return
            except StorageError as exc:
                # not acked: nothing is lost; the broker holds the messages meanwhile
                logger.warning("cannot queue %d event(s), retrying: %s", len(items), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    # -- publishing -------------------------------------------------------

    async def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Publish and wait (bounded) for the broker's acknowledgement.

        While disconnected paho keeps QoS 1 messages and sends them on
        reconnect; a warning is logged when the wait times out.
        """
        info = self._client.publish(topic, payload, qos=qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            logger.warning("publish to %s queued while disconnected (rc=%s)", topic, info.rc)
            return
        try:
            await asyncio.to_thread(info.wait_for_publish, PUBLISH_TIMEOUT_S)
        except (RuntimeError, ValueError) as exc:
            logger.warning("publish to %s not confirmed: %s", topic, exc)
            return
        if not info.is_published():
            logger.warning("publish to %s not confirmed within %ss", topic, PUBLISH_TIMEOUT_S)
