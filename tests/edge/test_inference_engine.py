"""The batched inference engine on the tiny model: forms agree, features are reused, drops count."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state
from prometheus_client import REGISTRY

from edge.clips import ClipConfig, Preprocessor
from edge.inference import (
    InferenceConfig,
    InferenceEngine,
    LoadedModel,
    ModelError,
    OnnxRunner,
    load_model,
)
from edge.values import Classification, Clip, Frame, PreparedFrame, Tensor
from tests.support.tiny_model import PROJECTION, build_tiny_model, expected_motion

INTERVAL = 0.125  # the tiny card samples at 8 fps
TIMEOUT = 30.0
_cameras = itertools.count()


def _camera(prefix: str) -> str:
    return f"{prefix}-{next(_cameras)}"


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Results:
    """Thread-safe collector used as ``on_result``."""

    def __init__(self) -> None:
        self.items: list[Classification] = []
        self._changed = threading.Condition()

    def __call__(self, result: Classification) -> None:
        with self._changed:
            self.items.append(result)
            self._changed.notify_all()

    def wait_for(self, count: int) -> list[Classification]:
        with self._changed:
            done = self._changed.wait_for(lambda: len(self.items) >= count, TIMEOUT)
        assert done, f"got {len(self.items)} results, expected {count}"
        return sorted(self.items, key=lambda r: (r.camera, r.clip_ended_at))


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


def _model(card: Path, form: str = "streaming", **settings: object) -> LoadedModel:
    return load_model(InferenceConfig.model_validate({"card": card, "form": form, **settings}))


def _frames(camera: str, card: Path, greys: list[int]) -> list[PreparedFrame]:
    """Frames of one camera through the real preprocessor, one per grey level."""
    model = _model(card)
    preprocessor = Preprocessor.from_card(model.card)
    frames = []
    for seq, grey in enumerate(greys):
        image = np.full((48, 64, 3), grey, dtype=np.uint8)
        image[:8, :8] = (0, 0, 255)  # some colour so channels differ
        frame = Frame(camera=camera, seq=seq, captured_at=1000.0 + seq * INTERVAL, image=image)
        frames.append(preprocessor.process(frame).prepared)
    return frames


@pytest.fixture
def engines() -> Iterator[list[InferenceEngine]]:
    """Engines a test creates; stopped afterwards even when the test fails."""
    created: list[InferenceEngine] = []
    yield created
    for engine in created:
        engine.stop()


def _engine(
    engines: list[InferenceEngine],
    model: LoadedModel,
    results: Results,
    clips: ClipConfig | None = None,
) -> InferenceEngine:
    engine = InferenceEngine(model, results, clips=clips)
    engines.append(engine)
    return engine


def test_motion_scores_higher_than_a_static_scene(
    card: Path, engines: list[InferenceEngine]
) -> None:
    results = Results()
    engine = _engine(engines, _model(card), results)
    engine.start()
    still, moving = _camera("still"), _camera("moving")
    for frame in _frames(still, card, [128] * 4) + _frames(moving, card, [0, 255, 0, 255]):
        assert engine.submit_frame(frame)
    by_camera = {r.camera: r for r in results.wait_for(2)}
    assert by_camera[still].scores["still"] > by_camera[still].scores["motion"]
    assert by_camera[moving].scores["motion"] > 0.99
    assert list(by_camera[still].scores) == ["still", "motion"]  # card label order
    result = by_camera[moving]
    assert result.model.name == "tiny-motion"
    assert result.clip_started_at == 1000.0
    assert result.clip_ended_at == 1000.0 + 3 * INTERVAL
    assert result.inference_seconds > 0


def test_streaming_and_fused_agree(card: Path, engines: list[InferenceEngine]) -> None:
    greys = [100, 104, 104, 110, 120, 118, 118, 100, 106, 106]
    camera = _camera("agree")
    frames = _frames(camera, card, greys)
    scores = {}
    for form in ("streaming", "fused"):
        results = Results()
        engine = _engine(engines, _model(card, form), results)
        engine.start()
        for frame in frames:
            assert engine.submit_frame(frame)
        scores[form] = [
            [r.scores[label] for label in ("still", "motion")] for r in results.wait_for(7)
        ]
    np.testing.assert_allclose(scores["streaming"], scores["fused"], atol=1e-5)
    # and both match the head's reference formula on the preprocessor's output
    tensors = np.stack([frame.tensor for frame in frames])
    features = tensors.mean(axis=(2, 3)) @ PROJECTION
    windows = np.stack([features[i : i + 4] for i in range(7)])
    np.testing.assert_allclose(
        [motion for _, motion in scores["streaming"]], expected_motion(windows), atol=1e-5
    )
    motions = [motion for _, motion in scores["streaming"]]
    assert max(motions) - min(motions) > 0.2  # the clips really differ


def test_frame_features_are_reused_across_windows(
    card: Path, engines: list[InferenceEngine]
) -> None:
    camera = _camera("reuse")
    frames = _frames(camera, card, list(range(0, 240, 20)))  # 12 frames, 9 windows of 4
    streaming = _model(card)
    fused = _model(card, "fused")
    for model in (streaming, fused):
        results = Results()
        engine = _engine(engines, model, results)
        engine.start()
        for frame in frames:
            engine.submit_frame(frame)
        assert len(results.wait_for(9)) == 9
        engine.stop()
    assert streaming.frame_model is not None
    assert streaming.clip_head is not None
    assert fused.clip_model is not None
    assert streaming.frame_model.items == 12  # once per frame, not frames x windows
    assert streaming.clip_head.items == 9
    assert fused.clip_model.items == 9  # the fused form recomputes 4 frames per window


def test_batches_across_cameras(card: Path, engines: list[InferenceEngine]) -> None:
    model = _model(card, max_batch=8, max_wait_ms=50)
    results = Results()
    engine = _engine(engines, model, results)
    cameras = [_camera("batch") for _ in range(4)]
    # queued before the worker starts, so the batching is deterministic
    streams = [_frames(camera, card, [0, 100, 0, 100, 0, 100]) for camera in cameras]
    for frames in zip(*streams, strict=True):
        for frame in frames:
            assert engine.submit_frame(frame)
    before = {
        key: _sample(f"streetsense_inference_batch_size_{key}", {"stage": "frame_model"})
        for key in ("count", "sum")
    }
    engine.start()
    assert len(results.wait_for(12)) == 12  # 3 windows per camera
    assert model.frame_model is not None
    assert model.clip_head is not None
    assert (model.frame_model.calls, model.frame_model.items) == (3, 24)
    # windows due in the same batch are classified together, across cameras
    assert (model.clip_head.calls, model.clip_head.items) == (2, 12)
    labels = {"stage": "frame_model"}
    assert _sample("streetsense_inference_batch_size_count", labels) - before["count"] == 3
    assert _sample("streetsense_inference_batch_size_sum", labels) - before["sum"] == 24
    for camera in cameras:
        assert _sample("streetsense_frames_analysed_total", {"camera": camera}) == 6
        assert _sample("streetsense_clips_analysed_total", {"camera": camera}) == 3


def test_concurrent_submissions_share_runs(card: Path, engines: list[InferenceEngine]) -> None:
    model = _model(card, max_batch=8, max_wait_ms=200)
    results = Results()
    engine = _engine(engines, model, results)
    engine.start()
    cameras = [_camera("concurrent") for _ in range(4)]
    streams = {camera: _frames(camera, card, [0, 50] * 4) for camera in cameras}
    barrier = threading.Barrier(len(cameras))

    def decode_thread(camera: str) -> None:
        barrier.wait()
        for frame in streams[camera]:
            engine.submit_frame(frame)

    threads = [threading.Thread(target=decode_thread, args=(camera,)) for camera in cameras]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert len(results.wait_for(20)) == 20  # 5 windows of 4 in 8 frames, per camera
    assert model.frame_model is not None
    assert model.frame_model.items == 32
    assert model.frame_model.calls < 32  # runs carried several cameras' frames


def test_full_queue_drops_are_counted_and_accepted_frames_are_kept(
    card: Path, engines: list[InferenceEngine]
) -> None:
    camera = _camera("full")
    results = Results()
    engine = _engine(engines, _model(card, queue_size=4), results)
    frames = _frames(camera, card, [0, 100, 0, 100, 0, 100])
    accepted = [engine.submit_frame(frame) for frame in frames]
    assert accepted == [True, True, True, True, False, False]
    labels = {"camera": camera, "stage": "inference", "reason": "queue_full"}
    assert _sample("streetsense_drops_total", labels) == 2
    assert _sample("streetsense_queue_depth", {"queue": "inference"}) == 4
    engine.start()
    engine.stop()  # finishes what was accepted
    assert len(results.items) == 1
    assert _sample("streetsense_frames_analysed_total", {"camera": camera}) == 4
    assert not engine.submit_frame(frames[0])
    stopped = {"camera": camera, "stage": "inference", "reason": "stopped"}
    assert _sample("streetsense_drops_total", stopped) == 1


def test_a_failing_callback_does_not_stop_inference(
    card: Path, engines: list[InferenceEngine]
) -> None:
    camera = _camera("callback")
    delivered = Results()
    calls = itertools.count()

    def flaky(result: Classification) -> None:
        if next(calls) == 0:
            raise RuntimeError("consumer bug")
        delivered(result)

    engine = InferenceEngine(_model(card), flaky)
    engines.append(engine)
    engine.start()
    for frame in _frames(camera, card, [0, 100, 0, 100, 0, 100]):
        engine.submit_frame(frame)
    assert len(delivered.wait_for(2)) == 2
    assert engine.running
    labels = {"camera": camera, "stage": "inference", "reason": "callback_error"}
    assert _sample("streetsense_drops_total", labels) == 1


def test_clip_stride_from_config(card: Path, engines: list[InferenceEngine]) -> None:
    camera = _camera("stride")
    results = Results()
    engine = _engine(engines, _model(card), results, clips=ClipConfig(stride_frames=2))
    for frame in _frames(camera, card, list(range(0, 200, 20))):  # 10 frames
        engine.submit_frame(frame)
    engine.start()
    engine.stop()
    ends = [r.clip_ended_at for r in results.items]
    assert ends == [1000.0 + i * INTERVAL for i in (3, 5, 7, 9)]


@pytest.mark.parametrize("form", ["streaming", "fused"])
def test_submitted_clips_match_windows(
    card: Path, engines: list[InferenceEngine], form: str
) -> None:
    camera = _camera(f"clip-{form}")
    frames = _frames(camera, card, [0, 30, 90, 200])
    windowed, clipped = Results(), Results()
    first = _engine(engines, _model(card, form), windowed)
    second = _engine(engines, _model(card, form), clipped)
    first.start()
    second.start()
    for frame in frames:
        first.submit_frame(frame)
    assert second.submit_clip(Clip(camera=camera, frames=tuple(frames)))
    (a,) = windowed.wait_for(1)
    (b,) = clipped.wait_for(1)
    assert a.scores == pytest.approx(b.scores, abs=1e-6)
    assert (a.clip_started_at, a.clip_ended_at) == (b.clip_started_at, b.clip_ended_at)


def test_wrong_tensors_are_refused_with_a_model_error(
    card: Path, engines: list[InferenceEngine]
) -> None:
    engine = _engine(engines, _model(card), Results())
    wrong = PreparedFrame("shape", 0, 1000.0, np.zeros((3, 64, 64), dtype=np.float32))
    with pytest.raises(ModelError, match=r"expects float32 \[3, 32, 32\]"):
        engine.submit_frame(wrong)
    right = PreparedFrame("shape", 0, 1000.0, np.zeros((3, 32, 32), dtype=np.float32))
    with pytest.raises(ModelError, match="clip has 2 frames, model tiny-motion expects 4"):
        engine.submit_clip(Clip(camera="shape", frames=(right, right)))


class _FailingOnce(OnnxRunner):
    """The real frame model, except that its first run fails inside onnxruntime."""

    def __init__(self, real: OnnxRunner) -> None:
        super().__init__(
            real.stage, real.session, real.input_name, real.output_name, real.fixed_batch
        )
        self.failed = False

    def run(self, batch: Tensor) -> Tensor:
        if not self.failed:
            self.failed = True
            raise ort_state.Fail("simulated provider failure")
        return super().run(batch)


def test_a_failing_run_is_counted_and_the_worker_carries_on(
    card: Path, engines: list[InferenceEngine], caplog: pytest.LogCaptureFixture
) -> None:
    model = _model(card, max_batch=2, max_wait_ms=0)
    assert model.frame_model is not None
    flaky = dataclasses.replace(model, frame_model=_FailingOnce(model.frame_model))
    camera = _camera("failing")
    results = Results()
    engine = _engine(engines, flaky, results)
    for frame in _frames(camera, card, [0, 50, 100, 150, 200, 250, 200, 150]):
        engine.submit_frame(frame)
    engine.start()
    engine.stop()
    labels = {"camera": camera, "stage": "inference", "reason": "inference_error"}
    assert _sample("streetsense_drops_total", labels) == 2  # the first batch of two
    # windows over the six later frames are still classified
    assert [r.clip_started_at for r in results.items] == [1000.25, 1000.375, 1000.5]
    assert "inference failed on a batch of 2 items" in caplog.text
