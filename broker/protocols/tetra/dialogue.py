"""The AT dialogue with one radio: routing lines, one command at a time, resynchronising.

Bytes from the line are split into lines; a ``+CTSDSR`` header and the PDU line
after it go to ``on_sds``; command echoes are skipped; everything else belongs
to the command in flight, which ends at ``OK``, ``ERROR`` or ``+CME ERROR``.
After a command timed out the radio may still answer it: a ``+CMGS`` with
another message reference than the pending send's is skipped with its final
result, and before the next command a plain ``AT`` absorbs any other late
answer and the line must go quiet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from broker.metrics import PROTOCOL_MESSAGES, PROTOCOL_REJECTED
from broker.protocols.tetra import at
from broker.protocols.tetra.errors import AtResponseError, RadioCommandError, RadioTimeoutError

logger = logging.getLogger(__name__)

PROTOCOL = "tetra"
QUIET_S = 0.5  # silence on the line that ends a resynchronisation


@dataclass
class _Pending:
    command: str
    done: asyncio.Future[at.Ok | at.Error]
    reference: int | None = None  # the message reference of an AT+CMGS
    stale: bool = False  # skipping a late answer that belongs to an earlier AT+CMGS
    lines: list[at.Line] = field(default_factory=list)


class PeiDialogue:
    """Commands and responses on one PEI line (see the module docstring)."""

    def __init__(
        self,
        output: str,
        write: Callable[[bytes], Awaitable[None]],
        on_sds: Callable[[at.SdsHeader, str], None],
        *,
        command_timeout_s: float,
        cme_errors: dict[int, str],
    ) -> None:
        self._output = output
        self._write = write
        self._on_sds = on_sds
        self._timeout = command_timeout_s
        self._cme_errors = cme_errors
        self._splitter = at.LineSplitter()
        self._expect_pdu: at.SdsHeader | None = None
        self._pending: _Pending | None = None
        self._lock = asyncio.Lock()
        self._last_rx = 0.0
        self._resync = False

    def reset(self) -> None:
        """Forget partial lines (a new connection)."""
        self._splitter = at.LineSplitter()
        self._expect_pdu = None

    def fail(self, error: Exception) -> None:
        """End the command in flight with ``error`` (the line went down)."""
        if self._pending is not None and not self._pending.done.done():
            self._pending.done.set_exception(error)

    def feed(self, data: bytes) -> None:
        """Bytes received from the radio."""
        self._last_rx = asyncio.get_running_loop().time()
        for line in self._splitter.feed(data):
            self._on_line(line)

    def _on_line(self, line: str) -> None:
        if self._expect_pdu is not None:
            header, self._expect_pdu = self._expect_pdu, None
            self._on_sds(header, line)
            return
        try:
            parsed = at.parse_line(line)
        except AtResponseError as exc:
            PROTOCOL_REJECTED.labels(PROTOCOL, "bad_line").inc()
            logger.warning("unreadable line from the radio: %s", exc)
            return
        if isinstance(parsed, at.SdsHeader):
            self._expect_pdu = parsed
            return
        if isinstance(parsed, at.Echo):
            return
        pending = self._pending
        if pending is None or pending.done.done():
            logger.debug("unsolicited line from the radio: %s", line)
            return
        if isinstance(parsed, at.CmgsResult) and self._is_stale(pending, parsed):
            pending.stale = True
        elif isinstance(parsed, at.Ok | at.Error):
            if pending.stale:  # the final result of the earlier command
                pending.stale = False
            else:
                pending.done.set_result(parsed)
        elif not pending.stale:
            pending.lines.append(parsed)

    @staticmethod
    def _is_stale(pending: _Pending, result: at.CmgsResult) -> bool:
        reference = result.message_reference
        stale = pending.reference is not None and reference not in (None, pending.reference)
        if stale:
            PROTOCOL_REJECTED.labels(PROTOCOL, "late_answer").inc()
            logger.warning(
                "late +CMGS for reference %s skipped (waiting for %s)", reference, pending.reference
            )
        return stale

    async def command(self, label: str, data: bytes, reference: int | None = None) -> list[at.Line]:
        """Send one command; its information lines, or RadioCommandError/RadioTimeoutError.

        ``reference`` is the message reference of an ``AT+CMGS``: a ``+CMGS`` with
        another reference is a late answer to an earlier send and is skipped.
        """
        async with self._lock:
            if self._resync:
                await self._resynchronise()
            final, lines = await self._exchange(label, data, reference)
        if isinstance(final, at.Error):
            PROTOCOL_MESSAGES.labels(self._output, "in", "error").inc()
            description = self._cme_errors.get(final.code, "") if final.code is not None else ""
            raise RadioCommandError(label, final.code, description)
        return lines

    async def _exchange(
        self, label: str, data: bytes, reference: int | None = None
    ) -> tuple[at.Ok | at.Error, list[at.Line]]:
        pending = _Pending(label, asyncio.get_running_loop().create_future(), reference)
        self._pending = pending
        try:
            await self._write(data)
            PROTOCOL_MESSAGES.labels(self._output, "out", "at_command").inc()
            async with asyncio.timeout(self._timeout):
                final = await pending.done
        except TimeoutError as exc:
            self._resync = True
            raise RadioTimeoutError(f"{label}: no answer in {self._timeout}s") from exc
        finally:
            self._pending = None
        return final, pending.lines

    async def _resynchronise(self) -> None:
        """After a timeout the radio may still answer the old command: spend that late
        answer on a harmless ``AT``, then let the line go quiet before the real command."""
        await self._exchange("AT (resync)", at.command_line("AT"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        while True:
            idle = loop.time() - self._last_rx
            if idle >= QUIET_S or loop.time() >= deadline:
                break
            await asyncio.sleep(QUIET_S - idle)
        self._resync = False
