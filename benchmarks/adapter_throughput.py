"""Adapter throughput: MQTT -> validation, dedupe, routing -> durable output queues -> peers.

Everything runs on this box against one mosquitto (the shipped queue limits):

1. **Ceilings**, same run: paho-mqtt's own QoS 1 publish -> subscribe rate
   (``benchmarks.mqtt_ceiling``); the DC-09 round trip (one frame, wait for its ACK,
   next frame) from the project's codec to a pysiaalarm receiving centre over one
   TCP connection; the Milestone generic-event round trip (connect, send one record,
   read the statistics echo, close) to the XProtect data-source stand-in.
2. **Into the durable queues**: a separate publisher process sends N valid events
   (incidents of START, UPDATEs, END) at QoS 1 as fast as paho allows; the in-process
   :class:`broker.main.Adapter` (SQLite, ``synchronous: full``) routes each to two
   outputs. The outputs' peers are down during this phase, so the queues only fill.
   Counted end to end: events accepted == N, each output's queue depth grew by N,
   nothing rejected or duplicated.
3. **Offered rate 100..max**: the same with paced publishing, for the scaling curve.
4. **Out to the peers**: a fresh adapter with both peers up drains M events; each
   output's delivered rate is reported against its protocol ceiling, and the peers'
   own counts are checked.

    python -m benchmarks.adapter_throughput [--quick]
    python -m benchmarks.adapter_throughput --ingest-only [--runs 5] [--events 10000]

``--ingest-only`` measures just phase 2 against the paho ceiling, the two alternating
run by run on the same broker, and prints the table without writing a report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from prometheus_client.metrics import MetricWrapperBase
from psycopg import sql

from benchmarks.harness import BoxLoad, Measurement, plot, table, write_report
from benchmarks.mqtt_ceiling import paho_rate
from broker import metrics
from broker.config import AdapterConfig
from broker.main import Adapter
from broker.protocols.dc09 import codec
from broker.protocols.dc09.config import Dc09OutputConfig
from broker.protocols.dc09.link import TcpLink
from broker.protocols.dc09.outbound import Outbound
from broker.protocols.milestone.config import MilestoneGenericConfig
from broker.protocols.milestone.generic_transport import MilestoneGenericTransport
from events import Event, Phase, Severity, Source, SourceKind, new_id
from tests.broker.protocols.dc09.peers import pysia_centre
from tests.support.milestone_receiver import GenericEventRule, GenericEventServer
from tests.support.mosquitto import Mosquitto, free_port

ACCOUNT = "1234"
RULE = GenericEventRule("streetsense", "StreetSense")
ROOT = Path(__file__).resolve().parent.parent


def _sample(metric: MetricWrapperBase, labels: dict[str, str] | None = None) -> float:
    """The sum of ``metric``'s samples matching ``labels`` (collects this metric only)."""
    total = 0.0
    for family in metric.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and all(
                sample.labels.get(k) == v for k, v in (labels or {}).items()
            ):
                total += sample.value
    return total


def accepted() -> float:
    """Events the adapter accepted so far (all categories)."""
    return _sample(metrics.EVENTS_IN)


def delivered(output: str) -> float:
    """Deliveries an output completed so far."""
    return _sample(metrics.DELIVERIES, {"output": output, "result": "delivered"})


def _event(index: int) -> Event:
    now = datetime.now(UTC)
    return Event(
        event_id=new_id(),
        incident_id=new_id(),
        phase=Phase.START,
        site="bench",
        agent="bench-agent",
        source=Source(kind=SourceKind.CAMERA, id=f"cam{index % 24}"),
        category="fight",
        severity=Severity.HIGH,
        confidence=0.9,
        summary="benchmark event",
        occurred_at=now,
        published_at=now,
    )


