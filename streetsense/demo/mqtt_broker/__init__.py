"""A small embedded MQTT 3.1.1 + 5.0 broker for the demo and tests: a lab broker, not a production one.

Why hand-written: no maintained Python broker speaks MQTT 5 (amqtt 0.12.1, the
maintained successor of hbmqtt, accepts protocol level 4 only), and the agent
and adapter need v5: session expiry, receive maximum, shared subscriptions
``$share/<group>/<filter>`` and manual acknowledgements. Production deployments
use mosquitto (or any MQTT 5 broker); the demo starts this one only when
mosquitto is not installed.

Supported: one plain TCP listener; MQTT 3.1.1 and 5.0 clients side by side;
QoS 0 and 1; retained messages; wildcards; shared subscriptions (round-robin
over connected members); Last Will (published at once: Will Delay Interval is
ignored); persistent sessions in memory (session expiry, offline queue bounded
by ``max_queued`` with counted drops, unacknowledged messages resent with DUP);
v5 Receive Maximum and Maximum Packet Size from the client; keep-alive
(1.5 x interval). Refused, with a v5 reason code where the client speaks v5:
QoS 2 (0x9B), topic aliases (0x94), subscription identifiers (0xA1),
enhanced authentication (0x8C), malformed packets (0x81/0x82). Not provided:
TLS, authentication (user names and passwords are accepted, never checked),
message expiry, persistence across restarts, ``$SYS`` topics.

Modules: ``wire``, ``packets`` and ``codec`` (pure packet values and their
encode/decode), ``topics`` (filters and matching), ``session`` (per-client
state), ``router`` (who gets each message, flow control), ``connection`` and
``server`` (the asyncio broker), ``thread`` (run it from synchronous code).
Drops and refusals are counted in ``streetsense_demo_broker_dropped_total`` and
``streetsense_demo_broker_rejected_total`` (label ``reason``).
"""

from streetsense.demo.mqtt_broker.errors import (
    BrokerStartError,
    MalformedPacketError,
    MqttBrokerError,
)
from streetsense.demo.mqtt_broker.server import EmbeddedBroker
from streetsense.demo.mqtt_broker.thread import BrokerThread

__all__ = [
    "BrokerStartError",
    "BrokerThread",
    "EmbeddedBroker",
    "MalformedPacketError",
    "MqttBrokerError",
]
