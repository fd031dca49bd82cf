"""The part of the agent that exists only once the model is loaded."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from edge.clips import Preprocessor
from edge.config import AgentConfig
from edge.inference import InferenceEngine, LoadedModel, load_model
from edge.values import Classification

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pipeline:
    """The loaded model, its (not yet started) inference worker, and one preprocessor per camera."""

    model: LoadedModel
    engine: InferenceEngine
    preprocessors: dict[str, Preprocessor]

    def describe(self) -> str:
        """``name version (form, provider)`` for health reports."""
        card = self.model.card
        return f"{card.name} {card.version} ({self.model.form}, {self.model.providers[0]})"


KEYFRAME_INTERVAL_LIMIT_S = 10.0  # keyframes-only cameras: a GOP longer than this is a gap


def camera_intervals(config: AgentConfig) -> dict[str, float]:
    """Expected seconds between sampled frames, per camera (gaps are judged against it).

    Keyframes-only cameras deliver one frame per GOP (unknown, typically 1-4 s), so
    only an absence longer than ``KEYFRAME_INTERVAL_LIMIT_S`` counts as a gap there.
    """
    intervals: dict[str, float] = {}
    for camera in config.cameras:
        if camera.decode == "keyframes":
            intervals[camera.name] = KEYFRAME_INTERVAL_LIMIT_S
        else:
            intervals[camera.name] = 1.0 / camera.analysis_fps
    return intervals


def build_pipeline(config: AgentConfig, on_result: Callable[[Classification], None]) -> Pipeline:
    """Load and verify the model, build the worker and preprocessors (``ModelError`` on failure)."""
    model = load_model(config.model)
    engine = InferenceEngine(
        model, on_result, clips=config.clips, camera_intervals=camera_intervals(config)
    )
    preprocessors = {
        camera.name: Preprocessor.from_card(model.card, camera.privacy_masks)
        for camera in config.cameras
    }
    for camera in config.cameras:
        if (
            camera.decode == "keyframes"
            or abs(camera.analysis_fps - model.card.input.sample_fps) > 1e-6
        ):
            logger.warning(
                "camera %s: analysed at %s fps (keyframes-only decode or analysis_fps) but the "
                "model was trained at %s fps: its clips span another time scale and accuracy "
                "drops (see benchmarks/results/keyframe-accuracy.md)",
                camera.name,
                "keyframe" if camera.decode == "keyframes" else camera.analysis_fps,
                model.card.input.sample_fps,
            )
    return Pipeline(model, engine, preprocessors)
