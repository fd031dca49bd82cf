"""Restart mosquitto while the adapter holds committed but unacknowledged events: it
reconnects, its session resumes, the broker redelivers them, dedupe drops them, and every
event reaches the receiver exactly once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from broker.config import parse_adapter_config
from broker.core import Acceptance
from broker.intake import EventIn
from broker.main import Adapter
from tests.broker.helpers import Receiver, eventually, make_event, publish_as_agent, sample
from tests.support.mosquitto import Mosquitto


@pytest.mark.timeout(120)
async def test_broker_restart_between_commit_and_ack(
    tmp_path: Path, mosquitto: Mosquitto, receiver: Receiver
) -> None:
    config = parse_adapter_config(f"""
mqtt: {{port: {mosquitto.port}, client_id: restart-adapter, shared_group: restart,
        reconnect_min_s: 0.2, reconnect_max_s: 1}}
storage: {{kind: sqlite, path: {tmp_path / "adapter.db"}}}
outputs: {{hook: {{type: webhook, url: "{receiver.url}"}}}}
routes: [{{name: all, outputs: [hook]}}]
api: {{enabled: false}}
poll_interval_s: 0.05
""")  # fmt: skip
    first = [make_event() for _ in range(100)]
    second = [make_event() for _ in range(50)]
    async with Adapter(config) as adapter:  # creates the persistent session
        assert adapter._ingest is not None and await adapter._ingest.wait_connected(20)
    publish_as_agent(mosquitto.port, *first)  # queued by the broker for the adapter's session

    duplicates_before = sample("streetsense_adapter_duplicates_total")
    accepted_before = sample("streetsense_adapter_events_in_total", {"category": "fight"})
    async with Adapter(config) as adapter:
        real_accept = adapter.core.accept

        def slow_accept(batch: Sequence[EventIn]) -> list[Acceptance]:
            result = real_accept(batch)  # committed ...
            time.sleep(1.0)  # ... but not yet acknowledged to the broker
            return result

        adapter.core.accept = slow_accept  # type: ignore[method-assign]
        await eventually(
            lambda: (
                sample("streetsense_adapter_events_in_total", {"category": "fight"})
                > accepted_before
            ),
            what="the first batch committed",
        )
        mosquitto.stop()  # saves its state, including what we have not acknowledged
        await eventually(lambda: not adapter.mqtt_connected, what="disconnect noticed")
        adapter.core.accept = real_accept  # type: ignore[method-assign]
        mosquitto.start()
        await eventually(lambda: adapter.mqtt_connected, what="reconnected")
        publish_as_agent(mosquitto.port, *second)
        expected = {event.event_id for event in first + second}
        await eventually(lambda: expected <= set(receiver.event_ids()), limit_s=60,
                         what="every event delivered")  # fmt: skip
    assert sample("streetsense_adapter_duplicates_total") > duplicates_before  # redelivered
    counts = Counter(receiver.event_ids())
    assert len(counts) == 150
    assert max(counts.values()) == 1
