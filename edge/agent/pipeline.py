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


def build_pipeline(config: AgentConfig, on_result: Callable[[Classification], None]) -> Pipeline:
    """Load and verify the model, build the worker and preprocessors (``ModelError`` on failure)."""
    model = load_model(config.model)
    engine = InferenceEngine(model, on_result, clips=config.clips)
    preprocessors = {
        camera.name: Preprocessor.from_card(model.card, camera.privacy_masks)
        for camera in config.cameras
    }
    for camera in config.cameras:
        if abs(camera.analysis_fps - model.card.input.sample_fps) > 1e-6:
            logger.warning(
                "camera %s: analysis_fps %s differs from the model's sample_fps %s; "
                "its windows will be judged as gaps and skipped (counted)",
                camera.name,
                camera.analysis_fps,
                model.card.input.sample_fps,
            )
    return Pipeline(model, engine, preprocessors)
