"""The whole agent through a broker crash: sensor events keep being accepted while the
broker is down, and every one reaches a subscriber afterwards, in order, once by id."""

from __future__ import annotations

from pathlib import Path

import httpx

from edge.agent import Agent
from tests.edge.test_agent_e2e import agent_config, wait_until
from tests.edge.test_outbox_mqtt import Subscriber
from tests.support.mosquitto import Mosquitto


def test_events_raised_during_a_broker_outage_are_delivered_after_it(tmp_path: Path) -> None:
    broker = Mosquitto(
        tmp_path / "mq", extra_config="autosave_on_changes true\nautosave_interval 1"
    )
    broker.start()
    agent = Agent(
        agent_config(
            tmp_path,
            broker.port,
            tmp_path / "absent" / "card.yaml",
            sensors={"mqtt": False},
            outbox={"path": str(tmp_path / "outbox.sqlite3"), "max_inflight": 5},
        )
    )
    subscriber = Subscriber(broker.port, "streetsense/v1/lab/e2e/events/#", "outage-sub")
    agent.start()
    try:
        assert agent.api is not None
        http = httpx.Client(base_url=f"http://127.0.0.1:{agent.api.port}", timeout=10)
        wait_until(lambda: agent.outbox.connected, 10, "broker connection")

        def press(n: int) -> None:
            response = http.post(f"/v1/sensors/button{n}", json={"quantity": "sos", "value": 1})
            assert response.status_code == 202

        for n in range(10):
            press(n)
        wait_until(lambda: len(subscriber.unique_ids()) == 10, 20, "events before the outage")
        broker.kill()
        wait_until(lambda: not agent.outbox.connected, 10, "the agent to notice")
        for n in range(10, 30):  # accepted and spooled while the broker is down
            press(n)
        wait_until(lambda: agent.outbox.backlog() == 20, 10, "spooled events")
        assert agent.health().broker_error
        assert agent.health().alive
        broker.start()
        wait_until(lambda: len(subscriber.unique_ids()) == 30, 30, "every event after the outage")
        sources = []
        for event in subscriber.events():
            if event.source.id not in sources:
                sources.append(event.source.id)
        assert sources == [f"button{n}" for n in range(30)]  # spool order
        assert len(subscriber.events()) - 30 <= 5  # duplicates bounded by the window
        wait_until(lambda: agent.outbox.backlog() == 0, 10, "spool drained")
        http.close()
    finally:
        agent.stop()
        subscriber.close()
        broker.kill()
