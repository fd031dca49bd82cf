"""Masked JPEG snapshots for starting camera incidents, deleted after a retention period.

Footage outside an incident is never kept: the agent asks for a snapshot only
when an incident STARTs, and only of the frame after privacy masking. File
names carry their creation time (injected clock), so the sweeper does not
depend on file system timestamps.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from edge.values import Image

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^(?P<ms>\d{13})-[a-z0-9_.-]+-[0-9a-f]+\.jpg$")


class SnapshotStore:
    """Writes snapshots into one directory and sweeps them after ``retention_s``."""

    def __init__(
        self,
        directory: Path,
        retention_s: float,
        clock: Callable[[], float],
        jpeg_quality: int = 80,
    ) -> None:
        self.directory = directory
        self._retention_s = retention_s
        self._clock = clock
        self._quality = jpeg_quality

    def save(self, camera: str, incident_id: str, image: Image) -> str | None:
        """Encode ``image`` (already privacy-masked) as JPEG; return its file name."""
        import cv2

        ok, encoded = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), self._quality])
        if not ok:
            logger.warning("snapshot for incident %s could not be encoded", incident_id)
            return None
        name = f"{int(self._clock() * 1000):013d}-{camera}-{incident_id}.jpg"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temporary = self.directory / f".{name}.tmp"
            temporary.write_bytes(encoded.tobytes())
            temporary.replace(self.directory / name)
        except OSError as exc:
            logger.warning("snapshot for incident %s not written: %s", incident_id, exc)
            return None
        return name

    def read(self, name: str) -> bytes | None:
        """The JPEG called ``name`` (a ref from an event), or None when absent or swept."""
        if _NAME.match(name) is None:  # also keeps the name inside the directory
            return None
        try:
            return (self.directory / name).read_bytes()
        except OSError:
            return None

    def sweep(self) -> int:
        """Delete snapshots older than the retention period; return how many."""
        if not self.directory.is_dir():
            return 0
        horizon_ms = (self._clock() - self._retention_s) * 1000
        removed = 0
        for path in self.directory.iterdir():
            match = _NAME.match(path.name)
            if match is None or int(match["ms"]) >= horizon_ms:
                continue
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                continue
            except OSError as exc:
                logger.warning("snapshot %s not deleted: %s", path.name, exc)
        if removed:
            logger.info("retention: deleted %d snapshot(s)", removed)
        return removed
