"""The MQTT ceiling: paho-mqtt's own publish -> subscribe rate through one mosquitto.

The adapter's throughput is judged against this, measured in the same run, with the
same broker config, message size and QoS.

    python -m benchmarks.mqtt_ceiling [--messages 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.harness import Measurement, table, write_report
from tests.support.mosquitto import Mosquitto

PAYLOAD = b"x" * 400  # about the size of an encoded event


def paho_rate(
    port: int, messages: int, qos: int, max_inflight: int = 100, *, adapter_like: bool = False
) -> float:
    """Messages per second from one paho publisher to one paho subscriber (all received).

    ``adapter_like`` gives the subscriber the adapter's shape: MQTT v5, a shared
    subscription and a manual PUBACK per message (sent at once, nothing stored).
    """
    topic = f"bench/ceiling/{time.monotonic_ns()}"
    received = 0
    done = threading.Event()

    def on_message(client: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        nonlocal received
        if adapter_like:
            client.ack(message.mid, message.qos)
        received += 1
        if received >= messages:
            done.set()

    subscribed = threading.Event()
    if adapter_like:
        subscriber = mqtt.Client(
            CallbackAPIVersion.VERSION2, f"sub-{topic}", protocol=mqtt.MQTTv5, manual_ack=True
        )
    else:
        subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{topic}")
    subscriber.on_message = on_message
    subscriber.on_subscribe = lambda *_: subscribed.set()
    subscriber.connect("127.0.0.1", port)
    subscriber.subscribe(f"$share/ceiling/{topic}" if adapter_like else topic, qos=qos)
    subscriber.loop_start()
    subscribed.wait(10)

    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{topic}")
    publisher.max_inflight_messages_set(max_inflight)
    publisher.max_queued_messages_set(0)
    publisher.connect("127.0.0.1", port)
    publisher.loop_start()
    start = time.perf_counter()
    for _ in range(messages):
        publisher.publish(topic, PAYLOAD, qos=qos)
    if not done.wait(120):
        raise RuntimeError(f"only {received} of {messages} messages arrived")
    elapsed = time.perf_counter() - start
    for client in (publisher, subscriber):
        client.disconnect()
        client.loop_stop()
    return messages / elapsed


def run_broker(workdir: Path) -> Mosquitto:
    """A mosquitto with the deliberate queue limits the shipped config uses."""
    broker = Mosquitto(workdir)
    broker.start()
    return broker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = run_broker(Path(tmp))
        try:
            rows = [Measurement(f"paho QoS {qos} publish -> subscribe", "msg/s") for qos in (0, 1)]
            for _ in range(args.runs):
                for qos, row in zip((0, 1), rows, strict=True):
                    row.samples.append(paho_rate(broker.port, args.messages, qos))
        finally:
            broker.kill()
    write_report(
        "MQTT ceiling",
        f"python -m benchmarks.mqtt_ceiling --messages {args.messages} --runs {args.runs}",
        [table("paho-mqtt through mosquitto, 400 B", rows, rows[1], "vs QoS 1")],
    )


if __name__ == "__main__":
    main()
