"""sd_notify against a real Unix datagram socket, as systemd would listen."""

from __future__ import annotations

import socket
from pathlib import Path

from streetsense.systemd import Notifier


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
