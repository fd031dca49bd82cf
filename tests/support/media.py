"""Short H.264 test clips made with ffmpeg, cached for the whole test session.

A clip is a two-second ``testsrc2`` pattern encoded once (25 fps, one keyframe
per second, no B-frames, ``faststart`` so a truncated copy still opens) and
repeated without re-encoding up to the requested length, so a two-minute clip
costs no more CPU than a two-second one.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
BASE_SECONDS = 2


@dataclass(frozen=True, slots=True)
class ClipSpec:
    """What to generate."""

    seconds: int = 10
    width: int = 640
    height: int = 360
    fps: int = 25
    gop: int = 25

    @property
    def stem(self) -> str:
        """A file name unique to this spec."""
        return f"testsrc2-{self.width}x{self.height}-{self.fps}fps-g{self.gop}-{self.seconds}s"


def _ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-loglevel", "error", "-y", *args], check=True, timeout=120)


def make_clip(directory: Path, spec: ClipSpec) -> Path:
    """Return an MP4 for ``spec`` in ``directory``, generating it on first use."""
    target = directory / f"{spec.stem}.mp4"
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    base_spec = ClipSpec(BASE_SECONDS, spec.width, spec.height, spec.fps, spec.gop)
    base = directory / f"{base_spec.stem}-base.mp4"
    if not base.exists():
        _ffmpeg(
            "-f", "lavfi",
            "-i", f"testsrc2=size={spec.width}x{spec.height}:rate={spec.fps}",
            "-t", str(BASE_SECONDS),
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "32",
            "-g", str(spec.gop), "-keyint_min", str(spec.gop), "-sc_threshold", "0",
            "-bf", "0", "-pix_fmt", "yuv420p",
            str(base),
        )  # fmt: skip
    repeats = max(0, -(-spec.seconds // BASE_SECONDS) - 1)
    partial = target.with_suffix(".part.mp4")
    _ffmpeg(
        "-stream_loop", str(repeats), "-i", str(base),
        "-t", str(spec.seconds), "-c", "copy", "-movflags", "+faststart",
        str(partial),
    )  # fmt: skip
    partial.rename(target)
    return target


def truncated_copy(source: Path, target: Path, fraction: float = 0.5) -> Path:
    """Copy the first ``fraction`` of ``source``'s bytes (a file cut off mid-stream)."""
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def _mdat_payload_offset(data: bytes) -> int:
    """Offset of the first byte of the top-level ``mdat`` box's payload."""
    offset = 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8]
        if kind == b"mdat":
            return offset + 8
        if size < 8:
            break
        offset += size
    raise ValueError("no mdat box found")


def corrupted_copy(source: Path, target: Path, every: int = 4096, span: int = 64) -> Path:
    """Copy ``source`` with ``span`` bytes of its coded video garbled every ``every`` bytes.

    The container structure (``moov``) stays intact, so the file opens and
    demuxes; the decoder meets broken slices.
    """
    data = bytearray(source.read_bytes())
    start = _mdat_payload_offset(bytes(data)) + every
    for offset in range(start, len(data) - span, every):
        data[offset : offset + span] = bytes((i * 151 + 7) % 256 for i in range(span))
    target.write_bytes(bytes(data))
    return target


class ClipFactory:
    """Makes clips in one directory; the same spec is generated only once."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __call__(
        self, seconds: int = 10, width: int = 640, height: int = 360, gop: int = 25
    ) -> Path:
        return make_clip(self.directory, ClipSpec(seconds, width, height, 25, gop))


def session_clips(tmp_path_factory: pytest.TempPathFactory) -> ClipFactory:
    """A :class:`ClipFactory` in the session's temp dir, shared by every test module."""
    return ClipFactory(tmp_path_factory.getbasetemp() / "media")
