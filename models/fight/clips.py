"""The fight data set on disk and the one way clips are decoded, sampled and normalised.

Training, evaluation and the tests all go through :func:`sample_frames` and
:func:`prepare`, the same steps the agent performs on a live stream: keep
``frames`` frames evenly spaced over a ``seconds`` window at the stream's real
frame rate, resize every frame to the same square size (aspect ratio and source
resolution are normalised away), BGR -> RGB, ImageNet normalisation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from models.fight.errors import ClipError

LABELS = ("no_fight", "fight")
CLIP_SECONDS = 2.0
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
_CLIP_LINE = re.compile(r"^(n?o?fi\d+)\s*:")


@dataclass(frozen=True, slots=True)
class ClipRef:
    """One labelled clip and the source video it was cut from."""

    name: str
    path: Path
    label: int  # index into LABELS
    group: str  # source video; clips of one group never straddle a train/test split


def source_groups(videos_txt: Path) -> dict[str, str]:
    """Map clip name -> source video URL from the data set's ``videos.txt``."""
    groups: dict[str, str] = {}
    current = ""
    for raw in videos_txt.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("http"):
            current = line
        elif (match := _CLIP_LINE.match(line)) and current:
            groups[match.group(1)] = current
    return groups


def index_dataset(root: Path) -> list[ClipRef]:
    """All clips under ``root`` (``fight/``, ``noFight/``), sorted by name.

    Clips missing from ``videos.txt`` are grouped by their video format (size and
    frame rate): clips of one unlisted source then stay together, erring on the side
    of grouping unrelated clips rather than leaking a source across a split.
    """
    groups = source_groups(root / "videos.txt")
    refs = [
        ClipRef(path.stem, path, label, groups.get(path.stem) or _format_group(path))
        for label, folder in ((1, "fight"), (0, "noFight"))
        for path in sorted((root / folder).glob("*.mp4"))
    ]
    if not refs:
        raise ClipError(f"no clips under {root}")
    return sorted(refs, key=lambda ref: ref.name)


def _format_group(path: Path) -> str:
    capture = cv2.VideoCapture(str(path))
    try:
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(capture.get(cv2.CAP_PROP_FPS))
    finally:
        capture.release()
    return f"unlisted:{width}x{height}@{fps:.2f}"


def sample_indices(frame_count: int, fps: float, frames: int, seconds: float) -> list[int]:
    """Indices of ``frames`` frames evenly spaced over the centred ``seconds`` window."""
    duration = frame_count / fps
    window = min(seconds, duration)
    start = (duration - window) / 2
    times = start + (np.arange(frames) + 0.5) * window / frames
    return [min(frame_count - 1, int(t * fps)) for t in times]


def sample_frames(
    path: Path, frames: int, seconds: float = CLIP_SECONDS
) -> list[npt.NDArray[np.uint8]]:
    """Decode ``path`` and keep ``frames`` BGR frames spread over ``seconds`` of real time."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise ClipError(f"cannot open {path}")
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if fps <= 0 or count <= 0:
            raise ClipError(f"{path}: no frame rate or frame count ({fps}, {count})")
        wanted = sample_indices(count, fps, frames, seconds)
        kept: dict[int, npt.NDArray[np.uint8]] = {}
        last: npt.NDArray[np.uint8] | None = None
        for index in range(max(wanted) + 1):
            if not capture.grab():
                break
            if index in wanted:
                ok, image = capture.retrieve()
                if ok:
                    last = kept[index] = np.asarray(image, dtype=np.uint8)
        if last is None:
            raise ClipError(f"{path}: no frame could be decoded")
        # Containers sometimes over-report frame counts: repeat the last decoded frame.
        out: list[npt.NDArray[np.uint8]] = []
        for index in wanted:
            last = kept.get(index, last)
            out.append(last)
        return out
    finally:
        capture.release()


def resize(images: list[npt.NDArray[np.uint8]], size: int) -> npt.NDArray[np.uint8]:
    """BGR frames of any size -> ``[N, size, size, 3]`` BGR uint8 (bilinear, aspect not kept)."""
    return np.stack(
        [cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR) for image in images]
    )


def normalise(batch: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """``[N, H, W, 3]`` BGR uint8 -> ``[N, 3, H, W]`` float32, RGB, ImageNet-normalised."""
    rgb = batch[..., ::-1].astype(np.float32) / 255.0
    normalised = (rgb - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return np.ascontiguousarray(normalised.transpose(0, 3, 1, 2))


def prepare(images: list[npt.NDArray[np.uint8]], size: int) -> npt.NDArray[np.float32]:
    """BGR uint8 frames -> the model input ``[N, 3, size, size]`` (resize then normalise)."""
    return normalise(resize(images, size))
