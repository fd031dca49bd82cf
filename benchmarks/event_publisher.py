"""Publish agent events to MQTT from a separate process, as fast as allowed or paced.

    python -m benchmarks.event_publisher '{"port": 1883, "count": 20000, "rate": 0}'

Events are valid, unique, and grouped into incidents (START, 8 UPDATEs, END), on
``streetsense/v1/bench/<agent>/events/<category>``; all are encoded before the clock
starts. ``rate`` 0 publishes as fast as paho's QoS 1 window allows. Prints a JSON
object with the wall-clock start and end of publishing and the count published.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from events import Event, Phase, Severity, Source, SourceKind, encode, new_id, topics

INCIDENT_LENGTH = 10
CATEGORY = "fight"


def make_events(count: int, agent: str = "bench-agent") -> list[tuple[str, bytes]]:
    """``count`` (topic, payload) pairs: incidents of START, UPDATEs and END."""
    messages = []
    incident = new_id()
    for index in range(count):
        position = index % INCIDENT_LENGTH
        if position == 0:
            incident = new_id()
        phase = (
            Phase.START
            if position == 0
            else Phase.END
            if position == INCIDENT_LENGTH - 1
            else Phase.UPDATE
        )
        now = datetime.now(UTC)
        event = Event(
            event_id=new_id(),
            incident_id=incident,
            phase=phase,
            site="bench",
            agent=agent,
            source=Source(kind=SourceKind.CAMERA, id=f"cam{index % 24}"),
            category=CATEGORY,
            severity=Severity.HIGH,
            confidence=0.9,
            summary="benchmark event",
            occurred_at=now,
            published_at=now,
        )
        messages.append((topics.events("bench", agent, CATEGORY), encode(event)))
    return messages


def publish(port: int, count: int, rate: float, max_inflight: int = 100) -> dict[str, float]:
    """Publish ``count`` events at ``rate``/s (0: unpaced) and wait for every PUBACK."""
    messages = make_events(count)
    acked = 0
    done = threading.Event()

    def on_publish(*_args: object) -> None:
        nonlocal acked
        acked += 1
        if acked >= count:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{time.monotonic_ns()}")
    client.max_inflight_messages_set(max_inflight)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    started = time.time()
    begin = time.monotonic()
    for index, (topic, payload) in enumerate(messages):
        if rate > 0:
            due = begin + index / rate
            delay = due - time.monotonic()
            if delay > 0.002:
                time.sleep(delay)
        client.publish(topic, payload, qos=1)
    published = time.time()
    if not done.wait(300):
        raise RuntimeError(f"only {acked} of {count} publishes were acknowledged")
    acknowledged = time.time()
    client.disconnect()
    client.loop_stop()
    return {"started": started, "published": published, "acked": acknowledged, "count": count}


def main() -> None:
    spec = json.loads(sys.argv[1])
    result = publish(int(spec["port"]), int(spec["count"]), float(spec.get("rate", 0.0)))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
