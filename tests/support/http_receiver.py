"""A real HTTP server on a fixed port, stoppable and restartable, for receivers in tests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class PostServer:
    """Serves POSTs on ``127.0.0.1:port``; subclasses decide the status in :meth:`handle_post`.

    :meth:`handle_post` runs on the server's request threads; take ``self.lock``
    around shared state.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handle_post(self, body: bytes, headers: dict[str, str]) -> int:
        """Record one request; return the HTTP status to answer with."""
        raise NotImplementedError

    def start(self) -> None:
        """Listen (again) on the port."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = owner.handle_post(body, dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, fmt: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening; the port refuses connections until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
