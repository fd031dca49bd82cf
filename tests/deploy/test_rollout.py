"""The edge rollout recipe, run in --local mode: refuse bad bundles, roll back when unhealthy."""

from __future__ import annotations

import http.server
import os
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support.mosquitto import free_port

ROLLOUT = ROOT / "deploy" / "rollout.sh"
STREETSENSE = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "streetsense"


def bundle(tmp: Path, config: str) -> Path:
    source = tmp / "bundle-src"
    source.mkdir()
    (source / "agent.yaml").write_text(config)
    (source / "agent.env").write_text("MQTT_PASSWORD=from-bundle\n")
    path = tmp / "bundle.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for item in source.iterdir():
            archive.add(item, arcname=item.name)
    return path


GOOD = "site: s1\nagent: a1\n"


class Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def ready_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def rollout(tmp: Path, bundle_path: Path, ready_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "STREETSENSE_BIN": str(STREETSENSE),
        "STREETSENSE_ETC": str(tmp / "etc"),
        "STREETSENSE_READY_URL": ready_url,
        "STREETSENSE_READY_TIMEOUT": "3",
        "STREETSENSE_RESTART_CMD": f"touch {tmp}/restarted",
        "STREETSENSE_SKIP_INSTALL": "1",
    }
    return subprocess.run(
        [ROLLOUT, "--local", "-", bundle_path],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_bad_bundle_is_refused_before_anything_changes(tmp_path: Path) -> None:
    result = rollout(tmp_path, bundle(tmp_path, "site: s1\nagent: a1\ncamras: []\n"), "http://x")
    assert result.returncode == 2
    assert "camras" in result.stdout + result.stderr
    assert not (tmp_path / "etc").exists()


def test_healthy_rollout_installs_the_config(tmp_path: Path, ready_server: int) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "agent.yaml").write_text("site: s1\nagent: old\n")
    result = rollout(tmp_path, bundle(tmp_path, GOOD), f"http://127.0.0.1:{ready_server}/readyz")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "etc" / "agent.yaml").read_text() == GOOD
    assert (tmp_path / "etc" / "agent.yaml.prev").read_text() == "site: s1\nagent: old\n"
    assert (tmp_path / "etc" / "agent.env").read_text() == "MQTT_PASSWORD=from-bundle\n"
    assert (tmp_path / "restarted").exists()


def test_unhealthy_rollout_restores_the_previous_config(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    previous = "site: s1\nagent: old\n"
    (tmp_path / "etc" / "agent.yaml").write_text(previous)
    result = rollout(tmp_path, bundle(tmp_path, GOOD), f"http://127.0.0.1:{free_port()}/readyz")
    assert result.returncode == 1
    assert "rolling back" in result.stderr
    assert (tmp_path / "etc" / "agent.yaml").read_text() == previous
