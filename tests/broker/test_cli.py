"""``streetsense broker run``: a bad config exits 2 naming the problem; SIGTERM exits 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from broker.config import parse_adapter_config
from broker.main import Adapter
from tests.broker.helpers import wait_until
from tests.support.mosquitto import Mosquitto, free_port

ROOT = Path(__file__).resolve().parents[2]


def command(config: Path) -> list[str]:
    return [sys.executable, "-m", "streetsense.cli", "broker", "run", "--config", str(config)]


def test_bad_config_exits_2_with_path_and_line(tmp_path: Path) -> None:
    config = tmp_path / "adapter.yaml"
    config.write_text("outputs:\n  arc:\n    type: log\n    colour: red\n")
    done = subprocess.run(command(config), cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)  # fmt: skip
    assert done.returncode == 2
    assert "outputs.arc.colour (line 4): Extra inputs are not permitted" in done.stderr


@pytest.mark.timeout(120)
def test_sigterm_shuts_down_cleanly(tmp_path: Path, mosquitto: Mosquitto) -> None:
    port = free_port()
    config = tmp_path / "adapter.yaml"
    config.write_text(f"""
mqtt: {{port: {mosquitto.port}, client_id: cli-adapter}}
storage: {{kind: sqlite, path: {tmp_path / "adapter.db"}}}
outputs: {{journal: {{type: log}}}}
routes: [{{name: all, outputs: [journal]}}]
api: {{port: {port}}}
""")  # fmt: skip
    log = (tmp_path / "adapter.log").open("wb")
    process = subprocess.Popen(command(config), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip

    def ready() -> bool:
        assert process.poll() is None, (tmp_path / "adapter.log").read_text()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, timeout=60, what="adapter ready")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        log.close()
    output = (tmp_path / "adapter.log").read_text()
    assert "shutting down" in output
    assert "Traceback" not in output


async def test_a_failed_start_cleans_up(tmp_path: Path, mosquitto: Mosquitto) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    busy = blocker.getsockname()[1]
    config = parse_adapter_config(f"""
mqtt: {{port: {mosquitto.port}, client_id: busy-adapter}}
storage: {{kind: sqlite, path: {tmp_path / "adapter.db"}}}
outputs: {{journal: {{type: log}}}}
routes: [{{name: all, outputs: [journal]}}]
api: {{port: {busy}}}
""")  # fmt: skip
    adapter = Adapter(config)
    try:
        with pytest.raises(OSError):
            await adapter.start()
    finally:
        blocker.close()
    assert not adapter.mqtt_connected
    assert adapter.transports == {}
    assert adapter._database is None  # closed again
