"""Camera readers against a real RTSP server (gst-rtsp-server): rate, outages, recovery."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.sources import CameraConfig, CameraReader, build_reader
from tests.support.frames import FrameCollector, camera_name, sample, wait_for
from tests.support.media import ClipFactory, session_clips
from tests.support.rtsp_server import RtspServer

pytestmark = pytest.mark.slow

DOWN_WITHIN = 10.0  # the requirement: a camera that stops delivering is reported down in 10 s
RECOVER_WITHIN = 40.0  # generous: reconnect backoff plus ~1.2 s to the first frame


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> ClipFactory:
    return session_clips(tmp_path_factory)


@pytest.fixture
def server(clips: ClipFactory, tmp_path: Path) -> Iterator[RtspServer]:
    rtsp = RtspServer({"cam": clips(seconds=120)}, tmp_path / "rtsp.log")
    rtsp.start()
    try:
        yield rtsp
    finally:
        rtsp.kill()


def _config(url: str, **overrides: object) -> CameraConfig:
    values: dict[str, object] = {
        "name": camera_name(),
        "url": url,
        "analysis_fps": 5.0,
        "reconnect_min_seconds": 0.2,
        "reconnect_max_seconds": 2.0,
    }
    values.update(overrides)
    return CameraConfig.model_validate(values)


def _up(camera: str) -> float:
    return sample("streetsense_camera_up", camera)


@pytest.fixture
def started() -> Iterator[list[CameraReader]]:
    readers: list[CameraReader] = []
    try:
        yield readers
    finally:
        for reader in readers:
            assert reader.stop(timeout=15), "reader threads did not finish"


def test_rtsp_frames_arrive_at_the_sampled_rate(
    server: RtspServer, started: list[CameraReader]
) -> None:
    sink = FrameCollector()
    config = _config(server.url("cam"))
    reader = build_reader(config, sink)
    started.append(reader)
    reader.start()
    wait_for(lambda: len(sink) >= 1, 20, "the first frame")
    wait_for(lambda: len(sink) >= 16, 20, "16 sampled frames")

    frames = sink.snapshot()
    seqs = [frame.seq for frame in frames]
    stamps = [frame.captured_at for frame in frames]
    assert seqs == sorted(set(seqs)), "sequence numbers must strictly increase"
    assert all(b > a for a, b in itertools.pairwise(stamps))
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.8 / config.analysis_fps, "the sampler kept frames too close together"
    # every frame is decoded, only the sampled ones are converted: 25 fps in, 5 kept
    assert seqs[-1] - seqs[0] >= 3 * (len(seqs) - 1)
    assert frames[0].camera == config.name
    assert frames[0].image.shape == (360, 640, 3)

    health = reader.health()
    assert health.connected
    assert (health.width, health.height) == (640, 360)
    assert health.frames_decoded >= seqs[-1]
    assert health.reconnects == 0
    assert health.last_frame_age is not None and health.last_frame_age < 5
    assert _up(config.name) == 1.0
    assert sample("streetsense_frames_decoded_total", config.name) >= seqs[-1]
    wait_for(lambda: reader.health().fps_in > 5, 10, "fps_in to reflect the 25 fps input")


@pytest.mark.parametrize("backend", ["opencv", "pyav"])
def test_killed_server_is_reported_down_and_recovers_after_restart(
    server: RtspServer, started: list[CameraReader], backend: str
) -> None:
    sink = FrameCollector()
    config = _config(server.url("cam"), backend=backend)
    reader = build_reader(config, sink)
    started.append(reader)
    reader.start()
    wait_for(lambda: _up(config.name) == 1.0 and len(sink) >= 3, 20, "the camera to come up")

    server.kill()
    wait_for(lambda: _up(config.name) == 0.0, DOWN_WITHIN, "CAMERA_UP=0 after the server died")
    assert not reader.health().connected
    time.sleep(1.0)  # a few failed reconnect attempts against a closed port
    assert reader.health().last_error

    server.start()
    frames_before = len(sink)
    wait_for(lambda: _up(config.name) == 1.0, RECOVER_WITHIN, "the camera to recover")
    wait_for(lambda: len(sink) > frames_before + 3, 20, "frames after recovery")
    health = reader.health()
    assert health.connected
    assert health.reconnects >= 1
    assert sample("streetsense_camera_reconnects_total", config.name) == health.reconnects


@pytest.mark.parametrize("backend", ["opencv", "pyav"])
def test_frozen_server_is_reported_down_and_recovers_when_it_resumes(
    server: RtspServer, started: list[CameraReader], backend: str
) -> None:
    sink = FrameCollector()
    config = _config(server.url("cam"), stale_after_seconds=5.0, backend=backend)
    reader = build_reader(config, sink)
    started.append(reader)
    reader.start()
    wait_for(lambda: _up(config.name) == 1.0 and len(sink) >= 3, 20, "the camera to come up")

    server.freeze()
    try:
        wait_for(lambda: _up(config.name) == 0.0, DOWN_WITHIN, "CAMERA_UP=0 while frozen")
        health = reader.health()
        assert not health.connected
        assert health.last_frame_age is not None and health.last_frame_age >= 4
        age = sample("streetsense_camera_last_frame_age_seconds", config.name)
        assert age >= 4
        time.sleep(1.0)
        assert sample("streetsense_camera_last_frame_age_seconds", config.name) > age
    finally:
        server.thaw()

    frames_before = len(sink)
    wait_for(lambda: _up(config.name) == 1.0, RECOVER_WITHIN, "recovery after the freeze")
    wait_for(lambda: len(sink) > frames_before + 3, 20, "frames after recovery")
    assert reader.health().reconnects >= 1


def test_pyav_keyframes_mode_decodes_about_one_frame_per_gop(
    server: RtspServer, started: list[CameraReader]
) -> None:
    sink = FrameCollector()
    config = _config(server.url("cam"), backend="pyav", decode="keyframes")
    reader = build_reader(config, sink)
    started.append(reader)
    reader.start()
    wait_for(lambda: len(sink) >= 2, 20, "two keyframes")
    first = reader.health().frames_decoded
    start = time.monotonic()
    wait_for(lambda: len(sink) >= 6, 30, "six keyframes")
    elapsed = time.monotonic() - start
    decoded = reader.health().frames_decoded - first
    # the clip has one keyframe per second (GOP 25 at 25 fps); decoding all would be ~25/s
    assert decoded <= 2 * elapsed + 2
    assert decoded >= 1
    frames = sink.snapshot()
    assert frames[0].image.shape == (360, 640, 3)
    # at a 5 fps analysis rate nearly every keyframe is kept (the sampler may skip one
    # of the frames the server bursts out right after connecting)
    assert len(frames) >= frames[-1].seq - 1
    assert reader.health().connected
