"""A real Prometheus scrapes a running agent and adapter, and fires CameraDown when a camera goes.

Real parts throughout: mosquitto, gst-rtsp-server, `streetsense edge run` and
`streetsense broker run` as processes, Prometheus from Debian with the shipped rules.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import ROOT
from tests.support.media import ClipSpec, make_clip
from tests.support.mosquitto import Mosquitto, free_port, wait_for_port
from tests.support.rtsp_server import RtspServer
from tests.support.tiny_model import build_tiny_model

PROMETHEUS = shutil.which("prometheus")
STREETSENSE = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "streetsense"
RULES = ROOT / "config" / "prometheus" / "streetsense.rules.yml"


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Process:
    """A child process whose output goes to a log file; killed at the end."""

    def __init__(self, argv: list[str], log: Path, cwd: Path) -> None:
        self.log = log
        handle = log.open("wb")
        self.popen = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, cwd=cwd)
        handle.close()

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)


@pytest.fixture
def stack(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[dict[str, object]]:
    if PROMETHEUS is None:
        pytest.fail("prometheus is missing: run scripts/system-deps.sh (Debian package prometheus)")
    clip = make_clip(tmp_path / "media", ClipSpec(seconds=120, width=320, height=180))
    rtsp = RtspServer({"cam1": clip}, tmp_path / "rtsp.log")
    rtsp.start()
    agent_port, adapter_port, prometheus_port = free_port(), free_port(), free_port()
    card = build_tiny_model(tmp_path / "model")
    agent_config = {
        "site": "lab",
        "agent": "box1",
        "broker": {"port": mosquitto.port},
        "outbox": {"path": str(tmp_path / "agent" / "outbox.sqlite3")},
        "model": {"card": str(card)},
        "api": {"port": agent_port},
        "cameras": [
            {
                "name": "cam1",
                "url": rtsp.url("cam1"),
                "analysis_fps": 8,
                "stale_after_seconds": 2,
                "reconnect_min_seconds": 0.5,
                "reconnect_max_seconds": 2,
            }
        ],
    }
    adapter_config = {
        "mqtt": {"port": mosquitto.port},
        "storage": {"kind": "sqlite", "path": str(tmp_path / "adapter.db")},
        "api": {"port": adapter_port},
        "outputs": {"console": {"type": "log"}},
        "routes": [{"name": "all", "outputs": ["console"]}],
    }
    (tmp_path / "agent.yaml").write_text(yaml.safe_dump(agent_config))
    (tmp_path / "adapter.yaml").write_text(yaml.safe_dump(adapter_config))
    prometheus_config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "streetsense-edge",
                "static_configs": [{"targets": [f"127.0.0.1:{agent_port}"]}],
            },
            {
                "job_name": "streetsense-adapter",
                "static_configs": [{"targets": [f"127.0.0.1:{adapter_port}"]}],
            },
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config))
    processes = [
        Process(
            [str(STREETSENSE), "broker", "run", "--config", str(tmp_path / "adapter.yaml")],
            tmp_path / "adapter.log",
            tmp_path,
        ),
        Process(
            [str(STREETSENSE), "edge", "run", "--config", str(tmp_path / "agent.yaml")],
            tmp_path / "agent.log",
            tmp_path,
        ),
        Process(
            [
                PROMETHEUS,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            tmp_path / "prometheus.log",
            tmp_path,
        ),
    ]
    try:
        for port in (adapter_port, agent_port, prometheus_port):
            wait_for_port(port, timeout=60)
        yield {"rtsp": rtsp, "prometheus": f"http://127.0.0.1:{prometheus_port}", "logs": tmp_path}
    finally:
        for process in reversed(processes):
            process.stop()
        rtsp.kill()


def query(client: httpx.Client, expr: str) -> list[dict[str, object]]:
    answer = client.get("/api/v1/query", params={"query": expr}).json()
    assert answer["status"] == "success", answer
    result: list[dict[str, object]] = answer["data"]["result"]
    return result


def firing(client: httpx.Client, name: str) -> bool:
    alerts = client.get("/api/v1/alerts").json()["data"]["alerts"]
    return any(a["labels"]["alertname"] == name and a["state"] == "firing" for a in alerts)


def test_prometheus_sees_the_fleet_and_fires_camera_down(stack: dict[str, object]) -> None:
    with httpx.Client(base_url=str(stack["prometheus"]), timeout=10) as client:
        check_fleet_and_camera_down(client, stack)


def check_fleet_and_camera_down(client: httpx.Client, stack: dict[str, object]) -> None:
    wait_for(lambda: len(query(client, "up == 1")) == 2, 60, "both targets up")
    wait_for(
        lambda: bool(query(client, 'streetsense_camera_up{camera="cam1"} == 1')), 90, "camera up"
    )
    wait_for(
        lambda: bool(query(client, 'streetsense_adapter_agent_online{agent="box1"} == 1')),
        60,
        "the adapter to see the agent online",
    )
    names = set(client.get("/api/v1/label/__name__/values").json()["data"])
    for expected in (
        "streetsense_frames_decoded_total",
        "streetsense_frames_analysed_total",
        "streetsense_inference_seconds_bucket",
        "streetsense_outbox_backlog",
        "streetsense_broker_connected",
        "streetsense_adapter_agent_online",
        "streetsense_adapter_queue_depth",
    ):
        assert expected in names, f"{expected} not scraped"
    assert not firing(client, "StreetSenseCameraDown")

    rtsp = stack["rtsp"]
    assert isinstance(rtsp, RtspServer)
    rtsp.kill()
    wait_for(lambda: firing(client, "StreetSenseCameraDown"), 90, "StreetSenseCameraDown to fire")
    (alert,) = [
        a
        for a in client.get("/api/v1/alerts").json()["data"]["alerts"]
        if a["labels"]["alertname"] == "StreetSenseCameraDown"
    ]
    assert alert["labels"]["camera"] == "cam1"
    assert alert["labels"]["job"] == "streetsense-edge"