def adapter_config(
    tmp: Path,
    mqtt_port: int,
    dc09_port: int,
    milestone_port: int,
    name: str,
    storage: dict[str, str] | None = None,
) -> AdapterConfig:
    """Two outputs (DC-09, Milestone generic) behind one catch-all route.

    ``storage`` overrides the default SQLite file ``<tmp>/<name>.db``.
    """
    return AdapterConfig.model_validate(
        adapter_settings(tmp, mqtt_port, dc09_port, milestone_port, name, storage)
    )


def adapter_settings(
    tmp: Path,
    mqtt_port: int,
    dc09_port: int,
    milestone_port: int,
    name: str,
    storage: dict[str, str] | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    """The raw settings of :func:`adapter_config` (``group``: the shared subscription)."""
    return {
        "mqtt": {
            "host": "127.0.0.1",
            "port": mqtt_port,
            "client_id": f"bench-{name}",
            # an earlier instance's session gets no share
            "shared_group": group or f"bench-{name}",
            "session_expiry_s": 0,
        },
        "storage": storage or {"kind": "sqlite", "path": str(tmp / f"{name}.db")},
        "api": {"enabled": False},
        "retry": {"base_s": 0.2, "cap_s": 1.0, "max_attempts": 100000},
        "poll_interval_s": 0.05,
        "outputs": {
            "arc": {
                "type": "dc09",
                "receivers": [{"host": "127.0.0.1", "port": dc09_port}],
                "account": ACCOUNT,
                "send_updates": True,
                "supervision_interval_s": 0,
                "ack_timeout_s": 2.0,
            },
            "xprotect": {
                "type": "milestone_generic",
                "host": "127.0.0.1",
                "port": milestone_port,
            },
        },
        "routes": [{"name": "all", "outputs": ["arc", "xprotect"]}],
    }


# --- protocol ceilings ------------------------------------------------------------------


async def dc09_round_trips(port: int, seconds: float) -> float:
    """Frames/s: encode, send, wait for the ACK, over one TCP connection."""
    config = Dc09OutputConfig.model_validate(
        {"receivers": [{"host": "127.0.0.1", "port": port}], "account": ACCOUNT}
    )
    outbound = Outbound.from_config(config)
    link = TcpLink("127.0.0.1", port, 5.0)
    count, sequence = 0, 1
    deadline = time.monotonic() + seconds
    start = time.monotonic()
    try:
        while time.monotonic() < deadline:
            message = outbound.event_message(_event(count), sequence, datetime.now(UTC))
            await link.send(codec.encode(message))
            answer = codec.decode(await link.receive())
            if answer.token is not codec.Token.ACK:
                raise RuntimeError(f"the receiver answered {answer.token}")
            count += 1
            sequence = sequence % 9999 + 1
    finally:
        await link.close()
    return count / (time.monotonic() - start)


async def milestone_round_trips(port: int, seconds: float) -> float:
    """Records/s: connect, send one record, read the statistics echo, close."""
    config = MilestoneGenericConfig.model_validate({"host": "127.0.0.1", "port": port})
    render = MilestoneGenericTransport(config, "ceiling").render
    count = 0
    deadline = time.monotonic() + seconds
    start = time.monotonic()
    while time.monotonic() < deadline:
        record = render(_event(count))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(record.payload)
        await writer.drain()
        await reader.readuntil(b"\r\n")
        writer.close()
        await writer.wait_closed()
        count += 1
    return count / (time.monotonic() - start)


async def milestone_kept_open(port: int, seconds: float) -> float:
    """Records/s over one kept-open connection: send a record, read its echo, next."""
    config = MilestoneGenericConfig.model_validate({"host": "127.0.0.1", "port": port})
    render = MilestoneGenericTransport(config, "ceiling").render
    count = 0
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    deadline = time.monotonic() + seconds
    start = time.monotonic()
    try:
        while time.monotonic() < deadline:
            writer.write(render(_event(count)).payload)
            await writer.drain()
            await reader.readuntil(b"\r\n")
            count += 1
    finally:
        writer.close()
        await writer.wait_closed()
    return count / (time.monotonic() - start)


# --- publishing -------------------------------------------------------------------------


async def publish(port: int, count: int, rate: float) -> dict[str, float]:
    """Run the publisher process; returns its start/published/acked times."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.event_publisher",
        json.dumps({"port": port, "count": count, "rate": rate}),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"publisher failed: {err.decode()[-2000:]}")
    result: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def until(condition: Callable[[], bool], limit_s: float, what: str) -> float:
    """Poll every 5 ms; the wall-clock time the condition became true."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {limit_s:.0f} s waiting for {what}")
        await asyncio.sleep(0.005)
    return time.time()


