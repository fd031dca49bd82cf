"""Camera readers: one per camera, decoding every frame and delivering the sampled ones.

Each reader has a watchdog thread and, per connection attempt, a session
thread that opens the stream and grabs frames. The watchdog judges liveness by
the age of the last data, never by a read returning: when a camera stops
delivering for ``stale_after_seconds`` it is reported down and a new session
opens a new stream, while the old one (possibly blocked inside FFmpeg until
its read timeout) is abandoned and exits on its own. Reconnects wait a
jittered, capped, doubling delay.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import queue
import threading
import time
from collections.abc import Callable

from edge import metrics
from edge.sources.backoff import Backoff
from edge.sources.config import CameraConfig
from edge.sources.errors import EndOfStreamError, FrameDecodeError, StreamLostError, StreamOpenError
from edge.sources.health import CameraHealth, HealthTracker
from edge.sources.priority import lower_thread_priority
from edge.sources.sampler import FrameSampler
from edge.sources.stream import StreamOpener, VideoStream, redact_url
from edge.values import Frame

logger = logging.getLogger(__name__)

FrameSink = Callable[[Frame], None]

WATCHDOG_TICK_SECONDS = 0.25
MAX_CONSECUTIVE_DECODE_ERRORS = 100
DEFAULT_FILE_FPS = 25.0
PACING_RESYNC_SECONDS = 1.0

# OpenCV's FFmpeg backend opens one capture at a time per process (~1.1 s each for
# RTSP), so 20 cameras starting together wait up to ~20 s for their turn. Taking
# that turn explicitly lets the watchdog tell "waiting in line" from "stalled":
# before, a camera waiting longer than its open allowance was abandoned and
# reopened, and the abandoned attempts kept the line long (20 cameras never all
# connected). PyAV opens in parallel and needs no turn.
_OPENCV_OPEN_TURN = threading.Lock()


def _open_turn(config: CameraConfig) -> contextlib.AbstractContextManager[object]:
    """The lock to hold while opening a stream with ``config``'s backend."""
    if config.backend == "opencv":
        return _OPENCV_OPEN_TURN
    return contextlib.nullcontext()


def opener_for(config: CameraConfig) -> StreamOpener:
    """The stream class of the configured backend (imported only when used)."""
    if config.backend == "pyav":
        from edge.sources.pyav_stream import PyAVStream

        return PyAVStream
    from edge.sources.opencv_stream import OpenCVStream

    return OpenCVStream


class _Outcome(enum.Enum):
    RUNNING = "running"
    OPEN_FAILED = "open failed"
    LOST = "lost"
    ENDED = "ended"
    ABANDONED = "abandoned"


