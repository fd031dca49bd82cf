"""Fit the shipped clip head: two regressions (appearance, pixel motion) and their late fusion.

:func:`fit_head` judges each block and the fused head by the nested grouped
cross-validation of :mod:`models.fight.evaluate`, then fits both regressions on all
clips and folds them into a :class:`~models.fight.heads.ClipHead`. The build calls it
on fp32 features and again on the int8 frame model's features (the int8 twins carry
their own head).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from models.fight import evaluate as ev
from models.fight.heads import ClipHead, ClipStatistics, LogisticScore, MotionStatistics

log = logging.getLogger(__name__)


def statistics(features: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Appearance and feature-change statistics exactly as the shipped head computes them."""
    with torch.inference_mode():
        return np.asarray(ClipStatistics()(torch.from_numpy(features)).double().numpy())


def motion(features: np.ndarray[Any, Any], batch: int = 16) -> np.ndarray[Any, Any]:
    """Optical-flow and frame-difference statistics exactly as the shipped head computes them."""
    module = MotionStatistics()
    with torch.inference_mode():
        parts = [
            module(torch.from_numpy(features[start : start + batch])).double().numpy()
            for start in range(0, len(features), batch)
        ]
    return np.concatenate(parts)


def _score(
    x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], groups: Any
) -> tuple[LogisticScore, float]:
    fitted, c = ev.fit_final(x, y, groups)
    scaler, regression = fitted[0], fitted[1]
    score = LogisticScore(
        torch.from_numpy(scaler.mean_),
        torch.from_numpy(scaler.scale_),
        torch.from_numpy(regression.coef_[0]),
        float(regression.intercept_[0]),
    )
    return score, c


@dataclass
class FittedHead:
    """The shipped head fit on all clips, with the nested CV that judges it."""

    head: ClipHead
    cv: ev.CvResult  # late fusion of the two blocks
    blocks: dict[str, ev.CvResult]  # each regression alone
    chosen_c: dict[str, float]
    widths: dict[str, int]


def fit_head(
    features: np.ndarray[Any, Any], y: np.ndarray[Any, Any], groups: np.ndarray[Any, Any]
) -> FittedHead:
    """Cross-validate each block and their late fusion, then fit both regressions on all clips."""
    blocks = {"appearance": statistics(features), "motion": motion(features)}
    cvs = {}
    for name, x in blocks.items():
        log.info("cross-validating the %s regression (%d statistics)", name, x.shape[1])
        cvs[name] = ev.cross_validate(x, y, groups)
    appearance, c_appearance = _score(blocks["appearance"], y, groups)
    pixel_motion, c_motion = _score(blocks["motion"], y, groups)
    return FittedHead(
        head=ClipHead(appearance, pixel_motion).eval(),
        cv=ev.late_fusion(list(cvs.values())),
        blocks=cvs,
        chosen_c={"appearance": c_appearance, "motion": c_motion},
        widths={name: int(x.shape[1]) for name, x in blocks.items()},
    )
