"""The adapter SIGKILLed in the middle of a burst loses nothing and accepts nothing twice.

A real mosquitto, the adapter as its own process (SQLite, ``synchronous: full``),
an agent publishing a burst at QoS 1 as fast as the broker takes it. The adapter
is killed while it is accepting (batches committing, PUBACKs pending), three
times, each time restarted with the same client id: its broker session
redelivers whatever was not acknowledged. Every published event must end up accepted exactly once. An
event acknowledged before its commit would be missing after the kill.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from events import encode, topics
from tests.broker.helpers import make_event, wait_until
from tests.support.adapter_process import AdapterProcess
from tests.support.mosquitto import Mosquitto

TOTAL = 6000  # leaves thousands of events after the last kill, even at 6,000+ accepted per second
KILL_AT = (300, 1200, 2100)  # accepted events when the adapter is killed, each time

pytestmark = pytest.mark.slow


class CrashAdapter(AdapterProcess):
    """``streetsense broker run`` with one SQLite file and a journal output."""

    def __init__(self, workdir: Path, mosquitto: Mosquitto) -> None:
        self.database = workdir / "adapter.db"
        super().__init__("adapter", workdir, f"""
mqtt: {{port: {mosquitto.port}, client_id: crash-test, shared_group: crash}}
storage: {{kind: sqlite, path: "{self.database}"}}
outputs:
  journal: {{type: log, path: "{workdir / "journal.log"}"}}
routes: [{{name: all, outputs: [journal]}}]
api: {{port: {{api_port}}, operators: {{ops: crash-test-token}}}}
""")  # fmt: skip

    def query(self, sql: str) -> list[tuple[object, ...]]:
        """Read the adapter's database (WAL: readers do not block its writer)."""
        if not self.database.exists():
            return []
        with sqlite3.connect(self.database, timeout=10) as connection:
            return list(connection.execute(sql).fetchall())

    def accepted(self) -> int:
        rows = self.query("SELECT COUNT(*) FROM seen")
        return int(str(rows[0][0])) if rows else 0


@pytest.fixture
def adapter(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[CrashAdapter]:
    process = CrashAdapter(tmp_path, mosquitto)
    try:
        yield process
    finally:
        process.stop()


def publish_burst(port: int, payloads: list[tuple[str, bytes]], done: threading.Event) -> None:
    """QoS 1, up to 100 in flight, until the broker acknowledged every one."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in payloads]
        for info in infos:
            info.wait_for_publish(60)
        if all(info.is_published() for info in infos):
            done.set()
    finally:
        client.loop_stop()
        client.disconnect()


def test_killed_mid_burst_then_restarted_accepts_every_event_once(
    mosquitto: Mosquitto, adapter: CrashAdapter
) -> None:
    adapter.start()
    events = [make_event() for _ in range(TOTAL)]
    payloads = [(topics.events(e.site, e.agent, e.category), encode(e)) for e in events]
    published = threading.Event()
    publisher = threading.Thread(target=publish_burst, args=(mosquitto.port, payloads, published))
    publisher.start()
    killed_at = []
    try:
        for threshold in KILL_AT:
            wait_until(lambda n=threshold: adapter.accepted() >= n, timeout=60, what="accepting")
            adapter.kill()  # mid-batch: a commit in progress, PUBACKs pending
            killed_at.append(adapter.accepted())
            adapter.start()  # same client id: the broker session resumes
    finally:
        publisher.join(timeout=120)
    assert published.is_set(), "the broker did not acknowledge every publish"
    assert killed_at[-1] < TOTAL, f"killed at {killed_at}: the last kill came after the burst"

    with contextlib.suppress(AssertionError):  # a lost event shows in the assertions below
        wait_until(lambda: adapter.accepted() >= TOTAL, timeout=60, what="every event accepted")
    adapter.stop()

    seen = {str(row[0]) for row in adapter.query("SELECT event_id FROM seen")}
    missing = {e.event_id for e in events} - seen
    assert not missing, f"{len(missing)} acknowledged events lost (killed at {killed_at})"
    assert len(seen) == TOTAL
    accepted_rows = adapter.query(
        "SELECT COUNT(*), COUNT(DISTINCT subject) FROM audit WHERE action = 'event.accepted'"
    )
    assert accepted_rows == [(TOTAL, TOTAL)]  # each accepted once: the redelivered were deduped