class _Session:
    """One connection attempt on its own thread; abandoned sessions exit on their own."""

    def __init__(self, reader: CameraReader, index: int) -> None:
        self.reader = reader
        self.abandoned = threading.Event()
        self.outcome = _Outcome.RUNNING
        self.opening_since: float | None = None  # None while waiting for its turn to open
        self.stream: VideoStream | None = None
        self.delivered = False
        self._sampler = FrameSampler(reader.config.analysis_fps)
        self._seq = 0
        self._restart_clock()
        self.thread = threading.Thread(
            target=self._run, name=f"camera-{reader.name}-{index}", daemon=True
        )

    def stale_for(self, now: float) -> float | None:
        """Seconds without data beyond the allowance, or None while the session is healthy."""
        config = self.reader.config
        stream = self.stream
        if stream is None:
            if self.opening_since is None:
                return None  # waiting for its turn; each open ahead is bounded by its timeout
            silent = now - self.opening_since
            allowance = config.open_timeout_seconds + config.stale_after_seconds
        else:
            silent = now - stream.last_activity
            allowance = config.stale_after_seconds
        return silent if silent > allowance else None

    def _run(self) -> None:
        try:
            self.outcome = self._read()
        except Exception as exc:  # a reader thread must never die silently
            logger.exception("camera %s: reader failed", self.reader.name)
            self.reader.tracker.error(f"reader failed: {exc}")
            self.outcome = _Outcome.LOST
        finally:
            if self.stream is not None:
                self.stream.close()

    def _open(self) -> VideoStream | None:
        reader = self.reader
        try:
            with _open_turn(reader.config):
                if self.abandoned.is_set():
                    return None
                self.opening_since = time.monotonic()
                stream = reader.opener(reader.config)
        except StreamOpenError as exc:
            reader.tracker.error(str(exc))
            logger.warning("camera %s: cannot open %s: %s", reader.name, reader.safe_url, exc)
            return None
        self.stream = stream
        reader.tracker.size(stream.info.width, stream.info.height)
        return stream

    def _read(self) -> _Outcome:
        stream = self._open()
        if stream is None:
            return _Outcome.OPEN_FAILED
        # Opened at normal priority (opening is short and, with OpenCV, serialised
        # across cameras); decoding from here on yields to inference and publishing.
        lower_thread_priority(self.reader.config.decode_nice)
        self._restart_clock()
        while not self.abandoned.is_set():
            try:
                media_time = stream.grab()
            except FrameDecodeError as exc:
                if self.abandoned.is_set():
                    break
                self.reader.count_decode_error(str(exc))
                self._errors_in_row += 1
                if self._errors_in_row >= MAX_CONSECUTIVE_DECODE_ERRORS:
                    return _Outcome.LOST
                continue
            except EndOfStreamError:
                if self.abandoned.is_set():
                    break
                outcome = self._rewind()
                if outcome is not None:
                    return outcome
                assert self.stream is not None
                stream = self.stream
                continue
            except StreamLostError as exc:
                if not self.abandoned.is_set():
                    self.reader.tracker.error(str(exc))
                    logger.warning("camera %s: stream lost: %s", self.reader.name, exc)
                return _Outcome.LOST
            if self.abandoned.is_set():
                break
            self._on_frame(stream, media_time)
        return _Outcome.ABANDONED

    def _restart_clock(self) -> None:
        self._errors_in_row = 0
        self._frames_since_open = 0
        self._opened_at = time.monotonic()
        self._first_media_time: float | None = None

    def _rewind(self) -> _Outcome | None:
        """At the end of a file: reopen it when looping; None when reading goes on."""
        if not self.reader.config.loop:
            return _Outcome.ENDED
        if self._frames_since_open == 0:
            self.reader.tracker.error("file has no decodable frames")
            return _Outcome.LOST
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        if self._open() is None:
            return _Outcome.OPEN_FAILED
        self._restart_clock()
        return None

    def _on_frame(self, stream: VideoStream, media_time: float | None) -> None:
        reader = self.reader
        if reader.config.pace and not stream.info.live:
            if self._first_media_time is None:
                self._first_media_time = media_time
            if media_time is not None and self._first_media_time is not None:
                offset = media_time - self._first_media_time
            else:
                offset = self._frames_since_open / (stream.info.fps or DEFAULT_FILE_FPS)
            self._pace(offset)
        self._errors_in_row = 0
        self._frames_since_open += 1
        captured_at = time.time()
        reader.count_frame(time.monotonic())
        if not self.delivered:
            self.delivered = True
            reader.mark_up()
        seq = self._seq
        self._seq += 1
        if not self._sampler.keep(captured_at):
            return
        try:
            image = stream.retrieve()
        except FrameDecodeError as exc:
            reader.count_decode_error(str(exc))
            return
        reader.deliver(Frame(reader.name, seq, captured_at, image))

    def _pace(self, offset: float) -> None:
        """Wait until ``offset`` seconds of media have played since the file opened."""
        delay = self._opened_at + offset - time.monotonic()
        if delay > 0:
            self.abandoned.wait(delay)
        elif delay < -PACING_RESYNC_SECONDS:
            self._opened_at = time.monotonic() - offset  # fell behind: no catch-up burst


