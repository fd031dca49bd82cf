"""Table-driven tests of the frame sampler, reconnect backoff, URL helpers and camera config."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from edge.sources import CameraConfig, FrameSampler
from edge.sources.backoff import Backoff
from edge.sources.stream import is_live, redact_url


def _kept(fps: float, stamps: list[float], tolerance: float = 0.2) -> list[float]:
    sampler = FrameSampler(fps, tolerance)
    return [t for t in stamps if sampler.keep(t)]


def _regular(rate: float, seconds: float, jitter: float = 0.0, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    count = round(rate * seconds)
    return [i / rate + rng.uniform(-jitter, jitter) for i in range(count)]


@pytest.mark.parametrize(
    ("source_fps", "analysis_fps", "jitter", "expected"),
    [
        (25, 5, 0.0, 50),  # 10 s: exactly one frame per 0.2 s slot
        (25, 5, 0.015, 50),  # jitter of +-15 ms neither skips nor doubles a slot
        (30, 5, 0.0, 50),
        (25, 4, 0.0, 40),
        (25, 25, 0.0, 250),  # analysis rate = source rate: keep all
        (25, 50, 0.0, 250),  # above the source rate: keep all, never invent
        (10, 3, 0.005, 30),
        (25, 1, 0.0, 10),
    ],
)
def test_sampler_keeps_the_configured_rate(
    source_fps: float, analysis_fps: float, jitter: float, expected: int
) -> None:
    stamps = sorted(_regular(source_fps, 10, jitter))
    assert len(_kept(analysis_fps, stamps)) == expected


@pytest.mark.parametrize(
    ("stamps", "kept"),
    [
        ([], []),
        ([100.0], [100.0]),
        ([0.0, 0.05, 0.1, 0.15, 0.2], [0.0, 0.2]),  # 5 fps from 20 fps
        ([0.0, 0.19, 0.2, 0.39, 0.4], [0.0, 0.19, 0.39]),  # early within tolerance: its slot
        ([0.0, 0.1, 5.0, 5.05, 5.2], [0.0, 5.0, 5.2]),  # after a gap: restart, no burst
        ([0.0, 0.0, 0.0, 0.2], [0.0, 0.2]),  # a burst of equal stamps keeps one
    ],
)
def test_sampler_table(stamps: list[float], kept: list[float]) -> None:
    assert _kept(5, stamps) == kept


def test_sampler_reset_keeps_the_next_frame() -> None:
    sampler = FrameSampler(1)
    assert sampler.keep(0.0)
    assert not sampler.keep(0.5)
    sampler.reset()
    assert sampler.keep(0.6)


@pytest.mark.parametrize(("fps", "tolerance"), [(0, 0.2), (-1, 0.2), (5, 1.0), (5, -0.1)])
def test_sampler_rejects_bad_arguments(fps: float, tolerance: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        FrameSampler(fps, tolerance)


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    backoff = Backoff(0.5, 10.0, random.Random(7))
    ceilings = [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    delays = [backoff.next_delay() for _ in ceilings]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert 0.5 <= delay <= ceiling
    assert len(set(delays)) == len(delays), "delays are jittered"
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_backoff_spreads_many_cameras_apart() -> None:
    rng = random.Random(3)
    firsts = []
    for _ in range(50):
        backoff = Backoff(0.5, 10.0, rng)
        for _ in range(5):
            delay = backoff.next_delay()
        firsts.append(delay)
    assert max(firsts) - min(firsts) > 4  # the fifth attempt spreads over [0.5, 8]


@pytest.mark.parametrize(("minimum", "maximum"), [(0, 1), (2, 1), (-1, 5)])
def test_backoff_rejects_bad_bounds(minimum: float, maximum: float) -> None:
    with pytest.raises(ValueError, match="minimum"):
        Backoff(minimum, maximum)


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("rtsp://admin:hunter2@10.0.0.7:554/stream1", "rtsp://admin:***@10.0.0.7:554/stream1"),
        ("rtsp://admin:p%40ss@cam.local/s?x=1", "rtsp://admin:***@cam.local/s?x=1"),
        ("rtsp://10.0.0.7/stream1", "rtsp://10.0.0.7/stream1"),
        ("rtsp://viewer@10.0.0.7/stream1", "rtsp://viewer@10.0.0.7/stream1"),
        ("rtsp://u:pw@[fe80::1]:8554/s", "rtsp://u:***@[fe80::1]:8554/s"),
        ("media/street-demo.mp4", "media/street-demo.mp4"),
    ],
)
def test_redact_url_hides_passwords(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


@pytest.mark.parametrize(
    ("url", "live"),
    [
        ("rtsp://cam/s", True),
        ("RTSPS://cam/s", True),
        ("http://cam/mjpeg", True),
        ("file:///srv/a.mp4", False),
        ("/srv/a.mp4", False),
        ("clips/a.mp4", False),
    ],
)
def test_is_live(url: str, live: bool) -> None:
    assert is_live(url) is live


def test_camera_config_defaults() -> None:
    config = CameraConfig(name="north-gate", url="rtsp://cam/s")
    assert config.backend == "opencv"
    assert config.decode == "all"
    assert config.stale_after_seconds == 5.0
    assert (config.reconnect_min_seconds, config.reconnect_max_seconds) == (0.5, 10.0)
    assert config.open_timeout_seconds == config.read_timeout_seconds == 5.0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name": "Bad Name"}, "name"),
        ({"analysis_fps": 0}, "analysis_fps"),
        ({"backend": "gstreamer"}, "backend"),
        ({"decode": "keyframes"}, "needs backend: pyav"),
        ({"reconnect_min_seconds": 5, "reconnect_max_seconds": 1}, "must not exceed"),
        ({"surprise": True}, "surprise"),
        ({"url": ""}, "url"),
    ],
)
def test_camera_config_rejects(values: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"name": "cam1", "url": "rtsp://cam/s"}
    with pytest.raises(ValidationError, match=message):
        CameraConfig.model_validate({**base, **values})


def test_every_camera_config_field_is_described() -> None:
    for name, field in CameraConfig.model_fields.items():
        assert field.description, f"{name} has no description"
