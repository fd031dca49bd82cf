"""Grouped (by source video) cross-validation of a standardised logistic regression.

The regularisation strength is picked inside each outer training split by an
inner grouped cross-validation (nested), so the reported numbers never saw the
clips they score. Out-of-fold probabilities are pooled to choose a threshold.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

Array = npt.NDArray[np.float64]
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1)
OUTER_FOLDS = 5
INNER_FOLDS = 4
SEEDS = (0, 1, 2)
CLIP_SECONDS = 2.0


def pipeline(c: float) -> Pipeline:
    """Standardise, then L2-regularised logistic regression."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))


def _fit(x: Array, y: npt.NDArray[np.int64], c: float) -> Pipeline:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return pipeline(c).fit(x, y)


def choose_c(x: Array, y: npt.NDArray[np.int64], groups: npt.NDArray[np.str_], seed: int) -> float:
    """The C with the best inner grouped-CV ROC AUC (ties go to the stronger regularisation)."""
    folds = list(
        StratifiedGroupKFold(INNER_FOLDS, shuffle=True, random_state=seed).split(x, y, groups)
    )
    best, best_auc = C_GRID[0], -1.0
    for c in C_GRID:
        scores = np.zeros(len(y))
        for train, test in folds:
            scores[test] = _fit(x[train], y[train], c).predict_proba(x[test])[:, 1]
        auc = float(roc_auc_score(y, scores))
        if auc > best_auc + 1e-9:
            best, best_auc = c, auc
    return best


@dataclass
class CvResult:
    """Out-of-fold probabilities (and log-odds) per repeat and the fold each clip was tested in."""

    scores: list[Array] = field(default_factory=list)
    logits: list[Array] = field(default_factory=list)
    folds: list[npt.NDArray[np.int64]] = field(default_factory=list)
    chosen_c: list[float] = field(default_factory=list)


def cross_validate(x: Array, y: npt.NDArray[np.int64], groups: npt.NDArray[np.str_]) -> CvResult:
    """Nested grouped k-fold, repeated over :data:`SEEDS`."""
    result = CvResult()
    for seed in SEEDS:
        logits, fold_of = np.zeros(len(y)), np.zeros(len(y), dtype=np.int64)
        outer = StratifiedGroupKFold(OUTER_FOLDS, shuffle=True, random_state=seed)
        for index, (train, test) in enumerate(outer.split(x, y, groups)):
            c = choose_c(x[train], y[train], groups[train], seed)
            logits[test] = _fit(x[train], y[train], c).decision_function(x[test])
            fold_of[test] = index
            result.chosen_c.append(c)
        result.logits.append(logits)
        result.scores.append(_sigmoid(logits))
        result.folds.append(fold_of)
    return result


def _sigmoid(logits: Array) -> Array:
    return np.asarray(1 / (1 + np.exp(-logits)), dtype=np.float64)


def late_fusion(parts: list[CvResult]) -> CvResult:
    """Blocks scored by their own regressions, log-odds averaged clip by clip.

    The outer split depends only on labels and groups, so every block's
    :func:`cross_validate` tested each clip in the same fold and the averages are
    out-of-fold too.
    """
    for part in parts[1:]:
        if any(not np.array_equal(a, b) for a, b in zip(part.folds, parts[0].folds, strict=True)):
            raise ValueError("late fusion needs the same outer folds for every block")
    mean = [np.mean(row, axis=0) for row in zip(*(p.logits for p in parts), strict=True)]
    return CvResult(scores=[_sigmoid(m) for m in mean], logits=mean, folds=parts[0].folds)


def metrics_at(y: npt.NDArray[np.int64], scores: Array, threshold: float) -> dict[str, Any]:
    """Accuracy, AUC, precision, recall, false alarms per hour and the confusion matrix."""
    predicted = (scores >= threshold).astype(np.int64)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, predicted, labels=[0, 1]).ravel())
    negatives_hours = (tn + fp) * CLIP_SECONDS / 3600
    return {
        "accuracy": (tp + tn) / len(y),
        "roc_auc": float(roc_auc_score(y, scores)) if 0 < y.sum() < len(y) else float("nan"),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "false_alarms_per_hour": fp / negatives_hours if negatives_hours else 0.0,
        "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
    }


def summarise(y: npt.NDArray[np.int64], cv: CvResult, threshold: float) -> dict[str, Any]:
    """Mean, standard deviation, min and max over all outer folds of all repeats."""
    per_fold: list[dict[str, Any]] = []
    for scores, folds in zip(cv.scores, cv.folds, strict=True):
        for fold in np.unique(folds):
            mask = folds == fold
            per_fold.append(metrics_at(y[mask], scores[mask], threshold))
    out: dict[str, Any] = {}
    for key in ("accuracy", "roc_auc", "precision", "recall", "false_alarms_per_hour"):
        values = np.array([m[key] for m in per_fold], dtype=np.float64)
        out[key] = {
            "mean": round(float(values.mean()), 3),
            "std": round(float(values.std()), 3),
            "min": round(float(values.min()), 3),
            "max": round(float(values.max()), 3),
        }
    pooled = [metrics_at(y, scores, threshold) for scores in cv.scores]
    out["pooled_confusion_per_repeat"] = [m["confusion"] for m in pooled]
    out["pooled_roc_auc_per_repeat"] = [round(m["roc_auc"], 3) for m in pooled]
    out["folds"] = len(per_fold)
    return out


def fold_aucs(y: npt.NDArray[np.int64], cv: CvResult) -> Array:
    """ROC AUC of every outer fold, in fold order (repeat by repeat)."""
    return np.array(
        [
            roc_auc_score(y[folds == fold], scores[folds == fold])
            for scores, folds in zip(cv.scores, cv.folds, strict=True)
            for fold in np.unique(folds)
        ]
    )


def folds_above(y: npt.NDArray[np.int64], cv: CvResult, reference: CvResult) -> int:
    """In how many outer folds ``cv`` has a higher ROC AUC than ``reference`` (same folds)."""
    return int((fold_aucs(y, cv) > fold_aucs(y, reference)).sum())


def choose_threshold(
    y: npt.NDArray[np.int64], cv: CvResult, max_false_positive_rate: float
) -> float:
    """Lowest threshold whose pooled out-of-fold false-positive rate stays within the limit."""
    negatives = np.concatenate([scores[y == 0] for scores in cv.scores])
    return float(np.round(np.quantile(negatives, 1 - max_false_positive_rate), 3))


def fit_final(
    x: Array, y: npt.NDArray[np.int64], groups: npt.NDArray[np.str_]
) -> tuple[Pipeline, float]:
    """The shipped regression: C by grouped CV on all clips, then fit on all clips."""
    c = choose_c(x, y, groups, seed=SEEDS[0])
    return _fit(x, y, c), c
