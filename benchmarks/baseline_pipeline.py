"""The straightforward implementation StreetSense is judged against.

Written the obvious way on purpose: one thread per camera, each with its own OpenCV
``read()`` loop (decode + BGR conversion of every frame), its own onnxruntime session
with default settings, batch 1, and the fused clip model recomputing every frame of
every sliding window. Nothing here is shared between cameras. The only concession
to fairness: RTSP over TCP (as the agent uses), so neither loses packets.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import onnxruntime

from models.card import ModelCard, load_card


@dataclass
class CameraStats:
    """What one baseline camera achieved."""

    frames_read: int = 0
    sampled: int = 0
    clips_expected: int = 0
    clips_done: int = 0
    lag_seconds: list[float] = field(default_factory=list)


def _prepare(image: np.ndarray, card: ModelCard) -> np.ndarray:
    spec, norm = card.input, card.normalization
    resized = cv2.resize(image, (spec.width, spec.height))
    if spec.color == "rgb":
        resized = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
    scaled = resized.astype(np.float32) / norm.scale
    normalised = (scaled - np.array(norm.mean, np.float32)) / np.array(norm.std, np.float32)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1))


def _camera_loop(url: str, card_path: Path, stop: threading.Event, stats: CameraStats) -> None:
    card = load_card(card_path)
    assert card.fused is not None, "the baseline uses the fused clip model"
    session = onnxruntime.InferenceSession(str(card.fused.clip_model.resolve(card_path.parent)))
    capture = cv2.VideoCapture(url)
    window: deque[np.ndarray] = deque(maxlen=card.input.frames)
    period = 1.0 / card.input.sample_fps
    next_sample = 0.0
    sampled = 0
    while not stop.is_set():
        ok, image = capture.read()
        if not ok:
            break
        stats.frames_read += 1
        now = time.monotonic()
        if now < next_sample:
            continue
        next_sample = max(next_sample + period, now - period)
        window.append(_prepare(image, card))
        sampled += 1
        stats.sampled = sampled
        if len(window) == card.input.frames and sampled % card.input.clip_stride_frames == 0:
            stats.clips_expected += 1
            clip = np.stack(window)[None]
            session.run(None, {"clip": clip})
            stats.clips_done += 1
            stats.lag_seconds.append(time.monotonic() - now)
    capture.release()


@dataclass
class RunningBaseline:
    """Baseline cameras running on their threads; ``stats`` update live."""

    stats: list[CameraStats]
    threads: list[threading.Thread]
    stop_event: threading.Event

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every camera thread."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=timeout)


def start_baseline(urls: list[str], card_path: Path) -> RunningBaseline:
    """Start one baseline camera thread per URL."""
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    stop = threading.Event()
    stats = [CameraStats() for _ in urls]
    threads = [
        threading.Thread(target=_camera_loop, args=(url, card_path, stop, stat), daemon=True)
        for url, stat in zip(urls, stats, strict=True)
    ]
    for thread in threads:
        thread.start()
    return RunningBaseline(stats, threads, stop)


def run_baseline(urls: list[str], card_path: Path, seconds: float) -> list[CameraStats]:
    """Run one baseline camera per URL for ``seconds``; return what each achieved."""
    running = start_baseline(urls, card_path)
    time.sleep(seconds)
    running.stop()
    return running.stats
