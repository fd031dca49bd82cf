"""The per-frame feature layout and the clip head that turns T frame features into a verdict.

Per frame the frame model emits one vector of ``FEATURE_DIM`` floats, laid out as
``[appearance | cells | thumbnail | flow thumbnail]``:

* appearance: the final 1280-channel MobileNetV2 map, globally averaged;
* cells: the stride-16 96-channel map averaged to a 7x7 grid of cells;
* thumbnail: a 32x32 grayscale thumbnail of the frame in [0, 1];
* flow thumbnail: an 80x80 blurred grayscale thumbnail in [0, 1], for optical flow.

:class:`ClipStatistics` computes, for a clip, appearance (mean over time), the
log of the mean frame-to-frame appearance change per channel, and compact motion
statistics: per cell how much its features changed between consecutive frames
(cosine and relative change), and pixel-level difference statistics of the
thumbnails, each summarised over cells and then over time. :class:`ClipHead`
standardises those statistics and applies a logistic regression. A second
regression reads :class:`MotionStatistics` (optical flow and frame differences of
the flow thumbnails, ``models.fight.flow``); the head averages the two log-odds
(late fusion: each block keeps its own regularisation, so the 128 motion statistics
are not drowned by the 2640 others).
"""

from __future__ import annotations

import torch
from torch import nn

from models.fight.flow import motion_statistics
from models.fight.layout import (
    APPEARANCE,
    CELL_CHANNELS,
    CELL_DIM,
    CELL_GRID,
    FLOW_START,
    FLOW_THUMB,
    THUMB,
)

_EPS = 1e-6
_THRESHOLDS = (0.02, 0.05, 0.1)


def _over_time(per_pair: torch.Tensor) -> torch.Tensor:
    """``[B, T-1, K]`` -> ``[B, 4K]``: mean, max, std and min over time."""
    mean = per_pair.mean(1)
    std = ((per_pair - mean.unsqueeze(1)) ** 2).mean(1).sqrt()
    return torch.cat([mean, per_pair.amax(1), std, per_pair.amin(1)], dim=1)


def _over_cells(change: torch.Tensor) -> torch.Tensor:
    """``[B, T-1, cells]`` -> ``[B, T-1, 4]``: mean, max, std and top-3 mean over cells."""
    mean = change.mean(-1, keepdim=True)
    std = ((change - mean) ** 2).mean(-1, keepdim=True).sqrt()
    top = torch.topk(change, 3, dim=-1).values.mean(-1, keepdim=True)
    return torch.cat([mean, change.amax(-1, keepdim=True), std, top], dim=-1)


class ClipStatistics(nn.Module):
    """``features`` ``[B, T, FEATURE_DIM]`` -> clip statistics ``[B, stat_dim]`` (T >= 2)."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Appearance, appearance change and motion statistics of each clip."""
        appearance = features[:, :, :APPEARANCE]
        cells = features[:, :, APPEARANCE : APPEARANCE + CELL_DIM]
        thumb = features[:, :, APPEARANCE + CELL_DIM : FLOW_START]
        change = (appearance[:, 1:] - appearance[:, :-1]).abs().mean(1)
        return torch.cat(
            [appearance.mean(1), torch.log(change + 1e-3), self._cells(cells), self._pixels(thumb)],
            dim=1,
        )

    @staticmethod
    def _cells(cells: torch.Tensor) -> torch.Tensor:
        batch, steps, _ = cells.shape
        grid = cells.reshape(batch, steps, CELL_CHANNELS, CELL_GRID * CELL_GRID)
        a, b = grid[:, :-1], grid[:, 1:]
        norm_a, norm_b = a.norm(dim=2), b.norm(dim=2)
        cosine_change = 1 - (a * b).sum(2) / (norm_a * norm_b + _EPS)
        relative_change = (b - a).norm(dim=2) / (norm_a + norm_b + _EPS)
        return torch.cat(
            [_over_time(_over_cells(cosine_change)), _over_time(_over_cells(relative_change))],
            dim=1,
        )

    @staticmethod
    def _pixels(thumb: torch.Tensor) -> torch.Tensor:
        batch, steps, _ = thumb.shape
        diff = (thumb[:, 1:] - thumb[:, :-1]).abs()
        quarter = THUMB // 4
        cells = diff.reshape(batch, steps - 1, 4, quarter, 4, quarter).mean((3, 5)).flatten(2)
        cells_mean = cells.mean(-1, keepdim=True)
        cells_std = ((cells - cells_mean) ** 2).mean(-1, keepdim=True).sqrt()
        parts = [diff.mean(-1, keepdim=True)]
        parts += [(diff > t).to(diff.dtype).mean(-1, keepdim=True) for t in _THRESHOLDS]
        parts += [cells.amax(-1, keepdim=True), cells_std]
        energy = torch.cat(parts, dim=-1)
        frame = thumb[:, :-1]
        contrast = ((frame - frame.mean(-1, keepdim=True)) ** 2).mean(-1, keepdim=True).sqrt()
        return _over_time(torch.cat([energy, energy / (contrast + 1e-3)], dim=-1))


class MotionStatistics(nn.Module):
    """``features`` ``[B, T, FEATURE_DIM]`` -> ``[B, MOTION_DIM]`` flow and difference statistics."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Statistics of the flow thumbnails (T >= 3)."""
        gray = features[:, :, FLOW_START:]
        steps = int(gray.shape[1])  # fixed by the card; keeps the exported graph static
        return motion_statistics(gray.reshape(-1, steps, FLOW_THUMB, FLOW_THUMB))


class LogisticScore(nn.Module):
    """Standardise statistics, then a linear score (log-odds of ``fight``)."""

    def __init__(
        self, mean: torch.Tensor, scale: torch.Tensor, weight: torch.Tensor, bias: float
    ) -> None:
        super().__init__()
        self.mean: torch.Tensor
        self.scale: torch.Tensor
        self.weight: torch.Tensor
        self.bias: torch.Tensor
        self.register_buffer("mean", mean.float())
        self.register_buffer("scale", scale.float())
        self.register_buffer("weight", weight.float())
        self.register_buffer("bias", torch.tensor([bias], dtype=torch.float32))

    def forward(self, statistics: torch.Tensor) -> torch.Tensor:
        """``[B, K]`` -> ``[B]`` log-odds."""
        return ((statistics - self.mean) / self.scale) @ self.weight + self.bias


class ClipHead(nn.Module):
    """Two regressions (appearance + feature change, pixel motion); mean log-odds -> ``[no_fight, fight]``."""

    def __init__(self, appearance: LogisticScore, motion: LogisticScore) -> None:
        super().__init__()
        self.statistics = ClipStatistics()
        self.motion_statistics = MotionStatistics()
        self.appearance = appearance
        self.motion = motion

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``[B, T, FEATURE_DIM]`` -> probabilities ``[B, 2]``."""
        logit = self.appearance(self.statistics(features))
        logit = (logit + self.motion(self.motion_statistics(features))) / 2
        fight = torch.sigmoid(logit).unsqueeze(1)
        return torch.cat([1 - fight, fight], dim=1)
