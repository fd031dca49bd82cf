"""The agent API on its own (the agent is a swap point: a fake view stands in here;
the end-to-end tests drive the same API on a real agent)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from edge.agent import AgentHealth
from edge.api import ApiServer, create_app
from edge.fusion import SnapshotStore
from edge.metrics import EVENTS
from edge.sources import CameraHealth
from events import Event, Phase, Severity, Source, SourceKind

AT = datetime(2026, 1, 1, tzinfo=UTC)


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agent")


def camera(name: str, connected: bool) -> CameraHealth:
    return CameraHealth(
        name=name,
        url="rtsp://cam:***@host/stream",
        backend="opencv",
        connected=connected,
        ended=False,
        fps_in=25.0 if connected else 0.0,
        frames_decoded=100,
        decode_errors=0,
        reconnects=1,
        last_frame_age=0.1,
        width=1280,
        height=720,
        last_error=None if connected else "no data for 5.0 s",
    )


def event(n: int) -> Event:
    return Event(
        event_id=f"evt-{n:08d}",
        incident_id="inc-00000001",
        phase=Phase.START,
        site="s",
        agent="a",
        source=Source(kind=SourceKind.CAMERA, id="cam1"),
        category="fight",
        severity=Severity.HIGH,
        confidence=0.9,
        occurred_at=AT,
        published_at=AT,
    )


@dataclass
class FakeAgent:
    ready: bool = True
    alive: bool = True
    events: list[Event] = field(default_factory=list)

    def health(self) -> AgentHealth:
        return AgentHealth(
            alive=self.alive,
            ready=self.ready,
            reasons=() if self.ready else ("model not loaded: card missing",),
            model="m 1 (streaming, CPUExecutionProvider)" if self.ready else None,
            model_error=None,
            broker_connected=False,
            outbox_backlog=3,
            open_incidents=0,
            cameras=tuple(self.cameras()),
        )

    def recent_events(self, limit: int = 50) -> list[Event]:
        return self.events[-limit:]

    def cameras(self) -> list[CameraHealth]:
        return [camera("cam1", True), camera("cam2", False)]


@pytest.mark.parametrize(
    ("ready", "alive", "health_status", "ready_status"),
    [(True, True, 200, 200), (False, True, 200, 503), (False, False, 503, 503)],
)
async def test_liveness_and_readiness(
    ready: bool, alive: bool, health_status: int, ready_status: int
) -> None:
    client = client_for(create_app(FakeAgent(ready=ready, alive=alive)))
    assert (await client.get("/healthz")).status_code == health_status
    response = await client.get("/readyz")
    assert response.status_code == ready_status
    body = response.json()
    assert body["ready"] is ready
    assert body["outbox_backlog"] == 3 and body["broker_connected"] is False  # spooling is ready
    assert bool(body["reasons"]) is not ready


async def test_recent_events_cameras_and_metrics() -> None:
    agent = FakeAgent(events=[event(n) for n in range(5)])
    client = client_for(create_app(agent))
    body = (await client.get("/v1/events/recent", params={"limit": 2})).json()
    assert [e["event_id"] for e in body["events"]] == ["evt-00000003", "evt-00000004"]
    assert (await client.get("/v1/events/recent", params={"limit": 0})).status_code == 422
    cameras = (await client.get("/v1/cameras")).json()["cameras"]
    assert [(c["name"], c["connected"]) for c in cameras] == [("cam1", True), ("cam2", False)]
    assert cameras[1]["last_error"] == "no data for 5.0 s"
    EVENTS.labels(category="fight", phase="start").inc(0)
    metrics = await client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "streetsense_events_total" in metrics.text


async def test_extra_routers_are_mounted() -> None:
    router = APIRouter()

    @router.post("/v1/sensors/{sensor}")
    def push(sensor: str) -> dict[str, str]:
        return {"sensor": sensor}

    client = client_for(create_app(FakeAgent(), [router]))
    assert (await client.post("/v1/sensors/mic1")).json() == {"sensor": "mic1"}


def test_server_on_a_thread_with_port_zero_and_a_taken_port() -> None:
    server = ApiServer(create_app(FakeAgent()), "127.0.0.1", 0)
    server.start()
    try:
        response = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10)
        assert response.status_code == 200
        with pytest.raises(OSError, match="in use"):
            ApiServer(create_app(FakeAgent()), "127.0.0.1", server.port)
    finally:
        server.stop()
    with socket.socket() as probe:  # the port is released after stop
        probe.bind(("127.0.0.1", server.port))


async def test_snapshot_download_needs_the_token_and_a_valid_name(tmp_path: Path) -> None:
    import numpy as np

    store = SnapshotStore(tmp_path, retention_s=60, clock=lambda: 1_760_000_000.0)
    name = store.save("cam1", "0123abcd", np.zeros((8, 8, 3), dtype=np.uint8))
    assert name is not None
    client = client_for(create_app(FakeAgent(), snapshots=store, token="s3cret"))
    assert (await client.get(f"/v1/snapshots/{name}")).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await client.get(f"/v1/snapshots/{name}", headers=wrong)).status_code == 401
    auth = {"Authorization": "Bearer s3cret"}
    response = await client.get(f"/v1/snapshots/{name}", headers=auth)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.content == (tmp_path / name).read_bytes()
    (tmp_path / "secret.txt").write_text("not a snapshot", encoding="utf-8")
    for bad in ("secret.txt", "..%2Fsecret.txt", "1760000000000-cam1-ffff.jpg"):
        assert (await client.get(f"/v1/snapshots/{bad}", headers=auth)).status_code == 404
