"""Execution provider selection: config preference filtered by what onnxruntime offers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from edge.inference.config import ProviderKey

CPU = "CPUExecutionProvider"

ORT_PROVIDERS: dict[ProviderKey, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "cpu": CPU,
}


def select_providers(preference: Sequence[ProviderKey], available: Iterable[str]) -> list[str]:
    """onnxruntime provider names to use, best first, always ending with CPU.

    Pure: ``available`` is what ``onnxruntime.get_available_providers()`` returned,
    so the choice is testable without the hardware.
    """
    offered = set(available)
    chosen: list[str] = []
    for key in preference:
        name = ORT_PROVIDERS[key]
        if (name in offered or name == CPU) and name not in chosen:
            chosen.append(name)
    if CPU in chosen:
        # CPU is the last resort: anything preferred after it would never be used.
        chosen = chosen[: chosen.index(CPU) + 1]
    else:
        chosen.append(CPU)
    return chosen
