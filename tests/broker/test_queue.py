"""Queue contract, run against SQLite and PostgreSQL alike: order, retries, dead letters.

The transport here is a scripted fake implementing OutputTransport (a unit
test of the core's delivery logic); the real webhook output is exercised in
test_outage.py against a real HTTP server.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable

import pytest

from broker import audit
from broker.config import RetryPolicy
from broker.outputs.base import DeliveryResult, Outcome, OutputHealth
from broker.queue.backoff import retry_delay
from broker.queue.base import ItemState
from broker.queue.sql import SqlDeliveryQueue
from broker.queue.worker import DeliveryWorker
from broker.storage import Database
from broker.storage.postgres import PostgresDatabase
from events import Event, encode
from tests.broker.conftest import PG_DSN
from tests.broker.helpers import make_event, sample


class FakeOutput:
    """Answers each attempt from a script (then delivers); records what it saw."""

    def __init__(self, name: str, script: Iterable[Outcome | Exception] = ()) -> None:
        self._name = name
        self._script = list(script)
        self.attempts: list[str] = []
        self.delivered: list[str] = []

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        pass

    async def deliver(self, event: Event) -> DeliveryResult:
        self.attempts.append(event.event_id)
        step = self._script.pop(0) if self._script else Outcome.DELIVERED
        if isinstance(step, Exception):
            raise step
        if step is Outcome.DELIVERED:
            self.delivered.append(event.event_id)
        return DeliveryResult(step, f"scripted {step.value}")

    def health(self) -> OutputHealth:
        return OutputHealth(connected=True)

    async def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


POLICY = RetryPolicy(base_s=2.0, cap_s=10.0, max_attempts=3)


def enqueue(database: Database, queue: SqlDeliveryQueue, output: str, events: list[Event],
            now: float) -> None:  # fmt: skip
    with database.transaction() as tx:
        for event in events:
            queue.enqueue(
                tx, output=output, event_id=event.event_id, payload=encode(event).decode(),
                published_at=event.published_at.timestamp(), now=now,
            )  # fmt: skip


def worker_for(output: FakeOutput, database: Database, clock: Clock) -> DeliveryWorker:
    return DeliveryWorker(
        transport=output, queue=SqlDeliveryQueue(database), database=database,
        policy=POLICY, clock=clock, rng=random.Random(7),
    )  # fmt: skip


async def drain(worker: DeliveryWorker, clock: Clock, steps: int = 50) -> None:
    """Step the worker, jumping the fake clock over every backoff, until idle."""
    for _ in range(steps):
        wait = await worker.step()
        if wait == worker._poll:  # idle: queue empty
            return
        clock.now += wait
    raise AssertionError("worker did not go idle")


async def test_fifo_per_output(database: Database) -> None:
    clock, queue = Clock(), SqlDeliveryQueue(database)
    first = [make_event() for _ in range(5)]
    other = [make_event()]
    enqueue(database, queue, "a", first[:3], clock.now)
    enqueue(database, queue, "b", other, clock.now)
    enqueue(database, queue, "a", first[3:], clock.now)
    output_a, output_b = FakeOutput("a"), FakeOutput("b")
    await drain(worker_for(output_a, database, clock), clock)
    assert output_a.delivered == [event.event_id for event in first]
    assert output_b.delivered == []
    await drain(worker_for(output_b, database, clock), clock)
    assert output_b.delivered == [other[0].event_id]
    assert [s.depth for s in queue.stats(["a", "b"])] == [0, 0]


async def test_failing_head_blocks_its_output_and_backs_off(database: Database) -> None:
    clock, queue = Clock(), SqlDeliveryQueue(database)
    events = [make_event() for _ in range(3)]
    enqueue(database, queue, "a", events, clock.now)
    output = FakeOutput("a", [Outcome.RETRY, RuntimeError("transport bug")])
    worker = worker_for(output, database, clock)
    retries_before = sample("streetsense_adapter_deliveries_total",
                            {"output": "a", "result": "retry"})  # fmt: skip

    assert await worker.step() == 0.0  # attempt 1 fails
    head = queue.head("a")
    assert head is not None and head.event_id == events[0].event_id and head.attempts == 1
    first_delay = head.next_attempt_at - clock.now
    assert POLICY.base_s * 0.5 <= first_delay <= POLICY.base_s
    # not due yet: the worker waits and delivers nothing behind the head
    assert await worker.step() == pytest.approx(first_delay)
    assert output.attempts == [events[0].event_id]

    clock.now += first_delay
    assert await worker.step() == 0.0  # attempt 2 raises: counted as a retry
    head = queue.head("a")
    assert head is not None and head.attempts == 2
    second_delay = head.next_attempt_at - clock.now
    assert POLICY.base_s <= second_delay <= 2 * POLICY.base_s
    assert head.last_error is not None and "transport bug" in head.last_error

    await drain(worker, clock)
    assert output.delivered == [event.event_id for event in events]
    assert output.attempts[:3] == [events[0].event_id] * 3
    assert sample("streetsense_adapter_deliveries_total",
                  {"output": "a", "result": "retry"}) == retries_before + 2  # fmt: skip


async def test_dead_letter_after_max_attempts_and_requeue_to_the_tail(database: Database) -> None:
    clock, queue = Clock(), SqlDeliveryQueue(database)
    events = [make_event() for _ in range(3)]
    enqueue(database, queue, "a", events, clock.now)
    output = FakeOutput("a", [Outcome.RETRY] * POLICY.max_attempts)
    dead_before = sample("streetsense_adapter_dead_letters_total", {"output": "a"})
    await drain(worker_for(output, database, clock), clock)

    assert output.attempts[: POLICY.max_attempts] == [events[0].event_id] * POLICY.max_attempts
    assert output.delivered == [events[1].event_id, events[2].event_id]
    (dead,) = queue.dead_letters("a")
    assert dead.event_id == events[0].event_id
    assert dead.state is ItemState.DEAD and dead.attempts == POLICY.max_attempts
    assert sample("streetsense_adapter_dead_letters_total", {"output": "a"}) == dead_before + 1
    assert queue.stats(["a"])[0].dead == 1

    # a newer event is waiting; the requeued dead letter joins the tail after it
    later = make_event()
    enqueue(database, queue, "a", [later], clock.now)
    with database.transaction() as tx:
        assert [item.event_id for item in queue.requeue(tx, [dead.seq], clock.now)] == [
            dead.event_id
        ]
        assert queue.requeue(tx, [dead.seq], clock.now) == []  # no longer dead
    await drain(worker_for(output, database, clock), clock)
    assert output.delivered[-2:] == [later.event_id, events[0].event_id]
    assert queue.dead_letters("a") == []

    # the audit log has a row per delivery and per dead letter, and the chain holds
    actions = [entry.action for entry in audit.page(database, limit=100)]
    assert actions.count("delivery.dead_lettered") == 1
    assert actions.count("delivery.delivered") == 4
    assert audit.verify(database).ok


async def test_rejected_is_dead_lettered_at_once(database: Database) -> None:
    clock, queue = Clock(), SqlDeliveryQueue(database)
    events = [make_event(), make_event()]
    enqueue(database, queue, "a", events, clock.now)
    output = FakeOutput("a", [Outcome.REJECTED])
    await drain(worker_for(output, database, clock), clock)
    assert output.attempts == [events[0].event_id, events[1].event_id]
    assert [item.event_id for item in queue.dead_letters()] == [events[0].event_id]


async def test_stats_report_depth_and_oldest(database: Database) -> None:
    clock, queue = Clock(), SqlDeliveryQueue(database)
    enqueue(database, queue, "a", [make_event()], clock.now - 30)
    enqueue(database, queue, "a", [make_event()], clock.now)
    (stats,) = queue.stats(["a"])
    assert stats.depth == 2
    assert stats.oldest_enqueued_at == pytest.approx(clock.now - 30)
    assert queue.stats(["nothing"])[0].depth == 0


@pytest.mark.parametrize("attempts", range(1, 12))
def test_backoff_is_jittered_and_capped(attempts: int) -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=30.0, max_attempts=20)
    ceiling = min(30.0, 2.0 ** (attempts - 1))
    delays = {retry_delay(policy, attempts, random.Random(seed)) for seed in range(20)}
    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert len(delays) > 1  # jittered


def test_only_one_postgres_instance_leads_an_output(pg_schema: str) -> None:
    first = PostgresDatabase(PG_DSN, pg_schema)
    second = PostgresDatabase(PG_DSN, pg_schema)
    try:
        assert first.try_lead("arc")
        assert first.try_lead("arc")  # keeps it
        assert not second.try_lead("arc")
        assert second.try_lead("other")  # per output
        first.close()  # e.g. the process died: its connection and lock go away
        # The server ends the closed session asynchronously: the lock is free within moments.
        deadline = time.monotonic() + 10
        while not second.try_lead("arc") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert second.try_lead("arc")
        assert second.leads("arc")
    finally:
        first.close()
        second.close()


class SlowOutput(FakeOutput):
    def __init__(self, name: str, delay: float) -> None:
        super().__init__(name)
        self.delay = delay
        self.started = asyncio.Event()

    async def deliver(self, event: Event) -> DeliveryResult:
        self.started.set()
        await asyncio.sleep(self.delay)
        return await super().deliver(event)


async def test_stop_lets_the_delivery_in_progress_finish(database: Database) -> None:
    clock, queue = Clock(), SqlDeliveryQueue(database)
    event = make_event()
    enqueue(database, queue, "a", [event], clock.now)
    output = SlowOutput("a", delay=0.5)
    worker = worker_for(output, database, clock)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(output.started.wait(), 10)
    worker.request_stop()
    await asyncio.wait_for(task, 10)
    assert output.delivered == [event.event_id]
    assert queue.head("a") is None  # settled, so a restart will not repeat it


async def test_a_hanging_transport_counts_as_a_retry(database: Database) -> None:
    clock, queue = Clock(), SqlDeliveryQueue(database)
    enqueue(database, queue, "a", [make_event()], clock.now)
    worker = DeliveryWorker(
        transport=SlowOutput("a", delay=30), queue=queue, database=database, policy=POLICY,
        clock=clock, attempt_timeout_s=0.2,
    )  # fmt: skip
    assert await worker.step() == 0.0
    head = queue.head("a")
    assert head is not None and head.attempts == 1
    assert head.last_error == "no answer within 0.2s"
