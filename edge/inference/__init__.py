"""Inference: model cards to onnxruntime sessions, batched across cameras by one worker.

Typical use::

    model = load_model(InferenceConfig(card=Path("models/fight/card.yaml")))
    engine = InferenceEngine(model, on_result=fusion.put)
    engine.start()
    engine.submit_frame(preprocessor.process(frame).prepared)  # from each camera
    engine.stop()
"""

from edge.inference.config import InferenceConfig, ProviderKey
from edge.inference.engine import InferenceEngine
from edge.inference.errors import InferenceError, ModelError
from edge.inference.loader import Form, LoadedModel, load_model
from edge.inference.providers import ORT_PROVIDERS, select_providers
from edge.inference.runner import BatchRunner, OnnxRunner

__all__ = [
    "ORT_PROVIDERS",
    "BatchRunner",
    "Form",
    "InferenceConfig",
    "InferenceEngine",
    "InferenceError",
    "LoadedModel",
    "ModelError",
    "OnnxRunner",
    "ProviderKey",
    "load_model",
    "select_providers",
]
