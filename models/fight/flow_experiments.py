"""``python -m models.fight.flow_experiments``: variants of model 2.0's motion block and several crops.

Not part of the build. Reproduces the two tables recorded in ``models/README.md``
("Variants of the shipped flow" and "several crops per clip") under the shipped
protocol (:mod:`models.fight.evaluate`: same folds, seeds and C grid). Reads the
build's feature cache; ``--crops`` also runs the frozen backbone on 6 extra views of
every clip (cached in ``work/multiview_stats.npz``, about 8 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from models.fight import evaluate as ev
from models.fight import flow
from models.fight.backbone import fetch_weights, load_backbone
from models.fight.build import DEFAULT_DATA, FRAMES, SIZE
from models.fight.clips import index_dataset, prepare, sample_frames
from models.fight.fitting import motion, statistics
from models.fight.frame_model import FrameModel
from models.fight.layout import FEATURE_DIM, FLOW_START, FLOW_THUMB

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
Array = npt.NDArray[np.float64]
Labels = npt.NDArray[np.int64]
Block = Callable[[torch.Tensor], torch.Tensor]
VIEWS = ("flip", "tl", "tr", "bl", "br", "centre")
CROP = 0.75


def variant(**options: int) -> Block:
    """The shipped motion statistics with other pyramid settings."""
    return lambda gray: flow.motion_statistics(gray, **options)


def extended(**options: int) -> Block:
    """Shipped statistics plus moving-pixel shares, divergence, curl and 8x8-cell peaks."""

    def block(gray: torch.Tensor) -> torch.Tensor:
        field = flow.clip_flow(gray, **options)
        pairs, size = int(field.shape[1]), int(field.shape[-1])
        magnitude = (field * field).sum(2).sqrt()
        shares = [
            (magnitude > t).float().flatten(2).mean(-1, keepdim=True) for t in (0.25, 0.5, 1, 2)
        ]
        u, v = field[:, :, 0], field[:, :, 1]
        divergence = (
            u[..., 1:-1, 2:] - u[..., 1:-1, :-2] + v[..., 2:, 1:-1] - v[..., :-2, 1:-1]
        ).abs() / 2
        curl = (
            v[..., 1:-1, 2:] - v[..., 1:-1, :-2] - u[..., 2:, 1:-1] + u[..., :-2, 1:-1]
        ).abs() / 2
        turning = F.adaptive_avg_pool2d(
            torch.cat([divergence, curl], 1).reshape(-1, 2 * pairs, size - 2, size - 2), 4
        ).reshape(-1, 2, pairs, 16)
        fine = F.avg_pool2d(magnitude, size // 8).flatten(2)
        extra = [
            *shares,
            turning.mean(-1).transpose(1, 2),
            turning.amax(-1).transpose(1, 2),
            fine.amax(-1, keepdim=True),
            torch.topk(fine, 5, -1).values.mean(-1, keepdim=True)
            / (fine.mean(-1, keepdim=True) + 1e-3),
        ]
        steps = torch.cat([flow.flow_step_statistics(field), *extra], -1)
        return torch.cat([flow.difference_statistics(gray), flow._summarise_steps(steps)], 1)

    return block


def violent_flows(gray: torch.Tensor) -> torch.Tensor:
    """A ViF-style descriptor: where flow magnitude changes more than the frame's mean."""
    field = flow.clip_flow(gray)
    size = int(field.shape[-1])
    magnitude = (field * field).sum(2).sqrt()
    change = (magnitude[:, 1:] - magnitude[:, :-1]).abs()
    binary = (change >= change.flatten(2).mean(-1)[..., None, None]).float()
    share = binary.mean(1, keepdim=True)
    half = size // 2
    edges = torch.linspace(0, 1, 11)
    histograms = []
    for row in range(2):
        for column in range(2):
            patch = share[:, 0, row * half : (row + 1) * half, column * half : (column + 1) * half]
            values = patch.flatten(1)
            top = edges[1:].clone()
            top[-1] += 1e-6
            bins = [
                ((values >= lo) & (values < hi)).float().mean(1)
                for lo, hi in zip(edges[:-1], top, strict=True)
            ]
            histograms.append(torch.stack(bins, 1))
    moving = torch.stack(
        [(magnitude >= t).float().flatten(2).mean(-1) for t in (0.1, 0.25, 0.5, 1, 2)], -1
    )
    cells = F.avg_pool2d(share, size // 4).flatten(1)
    return torch.cat([cells, *histograms, moving.mean(1), moving.amax(1)], 1)


def _apply(block: Block, gray: torch.Tensor) -> Array:
    with torch.inference_mode():
        parts = [block(gray[i : i + 16]).double().numpy() for i in range(0, len(gray), 16)]
    return np.asarray(np.nan_to_num(np.concatenate(parts)), np.float64)


def _row(
    name: str, y: Labels, alone: ev.CvResult | None, fused: ev.CvResult, reference: ev.CvResult
) -> None:
    def cell(cv: ev.CvResult) -> str:
        s = ev.summarise(y, cv, 0.5)
        return f"{s['accuracy']['mean']:.3f} / {s['roc_auc']['mean']:.3f}"

    wins = ev.folds_above(y, fused, reference)
    print(
        f"| {name} | {cell(alone) if alone else '-'} | {cell(fused)} | {wins} / {len(ev.SEEDS) * ev.OUTER_FOLDS} |",
        flush=True,
    )


def _crops(frames: list[npt.NDArray[np.uint8]], view: str) -> list[npt.NDArray[np.uint8]]:
    out = []
    for frame in frames:
        if view == "flip":
            out.append(np.ascontiguousarray(frame[:, ::-1]))
            continue
        height, width = frame.shape[:2]
        ch, cw = int(height * CROP), int(width * CROP)
        top = {
            "tl": 0,
            "tr": 0,
            "bl": height - ch,
            "br": height - ch,
            "centre": (height - ch) // 2,
        }[view]
        left = {"tl": 0, "tr": width - cw, "bl": 0, "br": width - cw, "centre": (width - cw) // 2}[
            view
        ]
        out.append(np.ascontiguousarray(frame[top : top + ch, left : left + cw]))
    return out


def view_statistics(work: Path) -> dict[str, Array]:
    """Appearance statistics of every clip seen through each of :data:`VIEWS`."""
    cache = work / "multiview_stats.npz"
    if cache.is_file():
        stored = np.load(cache)
        return {view: np.asarray(stored[view], np.float64) for view in VIEWS}
    refs = index_dataset(DEFAULT_DATA)
    model = FrameModel(load_backbone(fetch_weights(work))).eval()
    out: dict[str, list[Array]] = {view: [] for view in VIEWS}
    for ref in refs:
        frames = sample_frames(ref.path, FRAMES)
        batch = np.concatenate([prepare(_crops(frames, view), SIZE) for view in VIEWS])
        with torch.inference_mode():
            features = (
                model(torch.from_numpy(batch)).numpy().reshape(len(VIEWS), FRAMES, FEATURE_DIM)
            )
        for view, row in zip(VIEWS, statistics(features), strict=True):
            out[view].append(row)
    stacked = {view: np.stack(rows) for view, rows in out.items()}
    np.savez(cache, **stacked)  # type: ignore[arg-type]
    return stacked


def augmented(views: list[Array], y: Labels, groups: npt.NDArray[np.str_]) -> ev.CvResult:
    """Train on every view as its own sample; test on the mean log-odds of a clip's views."""
    result = ev.CvResult()
    first = views[0]
    for seed in ev.SEEDS:
        logits, fold_of = np.zeros(len(y)), np.zeros(len(y), dtype=np.int64)
        outer = StratifiedGroupKFold(ev.OUTER_FOLDS, shuffle=True, random_state=seed)
        for index, (train, test) in enumerate(outer.split(first, y, groups)):
            inner = list(
                StratifiedGroupKFold(ev.INNER_FOLDS, shuffle=True, random_state=seed).split(
                    first[train], y[train], groups[train]
                )
            )
            best, best_auc = ev.C_GRID[0], -1.0
            for c in ev.C_GRID:
                scores = np.zeros(len(train))
                for a, b in inner:
                    fitted = ev._fit(
                        np.concatenate([v[train][a] for v in views]),
                        np.tile(y[train][a], len(views)),
                        c,
                    )
                    scores[b] = np.mean([fitted.decision_function(v[train][b]) for v in views], 0)
                auc = float(roc_auc_score(y[train], scores))
                if auc > best_auc + 1e-9:
                    best, best_auc = c, auc
            fitted = ev._fit(
                np.concatenate([v[train] for v in views]), np.tile(y[train], len(views)), best
            )
            logits[test] = np.mean([fitted.decision_function(v[test]) for v in views], 0)
            fold_of[test] = index
        result.logits.append(logits)
        result.scores.append(1 / (1 + np.exp(-logits)))
        result.folds.append(fold_of)
    return result


def main(argv: list[str] | None = None) -> None:
    """Print the variant and crop tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=HERE / "work", help="build's scratch folder")
    parser.add_argument("--crops", action="store_true", help="also the several-crops table")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(1)
    refs = index_dataset(DEFAULT_DATA)
    y = np.array([ref.label for ref in refs], dtype=np.int64)
    groups = np.array([ref.group for ref in refs])
    features = np.load(args.work / f"features_t{FRAMES}_s{SIZE}_d{FEATURE_DIM}.npz")["features"]
    gray = torch.from_numpy(
        features[:, :, FLOW_START:].reshape(len(features), FRAMES, FLOW_THUMB, FLOW_THUMB).copy()
    )
    appearance = ev.cross_validate(statistics(features), y, groups)
    shipped_motion = ev.cross_validate(motion(features), y, groups)
    print("| variant | motion alone | fused | folds above model 1.0 |\n|---|---|---|---:|")
    variants: list[tuple[str, Block]] = [
        ("shipped", variant()),
        ("3 steps per level", variant(iterations=3)),
        ("5 steps per level", variant(iterations=5)),
        ("5x5 window", variant(window=5)),
        ("9x9 window", variant(window=9)),
        ("4 pyramid levels", variant(levels=4)),
        ("9x9 window, 4 levels", variant(window=9, levels=4)),
        ("9x9 window, 3 steps", variant(window=9, iterations=3)),
        ("+ 40 more per-pair statistics", extended()),
        ("the same, 9x9 window", extended(window=9)),
        ("flow statistics only", flow.flow_statistics),
        ("difference statistics only", flow.difference_statistics),
        ("violent-flows descriptor alone", violent_flows),
        (
            "shipped + violent-flows descriptor",
            lambda g: torch.cat([flow.motion_statistics(g), violent_flows(g)], 1),
        ),
    ]
    for name, block in variants:
        cv = ev.cross_validate(_apply(block, gray), y, groups)
        _row(name, y, cv, ev.late_fusion([appearance, cv]), appearance)
    vif = ev.cross_validate(_apply(violent_flows, gray), y, groups)
    _row(
        "violent-flows descriptor as a third fused regression",
        y,
        None,
        ev.late_fusion([appearance, shipped_motion, vif]),
        appearance,
    )
    if not args.crops:
        return
    views = view_statistics(args.work)
    full = statistics(features)
    shipped = ev.late_fusion([appearance, shipped_motion])
    print(
        "\n| appearance input | appearance alone | fused with motion | folds above shipped |\n|---|---|---|---:|"
    )
    for name, chosen in (
        ("full + mirrored", ["flip"]),
        ("full + 4 corners", ["tl", "tr", "bl", "br"]),
        ("full + all 6 views", list(VIEWS)),
    ):
        cv = ev.cross_validate(np.mean([full] + [views[v] for v in chosen], 0), y, groups)
        _row(f"mean statistics, {name}", y, cv, ev.late_fusion([cv, shipped_motion]), shipped)
    for name, chosen in (("full + mirrored", ["flip"]), ("full + all 6 views", list(VIEWS))):
        cv = augmented([full] + [views[v] for v in chosen], y, groups)
        _row(f"augmented, {name}", y, cv, ev.late_fusion([cv, shipped_motion]), shipped)


if __name__ == "__main__":
    main()