async def ingest_once(adapter: Adapter, port: int, count: int, rate: float) -> tuple[float, float]:
    """Publish ``count`` events; (accepted events/s, seconds from last publish to accepted)."""
    target = accepted() + count
    depths_before = _depths(adapter)
    task = asyncio.create_task(publish(port, count, rate))
    done_at = await until(lambda: accepted() >= target, 120 + count / 500, "events accepted")
    times = await task
    await asyncio.sleep(0.2)
    if accepted() != target:
        raise RuntimeError(f"accepted {accepted() - target + count:.0f} of {count} events")
    grown = {name: depth - depths_before[name] for name, depth in _depths(adapter).items()}
    if any(value != count for value in grown.values()):
        raise RuntimeError(f"queues grew by {grown}, expected {count} each: events lost")
    return count / (done_at - times["started"]), max(0.0, done_at - times["published"])


def _depths(adapter: Adapter) -> dict[str, int]:
    stats = adapter.core.queue.stats(list(adapter.transports))
    return {item.output: item.depth for item in stats}


# --- main ---------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> list[str]:
    runs = 1 if args.quick else 3
    events = 3000 if args.quick else 20000
    drain = 200 if args.quick else 1000
    ceiling_s = 2.0 if args.quick else 5.0
    rates = [100, 300, 1000, 3000, 6000, 0]
    rate_seconds = 2.0 if args.quick else 4.0
    dc09_port, milestone_port = free_port(), free_port()
    paho = Measurement("paho QoS 1 publish -> subscribe (ceiling)", "events/s")
    ingest = Measurement("adapter: MQTT -> durable queues (2 outputs)", "events/s")
    dc09_ceiling = Measurement("DC-09 round trip, 1 TCP connection (ceiling)", "frames/s")
    milestone_per_record = Measurement(
        "Milestone generic round trip, one connection per record", "records/s"
    )
    milestone_ceiling = Measurement(
        "Milestone generic round trip, one kept-open connection (ceiling)", "records/s"
    )
    dc09_out = Measurement("adapter -> DC-09 receiver (1 connection)", "events/s")
    milestone_out = Measurement("adapter -> Milestone generic event", "events/s")
    load = BoxLoad()
    offered: list[float] = []
    achieved: list[float] = []
    lags: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-adapter-") as raw_tmp:
        tmp = Path(raw_tmp)
        broker = Mosquitto(tmp / "mqtt")
        broker.start()
        try:
            for _ in range(runs):
                paho.samples.append(await asyncio.to_thread(paho_rate, broker.port, events // 2, 1))
            milestone = GenericEventServer(milestone_port, rules=(RULE,))
            async with pysia_centre(dc09_port, ACCOUNT):
                await milestone.start()
                try:
                    for _ in range(runs):
                        dc09_ceiling.samples.append(await dc09_round_trips(dc09_port, ceiling_s))
                        milestone_per_record.samples.append(
                            await milestone_round_trips(milestone_port, ceiling_s)
                        )
                        milestone_ceiling.samples.append(
                            await milestone_kept_open(milestone_port, ceiling_s)
                        )
                finally:
                    await milestone.stop()
            # phase 2 and 3: peers down, queues fill
            config = adapter_config(tmp, broker.port, dc09_port, milestone_port, "ingest")
            async with Adapter(config) as adapter:
                await until(lambda: adapter.mqtt_connected, 30, "adapter connected")
                await ingest_once(adapter, broker.port, 200, 0)  # warm-up
                for _ in range(runs):
                    rate, _lag = await ingest_once(adapter, broker.port, events, 0)
                    ingest.samples.append(rate)
                for rate in rates:
                    count = int(rate * rate_seconds) if rate else events // 2
                    got, lag = await ingest_once(adapter, broker.port, count, rate)
                    offered.append(float(rate) if rate else got)
                    achieved.append(got)
                    lags.append(lag)
            # phase 4: a fresh adapter per run; queues filled with the peers down, then drained
            counts = {"dc09": 0, "milestone": 0}
            for index in range(runs):
                config = adapter_config(
                    tmp, broker.port, dc09_port, milestone_port, f"drain{index}"
                )
                dc09_rate, milestone_rate = await drain_once(
                    config, broker.port, drain, lambda: peers_up(dc09_port, milestone_port, counts)
                )
                dc09_out.samples.append(dc09_rate)
                milestone_out.samples.append(milestone_rate)
            received = counts["dc09"], counts["milestone"]
        finally:
            broker.kill()
    expected = drain * runs
    image = plot(
        "Adapter scaling",
        "offered events/s",
        "events/s accepted into durable queues",
        {
            "accepted": (offered, achieved),
            "offered": (offered, offered),
            "paho QoS 1 ceiling": (offered, [paho.median] * len(offered)),
        },
    )
    curve = ["| offered events/s | accepted events/s | last publish -> all queued, s |",
             "|---:|---:|---:|"]  # fmt: skip
    for rate, got, lag in zip(offered, achieved, lags, strict=True):
        curve.append(f"| {rate:.0f} | {got:.0f} | {lag:.2f} |")
    return [
        "One mosquitto (tests/support/mosquitto.py limits), adapter in-process with SQLite "
        "`synchronous: full`, publisher in its own process; every run counted end to end "
        "(accepted == published, each output queue grew by exactly the count). " + load.sentence(),
        "## Into the durable queues\n\n"
        + table("events/s", [paho, ingest], paho, "of paho QoS 1")
        + f"\n\nTarget >= 5,000 events/s: **{ingest.median:.0f}**.",
        "## Offered rate -> accepted rate\n\n" + "\n".join(curve) + f"\n\n![scaling]({image.name})",
        "## Out to the peers\n\n"
        + table("DC-09", [dc09_ceiling, dc09_out], dc09_ceiling, "of ceiling")
        + "\n\n"
        + table(
            "Milestone",
            [milestone_ceiling, milestone_per_record, milestone_out],
            milestone_ceiling,
            "of ceiling",
        )
        + f"\n\nPeers' own counts: pysiaalarm accepted {received[0]}, the generic-event data "
        f"source recorded {received[1]} (expected {expected} each; the ceiling runs talked to "
        "different peer instances). Each run fills both queues with the peers down, brings "
        "them up and times first to last delivery; both outputs drain at once on the "
        "adapter's one event loop, which also runs both peers. DC-09 uses one TCP connection "
        "and waits for each ACK (as the standard requires); the Milestone output sends a run "
        "of records over one connection, one record after the previous echo.",
    ]


@asynccontextmanager
async def peers_up(
    dc09_port: int, milestone_port: int, counts: dict[str, int]
) -> AsyncIterator[None]:
    """A pysiaalarm receiving centre and a generic-event data source; add their counts."""
    milestone = GenericEventServer(milestone_port, rules=(RULE,))
    async with pysia_centre(dc09_port, ACCOUNT) as centre:
        await milestone.start()
        try:
            yield
        finally:
            await milestone.stop()
            counts["dc09"] += len(centre.events)
            counts["milestone"] += len(milestone.records)


async def drain_once(
    config: AdapterConfig,
    port: int,
    count: int,
    peers: Callable[[], AbstractAsyncContextManager[None]],
) -> tuple[float, float]:
    """Fill both queues with the peers down, then bring them up and time the drain.

    Each output's rate is ``(count - 1) / (last delivery - first delivery)``, so
    retry backoff before the peers came up and ingest speed do not enter it.
    """
    async with Adapter(config) as adapter:
        await until(lambda: adapter.mqtt_connected, 30, "adapter connected")
        base = {name: delivered(name) for name in ("arc", "xprotect")}
        target = accepted() + count
        await publish(port, count, 0)
        await until(lambda: accepted() >= target, 60 + count / 500, "events queued")
        first: dict[str, float] = {}
        last: dict[str, float] = {}

        def progress() -> bool:
            now = time.monotonic()
            for name, start in base.items():
                done = delivered(name) - start
                if done >= 1 and name not in first:
                    first[name] = now
                if done >= count and name not in last:
                    last[name] = now
            return len(last) == len(base)

        async with peers():
            await until(progress, 60 + count / 5, "deliveries")
    dc09, milestone = ((count - 1) / max(1e-9, last[n] - first[n]) for n in ("arc", "xprotect"))
    return dc09, milestone


def paho_v5_manual_rate(port: int, messages: int) -> float:
    """:func:`paho_rate` at QoS 1 with the adapter's kind of subscriber."""
    return paho_rate(port, messages, 1, adapter_like=True)


async def ingest_only(runs: int, events: int) -> str:
    """Phase 2 alone: paho ceilings and adapter ingest alternating, run by run."""
    paho = Measurement("paho QoS 1 publish -> subscribe (ceiling)", "events/s")
    paho_v5 = Measurement("paho QoS 1, v5 shared subscription, manual PUBACK", "events/s")
    ingest = Measurement("adapter: MQTT -> durable queues (2 outputs)", "events/s")
    with tempfile.TemporaryDirectory(prefix="bench-adapter-") as raw_tmp:
        tmp = Path(raw_tmp)
        broker = Mosquitto(tmp / "mqtt")
        broker.start()
        try:
            config = adapter_config(tmp, broker.port, free_port(), free_port(), "ingest")
            async with Adapter(config) as adapter:
                await until(lambda: adapter.mqtt_connected, 30, "adapter connected")
                await ingest_once(adapter, broker.port, 200, 0)  # warm-up
                for _ in range(runs):
                    paho.samples.append(await asyncio.to_thread(paho_rate, broker.port, events, 1))
                    paho_v5.samples.append(
                        await asyncio.to_thread(paho_v5_manual_rate, broker.port, events)
                    )
                    rate, _lag = await ingest_once(adapter, broker.port, events, 0)
                    ingest.samples.append(rate)
        finally:
            broker.kill()
    return (
        table("events/s", [paho, paho_v5, ingest], paho, "of paho QoS 1")
        + "\n\nsamples: "
        + ", ".join(
            f"paho {p:.0f} / adapter {a:.0f}"
            for p, a in zip(paho.samples, ingest.samples, strict=True)
        )
    )


class Instances:
    """``count`` adapter processes (``streetsense broker run``) in one shared-subscription group.

    They share one PostgreSQL schema (dedupe, queues, alerts, audit), as several
    instances must; accepted events are counted in its ``deliveries`` table.
    """

    def __init__(self, tmp: Path, mqtt_port: int, count: int, dsn: str) -> None:
        self.tmp = tmp
        self.mqtt_port = mqtt_port
        self.count = count
        self.dsn = dsn
        self.schema = f"bench_{new_id()[:12]}"
        self.ports = [free_port() for _ in range(count)]
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        """Start every instance and wait until each is ready (MQTT and storage up)."""
        storage = {"kind": "postgresql", "dsn": self.dsn, "schema": self.schema}
        dead = free_port()  # the peers are down: queues only fill
        for index, port in enumerate(self.ports):
            settings = adapter_settings(
                self.tmp, self.mqtt_port, dead, dead, f"pg{index}", storage, group="bench-pg"
            )
            settings["api"] = {"port": port, "operators": {"bench": "bench-token-0123"}}
            path = self.tmp / f"pg{index}.yaml"
            path.write_text(json.dumps(settings), encoding="utf-8")  # JSON is YAML
            log = (self.tmp / f"pg{index}.log").open("ab")
            self.processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "streetsense.cli",
                        "--log-level",
                        "ERROR",
                        "broker",
                        "run",
                        "--config",
                        str(path),
                    ],
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 60
        for port, process in zip(self.ports, self.processes, strict=True):
            while not _ready(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"adapter instance on API port {port} did not start")
                time.sleep(0.1)

    def depth(self) -> int:
        """Deliveries queued in the shared schema (both outputs)."""
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            row = connection.execute(
                sql.SQL("SELECT COUNT(*) FROM {}.deliveries").format(sql.Identifier(self.schema))
            ).fetchone()
        return int(row[0]) if row else 0

    def stop(self) -> None:
        """Stop the instances and drop their schema."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema))
            )


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def instances_once(instances: Instances, port: int, count: int) -> float:
    """Publish ``count`` events to the instances; accepted events/s (2 outputs each)."""
    target = await asyncio.to_thread(instances.depth) + 2 * count
    task = asyncio.create_task(publish(port, count, 0))
    deadline = time.monotonic() + 120 + count / 500
    while (depth := await asyncio.to_thread(instances.depth)) < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out: {depth} of {target} deliveries queued")
        await asyncio.sleep(0.01)
    done_at = time.time()
    times = await task
    await asyncio.sleep(0.2)
    depth = await asyncio.to_thread(instances.depth)
    if depth != target:
        raise RuntimeError(f"{depth} deliveries queued, expected {target}: lost or duplicated")
    return count / (done_at - times["started"])


async def instances_only(runs: int, events: int, counts: list[int], dsn: str) -> str:
    """N adapter processes on one PostgreSQL vs the paho ceiling, alternating run by run."""
    paho = Measurement("paho QoS 1 publish -> subscribe (ceiling)", "events/s")
    rows = {n: Measurement(f"{n} adapter process(es), PostgreSQL", "events/s") for n in counts}
    with tempfile.TemporaryDirectory(prefix="bench-adapter-") as raw_tmp:
        tmp = Path(raw_tmp)
        broker = Mosquitto(tmp / "mqtt")
        broker.start()
        try:
            for n in counts:
                instances = Instances(tmp / f"n{n}", broker.port, n, dsn)
                instances.tmp.mkdir()
                try:
                    await asyncio.to_thread(instances.start)
                    await instances_once(instances, broker.port, 200)  # warm-up
                    for _ in range(runs):
                        paho.samples.append(
                            await asyncio.to_thread(paho_rate, broker.port, events, 1)
                        )
                        rows[n].samples.append(await instances_once(instances, broker.port, events))
                finally:
                    await asyncio.to_thread(instances.stop)
        finally:
            broker.kill()
    return table("events/s", [paho, *rows.values()], paho, "of paho QoS 1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--ingest-only", action="store_true", help="phase 2 vs paho only; print, write no report"
    )
    parser.add_argument("--runs", type=int, default=5, help="with --ingest-only")
    parser.add_argument("--events", type=int, default=10000, help="with --ingest-only")
    parser.add_argument(
        "--instances",
        type=int,
        nargs="+",
        help="with --ingest-only: compare these numbers of adapter processes on PostgreSQL",
    )
    parser.add_argument("--pg-dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # peers are down on purpose in phase 2
    if args.ingest_only and args.instances:
        print(asyncio.run(instances_only(args.runs, args.events, args.instances, args.pg_dsn)))
        return
    if args.ingest_only:
        print(asyncio.run(ingest_only(args.runs, args.events)))
        return
    sections = asyncio.run(run(args))
    write_report(
        "Adapter throughput",
        "python -m benchmarks.adapter_throughput" + (" --quick" if args.quick else ""),
        sections,
    )


if __name__ == "__main__":
    main()
