"""Take the output away: deliveries queue on disk (across an adapter restart) and
drain in order when it returns. Real mosquitto, real webhook output, real HTTP server."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.config import parse_adapter_config
from broker.main import Adapter
from tests.broker.helpers import Receiver, eventually, make_event, publish_as_agent, sample
from tests.support.mosquitto import Mosquitto


@pytest.mark.timeout(120)
async def test_output_outage_queues_on_disk_and_drains_in_order(
    tmp_path: Path, mosquitto: Mosquitto, receiver: Receiver
) -> None:
    config = parse_adapter_config(f"""
mqtt: {{port: {mosquitto.port}, client_id: outage-adapter, shared_group: outage}}
storage: {{kind: sqlite, path: {tmp_path / "adapter.db"}}}
outputs:
  arc: {{type: webhook, url: "{receiver.url}", timeout_s: 2}}
routes:
  - {{name: all, outputs: [arc]}}
api: {{enabled: false}}
retry: {{base_s: 0.05, cap_s: 0.3, max_attempts: 1000}}
poll_interval_s: 0.05
""")  # fmt: skip
    before = [make_event() for _ in range(5)]
    during = [make_event() for _ in range(20)]
    after = [make_event() for _ in range(5)]

    async with Adapter(config) as adapter:
        assert adapter._ingest is not None and await adapter._ingest.wait_connected(20)
        publish_as_agent(mosquitto.port, *before)
        await eventually(lambda: len(receiver.event_ids()) == 5, what="first deliveries")

        receiver.stop()  # the receiving centre goes away
        publish_as_agent(mosquitto.port, *during)
        await eventually(lambda: adapter.outputs()[0].depth == 20, what="20 deliveries queued")
        view = adapter.outputs()[0]
        assert not view.connected and view.last_error is not None
        assert view.oldest_age_s is not None and view.oldest_age_s >= 0
        assert sample("streetsense_adapter_queue_depth", {"output": "arc"}) == 20
        assert sample("streetsense_adapter_output_up", {"output": "arc"}) == 0

    # the adapter itself restarts while the output is still down: the queue is on disk
    async with Adapter(config) as adapter:
        assert adapter._ingest is not None and await adapter._ingest.wait_connected(20)
        assert adapter.outputs()[0].depth == 20
        publish_as_agent(mosquitto.port, *after)
        await eventually(lambda: adapter.outputs()[0].depth == 25, what="25 queued")

        receiver.start()  # it comes back on the same port
        expected = [event.event_id for event in before + during + after]
        await eventually(lambda: len(receiver.event_ids()) >= 30, limit_s=60, what="drain")
        assert receiver.event_ids() == expected  # all of them, once each, in order
        await eventually(lambda: adapter.outputs()[0].depth == 0, what="empty queue")
