"""A minimal SNTP server (RFC 4330) whose clock is off by a chosen offset, for doctor tests."""

from __future__ import annotations

import socket
import struct
import threading
import time

NTP_EPOCH_OFFSET = 2208988800


class SntpServer:
    """Answers NTP client requests on 127.0.0.1 with ``time.time() + offset``."""

    def __init__(self, offset: float) -> None:
        self.offset = offset
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @staticmethod
    def _timestamp(seconds: float) -> bytes:
        whole = int(seconds) + NTP_EPOCH_OFFSET
        return struct.pack("!2I", whole, int((seconds % 1) * 2**32))

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                request, peer = self.sock.recvfrom(512)
            except TimeoutError:
                continue
            now = time.time() + self.offset
            answer = bytearray(48)
            answer[0] = 0x1C  # LI=0, VN=3, mode=4 (server)
            answer[1] = 1  # stratum 1
            answer[24:32] = request[40:48]  # originate = client's transmit
            answer[32:40] = self._timestamp(now)
            answer[40:48] = self._timestamp(now)
            self.sock.sendto(bytes(answer), peer)

    def __enter__(self) -> SntpServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
