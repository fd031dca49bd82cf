"""Snapshots in the running agent: only for START, of the privacy-masked frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import httpx

from edge.agent import Agent
from events import Phase
from tests.edge.test_agent_e2e import EventSubscriber, agent_config, always_alert_card, wait_until
from tests.support.media import ClipSpec, make_clip
from tests.support.mosquitto import Mosquitto


def test_start_event_references_a_masked_snapshot(tmp_path: Path, mosquitto: Mosquitto) -> None:
    clip = make_clip(tmp_path / "media", ClipSpec(seconds=30, width=320, height=180))
    left_half = {"name": "left half", "points": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}
    camera = {
        "name": "cam1",
        "url": str(clip),
        "loop": True,
        "analysis_fps": 8,
        "privacy_masks": [left_half],
    }
    snapshots = tmp_path / "snapshots"
    config = agent_config(
        tmp_path,
        mosquitto.port,
        always_alert_card(tmp_path / "model"),
        cameras=[camera],
        snapshots={"enabled": True, "directory": str(snapshots)},
        fusion={"smoothing": {"alpha": 1.0, "confirm_clips": 2}},
    )
    subscriber = EventSubscriber(mosquitto.port, "e2e")
    agent = Agent(config)
    agent.start()
    try:
        wait_until(lambda: bool(subscriber.events()), 60, "the START event")
        assert agent.api is not None
        ref = subscriber.events()[0][1].evidence.snapshot_ref
        download = httpx.get(f"http://127.0.0.1:{agent.api.port}/v1/snapshots/{ref}", timeout=10)
        assert download.status_code == 200
        assert download.content == (snapshots / str(ref)).read_bytes()
    finally:
        agent.stop()
        subscriber.close()
    events = [event for _, event in subscriber.events()]
    start = events[0]
    assert start.phase is Phase.START and start.evidence.snapshot_ref is not None
    assert all(e.evidence.snapshot_ref is None for e in events[1:])
    files = sorted(snapshots.iterdir())
    assert [f.name for f in files] == [start.evidence.snapshot_ref]  # nothing else is kept
    image = cv2.imread(str(files[0]))
    assert image is not None and image.shape[:2] == (180, 320)
    assert image[:, :150].mean() < 5  # the masked half is black in what is stored
    assert image[:, 170:].mean() > 40  # the unmasked half has the picture
