"""sd_notify against a real Unix datagram socket, as systemd would listen."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from streetsense.systemd import Notifier
from tests.conftest import ROOT
from tests.support.mosquitto import Mosquitto

STREETSENSE = str(Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "streetsense")


def test_no_socket_means_no_op() -> None:
    notifier = Notifier(environ={})
    assert not notifier.enabled
    assert notifier.notify("READY=1") is False


def test_ready_and_watchdog_reach_the_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.settimeout(5)
        notifier = Notifier(environ={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
        assert notifier.watchdog_interval == 0.1
        notifier.ready("3 cameras")
        assert listener.recv(256) == b"READY=1\nSTATUS=3 cameras"
        notifier.start_watchdog(lambda: True)
        assert listener.recv(256) == b"WATCHDOG=1"
        notifier.close()
        notifier.stopping()
        received = listener.recv(256)
        while received == b"WATCHDOG=1":
            received = listener.recv(256)
        assert received == b"STOPPING=1"


def test_unhealthy_process_stops_pinging(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.settimeout(0.5)
        notifier = Notifier(environ={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})
        notifier.start_watchdog(lambda: False)
        try:
            listener.recv(256)
            raised = False
        except TimeoutError:
            raised = True
        notifier.close()
    assert raised


@pytest.mark.parametrize("role", ["edge", "broker"])
def test_real_processes_notify_ready_and_ping_the_watchdog(
    tmp_path: Path, mosquitto: Mosquitto, role: str
) -> None:
    config = tmp_path / "config.yaml"
    if role == "edge":
        config.write_text(
            f"site: s1\nagent: a1\nbroker: {{port: {mosquitto.port}}}\n"
            f"outbox: {{path: {tmp_path}/outbox.sqlite3}}\napi: {{port: 0}}\n"
        )
    else:
        config.write_text(
            f"mqtt: {{port: {mosquitto.port}}}\n"
            f"storage: {{kind: sqlite, path: {tmp_path}/adapter.db}}\napi: {{port: 0}}\n"
        )
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.settimeout(30)
        env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}
        process = subprocess.Popen(
            [STREETSENSE, role, "run", "--config", str(config)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert listener.recv(256).startswith(b"READY=1")
            assert listener.recv(256) == b"WATCHDOG=1"
            process.terminate()
            received = listener.recv(256)
            while received == b"WATCHDOG=1":
                received = listener.recv(256)
            assert received == b"STOPPING=1"
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
