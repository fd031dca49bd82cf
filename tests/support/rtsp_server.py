"""A real RTSP server (Debian's gst-rtsp-server) serving files, owned by one test.

The server runs as a subprocess of the system interpreter, which has ``gi``
(the project's virtual environment does not). It serves each file without
re-encoding, real-time paced, from a shared media factory. ``kill`` and
``restart`` simulate a crashed camera; ``freeze`` (SIGSTOP) simulates a cut
network: the TCP connections stay open but nothing arrives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.support.mosquitto import free_port, wait_for_port

SYSTEM_PYTHON = "/usr/bin/python3"
SERVE_SCRIPT = Path(__file__).with_name("gst_rtsp_serve.py")


class RtspServer:
    """Serve ``mounts`` (name -> MP4 file) at ``rtsp://127.0.0.1:<port>/<name>``."""

    def __init__(self, mounts: dict[str, Path], log_path: Path, port: int | None = None) -> None:
        self.mounts = dict(mounts)
        self.log_path = log_path
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen = False

    def url(self, mount: str) -> str:
        """The RTSP URL of one mount."""
        return f"rtsp://127.0.0.1:{self.port}/{mount}"

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and wait until it accepts connections."""
        argv = [SYSTEM_PYTHON, str(SERVE_SCRIPT), "--port", str(self.port)]
        for name, path in self.mounts.items():
            argv += ["--mount", f"{name}={path}"]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                output = self.log_path.read_text(errors="replace")
                self.process = None
                raise RuntimeError(f"RTSP server exited at start:\n{output}")
            try:
                wait_for_port(self.port, timeout=0.5)
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise

    def kill(self) -> None:
        """Kill the server abruptly (SIGKILL), as a crashed camera would go."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
            self.frozen = False

    def restart(self) -> None:
        """Kill and start again on the same port."""
        self.kill()
        self.start()

    def freeze(self) -> None:
        """Stop the server process (SIGSTOP): connections stay open, nothing arrives."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGSTOP)
            self.frozen = True

    def thaw(self) -> None:
        """Resume a frozen server (SIGCONT)."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.frozen = False

    def __enter__(self) -> RtspServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.kill()
