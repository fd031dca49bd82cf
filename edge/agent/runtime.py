"""The agent runtime: readers -> preprocessing -> inference -> fusion -> outbox.

Threads: each camera reader decodes on its own threads and preprocesses the
frames its sampler keeps right there (mask, resize, normalise: ~1 ms, releases
the GIL), then hands them to the one inference worker (bounded queue, counted
drops). Classifications and sensor readings go through a bounded fusion queue
to one fusion thread, which drains whatever is queued (typically one inference
batch's clips) and writes the resulting events to the outbox in one transaction
(one fsync per batch, kept off the inference thread). A supervisor thread
retries a missing model, sweeps old snapshots and keeps gauges fresh.

A missing model, a bad checksum or a dead camera never stops the agent: each is
reported in :meth:`Agent.health` (readiness false while the model is missing),
in the log and in metrics, and everything else keeps running.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from importlib import metadata

from edge.agent.health import AgentHealth
from edge.agent.pipeline import Pipeline, build_pipeline
from edge.api import ApiServer
from edge.clips import InvalidFrameError
from edge.config import AgentConfig
from edge.fusion import Fusion, SnapshotStore
from edge.inference import ModelError
from edge.metrics import CLASSIFICATION_LATENCY, DROPS, QUEUE_DEPTH
from edge.outbox import Outbox
from edge.outbox.metrics import INBOUND_REJECTED
from edge.sources import CameraHealth, CameraReader, build_reader
from edge.sources.sensor_mqtt import MqttSensorSubscriber
from edge.values import Classification, Frame
from events import Event, SensorReading

logger = logging.getLogger(__name__)

TICK_S = 1.0
FUSION_BATCH = 64  # queued fusion items turned into events and spooled in one transaction
SWEEP_S = 60.0


def agent_version() -> str:
    """The installed streetsense version (reported in the retained status)."""
    try:
        return metadata.version("streetsense")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


class Agent:
    """One edge agent, usable in-process: ``start()``, ``health()``, ``stop()``."""

    def __init__(self, config: AgentConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._stop = threading.Event()
        self._started = False
        self._pipeline: Pipeline | None = None
        self._model_error: str | None = "not loaded yet"
        self._latest_masked: dict[str, Frame] = {}
        self._recent: deque[Event] = deque(maxlen=config.pipeline.recent_events)
        self._recent_lock = threading.Lock()
        self._fusion_queue: queue.Queue[Classification | SensorReading] = queue.Queue(
            maxsize=config.pipeline.fusion_queue_size
        )
        self._fusion_depth = QUEUE_DEPTH.labels(queue="fusion")
        self._snapshots = (
            SnapshotStore(
                config.snapshots.directory,
                config.snapshots.retention_s,
                clock,
                config.snapshots.jpeg_quality,
            )
            if config.snapshots.enabled
            else None
        )
        self.fusion = Fusion(
            config.fusion,
            site=config.site,
            agent=config.agent,
            clock=clock,
            snapshots=self._take_snapshot if self._snapshots is not None else None,
        )
        self.outbox = Outbox(
            config.outbox,
            config.broker,
            site=config.site,
            agent=config.agent,
            version=agent_version(),
            on_action=self.fusion.on_action,
            on_command=self._on_command,
            clock=clock,
        )
        self.readers: dict[str, CameraReader] = {
            camera.name: build_reader(camera, self._on_frame) for camera in config.cameras
        }
        self._threads: list[threading.Thread] = []
        self.api: ApiServer | None = None
        self.sensor_subscriber: MqttSensorSubscriber | None = None
        self._services: list[tuple[str, Callable[[], None]]] = []  # name, stop

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start every stage; returns at once (the model loads in the background too)."""
        if self._started:
            raise RuntimeError("agent already started")
        self._started = True
        logger.info(
            "agent %s/%s starting: %d camera(s)",
            self.config.site,
            self.config.agent,
            len(self.readers),
        )
        self.outbox.start()
        self._try_load_model()
        for target, name in ((self._fusion_loop, "fusion"), (self._supervise, "supervisor")):
            thread = threading.Thread(target=target, name=f"agent-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        for reader in self.readers.values():
            reader.start()
        if self.config.sensors.mqtt:
            self._start_sensor_subscriber()
        if self.config.api.enabled:
            self._start_api()

    def _start_sensor_subscriber(self) -> None:
        broker = self.config.broker
        subscriber = MqttSensorSubscriber(
            host=broker.host,
            port=broker.port,
            site=self.config.site,
            agent=self.config.agent,
            config=self.config.sensors,
            sink=self._on_sensor_reading,
            username=broker.username,
            password=(broker.password.get_secret_value() if broker.password else None) or None,
            tls=broker.tls.ssl_context() if broker.tls is not None else None,
            keepalive=broker.keepalive_s,
            clock=self._clock,
        )
        subscriber.start()
        self.sensor_subscriber = subscriber
        self.add_service("sensor-mqtt", subscriber.stop)

    def _start_api(self) -> None:
        from edge.api import create_app
        from edge.sources.sensor_http import sensor_router

        routers = []
        if self.config.sensors.http:
            sensors = self.config.sensors
            if self.config.api.token is not None:
                sensors = sensors.model_copy(update={"http_token": self.config.api.token})
            routers.append(sensor_router(sensors, self._on_sensor_reading, clock=self._clock))
        token = self.config.api.token.get_secret_value() if self.config.api.token else None
        app = create_app(self, routers, snapshots=self._snapshots, token=token or None)
        api = ApiServer(app, self.config.api.host, self.config.api.port)
        api.start()
        self.api = api
        self.add_service("api", api.stop)

    def add_service(self, name: str, stop: Callable[[], None]) -> None:
        """Register something started alongside the agent (API server, sensor intake)."""
        self._services.append((name, stop))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop readers, drain inference and fusion, flush the outbox, stop services."""
        if not self._started:
            return
        self._stop.set()
        for name, stop in reversed(self._services):
            try:
                stop()
            except Exception:
                logger.exception("stopping %s failed", name)
        stoppers = [
            threading.Thread(target=reader.stop, args=(timeout,), name=f"stop-{name}")
            for name, reader in self.readers.items()
        ]  # in parallel: a reader blocked in FFmpeg may take its read timeout to stop
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join(timeout + 1)
        pipeline = self._pipeline
        if pipeline is not None:
            pipeline.engine.stop(timeout)
        for thread in self._threads:
            thread.join(timeout)
        self._drain_fusion()
        self.outbox.stop(timeout)
        self._started = False
        logger.info("agent %s/%s stopped", self.config.site, self.config.agent)

    # --- inputs --------------------------------------------------------------------------

    def submit_reading(self, reading: SensorReading) -> bool:
        """Hand a validated sensor reading to fusion; False when dropped (counted)."""
        return self._enqueue(reading, reading.sensor)

    def _on_sensor_reading(self, reading: SensorReading) -> None:
        """Sensor intake sink: raises ``queue.Full`` so the intake counts it and answers 503."""
        self._fusion_queue.put_nowait(reading)
        self._fusion_depth.set(self._fusion_queue.qsize())

    def _on_frame(self, frame: Frame) -> None:
        """Camera sink (reader thread): mask + preprocess once, then queue for inference."""
        pipeline = self._pipeline
        if pipeline is None:
            DROPS.labels(camera=frame.camera, stage="preprocess", reason="model_unavailable").inc()
            return
        try:
            processed = pipeline.preprocessors[frame.camera].process(frame)
        except InvalidFrameError:
            DROPS.labels(camera=frame.camera, stage="preprocess", reason="invalid_frame").inc()
            logger.debug("camera %s: invalid frame %s", frame.camera, frame.seq, exc_info=True)
            return
        if self._snapshots is not None:
            self._latest_masked[frame.camera] = processed.masked
        pipeline.engine.submit_frame(processed.prepared)

    def _on_result(self, result: Classification) -> None:
        """Inference callback (inference thread): never block it."""
        CLASSIFICATION_LATENCY.observe(max(0.0, time.time() - result.clip_ended_at))
        self._enqueue(result, result.camera)

    def _enqueue(self, item: Classification | SensorReading, source: str) -> bool:
        try:
            self._fusion_queue.put_nowait(item)
        except queue.Full:
            DROPS.labels(camera=source, stage="fusion", reason="queue_full").inc()
            return False
        self._fusion_depth.set(self._fusion_queue.qsize())
        return True

    def _on_command(self, payload: bytes) -> None:
        INBOUND_REJECTED.labels(topic="cmd", reason="unsupported_command").inc()
        logger.warning("ignored a command (%d bytes): no commands are supported yet", len(payload))

    # --- fusion thread ---------------------------------------------------------------------

    def _fusion_loop(self) -> None:
        next_tick = time.monotonic() + TICK_S
        while not self._stop.is_set():
            batch: list[tuple[Event, float | None]] = []
            try:
                item = self._fusion_queue.get(timeout=0.2)
            except queue.Empty:
                item = None
            if item is not None:
                batch.extend(self._fuse(item))
                self._take_queued(batch, FUSION_BATCH - 1)
                self._fusion_depth.set(self._fusion_queue.qsize())
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + TICK_S
                batch.extend((event, None) for event in self.fusion.tick())
            self._publish(batch)

    def _take_queued(self, batch: list[tuple[Event, float | None]], limit: int) -> None:
        """Fuse up to ``limit`` more items already queued (one inference batch's results)."""
        for _ in range(limit):
            try:
                item = self._fusion_queue.get_nowait()
            except queue.Empty:
                return
            batch.extend(self._fuse(item))

    def _drain_fusion(self) -> None:
        while not self._fusion_queue.empty():
            batch: list[tuple[Event, float | None]] = []
            self._take_queued(batch, FUSION_BATCH)
            self._publish(batch)
        self._fusion_depth.set(0)

    def _fuse(self, item: Classification | SensorReading) -> list[tuple[Event, float | None]]:
        """Events for one item, each with the capture time of its clip (None for readings)."""
        captured_at: float | None = None
        try:
            if isinstance(item, Classification):
                events = self.fusion.on_classification(item)
                captured_at = item.clip_ended_at  # latency is measured for clip-driven events
            else:
                events = self.fusion.on_reading(item)
        except Exception:  # one bad item must not stop fusion
            logger.exception("fusion failed on %s", type(item).__name__)
            return []
        return [(event, captured_at) for event in events]

    def _publish(self, batch: Sequence[tuple[Event, float | None]]) -> None:
        """Spool a batch of ``(event, captured_at)`` in one transaction (one fsync).

        ``captured_at`` (clip end) feeds the end-to-end latency histogram.
        """
        if not batch:
            return
        self.outbox.submit_many(batch)
        with self._recent_lock:
            self._recent.extend(event for event, _captured_at in batch)

    def _take_snapshot(self, camera: str, incident_id: str) -> str | None:
        frame = self._latest_masked.get(camera)
        if frame is None or self._snapshots is None:
            return None
        return self._snapshots.save(camera, incident_id, frame.image)

    # --- supervisor thread -----------------------------------------------------------------

    def _supervise(self) -> None:
        next_model = time.monotonic() + self.config.pipeline.model_retry_s
        next_sweep = time.monotonic()
        while not self._stop.wait(TICK_S):
            now = time.monotonic()
            if self._pipeline is None and now >= next_model:
                next_model = now + self.config.pipeline.model_retry_s
                self._try_load_model()
            if self._snapshots is not None and now >= next_sweep:
                next_sweep = now + SWEEP_S
                self._snapshots.sweep()

    def _try_load_model(self) -> None:
        try:
            pipeline = build_pipeline(self.config, self._on_result)
        except ModelError as exc:
            self._model_unavailable(str(exc))
            return
        card = pipeline.model.card
        self.fusion.set_alerts(card.alerts)
        pipeline.engine.start()
        self._pipeline = pipeline
        self._model_error = None
        logger.info("model %s ready", pipeline.describe())

    def _model_unavailable(self, error: str) -> None:
        if error != self._model_error:
            logger.error(
                "model unavailable (retrying every %.0f s; cameras keep running): %s",
                self.config.pipeline.model_retry_s,
                error,
            )
        self._model_error = error

    # --- views ------------------------------------------------------------------------------

    def cameras(self) -> list[CameraHealth]:
        """Health of every camera reader."""
        return [reader.health() for reader in self.readers.values()]

    def recent_events(self, limit: int = 50) -> list[Event]:
        """The newest events raised, newest last."""
        with self._recent_lock:
            events = list(self._recent)
        return events[-limit:] if limit > 0 else []

    def health(self) -> AgentHealth:
        """Liveness, readiness with reasons, and the state of every part."""
        cameras = tuple(self.cameras())
        pipeline = self._pipeline
        reasons: list[str] = []
        if pipeline is None:
            reasons.append(f"model not loaded: {self._model_error}")
        elif not pipeline.engine.running:
            reasons.append("inference worker is not running")
        reasons.extend(
            f"camera {camera.name} down: {camera.last_error or 'no frames yet'}"
            for camera in cameras
            if not camera.connected
        )
        alive = self._started and all(thread.is_alive() for thread in self._threads)
        if not alive:
            reasons.append("agent threads are not running")
        model = None
        if pipeline is not None:
            card = pipeline.model.card
            model = (
                f"{card.name} {card.version} ({pipeline.model.form}, {pipeline.model.providers[0]})"
            )
        return AgentHealth(
            alive=alive,
            ready=not reasons,
            reasons=tuple(reasons),
            model=model,
            model_error=self._model_error,
            broker_connected=self.outbox.connected,
            outbox_backlog=self.outbox.backlog(),
            open_incidents=self.fusion.open_incidents(),
            cameras=cameras,
            broker_error="" if self.outbox.connected else self.outbox.publisher.last_error,
        )
