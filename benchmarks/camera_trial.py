"""One camera-count trial in a fresh process: warm up, then measure a steady-state window.

Run by :mod:`benchmarks.cameras` (one subprocess per trial, so counters, memory
and CPU accounting start clean)::

    python -m benchmarks.camera_trial '{"impl": "agent", "urls": [...], ...}'

Implementations:

* ``agent``: the real :class:`edge.agent.Agent` (readers, batched inference, fusion,
  outbox to a real mosquitto); judged by its own metrics (frames decoded, frames and
  clips analysed, ``streetsense_drops_total``);
* ``baseline``: :mod:`benchmarks.baseline_pipeline`;
* ``decode``: decode only (``grab()`` on one thread per camera, nothing retrieved):
  the RTSP decode ceiling.

Prints one JSON object (see :class:`TrialResult`).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import rss_mib

FPS = 25.0
WINDOW_MARK = "bench: steady-state window starts"


@dataclass
class TrialSpec:
    """What one trial runs."""

    impl: str  # agent | baseline | decode
    urls: list[str]
    card: str
    warmup_s: float = 8.0
    window_s: float = 20.0
    mqtt_port: int = 0
    analysis_fps: float | None = None  # None: the agent's default
    decode: str = "all"  # agent: all | keyframes (pyav)
    agent_overrides: dict[str, Any] = field(default_factory=dict)
    camera_overrides: dict[str, Any] = field(default_factory=dict)  # every camera's settings


@dataclass
class TrialResult:
    """What the trial measured over the steady-state window."""

    impl: str
    cameras: int
    window_s: float
    cpu_s: float  # this process, over the window
    rss_mib: float
    decoded_fps: list[float]  # per camera
    analysed_fps: list[float]  # per camera (sampled frames through the model)
    clips: list[int]  # per camera, classified in the window
    clips_expected: float  # per camera
    drops: dict[str, float]  # "stage/reason" -> count in the window
    inference_queue: float  # depth at the end
    connected: int  # cameras that delivered frames before the window
    window_started_at: float = 0.0  # time.time() when the window began
    connect_s: float = 0.0  # from start until every camera delivered (or the limit)
    event_latency: dict[str, float] = field(default_factory=dict)  # agent histogram: le -> n
    classification_latency: dict[str, float] = field(default_factory=dict)  # le -> n
    model_items: dict[str, float] = field(default_factory=dict)  # stage -> items run
    model_calls: dict[str, float] = field(default_factory=dict)  # stage -> onnxruntime runs

    @property
    def cpu_ms_per_frame(self) -> float:
        """CPU milliseconds per decoded input frame (all work included)."""
        frames = sum(self.decoded_fps) * self.window_s
        return 1000.0 * self.cpu_s / frames if frames else float("inf")


# --- metrics of the agent ---------------------------------------------------------------


def _samples() -> dict[tuple[str, str], float]:
    """(metric sample name, camera or stage/reason) -> value, from the agent's registry."""
    from prometheus_client import REGISTRY

    found: dict[tuple[str, str], float] = {}
    for metric in REGISTRY.collect():
        if not metric.name.startswith("streetsense_"):
            continue
        for sample in metric.samples:
            labels = sample.labels
            if sample.name == "streetsense_drops_total":
                key = (sample.name, f"{labels['stage']}/{labels['reason']}")
                found[key] = found.get(key, 0.0) + sample.value
            elif "camera" in labels:
                found[(sample.name, labels["camera"])] = sample.value
            elif sample.name == "streetsense_queue_depth":
                found[(sample.name, labels["queue"])] = sample.value
            elif sample.name in (
                "streetsense_event_latency_seconds_bucket",
                "streetsense_classification_latency_seconds_bucket",
            ):
                found[(sample.name, labels["le"])] = sample.value
            elif sample.name in (
                "streetsense_inference_batch_size_sum",
                "streetsense_inference_batch_size_count",
            ):
                found[(sample.name, labels["stage"])] = sample.value
    return found


