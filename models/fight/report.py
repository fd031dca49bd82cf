"""``python -m models.fight.report``: the card's evaluation as Markdown tables (for models/README.md)."""

from __future__ import annotations

from typing import Any

from models import shipped_card_path
from models.card import load_card

_ROWS = (
    (
        "baseline: mean + change of pooled features, 160 px",
        ("baseline_160px_8frames_mean_plus_change",),
    ),
    (
        "baseline, same 224 px frames as the shipped model",
        ("baseline_224px_8frames_mean_plus_change",),
    ),
    (
        "appearance regression alone (model 1.0), threshold 0.5",
        ("appearance_regression_alone_threshold_0.5",),
    ),
    ("motion regression alone, threshold 0.5", ("motion_regression_alone_threshold_0.5",)),
    ("shipped fp32, threshold 0.5", ("shipped_head_threshold_0.5",)),
    ("shipped fp32, operating point", ("shipped_head_operating_point",)),
    ("int8 pair, threshold 0.5", ("int8_vs_fp32", "nested_cv_int8_pair_threshold_0.5")),
    ("int8 pair, operating point", ("int8_vs_fp32", "nested_cv_int8_pair_operating_point")),
)
_METRICS = ("accuracy", "roc_auc", "precision", "recall", "false_alarms_per_hour")


def _get(tree: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node: Any = tree
    for part in path:
        node = node[part]
    return dict(node)


def _cell(stat: dict[str, float], digits: int) -> str:
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f} ({stat['min']:.{digits}f}-{stat['max']:.{digits}f})"


def render() -> str:
    """Metrics table (mean ± std (min-max) over outer folds) and pooled confusion matrices."""
    card = load_card(shipped_card_path())
    evaluation = card.evaluation
    header = "| model | " + " | ".join(m.replace("_", " ") for m in _METRICS) + " |"
    lines = [header, "|---" * (len(_METRICS) + 1) + "|"]
    confusion = [
        "| model | TN | FP | FN | TP (pooled out-of-fold, first repeat) |",
        "|---|---:|---:|---:|---:|",
    ]
    for title, key in _ROWS:
        section = _get(evaluation, key)
        cells = [_cell(section[m], 0 if m == "false_alarms_per_hour" else 3) for m in _METRICS]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
        first = section["pooled_confusion_per_repeat"][0]
        confusion.append(
            f"| {title} | {first['tn']} | {first['fp']} | {first['fn']} | {first['tp']} |"
        )
    return "\n".join(lines) + "\n\n" + "\n".join(confusion)


if __name__ == "__main__":
    print(render())
