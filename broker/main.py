"""Run the adapter: ingest, delivery workers and the API in one asyncio program.

``streetsense broker run --config FILE`` calls :func:`run_adapter`; tests and
the demo use :class:`Adapter` in-process::

    async with Adapter(config) as adapter:
        ... adapter.port, adapter.app, adapter.core ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from broker import dedupe, retention
from broker.api import OutputView, create_app
from broker.config import AdapterConfig, load_adapter_config
from broker.core import AdapterCore
from broker.errors import BrokerError, StorageError
from broker.health import output_views
from broker.ingest import MqttIngest
from broker.outputs.base import OutputTransport
from broker.outputs.registry import OutputRegistry, default_registry
from broker.queue.sql import SqlDeliveryQueue
from broker.queue.worker import DeliveryWorker
from broker.routing import Router
from broker.storage import Database, open_database
from streetsense.configfile import ConfigError
from streetsense.systemd import Notifier

logger = logging.getLogger(__name__)

HEALTH_INTERVAL_S = 1.0
PRUNE_INTERVAL_S = 600.0
STOP_GRACE_S = 10.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (the adapter owns shutdown)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Adapter:
    """One adapter instance; ``start``/``stop`` or use it as an async context manager."""

    def __init__(self, config: AdapterConfig, *, registry: OutputRegistry | None = None) -> None:
        self.config = config
        self._registry = registry or default_registry()
        self._database: Database | None = None
        self._core: AdapterCore | None = None
        self._ingest: MqttIngest | None = None
        self._transports: dict[str, tuple[str, OutputTransport]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._workers: list[tuple[DeliveryWorker, asyncio.Task[None]]] = []
        self._app: FastAPI | None = None
        self._server: _Server | None = None
        self._server_task: asyncio.Task[None] | None = None
        self._port: int | None = None

    # -- properties ---------------------------------------------------------

    @property
    def core(self) -> AdapterCore:
        """The core (alerts, operator actions, inbound events)."""
        if self._core is None:
            raise RuntimeError("the adapter is not started")
        return self._core

    @property
    def app(self) -> FastAPI:
        """The API app (also usable with httpx.ASGITransport)."""
        if self._app is None:
            raise RuntimeError("the adapter is not started")
        return self._app

    @property
    def port(self) -> int | None:
        """The API's TCP port once serving (None when the API is disabled)."""
        return self._port

    @property
    def transports(self) -> dict[str, OutputTransport]:
        """The running output transports by name."""
        return {name: transport for name, (_, transport) in self._transports.items()}

    @property
    def mqtt_connected(self) -> bool:
        """Whether the MQTT connection is up."""
        return self._ingest is not None and self._ingest.connected

    # -- status for the API ---------------------------------------------------

    def outputs(self) -> list[OutputView]:
        """Health and queue figures of every output (blocking; call off the loop)."""
        assert self._core is not None
        return output_views(self._transports, self._core.queue, self._core.database)

    def ready(self) -> tuple[bool, list[str]]:
        """Ready when MQTT is connected and the database answers (blocking)."""
        reasons = [] if self.mqtt_connected else ["MQTT not connected"]
        if self._database is None:
            reasons.append("storage not open")
        else:
            try:
                with self._database.transaction() as tx:
                    tx.query("SELECT 1")
            except StorageError as exc:
                reasons.append(f"storage unavailable: {exc}")
        return not reasons, reasons

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Open storage, start outputs and workers, connect to MQTT, serve the API.

        On failure everything already started is stopped again before raising.
        """
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        config = self.config
        database = await asyncio.to_thread(open_database, config.storage, config.mqtt.client_id)
        self._database = database
        queue = SqlDeliveryQueue(database)
        core = AdapterCore(
            database=database,
            queue=queue,
            router=Router(config.routes),
            instance=config.mqtt.client_id,
        )
        self._core = core
        await core.record(
            "config.loaded",
            config.mqtt.client_id,
            {
                "outputs": {name: spec.type for name, spec in config.outputs.items()},
                "routes": [rule.name for rule in config.routes],
                "storage": config.storage.kind,
            },
        )
        for name, spec in config.outputs.items():
            transport = self._registry.build(spec.type, spec.settings, name, core)
            self._transports[name] = (spec.type, transport)
            try:
                await transport.start()
            except Exception:  # an output that cannot start must not stop the others
                logger.exception("output %s failed to start; deliveries will retry", name)
            worker = DeliveryWorker(
                transport=transport,
                queue=queue,
                database=database,
                policy=config.retry,
                poll_interval_s=config.poll_interval_s,
                attempt_timeout_s=config.attempt_timeout_s,
            )
            core.on_enqueued(name, worker.wake)
            task = asyncio.create_task(worker.run(), name=f"deliver-{name}")
            self._workers.append((worker, task))
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        if config.retention.enabled:
            sweeper = retention.run_periodically(
                database, config.retention, instance=config.mqtt.client_id
            )
            self._tasks.append(asyncio.create_task(sweeper, name="retention"))
        ingest = MqttIngest(config.mqtt, core.accept_async)
        self._ingest = ingest
        core.publisher = ingest
        await ingest.start()
        self._app = create_app(core, self, config.api.operator_tokens())
        if config.api.enabled:
            await self._serve_api()
        logger.info(
            "adapter %s started: %d output(s), %d rule(s), API port %s",
            config.mqtt.client_id, len(self._transports), len(config.routes), self._port,
        )  # fmt: skip

    async def _serve_api(self) -> None:
        api = self.config.api
        sock = socket.socket(socket.AF_INET6 if ":" in api.host else socket.AF_INET)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((api.host, api.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._port = int(sock.getsockname()[1])
        server_config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", access_log=False
        )
        self._server = _Server(server_config)
        self._server_task = asyncio.create_task(self._server.serve(sockets=[sock]), name="api")
        while not self._server.started and not self._server_task.done():  # noqa: ASYNC110 - uvicorn offers only a flag
            await asyncio.sleep(0.02)
        if self._server_task.done():
            self._server_task.result()

    async def _housekeeping(self) -> None:
        loop = asyncio.get_running_loop()
        last_prune = 0.0
        while True:
            try:
                await asyncio.to_thread(self.outputs)
                if loop.time() - last_prune > PRUNE_INTERVAL_S:
                    last_prune = loop.time()
                    await asyncio.to_thread(self._prune)
            except StorageError as exc:
                logger.warning("housekeeping: %s", exc)
            await asyncio.sleep(HEALTH_INTERVAL_S)

    def _prune(self) -> None:
        assert self._database is not None
        cutoff = time.time() - self.config.dedupe_window_s
        with self._database.transaction() as tx:
            dropped = dedupe.prune(tx, cutoff)
        if dropped:
            logger.info("forgot %d event id(s) older than the dedupe window", dropped)

    async def stop(self) -> None:
        """Stop serving, disconnect, stop workers and outputs, close storage."""
        if self._server is not None and self._server_task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server_task, timeout=10)
            self._server = self._server_task = None
        if self._ingest is not None:
            await self._ingest.stop()
            self._ingest = None
        await self._stop_workers()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for name, (_, transport) in self._transports.items():
            try:
                await transport.close()
            except Exception:
                logger.exception("output %s failed to close", name)
        self._transports.clear()
        if self._database is not None:
            await asyncio.to_thread(self._database.close)
            self._database = None

    async def _stop_workers(self) -> None:
        """Let deliveries in progress finish (bounded), so a planned stop repeats none."""
        for worker, _ in self._workers:
            worker.request_stop()
        tasks = [task for _, task in self._workers]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
            for task in pending:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._workers.clear()

    async def __aenter__(self) -> Adapter:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


async def serve(config: AdapterConfig) -> int:
    """Run until SIGTERM or SIGINT, then shut down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    adapter = Adapter(config)
    notifier = Notifier()
    watchdog: asyncio.Task[None] | None = None
    try:
        await adapter.start()
        notifier.ready(f"{len(config.outputs)} output(s)")
        watchdog = asyncio.create_task(_ping_watchdog(notifier))
        await stop.wait()
        logger.info("shutting down")
        notifier.stopping()
    except (BrokerError, OSError, ValueError) as exc:  # storage, ports, token files
        logger.error("adapter failed: %s", exc)  # noqa: TRY400 - the message is the point
        return 1
    finally:
        if watchdog is not None:
            watchdog.cancel()
        await adapter.stop()
    return 0


async def _ping_watchdog(notifier: Notifier) -> None:
    """Ping systemd's watchdog from the event loop itself, so a blocked loop stops the pings."""
    interval = notifier.watchdog_interval
    if interval is None or not notifier.enabled:
        return
    while True:
        await asyncio.sleep(interval)
        notifier.notify("WATCHDOG=1")


def run_adapter(config_path: Path) -> int:
    """``streetsense broker run``: 0 after a clean shutdown, 2 for a bad config."""
    try:
        config = load_adapter_config(config_path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    return asyncio.run(serve(config))