def _settle(connected: Callable[[], int], count: int, warmup_s: float) -> tuple[int, float]:
    """Wait until every camera delivers (bounded), then ``warmup_s`` more.

    Returns the cameras connected and how long connecting took.
    """
    started = time.monotonic()
    deadline = started + 15.0 + 2.0 * count
    while connected() < count and time.monotonic() < deadline:
        time.sleep(0.1)
    took = time.monotonic() - started
    time.sleep(warmup_s)
    return connected(), took


def _agent_config(spec: TrialSpec, spool: Path) -> Any:
    from edge.config import AgentConfig

    cameras = []
    for index, url in enumerate(spec.urls):
        camera: dict[str, Any] = {"name": f"cam{index}", "url": url}
        if spec.analysis_fps is not None:
            camera["analysis_fps"] = spec.analysis_fps
        if spec.decode == "keyframes":
            camera.update(backend="pyav", decode="keyframes")
        camera.update(spec.camera_overrides)
        cameras.append(camera)
    raw: dict[str, Any] = {
        "site": "bench",
        "agent": "box1",
        "broker": {"host": "127.0.0.1", "port": spec.mqtt_port},
        "outbox": {"path": str(spool)},
        "cameras": cameras,
        "model": {"card": spec.card},
        "api": {"enabled": False},
    }
    for key, value in spec.agent_overrides.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return AgentConfig.model_validate(raw)


def run_agent(spec: TrialSpec) -> TrialResult:
    """Run the agent on ``spec.urls`` and judge it by its own metrics."""
    from edge.agent import Agent

    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
        config = _agent_config(spec, Path(tmp) / "outbox.sqlite3")
        agent = Agent(config)
        agent.start()
        try:
            connected, connect_s = _settle(
                lambda: sum(1 for camera in agent.cameras() if camera.connected),
                len(spec.urls),
                spec.warmup_s,
            )
            started_at = time.time()
            _announce_window()
            before, cpu0, t0 = _samples(), _cpu(), time.monotonic()
            time.sleep(spec.window_s)
            after, cpu1, t1 = _samples(), _cpu(), time.monotonic()
            rss = rss_mib()
        finally:
            agent.stop(timeout=10)
    window = t1 - t0
    names = [camera.name for camera in config.cameras]
    model_card = _card(spec.card)
    fps = config.cameras[0].analysis_fps if config.cameras else 0.0
    stride = config.clips.stride_frames or model_card.input.clip_stride_frames

    def delta(metric: str, key: str) -> float:
        return after.get((metric, key), 0.0) - before.get((metric, key), 0.0)

    def by_key(wanted: str) -> dict[str, float]:
        return {key: delta(metric, key) for (metric, key) in after if metric == wanted}

    drops = {
        key: after[(metric, key)] - before.get((metric, key), 0.0)
        for (metric, key) in after
        if metric == "streetsense_drops_total"
        and after[(metric, key)] - before.get((metric, key), 0.0) > 0
    }
    return TrialResult(
        impl=spec.impl if spec.decode == "all" else f"{spec.impl}-{spec.decode}",
        cameras=len(names),
        window_s=window,
        cpu_s=cpu1 - cpu0,
        rss_mib=rss,
        decoded_fps=[delta("streetsense_frames_decoded_total", n) / window for n in names],
        analysed_fps=[delta("streetsense_frames_analysed_total", n) / window for n in names],
        clips=[int(delta("streetsense_clips_analysed_total", n)) for n in names],
        clips_expected=window * fps / stride,
        drops=drops,
        inference_queue=after.get(("streetsense_queue_depth", "inference"), 0.0),
        connected=connected,
        window_started_at=started_at,
        connect_s=connect_s,
        event_latency=by_key("streetsense_event_latency_seconds_bucket"),
        classification_latency=by_key("streetsense_classification_latency_seconds_bucket"),
        model_items=by_key("streetsense_inference_batch_size_sum"),
        model_calls=by_key("streetsense_inference_batch_size_count"),
    )


