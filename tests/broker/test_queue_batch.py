"""Batched delivery: a run of due items is delivered in order and settled in one transaction.

Order, a failure in the middle of a run, and crashes mid-run against real peers
(pysiaalarm for DC-09, the XProtect data-source stand-in for Milestone generic
events): whatever the peer had not acknowledged, or whose outcome was not
committed yet, is delivered again after the restart, in order; nothing is lost.
On PostgreSQL a second instance takes over a crashed leader's output and goes
on from the first unrecorded item.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pysiaalarm.event import SIAEvent

from broker import audit
from broker.config import RetryPolicy
from broker.outputs.base import Outcome, OutputTransport
from broker.protocols.dc09.config import Dc09OutputConfig
from broker.protocols.dc09.transmitter import Dc09Transmitter
from broker.protocols.milestone.config import MilestoneGenericConfig
from broker.protocols.milestone.generic_transport import MilestoneGenericTransport
from broker.queue.sql import SqlDeliveryQueue
from broker.queue.worker import DeliveryWorker
from broker.storage import Database
from broker.storage.postgres import PostgresDatabase
from broker.storage.sqlite import SqliteDatabase
from events import Event, Source, SourceKind
from tests.broker.conftest import PG_DSN
from tests.broker.helpers import make_event
from tests.broker.protocols.dc09.peers import pysia_centre
from tests.broker.test_queue import POLICY, Clock, FakeOutput, enqueue, worker_for
from tests.support.milestone_receiver import GenericEventRule, GenericEventServer
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.timeout(120)

RULE = GenericEventRule("streetsense", "StreetSense")
FAST = RetryPolicy(base_s=0.05, cap_s=0.2, max_attempts=1000)


# --- the run, with a scripted output ----------------------------------------------------


async def test_a_run_is_delivered_in_order_and_recorded_in_one_transaction(
    database: Database,
) -> None:
    clock, queue = Clock(), SqlDeliveryQueue(database)
    events = [make_event() for _ in range(10)]
    enqueue(database, queue, "a", events, clock.now)
    output = FakeOutput("a")
    assert await worker_for(output, database, clock).step() == 0.0
    assert output.delivered == [event.event_id for event in events]
    assert queue.head("a") is None
    rows = [entry for entry in audit.page(database, limit=100)
            if entry.action == "delivery.delivered"]  # fmt: skip
    assert [row.subject for row in rows] == output.delivered
    assert len({row.at for row in rows}) == 1  # one transaction writes one timestamp
    assert audit.verify(database).ok


async def test_a_run_is_at_most_batch_size_long(database: Database) -> None:
    clock, queue = Clock(), SqlDeliveryQueue(database)
    events = [make_event() for _ in range(10)]
    enqueue(database, queue, "a", events, clock.now)
    output = FakeOutput("a")
    worker = DeliveryWorker(
        transport=output, queue=queue, database=database, policy=POLICY, clock=clock,
        batch_size=4,
    )  # fmt: skip
    await worker.step()
    assert output.delivered == [event.event_id for event in events[:4]]
    assert queue.stats(["a"])[0].depth == 6
    await worker.step()
    await worker.step()
    assert output.delivered == [event.event_id for event in events]


async def test_failure_in_a_run_settles_the_items_before_it_and_holds_those_after(
    database: Database,
) -> None:
    clock, queue = Clock(), SqlDeliveryQueue(database)
    events = [make_event() for _ in range(6)]
    enqueue(database, queue, "a", events, clock.now)
    script = [Outcome.DELIVERED, Outcome.REJECTED, Outcome.DELIVERED, Outcome.RETRY]
    output = FakeOutput("a", script)
    worker = worker_for(output, database, clock)
    ids = [event.event_id for event in events]

    assert await worker.step() == 0.0
    # 0 delivered, 1 dead-lettered (the run goes on), 2 delivered, 3 failed: 4 and 5 untouched
    assert output.attempts == ids[:4]
    assert output.delivered == [ids[0], ids[2]]
    assert [item.event_id for item in queue.dead_letters("a")] == [ids[1]]
    pending = queue.pending("a", 10)
    assert [item.event_id for item in pending] == ids[3:]
    assert pending[0].attempts == 1 and pending[0].next_attempt_at > clock.now
    assert [item.attempts for item in pending[1:]] == [0, 0]

    wait = await worker.step()  # the failed head waits for its backoff; nothing overtakes it
    assert wait > 0 and output.attempts == ids[:4]
    clock.now += wait
    assert await worker.step() == 0.0
    assert output.attempts == [*ids[:4], *ids[3:]]
    assert output.delivered == [ids[0], ids[2], ids[3], ids[4], ids[5]]
    assert queue.head("a") is None
    actions = [entry.action for entry in audit.page(database, limit=100)]
    assert actions.count("delivery.delivered") == 5
    assert actions.count("delivery.dead_lettered") == 1
    assert audit.verify(database).ok


# --- crashes mid-run against real peers --------------------------------------------------


def _open(kind: str, tmp_path: Path, schema: str | None) -> Database:
    if kind == "sqlite":
        return SqliteDatabase(tmp_path / "adapter.db")
    assert schema is not None
    return PostgresDatabase(PG_DSN, schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Database]:
    """Opens the same store again (what a restarted adapter does)."""
    kind = str(request.param)
    schema = request.getfixturevalue("pg_schema") if kind == "postgresql" else None
    return lambda: _open(kind, tmp_path, schema)


async def _until(condition: Callable[[], bool], limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {limit_s} s")
        await asyncio.sleep(0.01)


class CrashingServer(GenericEventServer):
    """The data-source stand-in, calling ``crash`` once it has analysed ``after`` records."""

    def __init__(self, port: int, after: int) -> None:
        super().__init__(port, rules=(RULE,))
        self.after = after
        self.crash: Callable[[], None] = lambda: None

    def analyse(self, raw: bytes) -> bytes:
        echo = super().analyse(raw)
        if len(self.records) == self.after:
            self.crash()  # before the echo goes out: the adapter never hears of this record
        return echo


def milestone(port: int, name: str = "xprotect", tag: str = "") -> MilestoneGenericTransport:
    config = MilestoneGenericConfig.model_validate(
        {"host": "127.0.0.1", "port": port, "template": f"StreetSense{tag} {{event_id}}"}
    )
    return MilestoneGenericTransport(config, name)


def _ids(server: GenericEventServer) -> list[str]:
    return [record.text.split()[-1] for record in server.records]


@asynccontextmanager
async def running(worker: DeliveryWorker) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(worker.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _worker(transport: OutputTransport, database: Database, batch_size: int) -> DeliveryWorker:
    return DeliveryWorker(
        transport=transport, queue=SqlDeliveryQueue(database), database=database, policy=FAST,
        poll_interval_s=0.02, batch_size=batch_size,
    )  # fmt: skip


async def test_milestone_crash_mid_run_redelivers_the_run_in_order(
    storage: Callable[[], Database],
) -> None:
    events = [make_event() for _ in range(12)]
    ids = [event.event_id for event in events]
    server = CrashingServer(free_port(), after=6)
    await server.start()
    first = storage()
    try:
        enqueue(first, SqlDeliveryQueue(first), "xprotect", events, time.time())
        transport = milestone(server.port)
        assert transport.config.batches_on_one_connection
        async with running(_worker(transport, first, 4)) as task:
            server.crash = task.cancel  # dies in its second run, records 5 and 6 at the peer
            await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()
        assert _ids(server) == ids[:6]
        # the first run (4 records) was recorded, nothing of the second: 5-12 still queued
        assert [item.event_id for item in SqlDeliveryQueue(first).pending("xprotect", 20)] == ids[
            4:
        ]
    finally:
        first.close()

    restarted = storage()
    try:
        queue = SqlDeliveryQueue(restarted)
        async with running(_worker(milestone(server.port), restarted, 4)):
            await _until(lambda: queue.head("xprotect") is None)
        assert _ids(server) == ids[:6] + ids[4:]  # the unrecorded run again, nothing lost
        assert all(record.matched == ("streetsense",) for record in server.records)
    finally:
        restarted.close()
        await server.stop()


async def test_dc09_crash_mid_run_redelivers_in_order_with_fresh_sequences(
    storage: Callable[[], Database],
) -> None:
    port = free_port()
    events = [
        make_event(source=Source(kind=SourceKind.CAMERA, id=f"cam{index}")) for index in range(8)
    ]
    config = Dc09OutputConfig.model_validate(
        {
            "receivers": [{"host": "127.0.0.1", "port": port}],
            "account": "1234",
            "supervision_interval_s": 0,
            "ack_timeout_s": 3.0,
            "zones": {f"cam{index}": index + 1 for index in range(8)},
        }
    )
    first = storage()
    async with pysia_centre(port, "1234") as centre:
        try:
            enqueue(first, SqlDeliveryQueue(first), "arc", events, time.time())
            output = Dc09Transmitter(config, "arc")
            async with running(_worker(output, first, 2)) as task:
                received = _Tripwire(3, task.cancel)  # dies in its second run
                centre.events = received  # pysiaalarm appends each alarm before it ACKs it
                await asyncio.gather(task, return_exceptions=True)
            await output.close()
            assert task.cancelled()
            assert [_zone(event) for event in centre.events] == [1, 2, 3]
        finally:
            first.close()

        restarted = storage()
        try:
            queue = SqlDeliveryQueue(restarted)
            output = Dc09Transmitter(config, "arc")
            async with running(_worker(output, restarted, 2)):
                await _until(lambda: queue.head("arc") is None)
            await output.close()
        finally:
            restarted.close()
    zones = [_zone(event) for event in centre.events]
    assert zones == [1, 2, 3, *range(3, 9)]  # the first run (zones 1, 2) was recorded
    # each process numbers its messages from 0001, one at a time, each waiting for its ACK
    sequences = [int(event.sequence) for event in centre.events]
    assert sequences == [1, 2, 3, *range(1, 7)]


def _zone(event: SIAEvent) -> int:
    """The zone of a SIA DCS alarm (``#acct|Nri1/QA007``: pysiaalarm's message is ``007``)."""
    return int(event.message or "-1")


class _Tripwire(list[SIAEvent]):
    """A list that calls ``trip`` when its ``count``-th item is appended."""

    def __init__(self, count: int, trip: Callable[[], object]) -> None:
        super().__init__()
        self.count = count
        self.trip = trip

    def append(self, item: SIAEvent) -> None:
        super().append(item)
        if len(self) == self.count:
            self.trip()


# --- PostgreSQL: two instances, one output --------------------------------------------


async def test_postgres_standby_takes_over_a_crashed_leader_in_order(pg_schema: str) -> None:
    events: list[Event] = [make_event() for _ in range(40)]
    ids = [event.event_id for event in events]
    server = CrashingServer(free_port(), after=7)
    await server.start()
    leader_db = PostgresDatabase(PG_DSN, pg_schema)
    standby_db = PostgresDatabase(PG_DSN, pg_schema)
    try:
        enqueue(leader_db, SqlDeliveryQueue(leader_db), "xprotect", events, time.time())
        assert leader_db.try_lead("xprotect")
        leader = _worker(milestone(server.port, tag="A"), leader_db, 5)
        standby = _worker(milestone(server.port, tag="B"), standby_db, 5)
        async with running(standby), running(leader) as task:

            def crash() -> None:
                task.cancel()
                leader_db.close()  # its connection, and with it the output's lock, goes away

            server.crash = crash
            queue = SqlDeliveryQueue(standby_db)
            await _until(lambda: queue.head("xprotect") is None)
        texts = [record.text for record in server.records]
        by = [text.split()[0] for text in texts]
        assert by[:7] == ["StreetSenseA"] * 7
        assert set(by[7:]) == {"StreetSenseB"}  # the standby never delivered while A led
        received = _ids(server)
        assert received[:7] == ids[:7]
        # A recorded its first run (5 items) and died in its second: B goes on from item 6
        assert received[7:] == ids[5:]
    finally:
        leader_db.close()
        standby_db.close()
        await server.stop()
