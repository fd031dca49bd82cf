"""The ingest consumer: acks only after the accept commits, retries storage outages,
isolates an event that trips a bug. (The MQTT side is covered against a real broker in
test_adapter_mqtt.py; here the accept function is scripted.)"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from broker.config import MqttConfig
from broker.errors import StorageError
from broker.ingest import MqttIngest, _Incoming
from broker.intake import EventIn
from events import decode_event, encode, topics
from tests.broker.helpers import make_event, sample


class ScriptedAccept:
    def __init__(self, poison: str, storage_failures: int) -> None:
        self.poison = poison
        self.storage_failures = storage_failures
        self.accepted: list[str] = []

    async def __call__(self, items: Sequence[EventIn]) -> None:
        if self.storage_failures:
            self.storage_failures -= 1
            raise StorageError("database is down")
        if any(item.event.event_id == self.poison for item in items):
            raise RuntimeError("a bug")
        self.accepted.extend(item.event.event_id for item in items)


async def test_acks_follow_the_commit_and_a_poison_event_is_isolated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = [make_event() for _ in range(4)]
    accept = ScriptedAccept(poison=events[1].event_id, storage_failures=2)
    ingest = MqttIngest(MqttConfig(client_id="t", reconnect_min_s=0.01), accept)
    acked: list[int] = []

    def record_ack(mid: int, qos: int) -> int:
        assert set(accept.accepted) | {accept.poison} >= {e.event_id for e in events}, (
            "acked before the accept committed"
        )
        acked.append(mid)
        return 0

    monkeypatch.setattr(ingest._client, "ack", record_ack)
    monkeypatch.setattr("broker.ingest.asyncio.sleep", _no_sleep)
    topic = topics.events("s1", "a1", "fight")
    batch = [
        _Incoming(topic, encode(e), mid, 1, ingest._generation) for mid, e in enumerate(events, 1)
    ]
    batch.append(_Incoming(topic, b"garbage", 99, 1, ingest._generation))
    batch.append(_Incoming(topic, encode(make_event()), 100, 1, ingest._generation - 1))
    internal_before = sample(
        "streetsense_adapter_rejected_total", {"source": "mqtt", "reason": "internal_error"}
    )
    await ingest._process(batch)
    late = decode_event(batch[-1].payload).event_id  # accepted; acked when redelivered
    healthy = [e.event_id for e in events if e.event_id != accept.poison]
    assert accept.storage_failures == 0  # the outage was retried through
    assert sorted(accept.accepted) == sorted([*healthy, late])
    assert (
        sample("streetsense_adapter_rejected_total", {"source": "mqtt", "reason": "internal_error"})
        == internal_before + 1
    )
    # in arrival order; the message from an earlier connection is not acked on this one
    assert acked == [1, 2, 3, 4, 99]


async def _no_sleep(delay: float) -> None:
    return None
