"""A TETRA terminal's PEI on a pseudo-terminal, for tests (no radio can run here).

``socat -d -d pty,raw,echo=0,link=<dir>/radio pty,raw,echo=0,link=<dir>/host``
makes a PTY pair; the adapter opens ``<dir>/host`` as its serial port and this
emulator serves ``<dir>/radio``, speaking the AT dialogue of ETSI EN 300 392-5
byte for byte:

- commands end with CR; with echo on (``ATE1``, the V.250 default) every
  received character is echoed; result codes are verbose:
  ``<CR><LF>OK<CR><LF>``, ``<CR><LF>ERROR<CR><LF>``,
  ``<CR><LF>+CME ERROR: <n><CR><LF>``;
- ``AT+CTSDS=<AI service>,<identity type>,...`` selects the SDS service;
  ``AT+CMGS=<called>,<bits><CR><LF><hex><Ctrl-Z>`` sends (ESC cancels) and
  answers ``+CMGS: <SDS instance>,<message reference>`` then ``OK``;
- when the SDS-TRANSFER asks for a delivery report, the handset's report
  arrives later as ``+CTSDSR: 12,<handset>,0,<own ISSI>,0,32`` and the
  SDS-REPORT PDU line;
- :meth:`TetraRadio.inject_text` makes a handset send text to us.

The PDUs are parsed and built here independently of the adapter's codec.
:meth:`stop` is "switching the radio off": socat exits and the host PTY goes away.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SOCAT = shutil.which("socat") or "/usr/bin/socat"

# +CME ERROR codes this emulator reports (a real terminal's PEI manual lists its own).
CME_NO_SERVICE_SELECTED = 3
CME_BAD_PARAMETER = 4
CME_BAD_PDU = 25


@dataclass(frozen=True)
class SentSds:
    """One SDS the host sent through the radio, decoded by the emulator."""

    called: str
    bits: int
    pdu: bytes
    protocol_id: int
    message_type: int
    report_request: int
    reference: int
    text: str | None  # SDS-TRANSFER text
    status: int | None  # SDS-REPORT delivery status


def _decode(called: str, bits: int, data: bytes) -> SentSds:
    pid, flags = data[0], data[1]
    kind = flags >> 4
    if kind == 0:  # SDS-TRANSFER, no storage/forward control expected from the adapter
        assert flags & 0x01 == 0, "storage/forward control not expected"
        coding = data[3] & 0x7F
        assert coding == 1, f"ISO 8859-1 expected, got coding {coding}"
        offset = 4 + (3 if data[3] & 0x80 else 0)
        return SentSds(
            called,
            bits,
            data,
            pid,
            0,
            (flags >> 2) & 3,
            data[2],
            data[offset:].decode("latin-1"),
            None,
        )
    return SentSds(called, bits, data, pid, kind, 0, data[3], None, data[2])


class TetraRadio:
    """The emulated terminal; ``handsets`` maps an ISSI to the delivery status it reports
    (None: it never reports); others report ``default_status``."""

    def __init__(self, workdir: Path, issi: str = "1000001") -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.issi = issi
        self.host_path = workdir / "host"
        self.radio_path = workdir / "radio"
        self.handsets: dict[str, int | None] = {}
        self.default_status = 0x00
        self.report_delay_s = 0.05
        self.sent: list[SentSds] = []
        self.commands: list[str] = []
        self.echo = True
        self.muted = False  # a terminal that is booting or hung: reads but never answers
        self.slow_sends = 0  # answer this many AT+CMGS late, after answer_delay_s
        self.answer_delay_s = 1.0
        self._service: int | None = None
        self._instance = 0
        self._socat: subprocess.Popen[bytes] | None = None
        self._fd: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._data_mode: tuple[str, int] | None = None
        self._timers: list[threading.Timer] = []

    # --- power -----------------------------------------------------------------------

    def start(self) -> None:
        """Switch on: create the PTY pair and answer on the radio side."""
        log = (self.workdir / "socat.log").open("ab")
        self._socat = subprocess.Popen(
            [
                SOCAT,
                "-d",
                "-d",
                f"pty,raw,echo=0,link={self.radio_path}",
                f"pty,raw,echo=0,link={self.host_path}",
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + 10
        while not (self.radio_path.exists() and self.host_path.exists()):
            if time.monotonic() > deadline or self._socat.poll() is not None:
                self.stop()
                raise RuntimeError("socat did not create the PTY pair")
            time.sleep(0.02)
        self._fd = os.open(self.radio_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self._stop.clear()
        self.echo = True
        self._service = None
        self._buffer.clear()
        self._data_mode = None
        self._thread = threading.Thread(target=self._serve, name="tetra-radio", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Switch off: stop answering, close the PTY, end socat."""
        self._stop.set()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._socat is not None:
            self._socat.terminate()
            try:
                self._socat.wait(5)
            except subprocess.TimeoutExpired:
                self._socat.kill()
                self._socat.wait(5)
            self._socat = None
        for path in (self.radio_path, self.host_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # --- what a handset does ---------------------------------------------------------

    def inject_text(
        self,
        from_issi: str,
        text: str,
        *,
        reference: int = 0x42,
        report_request: int = 0,
        protocol_id: int = 0x82,
    ) -> None:
        """A handset sends an SDS-TL text message to this radio."""
        body = text.encode("latin-1")
        data = bytes([protocol_id, (report_request << 2) | 0x02, reference, 0x01]) + body
        self.inject_sds(from_issi, data)

    def inject_sds(self, from_issi: str, data: bytes, ai_service: int = 12) -> None:
        """Any SDS arriving from ``from_issi``."""
        header = f"+CTSDSR: {ai_service},{from_issi},0,{self.issi},0,{len(data) * 8}"
        self.write(b"\r\n" + header.encode() + b"\r\n" + data.hex().upper().encode() + b"\r\n")

    def forget_service_selection(self) -> None:
        """Lose the AT+CTSDS selection, as a terminal does after a reset behind our back."""
        self._service = None

    def write(self, data: bytes) -> None:
        """Raw bytes from the radio to the host."""
        with self._lock:
            fd = self._fd
            if fd is None:
                return
            view = memoryview(data)
            while view:
                try:
                    written = os.write(fd, view)
                except BlockingIOError:
                    time.sleep(0.005)
                    continue
                view = view[written:]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Poll ``predicate`` until it holds or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()

    # --- the PEI ---------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            fd = self._fd
            if fd is None:
                return
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(fd, 4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return
            for byte in data:
                self._byte(byte)

    def _byte(self, byte: int) -> None:
        if self._data_mode is not None:
            self._data_byte(byte)
            return
        if self.echo:
            self.write(bytes([byte]))
        if byte == 0x0D:
            line = self._buffer.decode("latin-1").strip()
            self._buffer.clear()
            if line:
                self._command(line)
        elif byte != 0x0A:
            self._buffer.append(byte)

    def _data_byte(self, byte: int) -> None:
        if self.echo:
            self.write(bytes([byte]))
        if byte == 0x1B:  # ESC: cancel
            self._data_mode = None
            self._buffer.clear()
            self._result("OK")
        elif byte == 0x1A:  # Ctrl-Z: send
            assert self._data_mode is not None
            called, bits = self._data_mode
            self._data_mode = None
            payload = self._buffer.decode("latin-1").strip()
            self._buffer.clear()
            self._submit(called, bits, payload)
        elif byte not in (0x0D, 0x0A):
            self._buffer.append(byte)

    def _result(self, text: str) -> None:
        self.write(b"\r\n" + text.encode() + b"\r\n")

    def _command(self, line: str) -> None:
        self.commands.append(line)
        if self.muted:
            return
        upper = line.upper()
        if upper == "AT":
            self._result("OK")
        elif upper in ("ATE0", "ATE1"):
            self.echo = upper == "ATE1"
            self._result("OK")
        elif upper.startswith("AT+CTSP="):
            ok = re.fullmatch(r"\d+(,\d+)*", line[8:]) is not None
            self._result("OK" if ok else f"+CME ERROR: {CME_BAD_PARAMETER}")
        elif upper.startswith("AT+CTSDS="):
            fields = line[9:].split(",")
            if all(f.strip().isdigit() for f in fields) and 9 <= int(fields[0]) <= 13:
                self._service = int(fields[0])
                self._result("OK")
            else:
                self._result(f"+CME ERROR: {CME_BAD_PARAMETER}")
        elif upper.startswith("AT+CMGS="):
            match = re.fullmatch(r"(\d{1,15}),(\d+)", line[8:])
            if match is None:
                self._result(f"+CME ERROR: {CME_BAD_PARAMETER}")
            elif self._service is None:
                self._result(f"+CME ERROR: {CME_NO_SERVICE_SELECTED}")
            else:
                self._data_mode = (match.group(1), int(match.group(2)))
        else:
            self._result("ERROR")

    def _submit(self, called: str, bits: int, payload: str) -> None:
        if not re.fullmatch(r"[0-9A-Fa-f]*", payload) or len(payload) != (bits + 7) // 8 * 2:
            self._result(f"+CME ERROR: {CME_BAD_PDU}")
            return
        data = bytes.fromhex(payload)
        if len(data) < 4:
            self._result(f"+CME ERROR: {CME_BAD_PDU}")
            return
        sds = _decode(called, bits, data)
        self.sent.append(sds)
        self._instance += 1
        answer = f"\r\n+CMGS: {self._instance},{sds.reference}\r\n".encode() + b"\r\nOK\r\n"
        if self.slow_sends > 0:
            self.slow_sends -= 1
            self._later(self.answer_delay_s, self.write, answer)
        else:
            self.write(answer)
        if sds.message_type == 0 and sds.report_request:
            status = self.handsets.get(called, self.default_status)
            if status is not None:
                report = bytes([sds.protocol_id, 0x10, status, sds.reference])
                self._later(self.report_delay_s, self.inject_sds, called, report)

    def _later(self, delay: float, action: Callable[..., None], *args: object) -> None:
        timer = threading.Timer(delay, action, args)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()