def _card(path: str) -> Any:
    from models.card import load_card

    return load_card(Path(path))


def _announce_window() -> None:
    """Tell a watching parent (the profiler) that the steady-state window starts."""
    print(WINDOW_MARK, file=sys.stderr, flush=True)


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


# --- the baseline -------------------------------------------------------------------------


def run_baseline(spec: TrialSpec) -> TrialResult:
    """Run the straightforward implementation on ``spec.urls``."""
    from benchmarks.baseline_pipeline import start_baseline

    card = _card(spec.card)
    running = start_baseline(spec.urls, Path(spec.card))
    try:
        connected, connect_s = _settle(
            lambda: sum(1 for stat in running.stats if stat.frames_read > 0),
            len(spec.urls),
            spec.warmup_s,
        )
        before = [(s.frames_read, s.sampled, s.clips_done) for s in running.stats]
        _announce_window()
        cpu0, t0 = _cpu(), time.monotonic()
        time.sleep(spec.window_s)
        after = [(s.frames_read, s.sampled, s.clips_done) for s in running.stats]
        cpu1, t1 = _cpu(), time.monotonic()
        rss = rss_mib()
    finally:
        running.stop()
    window = t1 - t0
    return TrialResult(
        impl="baseline",
        cameras=len(spec.urls),
        window_s=window,
        cpu_s=cpu1 - cpu0,
        rss_mib=rss,
        decoded_fps=[(a[0] - b[0]) / window for a, b in zip(after, before, strict=True)],
        analysed_fps=[(a[1] - b[1]) / window for a, b in zip(after, before, strict=True)],
        clips=[a[2] - b[2] for a, b in zip(after, before, strict=True)],
        clips_expected=window * card.input.sample_fps / card.input.clip_stride_frames,
        drops={},
        inference_queue=0.0,
        connected=connected,
        connect_s=connect_s,
    )


# --- decode only ----------------------------------------------------------------------------


def run_decode(spec: TrialSpec) -> TrialResult:
    """``grab()`` every frame of every camera on one thread each; convert nothing."""
    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"
    import cv2

    stop = threading.Event()
    counts = [0] * len(spec.urls)

    def read(index: int, url: str) -> None:
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        while not stop.is_set() and capture.grab():
            counts[index] += 1
        capture.release()

    threads = [
        threading.Thread(target=read, args=(index, url), daemon=True)
        for index, url in enumerate(spec.urls)
    ]
    for thread in threads:
        thread.start()
    try:
        connected, connect_s = _settle(
            lambda: sum(1 for count in counts if count > 0), len(spec.urls), spec.warmup_s
        )
        _announce_window()
        before, cpu0, t0 = list(counts), _cpu(), time.monotonic()
        time.sleep(spec.window_s)
        after, cpu1, t1 = list(counts), _cpu(), time.monotonic()
        rss = rss_mib()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    window = t1 - t0
    return TrialResult(
        impl="decode",
        cameras=len(spec.urls),
        window_s=window,
        cpu_s=cpu1 - cpu0,
        rss_mib=rss,
        decoded_fps=[(a - b) / window for a, b in zip(after, before, strict=True)],
        analysed_fps=[0.0] * len(spec.urls),
        clips=[0] * len(spec.urls),
        clips_expected=0.0,
        drops={},
        inference_queue=0.0,
        connected=connected,
        connect_s=connect_s,
    )


RUNNERS = {"agent": run_agent, "baseline": run_baseline, "decode": run_decode}


def result_from_json(raw: dict[str, Any]) -> TrialResult:
    """The inverse of the JSON this module prints."""
    return TrialResult(**raw)


def main() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    spec = TrialSpec(**json.loads(sys.argv[1]))
    result = RUNNERS[spec.impl](spec)
    print(json.dumps(asdict(result)), flush=True)


if __name__ == "__main__":
    main()
