"""The inference worker: one thread and one session set for all cameras, batched runs.

Cameras' decode threads call ``submit_frame`` once per prepared frame; it only
enqueues (bounded, never blocks; a full queue drops and counts). The worker
takes up to ``max_batch`` items, waiting at most ``max_wait_ms`` after the first,
and then, by the model's form:

* streaming: runs the frame model once on all frames of the batch, appends each
  frame's feature vector to its camera's window (``Windower`` over features, so
  overlapping windows reuse them), and runs the clip head once on every window
  that became due, across cameras;
* fused: appends frames to per-camera windows of prepared frames and runs the
  clip model once on every clip that became due.

``submit_clip`` classifies a ready-made clip (in streaming form its frames go
through the frame model without entering any window). Results go to
``on_result`` on the worker thread: keep it quick and thread-safe.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edge.clips import ClipAssembler, ClipConfig, Windower, WindowSpec
from edge.inference.errors import InferenceError, ModelError
from edge.inference.loader import LoadedModel
from edge.inference.runner import ORT_ERRORS, BatchRunner
from edge.metrics import CLIPS_ANALYSED, DROPS, FRAMES_ANALYSED, QUEUE_DEPTH
from edge.values import Classification, Clip, PreparedFrame, Tensor

logger = logging.getLogger(__name__)

_POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class _Features:
    """One sampled frame's feature vector, windowed in place of its pixels."""

    camera: str
    captured_at: float
    vector: Tensor  # [D]


@dataclass(frozen=True, slots=True)
class _Window:
    camera: str
    started_at: float
    ended_at: float
    tensor: Tensor  # [T, D] features or [T, 3, H, W] frames


