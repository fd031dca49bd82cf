"""The per-frame network that ships as ``frame_model.onnx``: MobileNetV2 plus pooling taps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.fight.backbone import MobileNetV2
from models.fight.clips import MEAN, STD
from models.fight.flow import binomial_blur
from models.fight.heads import ClipHead
from models.fight.layout import CELL_GRID, FLOW_THUMB, THUMB

CELL_STAGE = 13  # last 96-channel block, stride 16
FINAL_STAGE = 18


class FrameModel(nn.Module):
    """``frames`` ``[N, 3, H, W]`` (normalised RGB) -> ``features`` ``[N, FEATURE_DIM]``.

    H and W must be multiples of 16 * CELL_GRID and of THUMB so that every pooling
    window is uniform (exact in ONNX), and at least 2 * FLOW_THUMB.
    """

    def __init__(self, backbone: MobileNetV2) -> None:
        super().__init__()
        self.backbone = backbone
        self.pixel_mean: torch.Tensor
        self.pixel_std: torch.Tensor
        self.register_buffer("pixel_mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("pixel_std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Appearance, 7x7 cells of the stride-16 map and two gray thumbnails, concatenated.

        The second thumbnail (``FLOW_THUMB`` px, blurred) feeds the clip head's optical flow:
        2x2 mean, bilinear resize, then a 5x5 binomial blur (no ``Conv``, so it stays float in
        the int8 twin).
        """
        x = frames
        cells = x
        for index, stage in enumerate(self.backbone.features):
            x = stage(x)
            if index == CELL_STAGE:
                cells = x
        appearance = x.mean((2, 3))
        side = cells.shape[-1] // CELL_GRID
        grid = F.avg_pool2d(cells, side)
        gray = (frames * self.pixel_std + self.pixel_mean).mean(1, keepdim=True)
        thumb = F.avg_pool2d(gray, frames.shape[-1] // THUMB)
        halved = F.avg_pool2d(gray, 2)
        small = F.interpolate(
            halved, size=(FLOW_THUMB, FLOW_THUMB), mode="bilinear", align_corners=False
        )
        flow_thumb = binomial_blur(small)
        # A fixed width for the thumbnail keeps the exported output shape static.
        flat_flow_thumb = flow_thumb.reshape(-1, FLOW_THUMB * FLOW_THUMB)
        return torch.cat([appearance, grid.flatten(1), thumb.flatten(1), flat_flow_thumb], dim=1)


class ClipModel(nn.Module):
    """The fused form: ``clip`` ``[B, T, 3, H, W]`` -> probabilities ``[B, 2]``."""

    def __init__(self, frame_model: FrameModel, head: ClipHead) -> None:
        super().__init__()
        self.frame_model = frame_model
        self.head = head

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        """Run the frame model on every frame, then the head on the clip."""
        batch, steps = clip.shape[0], clip.shape[1]
        features = self.frame_model(clip.flatten(0, 1))
        return self.head(features.reshape(batch, steps, -1))  # type: ignore[no-any-return]
