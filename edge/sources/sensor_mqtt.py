"""Subscribe to lamppost sensors on MQTT and deliver normalised readings to a sink."""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.sources.config import SensorConfig
from edge.sources.errors import SensorRejectedError
from edge.sources.sensors import accept, reject
from events import SensorReading, topics

logger = logging.getLogger(__name__)

ReadingSink = Callable[[SensorReading], None]
TRANSPORT = "mqtt"


class MqttSensorSubscriber:
    """A paho-mqtt client on its own network thread that reconnects by itself.

    It subscribes (QoS 1) to ``streetsense/v1/<site>/<agent>/sensors/+`` and
    hands every accepted reading to ``sink``, which must not block (a
    ``queue.Full`` from it is counted as a rejection with reason
    ``queue_full``).
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        site: str,
        agent: str,
        config: SensorConfig,
        sink: ReadingSink,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        client_id: str = "",
        keepalive: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.port = port
        self.config = config
        self.topic_filter = topics.sensors(site, agent, "+")
        self._sink = sink
        self._clock = clock
        self._keepalive = keepalive
        self._connected = threading.Event()
        self._stopping = False
        self._subscribed = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"streetsense-sensors-{site}-{agent}",
            clean_session=True,
        )
        if username is not None:
            client.username_pw_set(username, password)
        if tls is not None:
            client.tls_set_context(tls)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client

    @property
    def connected(self) -> bool:
        """Whether the client is connected to the broker now."""
        return self._connected.is_set()

    def wait_subscribed(self, timeout: float) -> bool:
        """Block until the subscription is acknowledged (or ``timeout``)."""
        return self._subscribed.wait(timeout)

    def start(self) -> None:
        """Connect in the background; paho retries until the broker answers."""
        self._client.connect_async(self.host, self.port, keepalive=self._keepalive)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            logger.warning("sensor MQTT connection refused: %s", reason)
            return
        self._connected.set()
        logger.info("sensor MQTT connected to %s:%s", self.host, self.port)
        client.subscribe(self.topic_filter, qos=1)

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: Any, _props: Any
    ) -> None:
        if all(not code.is_failure for code in reasons):
            self._subscribed.set()
        else:
            logger.error("sensor MQTT subscription to %s refused: %s", self.topic_filter, reasons)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        self._connected.clear()
        self._subscribed.clear()
        if self._stopping:
            logger.debug("sensor MQTT disconnected on stop")
            return
        logger.warning("sensor MQTT disconnected (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.handle(message.topic, bytes(message.payload))

    def handle(self, topic: str, payload: bytes) -> list[SensorReading]:
        """Normalise one message and deliver its readings; rejections are counted, not raised."""
        try:
            sensor = _sensor_of(topic)
            readings = accept(
                payload, sensor=sensor, transport=TRANSPORT, config=self.config, now=self._clock()
            )
        except SensorRejectedError:
            return []
        for reading in readings:
            try:
                self._sink(reading)
            except queue.Full:
                reject(TRANSPORT, SensorRejectedError("queue_full", "reading queue is full"))
        return readings


def _sensor_of(topic: str) -> str:
    try:
        parts = topics.parse(topic)
    except ValueError as exc:
        error = SensorRejectedError("bad_topic", str(exc))
        reject(TRANSPORT, error)
        raise error from exc
    if parts.kind != "sensors" or parts.leaf is None:
        error = SensorRejectedError("bad_topic", f"not a sensor topic: {topic!r}")
        reject(TRANSPORT, error)
        raise error
    return parts.leaf
