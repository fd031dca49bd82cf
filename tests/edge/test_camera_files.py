"""Camera readers on files: pacing, looping, corrupt and truncated media, unreachable URLs."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.sources import CameraConfig, CameraReader, build_reader
from edge.values import Frame
from tests.support.frames import FrameCollector, camera_name, sample, wait_for
from tests.support.media import ClipFactory, corrupted_copy, session_clips, truncated_copy
from tests.support.mosquitto import free_port

BACKENDS = ["opencv", "pyav"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> ClipFactory:
    return session_clips(tmp_path_factory)


@pytest.fixture
def readers() -> Iterator[list[CameraReader]]:
    started: list[CameraReader] = []
    try:
        yield started
    finally:
        for reader in started:
            assert reader.stop(timeout=15), "reader threads did not finish"


def _start(readers: list[CameraReader], sink: object, **values: object) -> CameraReader:
    config = CameraConfig.model_validate(
        {
            "name": camera_name(),
            "reconnect_min_seconds": 0.1,
            "reconnect_max_seconds": 0.4,
            **values,
        }
    )
    reader = build_reader(config, sink)  # type: ignore[arg-type]
    readers.append(reader)
    reader.start()
    return reader


@pytest.mark.parametrize("backend", BACKENDS)
def test_paced_file_plays_like_a_live_camera_then_ends(
    clips: ClipFactory, readers: list[CameraReader], backend: str
) -> None:
    sink = FrameCollector()
    start = time.monotonic()
    reader = _start(readers, sink, url=str(clips(seconds=2)), analysis_fps=5, backend=backend)
    wait_for(lambda: reader.health().ended, 30, "the end of the file")
    elapsed = time.monotonic() - start

    health = reader.health()
    assert health.frames_decoded == 50  # 2 s at 25 fps, every frame decoded
    assert health.decode_errors == 0
    assert health.reconnects == 0
    assert not health.connected
    assert elapsed >= 1.5, "a paced file must not play faster than real time"
    frames = sink.snapshot()
    # one frame per 0.2 s slot of playback (slower than real time on a loaded box, never faster)
    assert 8 <= len(frames) <= elapsed * 5 + 1
    assert [f.seq for f in frames] == sorted({f.seq for f in frames})
    assert sample("streetsense_camera_up", health.name) == 0.0
    assert sample("streetsense_frames_decoded_total", health.name) == 50


@pytest.mark.parametrize("backend", BACKENDS)
def test_looping_file_keeps_going_without_counting_reconnects(
    clips: ClipFactory, readers: list[CameraReader], backend: str
) -> None:
    sink = FrameCollector()
    reader = _start(
        readers, sink, url=str(clips(seconds=2)), loop=True, backend=backend, analysis_fps=10
    )
    wait_for(lambda: reader.health().frames_decoded > 60, 30, "a second pass")
    health = reader.health()
    assert not health.ended
    assert health.reconnects == 0
    assert max(f.seq for f in sink.snapshot()) >= 50, "seq keeps counting across loops"


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncated_file_counts_a_decode_error_and_the_reader_survives(
    clips: ClipFactory, readers: list[CameraReader], backend: str, tmp_path: Path
) -> None:
    broken = truncated_copy(clips(seconds=10), tmp_path / "truncated.mp4", 0.5)
    sink = FrameCollector()
    reader = _start(readers, sink, url=str(broken), pace=False, backend=backend)
    wait_for(lambda: reader.health().ended, 30, "the end of the truncated file")
    health = reader.health()
    assert health.decode_errors >= 1
    assert 50 <= health.frames_decoded < 250
    assert sample("streetsense_decode_errors_total", health.name) == health.decode_errors


@pytest.mark.parametrize("backend", BACKENDS)
def test_corrupt_file_counts_decode_errors_and_the_reader_survives(
    clips: ClipFactory, readers: list[CameraReader], backend: str, tmp_path: Path
) -> None:
    broken = corrupted_copy(clips(seconds=10), tmp_path / "corrupt.mp4")
    sink = FrameCollector()
    reader = _start(readers, sink, url=str(broken), pace=False, backend=backend)
    wait_for(lambda: reader.health().ended, 30, "the end of the corrupt file")
    health = reader.health()
    assert health.decode_errors >= 1
    assert health.frames_decoded >= 10
    assert len(sink) >= 1
    assert sample("streetsense_decode_errors_total", health.name) == health.decode_errors


def test_pyav_decodes_past_corrupt_packets(
    clips: ClipFactory, readers: list[CameraReader], tmp_path: Path
) -> None:
    broken = corrupted_copy(clips(seconds=10), tmp_path / "corrupt.mp4")
    reader = _start(readers, FrameCollector(), url=str(broken), pace=False, backend="pyav")
    wait_for(lambda: reader.health().ended, 30, "the end of the corrupt file")
    # PyAV reports each bad packet and goes on with the next one
    assert reader.health().frames_decoded >= 200


@pytest.mark.parametrize(("gop", "keyframes"), [(25, 10), (50, 5)])
def test_pyav_keyframes_mode_decodes_one_frame_per_gop(
    clips: ClipFactory, readers: list[CameraReader], gop: int, keyframes: int
) -> None:
    sink = FrameCollector()
    reader = _start(
        readers,
        sink,
        url=str(clips(seconds=10, gop=gop)),
        pace=False,
        backend="pyav",
        decode="keyframes",
        analysis_fps=30,
    )
    wait_for(lambda: reader.health().ended, 30, "the end of the file")
    assert reader.health().frames_decoded == keyframes
    assert reader.health().decode_errors == 0
    assert sink.snapshot()[0].image.shape == (360, 640, 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unreachable_camera_retries_with_backoff_and_never_crashes(
    readers: list[CameraReader], backend: str
) -> None:
    url = f"rtsp://viewer:secret@127.0.0.1:{free_port()}/nothing-here"
    reader = _start(readers, FrameCollector(), url=url, backend=backend)
    wait_for(lambda: reader.health().reconnects >= 3, 30, "three reconnect attempts")
    health = reader.health()
    assert not health.connected
    assert health.frames_decoded == 0
    assert health.last_error
    assert "secret" not in health.url
    assert health.url.startswith("rtsp://viewer:***@127.0.0.1:")
    assert sample("streetsense_camera_up", health.name) == 0.0
    assert sample("streetsense_camera_reconnects_total", health.name) >= 3


def test_missing_and_non_video_files_retry_without_crashing(
    readers: list[CameraReader], tmp_path: Path
) -> None:
    junk = tmp_path / "not-a-video.mp4"
    junk.write_bytes(b"this is not a video file\n" * 100)
    missing = _start(readers, FrameCollector(), url=str(tmp_path / "missing.mp4"))
    not_video = _start(readers, FrameCollector(), url=str(junk), backend="pyav")
    for reader in (missing, not_video):
        wait_for(lambda r=reader: r.health().reconnects >= 2, 30, "reconnect attempts")  # type: ignore[misc]
        assert reader.health().last_error
        assert reader.health().frames_decoded == 0


def test_full_sink_counts_capture_drops_and_never_blocks_the_reader(
    clips: ClipFactory, readers: list[CameraReader]
) -> None:
    bounded: queue.Queue[Frame] = queue.Queue(maxsize=2)
    offered: list[int] = []

    def sink(frame: Frame) -> None:
        offered.append(frame.seq)
        bounded.put_nowait(frame)

    reader = _start(readers, sink, url=str(clips(seconds=2)), analysis_fps=25)
    wait_for(lambda: reader.health().ended, 30, "the end of the file")
    drops = sample("streetsense_drops_total", reader.name, stage="capture", reason="queue_full")
    assert bounded.qsize() == 2
    assert reader.health().frames_decoded == 50
    assert len(offered) >= 20
    assert drops == len(offered) - 2  # every kept frame beyond the two the queue held


def test_failing_sink_is_counted_and_the_reader_goes_on(
    clips: ClipFactory, readers: list[CameraReader]
) -> None:
    def broken_sink(frame: Frame) -> None:
        raise RuntimeError("downstream bug")

    reader = _start(readers, broken_sink, url=str(clips(seconds=2)), analysis_fps=25)
    wait_for(lambda: reader.health().ended, 30, "the end of the file")
    assert reader.health().frames_decoded == 50
    errors = sample("streetsense_drops_total", reader.name, stage="capture", reason="sink_error")
    assert errors >= 20


def test_stop_ends_the_reader_threads_promptly(
    clips: ClipFactory, readers: list[CameraReader]
) -> None:
    reader = _start(readers, FrameCollector(), url=str(clips(seconds=2)), loop=True)
    wait_for(lambda: reader.health().connected, 20, "the camera to come up")
    assert reader.stop(timeout=10)
    assert not reader.health().connected
    assert sample("streetsense_camera_up", reader.name) == 0.0
