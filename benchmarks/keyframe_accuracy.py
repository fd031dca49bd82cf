"""Accuracy cost of the low-power decode mode (keyframes only) on the fight clips.

Every clip of ``../shared/data/fight-surv`` is classified twice by the shipped
model, through the agent's own loader and sessions:

* **normal**: the model's own sampling (``models.fight.clips.sample_frames``: T frames
  evenly spread over 2 s, every frame decoded), as in its evaluation;
* **keyframes**: the decoder skips every non-key frame (PyAV ``skip_frame="NONKEY"``,
  what ``decode: keyframes`` does); at each of the same T sample times the model sees
  the newest keyframe decoded so far (all a keyframe-only camera has to show).

Accuracy (at the card's alert threshold) and ROC AUC are reported for both, with
the decode CPU per clip. The shipped model was trained on these clips (its
independent evaluation uses a held-out part not in the shared data), so absolute
figures are optimistic; the *difference* between the two modes is the point.
Results are also given per source video group (mean of group accuracies), the
grouping the model's evaluation uses.

    python -m benchmarks.keyframe_accuracy [--limit N]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score

from benchmarks.harness import Measurement, table, write_report
from edge.inference import InferenceConfig, LoadedModel, load_model
from models.fight.clips import CLIP_SECONDS, index_dataset, prepare, sample_frames, sample_indices

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "fight-surv"
DEFAULT_CARD = ROOT / "models" / "fight" / "card.yaml"

Image = npt.NDArray[np.uint8]


def keyframe_samples(path: Path, frames: int) -> list[Image]:
    """At each sample time, the newest keyframe decoded at or before it."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        count = stream.frames or 0
        stream.codec_context.skip_frame = "NONKEY"
        keys: list[tuple[int, Image]] = []
        for frame in container.decode(stream):
            seconds = float(frame.time or 0.0)
            image: Image = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
            keys.append((round(seconds * fps), image))
    if not keys:
        raise ValueError(f"{path}: no keyframe decoded")
    count = count or keys[-1][0] + 1
    out = []
    for index in sample_indices(count, fps, frames, CLIP_SECONDS):
        earlier = [image for at, image in keys if at <= index]
        out.append(earlier[-1] if earlier else keys[0][1])
    return out


def fight_probability(model: LoadedModel, images: list[Image]) -> float:
    """The model's probability of its first alert label for one clip."""
    card = model.card
    tensor = prepare(images, card.input.height)
    if model.frame_model is not None and model.clip_head is not None:
        features = model.frame_model.run(tensor)
        probabilities = model.clip_head.run(features[None])
    else:
        assert model.clip_model is not None
        probabilities = model.clip_model.run(tensor[None])
    label = next(iter(card.alerts))
    return float(probabilities[0][card.labels.index(label)])


def _group_mean(by_group: dict[str, list[bool]]) -> float:
    return float(np.mean([np.mean(values) for values in by_group.values()]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--card", type=Path, default=DEFAULT_CARD)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=0, help="clips (0: all)")
    args = parser.parse_args()
    model = load_model(InferenceConfig(card=args.card))
    card = model.card
    threshold = next(iter(card.alerts.values())).threshold
    clips = index_dataset(args.data)
    if args.limit:
        clips = clips[:: max(1, len(clips) // args.limit)][: args.limit]
    labels: list[int] = []
    groups: list[str] = []
    scores: dict[str, list[float]] = {"normal": [], "keyframes": []}
    cpu = {"normal": Measurement("decode, all frames", "CPU ms/clip"),
           "keyframes": Measurement("decode, keyframes only", "CPU ms/clip")}  # fmt: skip
    for clip in clips:
        for mode, sampler in (("normal", sample_frames), ("keyframes", keyframe_samples)):
            started = time.process_time()
            images = sampler(clip.path, card.input.frames)
            cpu[mode].samples.append(1000.0 * (time.process_time() - started))
            scores[mode].append(fight_probability(model, images))
        labels.append(clip.label)
        groups.append(clip.group)
    truth = np.array(labels)
    rows = []
    for mode in ("normal", "keyframes"):
        predicted = np.array(scores[mode]) >= threshold
        correct = predicted == truth.astype(bool)
        by_group: dict[str, list[bool]] = defaultdict(list)
        for group, ok in zip(groups, correct, strict=True):
            by_group[group].append(bool(ok))
        rows += [
            Measurement(f"{mode}: accuracy", "", [float(correct.mean())]),
            Measurement(f"{mode}: mean of per-group accuracy", "", [_group_mean(by_group)]),
            Measurement(f"{mode}: ROC AUC", "", [float(roc_auc_score(truth, scores[mode]))]),
        ]
    write_report(
        "Keyframe accuracy",
        "python -m benchmarks.keyframe_accuracy" + (f" --limit {args.limit}" if args.limit else ""),
        [
            f"Model `{card.name} {card.version}`, {len(clips)} clips "
            f"({int(truth.sum())} fight), {len(set(groups))} source groups, threshold "
            f"{threshold:g}. See the module docstring for what each mode feeds the model; the "
            "model was trained on these clips, so compare the modes, not the absolute values.",
            table("accuracy cost of keyframes-only decoding", rows),
            table("decode CPU per 2 s clip", list(cpu.values()), cpu["normal"], "vs all frames"),
        ],
    )


if __name__ == "__main__":
    main()
