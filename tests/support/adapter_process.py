"""``streetsense broker run`` as its own process, for tests that kill or restart the adapter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.broker.helpers import wait_until
from tests.support.mosquitto import free_port

ROOT = Path(__file__).resolve().parents[2]


class AdapterProcess:
    """One adapter process started from a YAML config; ``config_text`` gets ``{api_port}``."""

    def __init__(self, name: str, workdir: Path, config_text: str) -> None:
        self.name = name
        self.api_port = free_port()
        self.config = workdir / f"{name}.yaml"
        self.log = workdir / f"{name}.log"
        self.config.write_text(config_text.replace("{api_port}", str(self.api_port)))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process and wait until its API answers ``/readyz``."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streetsense.cli", "--log-level", "WARNING", "broker",
                 "run", "--config", str(self.config)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )  # fmt: skip
        wait_until(self.ready, timeout=60, what=f"{self.name} ready")

    def get(self, path: str, token: str | None = None) -> httpx.Response:
        """GET from the adapter's API."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"http://127.0.0.1:{self.api_port}{path}", headers=headers, timeout=5)

    def ready(self) -> bool:
        """True once ``/readyz`` answers 200; raises if the process has exited."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
        try:
            return self.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> int | None:
        """SIGTERM (graceful), SIGKILL after 20 s; the exit status, None if never started."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode
