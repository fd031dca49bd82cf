"""Clip sampling, grouping by source video and input normalisation."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from models.fight.clips import (
    MEAN,
    STD,
    index_dataset,
    normalise,
    prepare,
    sample_frames,
    sample_indices,
    source_groups,
)
from models.fight.errors import ClipError


@pytest.mark.parametrize(
    ("count", "fps", "frames", "expected"),
    [
        (50, 25.0, 4, [6, 18, 31, 43]),  # exactly 2 s: the whole clip
        (100, 25.0, 4, [31, 43, 56, 68]),  # 4 s: the centred 2 s window
        (25, 25.0, 2, [6, 18]),  # 1 s: the whole (shorter) clip
    ],
)
def test_sample_indices_cover_two_seconds_of_real_time(
    count: int, fps: float, frames: int, expected: list[int]
) -> None:
    assert sample_indices(count, fps, frames, 2.0) == expected


def test_same_window_at_any_frame_rate() -> None:
    slow = np.array(sample_indices(30, 15.0, 8, 2.0)) / 15.0
    fast = np.array(sample_indices(120, 60.0, 8, 2.0)) / 60.0
    np.testing.assert_allclose(slow, fast, atol=1 / 15)


def test_source_groups_and_unlisted_clips(tmp_path: Path) -> None:
    (tmp_path / "videos.txt").write_text(
        "https://example.org/a\nfi001: 0.1 - 0.3\nnofi001: 1.0 - 1.2\nhttps://example.org/b\nfi002: 0 - 2\n",
        encoding="utf-8",
    )
    assert source_groups(tmp_path / "videos.txt") == {
        "fi001": "https://example.org/a",
        "nofi001": "https://example.org/a",
        "fi002": "https://example.org/b",
    }
    for folder, name in (
        ("fight", "fi001"),
        ("fight", "fi002"),
        ("noFight", "nofi001"),
        ("noFight", "nofi009"),
    ):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / f"{name}.mp4").write_bytes(b"")
    refs = {ref.name: ref for ref in index_dataset(tmp_path)}
    assert refs["fi001"].group == refs["nofi001"].group
    assert refs["fi002"].group != refs["fi001"].group
    assert refs["nofi009"].group.startswith("unlisted:")
    assert (refs["fi001"].label, refs["nofi001"].label) == (1, 0)


def test_empty_dataset_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "videos.txt").write_text("", encoding="utf-8")
    with pytest.raises(ClipError, match="no clips"):
        index_dataset(tmp_path)


def test_normalise_is_rgb_imagenet() -> None:
    pixel = np.zeros((1, 2, 2, 3), np.uint8)
    pixel[..., 0] = 255  # blue in BGR
    out = normalise(pixel)
    assert out.shape == (1, 3, 2, 2)
    assert out.dtype == np.float32
    np.testing.assert_allclose(
        out[0, :, 0, 0],
        [(0 - MEAN[0]) / STD[0], (0 - MEAN[1]) / STD[1], (1 - MEAN[2]) / STD[2]],
        rtol=1e-6,
    )


def test_prepare_squashes_any_aspect_to_the_square_input() -> None:
    frames = [np.full((90, 160, 3), 128, np.uint8), np.full((480, 360, 3), 128, np.uint8)]
    out = prepare(frames, 32)
    assert out.shape == (2, 3, 32, 32)
    np.testing.assert_allclose(out[0], out[1])


def test_not_a_video_is_a_clip_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"not a video")
    with pytest.raises(ClipError):
        sample_frames(path, 8)


def test_decodes_a_real_clip_at_its_frame_rate(tmp_path: Path) -> None:
    path = tmp_path / "count.mp4"
    # 3 s at 10 fps, each frame's brightness encodes its index; the centred 2 s window is
    # 0.5-2.5 s, so 4 frames land at 0.75, 1.25, 1.75 and 2.25 s: frames 7, 12, 17, 22.
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=64x48:r=10:d=3",
         "-vf", "geq=lum='N*8':cb=128:cr=128", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "1", "-qp", "0", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    frames = sample_frames(path, 4)
    assert len(frames) == 4
    # limited-range luma Y = 8 N comes back as (Y - 16) * 255 / 219 in BGR
    index = [(float(frame.mean()) * 219 / 255 + 16) / 8 for frame in frames]
    np.testing.assert_allclose(index, [7, 12, 17, 22], atol=0.5)
