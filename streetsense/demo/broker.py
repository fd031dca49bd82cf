"""The demo's own MQTT broker: mosquitto on a free port when installed, else the embedded one."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

BrokerKind = Literal["auto", "mosquitto", "embedded"]


class BrokerUnavailableError(RuntimeError):
    """No broker could be started for the demo."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class LocalMosquitto:
    """Start mosquitto with deliberate queue limits; ``stop()`` kills it."""

    def __init__(self, workdir: Path) -> None:
        executable = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if executable is None:
            raise BrokerUnavailableError(
                "mosquitto is not installed: run `make demo` (it installs it) or "
                "`apt-get install mosquitto`, or run the demo with --broker embedded"
            )
        self.port = free_port()
        config = workdir / "mosquitto.conf"
        config.write_text(
            "\n".join(
                [
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous true",
                    "max_queued_messages 100000",
                    "max_inflight_messages 100",
                    f"user {getpass.getuser()}",
                    "log_type error",
                    "",
                ]
            ),
            encoding="utf-8",
        )
        log = (workdir / "mosquitto.log").open("wb")
        self._process = subprocess.Popen([executable, "-c", str(config)], stdout=log, stderr=log)
        log.close()
        if not _wait_for_port(self.port, 10):
            self.stop()
            raise BrokerUnavailableError(f"mosquitto did not start; see {workdir}/mosquitto.log")

    def stop(self) -> None:
        """Stop the broker."""
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)


@dataclass(frozen=True, slots=True)
class StartedBroker:
    """A broker the demo started: where it listens, what it is, how to stop it."""

    port: int
    description: str
    stop: Callable[[], None]


def mosquitto_installed() -> bool:
    """Whether a mosquitto executable is available."""
    return shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists()


def start_broker(workdir: Path, kind: BrokerKind = "auto") -> StartedBroker:
    """Start mosquitto (``auto`` when installed) or the embedded Python broker on 127.0.0.1."""
    if kind == "mosquitto" or (kind == "auto" and mosquitto_installed()):
        mosquitto = LocalMosquitto(workdir)
        return StartedBroker(mosquitto.port, "mosquitto", mosquitto.stop)
    from streetsense.demo.mqtt_broker import BrokerStartError, BrokerThread

    embedded = BrokerThread()
    try:
        port = embedded.start()
    except BrokerStartError as exc:
        raise BrokerUnavailableError(f"the embedded MQTT broker did not start: {exc}") from exc
    return StartedBroker(port, "embedded MQTT broker (Python, demo only)", embedded.stop)