class InferenceEngine:
    """Batches frames or clips from every camera through one model; see the module doc."""

    def __init__(
        self,
        model: LoadedModel,
        on_result: Callable[[Classification], None],
        *,
        clips: ClipConfig | None = None,
        camera_intervals: Mapping[str, float] | None = None,
    ) -> None:
        self.model = model
        # A camera sampled at another interval than the card's (keyframes-only decode,
        # a deliberately lower analysis rate) has its gaps judged against its own interval.
        self._camera_intervals = dict(camera_intervals or {})
        self._on_result = on_result
        config = model.config
        self._max_batch = config.max_batch
        self._max_wait_s = config.max_wait_ms / 1000.0
        self._queue: queue.Queue[PreparedFrame | Clip] = queue.Queue(maxsize=config.queue_size)
        spec = model.card.input
        self._frame_shape = (3, spec.height, spec.width)
        self._window_spec = WindowSpec.from_card(spec, clips)
        self._feature_windows: dict[str, Windower[_Features]] = {}
        self._frame_windows = ClipAssembler(self._window_spec, self._camera_intervals)
        self._labels = model.card.labels
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._depth = QUEUE_DEPTH.labels(queue="inference")

    @property
    def running(self) -> bool:
        """Whether the worker thread is alive (for readiness checks)."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the worker thread."""
        if self._thread is not None:
            raise InferenceError("the inference engine was already started")
        self._thread = threading.Thread(target=self._work, name="inference", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting work, finish what is queued, and join the worker."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.error("inference worker did not stop within %.1f s", timeout)
                return
        while True:  # items that raced with stop, or an engine never started
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            self._drop(item, "stopped")
        self._depth.set(0)

    def submit_frame(self, frame: PreparedFrame) -> bool:
        """Queue a camera's next prepared frame; False when it was dropped (counted)."""
        self._check(frame)
        return self._put(frame)

    def submit_clip(self, clip: Clip) -> bool:
        """Queue a ready-made clip; False when it was dropped (counted)."""
        size = self._window_spec.size
        if len(clip.frames) != size:
            raise ModelError(
                f"camera {clip.camera}: clip has {len(clip.frames)} frames, "
                f"model {self.model.card.name} expects {size}"
            )
        for frame in clip.frames:
            self._check(frame)
        return self._put(clip)

    def _check(self, frame: PreparedFrame) -> None:
        if frame.tensor.shape != self._frame_shape or frame.tensor.dtype != np.float32:
            raise ModelError(
                f"camera {frame.camera}: frame tensor is {frame.tensor.dtype} "
                f"{list(frame.tensor.shape)}, model {self.model.card.name} expects float32 "
                f"{list(self._frame_shape)}"
            )

    def _put(self, item: PreparedFrame | Clip) -> bool:
        if self._stopping.is_set():
            self._drop(item, "stopped")
            return False
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._drop(item, "queue_full")
            return False
        self._depth.set(self._queue.qsize())
        return True

    def _drop(self, item: PreparedFrame | Clip, reason: str) -> None:
        DROPS.labels(camera=item.camera, stage="inference", reason=reason).inc()

    def _work(self) -> None:
        while True:
            batch = self._collect()
            if batch is None:
                return
            self._depth.set(self._queue.qsize())
            try:
                self._process(batch)
            except ORT_ERRORS:
                logger.exception("inference failed on a batch of %s items", len(batch))
                for item in batch:
                    self._drop(item, "inference_error")
            except Exception:  # the worker must outlive any bug in one batch
                logger.exception("unexpected error on a batch of %s items", len(batch))
                for item in batch:
                    self._drop(item, "error")

    def _collect(self) -> list[PreparedFrame | Clip] | None:
        """Up to ``max_batch`` items within the wait budget; None once stopped and drained."""
        while True:
            try:
                first = self._queue.get(timeout=_POLL_S)
                break
            except queue.Empty:
                if self._stopping.is_set():
                    return None
        batch = [first]
        deadline = time.monotonic() + self._max_wait_s
        while len(batch) < self._max_batch:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0 or self._stopping.is_set():
                    batch.append(self._queue.get_nowait())
                else:
                    batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _process(self, batch: Sequence[PreparedFrame | Clip]) -> None:
        started = time.perf_counter()
        frames = [item for item in batch if isinstance(item, PreparedFrame)]
        clips = [item for item in batch if isinstance(item, Clip)]
        if self.model.form == "streaming":
            windows = self._streaming_windows(frames, clips)
            head = self.model.clip_head
        else:
            windows = self._fused_windows(frames, clips)
            head = self.model.clip_model
        for frame in frames:
            FRAMES_ANALYSED.labels(camera=frame.camera).inc()
        if not windows:
            return
        assert head is not None  # the loader builds the runner of its form
        probabilities = head.run(np.stack([window.tensor for window in windows]))
        seconds = time.perf_counter() - started
        for window, row in zip(windows, probabilities, strict=True):
            result = Classification(
                camera=window.camera,
                clip_started_at=window.started_at,
                clip_ended_at=window.ended_at,
                scores={label: float(p) for label, p in zip(self._labels, row, strict=True)},
                model=self.model.ref,
                inference_seconds=seconds,
            )
            CLIPS_ANALYSED.labels(camera=window.camera).inc()
            try:
                self._on_result(result)
            except Exception:  # a consumer's bug must not stop inference
                logger.exception("result callback failed for camera %s", window.camera)
                DROPS.labels(camera=window.camera, stage="inference", reason="callback_error").inc()

    def _streaming_windows(self, frames: list[PreparedFrame], clips: list[Clip]) -> list[_Window]:
        runner: BatchRunner | None = self.model.frame_model
        assert runner is not None
        tensors = [frame.tensor for frame in frames]
        for clip in clips:
            tensors.extend(frame.tensor for frame in clip.frames)
        features = runner.run(np.stack(tensors))
        windows: list[_Window] = []
        for frame, vector in zip(frames, features, strict=False):
            windower = self._feature_windows.get(frame.camera)
            if windower is None:
                windower = Windower(
                    frame.camera,
                    self._window_spec.for_interval(self._camera_intervals.get(frame.camera)),
                )
                self._feature_windows[frame.camera] = windower
            due = windower.push(_Features(frame.camera, frame.captured_at, vector))
            if due is not None:
                stacked = np.stack([item.vector for item in due])
                windows.append(
                    _Window(frame.camera, due[0].captured_at, due[-1].captured_at, stacked)
                )
        size = self._window_spec.size
        offset = len(frames)
        for clip in clips:
            stacked = features[offset : offset + size]
            offset += size
            windows.append(_Window(clip.camera, clip.started_at, clip.ended_at, stacked))
        return windows

    def _fused_windows(self, frames: list[PreparedFrame], clips: list[Clip]) -> list[_Window]:
        due = [clip for frame in frames if (clip := self._frame_windows.push(frame)) is not None]
        return [
            _Window(
                clip.camera,
                clip.started_at,
                clip.ended_at,
                np.stack([frame.tensor for frame in clip.frames]),
            )
            for clip in (*due, *clips)
        ]
