"""End to end: an agent's incident over a real mosquitto reaches a CAP aggregator and
snmptrapd through the adapter; both peers taken away, the events wait in the durable
queue and drain when they return."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from broker.config import parse_adapter_config
from broker.main import Adapter
from broker.protocols.cap.model import MsgType, ResponseType
from events import Phase
from tests.broker.helpers import eventually, make_event, publish_as_agent
from tests.broker.protocols.test_cap_transport import CapAggregator
from tests.broker.protocols.test_snmp_transport import SnmpTrapd, udp_free_port
from tests.support.mosquitto import Mosquitto, free_port

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def aggregator() -> Iterator[CapAggregator]:
    server = CapAggregator(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def trapd(tmp_path: Path) -> Iterator[SnmpTrapd]:
    server = SnmpTrapd(tmp_path / "trapd", udp_free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def adapter(
    tmp_path: Path, mosquitto: Mosquitto, aggregator: CapAggregator, trapd: SnmpTrapd
) -> AsyncIterator[Adapter]:
    text = f"""
mqtt: {{port: {mosquitto.port}, client_id: cap-snmp-adapter, shared_group: capsnmp}}
storage: {{kind: sqlite, path: {tmp_path / "adapter.db"}}}
outputs:
  cap-hub:
    type: cap
    url: {aggregator.url}
    sender: streetsense@city.example
    timeout_s: 2
  nms:
    type: snmp
    host: 127.0.0.1
    port: {trapd.port}
    mode: inform
    timeout_s: 0.5
    retries: 0
routes:
  - {{name: all, outputs: [cap-hub, nms]}}
retry: {{base_s: 0.2, cap_s: 0.5, max_attempts: 200}}
api: {{port: 0}}
poll_interval_s: 0.05
"""
    async with Adapter(parse_adapter_config(text)) as running:
        assert running._ingest is not None and await running._ingest.wait_connected(20)
        yield running


async def test_an_incident_reaches_cap_and_snmp_in_order(
    mosquitto: Mosquitto, adapter: Adapter, aggregator: CapAggregator, trapd: SnmpTrapd
) -> None:
    incident = "incident0e2e0001"
    events = [
        make_event(incident_id=incident, phase=phase)
        for phase in (Phase.START, Phase.UPDATE, Phase.END)
    ]
    for event in events:  # one at a time, as an agent's incident unfolds
        await asyncio.to_thread(publish_as_agent, mosquitto.port, event)
        await eventually(lambda e=event: e.event_id in trapd.text(), what="the notification")  # type: ignore[misc]
        await eventually(
            lambda e=event: any(e.event_id in a.identifier for a in aggregator.alerts),  # type: ignore[misc]
            what="the CAP alert",
        )
    start, update, end = aggregator.alerts
    assert [a.msg_type for a in aggregator.alerts] == [
        MsgType.ALERT,
        MsgType.UPDATE,
        MsgType.UPDATE,
    ]
    assert update.references == (start.reference(),)
    assert end.infos[0].response_types == (ResponseType.ALL_CLEAR,)
    log = trapd.text()
    assert [log.count(f".1.3.6.1.4.1.32473.1.0.{n}") for n in (1, 2, 3)] == [1, 1, 1]


async def test_peers_away_events_queue_and_drain_when_back(
    mosquitto: Mosquitto, adapter: Adapter, aggregator: CapAggregator, trapd: SnmpTrapd
) -> None:
    transports = adapter.transports
    aggregator.stop()
    trapd.stop()
    events = [make_event() for _ in range(3)]
    await asyncio.to_thread(publish_as_agent, mosquitto.port, *events)
    await eventually(
        lambda: (
            not transports["cap-hub"].health().connected
            and not transports["nms"].health().connected
        ),
        what="both outputs reported down",
    )
    await asyncio.sleep(1.0)  # a few retry rounds while both are away
    assert aggregator.alerts == [] and trapd.notifications() == 0

    aggregator.start()
    trapd.start()
    await eventually(lambda: len(aggregator.alerts) == 3, what="CAP drained")
    await eventually(lambda: all(e.event_id in trapd.text() for e in events), what="SNMP drained")
    assert [a.identifier for a in aggregator.alerts] == [
        f"streetsense-{e.event_id}" for e in events
    ]
    assert transports["cap-hub"].health().connected and transports["nms"].health().connected
