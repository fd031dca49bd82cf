"""``python -m models.fight.experiments``: motion-feature variants under the shipped protocol.

Not part of the build. Reuses the build's feature cache (``work/features_t8_s224_d13408.npz``,
computed on first use), decodes grayscale frames once into ``work/experiments_gray.npz``,
caches the final 7x7x1280 MobileNetV2 maps into ``work/experiments_finalmap.npz``, and
scores each variant with the nested grouped cross-validation of
:mod:`models.fight.evaluate` (same folds, seeds and C grid as the shipped numbers).
Late fusion fits one regression per feature block (C chosen by the block's own inner
CV) and averages their log-odds. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from models.fight import evaluate as ev
from models.fight import motion
from models.fight.backbone import fetch_weights, load_backbone
from models.fight.build import DEFAULT_DATA, FRAMES, SIZE
from models.fight.clips import ClipRef, index_dataset, prepare, sample_frames
from models.fight.extract import cached_features, clip_inputs, torch_frame_fn
from models.fight.fitting import statistics
from models.fight.frame_model import FrameModel
from models.fight.layout import FEATURE_DIM

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
GRAY_SIZE = 160
Array = npt.NDArray[np.float64]


def gray_frames(refs: list[ClipRef], frames: int) -> npt.NDArray[np.uint8]:
    """``[clips, frames, 160, 160]`` grayscale frames, sampled as the model samples them."""
    return np.stack(
        [
            np.stack(
                [
                    cv2.cvtColor(
                        cv2.resize(image, (GRAY_SIZE, GRAY_SIZE), interpolation=cv2.INTER_LINEAR),
                        cv2.COLOR_BGR2GRAY,
                    )
                    for image in sample_frames(ref.path, frames)
                ]
            )
            for ref in refs
        ]
    )


def cached_gray(work: Path, refs: list[ClipRef]) -> dict[int, npt.NDArray[np.uint8]]:
    """Gray frames at 8 and 16 frames per 2 s, from ``work`` when they are there."""
    cache = work / "experiments_gray.npz"
    names = np.array([ref.name for ref in refs])
    if cache.is_file():
        stored = np.load(cache)
        if np.array_equal(stored["names"], names):
            return {8: stored["gray8"], 16: stored["gray16"]}
    out = {n: gray_frames(refs, n) for n in (8, 16)}
    np.savez(cache, names=names, gray8=out[8], gray16=out[16])
    return out


def final_map_statistics(maps: npt.NDArray[np.float16]) -> dict[str, Array]:
    """Per-cell change of the final ``[clips, T, 1280, 7, 7]`` maps, summarised."""
    f = maps.astype(np.float32).reshape(*maps.shape[:3], -1)
    a, b = f[:, :-1], f[:, 1:]
    norm_a, norm_b = np.linalg.norm(a, axis=2), np.linalg.norm(b, axis=2)
    cosine = 1 - (a * b).sum(2) / (norm_a * norm_b + 1e-6)
    relative = np.linalg.norm(b - a, axis=2) / (norm_a + norm_b + 1e-6)
    cells = np.stack(
        [
            np.concatenate(
                [
                    motion.over_time(motion.over_cells(cosine[i])),
                    motion.over_time(motion.over_cells(relative[i])),
                ]
            )
            for i in range(len(f))
        ]
    )
    change = np.abs(b - a)
    spatial_max = change.max(-1).mean(1)
    return {
        "final_cells": cells,
        "final_channel_max": np.log(spatial_max + 1e-3).astype(np.float64),
        "final_channel_peak": (
            np.log(spatial_max + 1e-3) - np.log(change.mean(-1).mean(1) + 1e-3)
        ).astype(np.float64),
    }


def cached_final_maps(work: Path, refs: list[ClipRef], backbone: torch.nn.Module) -> Any:
    """``[clips, 8, 1280, 7, 7]`` float16 final maps (about 240 MB), cached in ``work``."""
    cache = work / "experiments_finalmap.npz"
    names = np.array([ref.name for ref in refs])
    if cache.is_file():
        stored = np.load(cache)
        if np.array_equal(stored["names"], names):
            return stored["maps"]
    maps = []
    with torch.inference_mode():
        for ref in refs:
            clip = torch.from_numpy(prepare(sample_frames(ref.path, FRAMES), SIZE))
            maps.append(backbone(clip).numpy().astype(np.float16))
    stacked = np.stack(maps)
    np.savez(cache, names=names, maps=stacked)
    return stacked


def nested_other_head(
    x: Array,
    y: npt.NDArray[np.int64],
    groups: npt.NDArray[np.str_],
    factory: Callable[[float], Any],
    grid: tuple[float, ...],
) -> ev.CvResult:
    """The shipped protocol with another classifier; scores are sigmoid(decision_function)."""
    result = ev.CvResult()

    def score(model: Any, test: Array) -> Array:
        return np.asarray(1 / (1 + np.exp(-model.decision_function(test))), dtype=np.float64)

    for seed in ev.SEEDS:
        scores, fold_of = np.zeros(len(y)), np.zeros(len(y), dtype=np.int64)
        outer = StratifiedGroupKFold(ev.OUTER_FOLDS, shuffle=True, random_state=seed)
        for index, (train, test) in enumerate(outer.split(x, y, groups)):
            xt, yt, gt = x[train], y[train], groups[train]
            inner = list(
                StratifiedGroupKFold(ev.INNER_FOLDS, shuffle=True, random_state=seed).split(
                    xt, yt, gt
                )
            )
            best, best_auc = grid[0], -1.0
            for value in grid:
                inner_scores = np.zeros(len(yt))
                for a, b in inner:
                    inner_scores[b] = score(factory(value).fit(xt[a], yt[a]), xt[b])
                auc = float(roc_auc_score(yt, inner_scores))
                if auc > best_auc + 1e-9:
                    best, best_auc = value, auc
            scores[test] = score(factory(best).fit(xt, yt), x[test])
            fold_of[test] = index
            result.chosen_c.append(best)
        result.scores.append(scores)
        result.folds.append(fold_of)
    return result


def _svm(c: float) -> Any:
    return make_pipeline(StandardScaler(), SVC(C=c))


def _boosting(depth: float) -> Any:
    return HistGradientBoostingClassifier(
        max_depth=int(depth), learning_rate=0.05, max_iter=100, random_state=0
    )


def per_clip(fn: Callable[[npt.NDArray[np.uint8]], Array], gray: npt.NDArray[np.uint8]) -> Array:
    """Apply a per-clip motion statistic to every clip."""
    return np.nan_to_num(np.stack([fn(clip) for clip in gray]))


def main(argv: list[str] | None = None) -> None:
    """Compute the feature blocks and print one table row per variant."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fight-surv folder")
    parser.add_argument("--work", type=Path, default=HERE / "work", help="scratch folder")
    parser.add_argument("--skip-final-map", action="store_true", help="skip the 1280x7x7 maps")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(2)
    refs = index_dataset(args.data)
    y = np.array([ref.label for ref in refs], dtype=np.int64)
    groups = np.array([ref.group for ref in refs])
    backbone = load_backbone(fetch_weights(args.work))
    shipped = statistics(
        cached_features(
            args.work / f"features_t{FRAMES}_s{SIZE}_d{FEATURE_DIM}.npz",
            refs,
            lambda: clip_inputs(refs, FRAMES, SIZE),
            torch_frame_fn(FrameModel(backbone).eval()),
        )
    )
    gray = cached_gray(args.work, refs)
    blocks: dict[str, Array] = {"shipped": shipped}
    for n in (8, 16):
        blocks[f"diff{n}"] = per_clip(motion.difference_statistics, gray[n])
        blocks[f"flow{n}"] = per_clip(motion.flow_statistics, gray[n])
        blocks[f"lk{n}"] = per_clip(motion.lucas_kanade_statistics, gray[n])
        blocks[f"pyrlk{n}"] = per_clip(motion.pyramid_flow_statistics, gray[n])
    if not args.skip_final_map:
        blocks |= final_map_statistics(cached_final_maps(args.work, refs, backbone))
    single = ["shipped", "diff8", "diff16", "flow8", "flow16", "lk8", "lk16", "pyrlk8", "pyrlk16"]
    single += [] if args.skip_final_map else ["final_cells", "final_channel_max"]
    concat = [
        ("diff16", "flow16"),
        ("diff8", "flow8"),
        ("diff8", "pyrlk8"),
        ("shipped", "diff16", "flow16"),
    ]
    concat += [] if args.skip_final_map else [("shipped", "final_cells")]
    fused = [
        ("shipped", "diff16+flow16"),
        ("shipped", "diff8+flow8"),
        ("shipped", "flow16"),
        ("shipped", "diff16"),
        ("shipped", "diff8"),
        ("shipped", "lk16"),
        ("shipped", "pyrlk8"),
        ("shipped", "diff8+pyrlk8"),
        ("shipped", "diff16+pyrlk16"),
    ]
    fused += [] if args.skip_final_map else [("shipped", "final_cells")]
    blocks["diff16+flow16"] = np.hstack([blocks["diff16"], blocks["flow16"]])
    blocks["diff8+flow8"] = np.hstack([blocks["diff8"], blocks["flow8"]])
    blocks["diff8+pyrlk8"] = np.hstack([blocks["diff8"], blocks["pyrlk8"]])
    blocks["diff16+pyrlk16"] = np.hstack([blocks["diff16"], blocks["pyrlk16"]])
    print(
        "| variant | features | accuracy | ROC AUC | folds with higher AUC than shipped |\n"
        "|---|---:|---|---|---:|",
        flush=True,
    )
    oof = {name: ev.cross_validate(blocks[name], y, groups) for name in single[:1]}
    reference = oof["shipped"]
    for name in single:
        oof[name] = oof.get(name) or ev.cross_validate(blocks[name], y, groups)
        _row(name, blocks[name].shape[1], y, oof[name], reference)
    for parts in concat:
        x = np.hstack([blocks[p] for p in parts])
        _row(" + ".join(parts), x.shape[1], y, ev.cross_validate(x, y, groups), reference)
    motion16 = blocks["diff16+flow16"]
    svm = nested_other_head(motion16, y, groups, _svm, (0.1, 1.0, 10.0))
    _row("diff16 + flow16, RBF SVM", motion16.shape[1], y, svm, reference)
    boosting = nested_other_head(motion16, y, groups, _boosting, (2, 3))
    _row("diff16 + flow16, gradient boosting", motion16.shape[1], y, boosting, reference)
    for parts in fused:
        for p in parts:
            oof[p] = oof.get(p) or ev.cross_validate(blocks[p], y, groups)
        late = ev.late_fusion([oof[p] for p in parts])
        _row(" & ".join(parts) + " (late fusion)", 0, y, late, reference)


def _row(
    name: str, width: int, y: npt.NDArray[np.int64], cv: ev.CvResult, reference: ev.CvResult
) -> None:
    s = ev.summarise(y, cv, 0.5)
    acc, auc = s["accuracy"], s["roc_auc"]
    wins = ev.folds_above(y, cv, reference)
    print(
        f"| {name} | {width or '-'} | {acc['mean']:.3f} ± {acc['std']:.3f} "
        f"| {auc['mean']:.3f} ± {auc['std']:.3f} | {wins} / {s['folds']} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
