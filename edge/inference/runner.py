"""One onnxruntime session for one stage, with batch handling and metrics."""

from __future__ import annotations

import time
from typing import Literal, Protocol

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from edge.metrics import BATCH_SIZE, INFERENCE_SECONDS
from edge.values import Tensor

Stage = Literal["frame_model", "clip_head", "clip_model"]

# onnxruntime raises these (all plain ``Exception`` subclasses) from session creation and run.
ORT_ERRORS: tuple[type[Exception], ...] = (
    ort_state.Fail,
    ort_state.InvalidArgument,
    ort_state.NoSuchFile,
    ort_state.NoModel,
    ort_state.EngineError,
    ort_state.RuntimeException,
    ort_state.InvalidProtobuf,
    ort_state.ModelLoaded,
    ort_state.NotImplemented,
    ort_state.InvalidGraph,
    ort_state.EPFail,
    RuntimeError,
    ValueError,
)


class BatchRunner(Protocol):
    """Runs one stage on a batch (first axis) and returns the batch of outputs."""

    stage: Stage

    def run(self, batch: Tensor) -> Tensor:
        """Outputs for every item of ``batch``, in order."""
        ...


class OnnxRunner:
    """A session with one float input and one output.

    A dynamic batch dimension gets the whole batch in one call. A model exported
    with a fixed batch ``b`` is fed in chunks of ``b`` (the last one zero-padded).
    ``calls`` and ``items`` count onnxruntime runs and the items they processed.
    """

    def __init__(
        self,
        stage: Stage,
        session: ort.InferenceSession,
        input_name: str,
        output_name: str,
        fixed_batch: int | None,
    ) -> None:
        self.stage: Stage = stage
        self.session = session
        self.input_name = input_name
        self.output_name = output_name
        self.fixed_batch = fixed_batch
        self.calls = 0
        self.items = 0
        self._seconds = INFERENCE_SECONDS.labels(stage=stage)
        self._sizes = BATCH_SIZE.labels(stage=stage)

    def run(self, batch: Tensor) -> Tensor:
        """Outputs for every item of ``batch`` (float32), in order."""
        count = batch.shape[0]
        if self.fixed_batch is None:
            return self._call(batch, count)
        size = self.fixed_batch
        outputs = []
        for start in range(0, count, size):
            chunk = batch[start : start + size]
            real = chunk.shape[0]
            if real < size:
                padding = np.zeros((size - real, *chunk.shape[1:]), dtype=chunk.dtype)
                chunk = np.concatenate([chunk, padding])
            outputs.append(self._call(chunk, real)[:real])
        return np.concatenate(outputs)

    def _call(self, batch: Tensor, real: int) -> Tensor:
        started = time.perf_counter()
        (output,) = self.session.run([self.output_name], {self.input_name: batch})
        self._seconds.observe(time.perf_counter() - started)
        self._sizes.observe(real)
        self.calls += 1
        self.items += real
        return np.asarray(output, dtype=np.float32)