class CameraReader:
    """Read one camera on background threads and hand sampled frames to ``sink``.

    ``sink`` must not block (give it a bounded queue's ``put_nowait``); a
    ``queue.Full`` from it is counted as a capture drop.
    """

    def __init__(
        self, config: CameraConfig, sink: FrameSink, *, opener: StreamOpener | None = None
    ) -> None:
        self.config = config
        self.name = config.name
        self.safe_url = redact_url(config.url)
        self.opener = opener or opener_for(config)
        self.tracker = HealthTracker(self.name, self.safe_url, config.backend)
        self._sink = sink
        self._stop = threading.Event()
        self._session: _Session | None = None
        self._fps = 0.0
        self._watchdog = threading.Thread(
            target=self._supervise, name=f"camera-{self.name}-watchdog", daemon=True
        )
        self._sink_errors_logged = False
        labels = {"camera": self.name}
        self._m_decoded = metrics.FRAMES_DECODED.labels(**labels)
        self._m_decode_errors = metrics.DECODE_ERRORS.labels(**labels)
        self._m_reconnects = metrics.RECONNECTS.labels(**labels)
        self._m_up = metrics.CAMERA_UP.labels(**labels)
        self._m_fps = metrics.CAMERA_FPS.labels(**labels)
        self._m_age = metrics.CAMERA_LAST_FRAME_AGE.labels(**labels)
        self._m_drop_full = metrics.DROPS.labels(
            camera=self.name, stage="capture", reason="queue_full"
        )
        self._m_drop_error = metrics.DROPS.labels(
            camera=self.name, stage="capture", reason="sink_error"
        )

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Start reading in the background."""
        self._m_up.set(0)
        logger.info(
            "camera %s: reading %s (%s, %s fps analysed)",
            self.name,
            self.safe_url,
            self.config.backend,
            self.config.analysis_fps,
        )
        self._watchdog.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop reading; return whether every thread finished within ``timeout``."""
        self._stop.set()
        session = self._session
        if session is not None:
            session.abandoned.set()
        deadline = time.monotonic() + timeout
        if self._watchdog.is_alive():
            self._watchdog.join(max(0.0, deadline - time.monotonic()))
        if session is not None:
            session.thread.join(max(0.0, deadline - time.monotonic()))
        self._mark_down()
        logger.info("camera %s: stopped", self.name)
        return not self._watchdog.is_alive() and (session is None or not session.thread.is_alive())

    def health(self) -> CameraHealth:
        """A snapshot of this camera's health."""
        return self.tracker.snapshot(time.monotonic(), self._fps)

    # -- called by sessions ------------------------------------------------------

    def count_frame(self, now: float) -> None:
        """Count one decoded frame."""
        self.tracker.frame(now)
        self._m_decoded.inc()

    def count_decode_error(self, message: str) -> None:
        """Count one frame the decoder failed on."""
        self.tracker.decode_error(message)
        self._m_decode_errors.inc()
        logger.debug("camera %s: decode error: %s", self.name, message)

    def mark_up(self) -> None:
        """Frames are arriving."""
        if not self.tracker.connected:
            logger.info("camera %s: up", self.name)
        self.tracker.set_connected(True)
        self._m_up.set(1)

    def deliver(self, frame: Frame) -> None:
        """Hand a kept frame to the sink; a full sink is a counted drop, never a block."""
        try:
            self._sink(frame)
        except queue.Full:
            self._m_drop_full.inc()
        except Exception:
            self._m_drop_error.inc()
            if not self._sink_errors_logged:
                self._sink_errors_logged = True
                logger.exception("camera %s: frame sink failed (counted as drops)", self.name)

    # -- watchdog -------------------------------------------------------------------

    def _mark_down(self) -> None:
        if self.tracker.connected and not self._stop.is_set():
            logger.warning("camera %s: down", self.name)
        self.tracker.set_connected(False)
        self._m_up.set(0)

    def _tick(self) -> None:
        now = time.monotonic()
        self._fps = self.tracker.sample_fps(now)
        self._m_fps.set(self._fps)
        self._m_age.set(self.tracker.frame_age(now))

    def _wait(self, seconds: float) -> None:
        """Wait ``seconds`` (or until stopped), keeping the gauges fresh."""
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._stop.wait(min(left, WATCHDOG_TICK_SECONDS))
            self._tick()

    def _supervise(self) -> None:
        backoff = Backoff(self.config.reconnect_min_seconds, self.config.reconnect_max_seconds)
        index = 0
        while not self._stop.is_set():
            if index > 0:
                self.tracker.reconnect()
                self._m_reconnects.inc()
            session = _Session(self, index)
            index += 1
            self._session = session
            session.thread.start()
            outcome = self._watch(session)
            if outcome is None:
                break
            if outcome is _Outcome.ENDED:
                logger.info("camera %s: end of file", self.name)
                self.tracker.set_ended()
                self.tracker.error("end of file")
                break
            self._mark_down()
            if session.delivered:
                backoff.reset()
            delay = backoff.next_delay()
            logger.info("camera %s: %s; reconnecting in %.1f s", self.name, outcome.value, delay)
            self._wait(delay)
        self._mark_down()
        self._tick()

    def _watch(self, session: _Session) -> _Outcome | None:
        """Watch a session until it ends or goes stale; None when the reader stops."""
        while session.thread.is_alive():
            if self._stop.wait(WATCHDOG_TICK_SECONDS):
                return None
            self._tick()
            silent = session.stale_for(time.monotonic())
            if silent is not None:
                message = f"no data for {silent:.1f} s"
                self.tracker.error(message)
                logger.warning("camera %s: %s; reopening the stream", self.name, message)
                session.abandoned.set()
                return _Outcome.LOST
        return None if self._stop.is_set() else session.outcome


def build_reader(config: CameraConfig, sink: FrameSink) -> CameraReader:
    """A reader for ``config`` with the configured decoding backend."""
    return CameraReader(config, sink, opener=opener_for(config))


__all__ = ["CameraReader", "FrameSink", "build_reader", "opener_for"]
