"""Alerts to TETRA radios as SDS-TL text over a terminal's PEI, and replies back.

Outbound, per event: compose the compact text, apply the length rule, then
for every destination and part: ``AT+CMGS`` with an SDS-TRANSFER (protocol
0x82, a fresh message reference, delivery report requested from individual
destinations), wait for ``+CMGS``/``OK``, then for the SDS-REPORT with the
same message reference. Destinations and parts already confirmed are
remembered per event, so a retry resends only what is missing.

Inbound: ``+CTSDSR`` plus its PDU line. SDS-REPORTs complete waiting sends;
text from a handset that reads ``ACK|FALSE|CONFIRM <id>`` becomes
``AdapterContext.operator_action(..., channel="tetra")`` (the core audits it);
an unknown id is answered with a short SDS, anything else with a hint.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any
from zoneinfo import ZoneInfo

from broker.metrics import PROTOCOL_MESSAGES, PROTOCOL_REJECTED
from broker.outputs.base import AdapterContext, DeliveryResult, Outcome, OutputHealth
from broker.protocols.milestone.health import HealthTracker
from broker.protocols.milestone.template import SourceNames, Template, clean_text, event_fields
from broker.protocols.tetra import at, pdu, status
from broker.protocols.tetra.alert_text import fit_text, parse_reply, to_latin1
from broker.protocols.tetra.config import Destination, TetraConfig
from broker.protocols.tetra.dialogue import PeiDialogue
from broker.protocols.tetra.errors import (
    AtResponseError,
    LinkDownError,
    PduError,
    RadioCommandError,
    RadioTimeoutError,
)
from broker.protocols.tetra.link import SerialLink
from events import Event

logger = logging.getLogger(__name__)

PROTOCOL = "tetra"
_PROGRESS_LIMIT = 1000  # events whose partial progress is remembered
_REPORT_FOR = {
    "none": pdu.ReportRequest.NONE,
    "received": pdu.ReportRequest.RECEIVED,
    "consumed": pdu.ReportRequest.CONSUMED,
}
HINT = "Reply ACK <id>, FALSE <id> or CONFIRM <id>"


class TetraPeiTransport:
    """An :class:`~broker.outputs.base.OutputTransport` speaking AT/SDS-TL to a radio."""

    def __init__(
        self, config: TetraConfig, name: str, context: AdapterContext | None = None
    ) -> None:
        self.config = config
        self._name = name
        self._context = context
        self._template = Template(config.template)
        self._zone = ZoneInfo(config.timezone)
        self._names = SourceNames(config.cameras, config.places)
        self._health = HealthTracker(name, detail="not connected yet")
        self._link = SerialLink(
            config.port,
            baudrate=config.baudrate,
            on_bytes=self._on_bytes,
            on_state=self._on_link_state,
            reconnect_min_s=config.reconnect_min_s,
            reconnect_max_s=config.reconnect_max_s,
        )
        self._dialogue = PeiDialogue(
            name,
            self._link.write,
            self._on_sds,
            command_timeout_s=config.command_timeout_s,
            cme_errors=config.cme_errors,
        )
        self._reports: dict[int, asyncio.Future[pdu.DeliveryReport | pdu.ShortReport]] = {}
        self._reference = 0
        self._ready = asyncio.Event()
        self._progress: OrderedDict[str, set[str]] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._init_task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        """The output's name from the adapter config."""
        return self._name

    @property
    def ready(self) -> bool:
        """Whether the line is open and the radio accepted the init commands."""
        return self._ready.is_set()

    async def start(self) -> None:
        """Open the PEI line (in the background; it reconnects by itself)."""
        self._link.start()

    async def close(self) -> None:
        """Close the line and stop background work."""
        self._ready.clear()
        tasks = [*self._tasks, *([self._init_task] if self._init_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._init_task = None
        await self._link.close()

    def health(self) -> OutputHealth:
        """Link and radio state."""
        return self._health.snapshot()

    async def wait_ready(self, within_s: float) -> bool:
        """Wait until the radio is usable (tests and start-up checks)."""
        try:
            async with asyncio.timeout(within_s):
                await self._ready.wait()
        except TimeoutError:
            return False
        return True

    # --- link events ------------------------------------------------------------------

    def _on_link_state(self, up: bool, detail: str) -> None:
        if up:
            self._dialogue.reset()
            if self._init_task is not None:
                self._init_task.cancel()
            self._init_task = asyncio.get_running_loop().create_task(self._initialise())
        else:
            self._ready.clear()
            self._health.down(detail)
            self._fail_waiters(LinkDownError(detail))

    async def _initialise(self) -> None:
        """Init commands and service selection, retried with backoff while the line is open."""
        delay = self.config.reconnect_min_s
        while self._link.is_open:
            try:
                for command in self.config.init_commands:
                    await self._dialogue.command(command, at.command_line(command))
                selection = at.service_selection(identity_type=self.config.identity_type)
                await self._dialogue.command("AT+CTSDS", selection)
            except LinkDownError:
                return
            except (RadioCommandError, RadioTimeoutError) as exc:
                logger.warning("radio on %s did not initialise: %s", self.config.port, exc)
                self._health.down(f"init failed: {exc}")
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.config.reconnect_max_s)
                continue
            self._ready.set()
            self._health.up("radio ready")
            logger.info("radio on %s ready", self.config.port)
            return

    def _on_bytes(self, data: bytes) -> None:
        self._dialogue.feed(data)

    def _fail_waiters(self, error: Exception) -> None:
        self._dialogue.fail(error)
        for waiter in self._reports.values():
            if not waiter.done():
                waiter.set_exception(error)

    def _next_reference(self) -> int:
        for _ in range(255):
            self._reference = self._reference % 255 + 1
            if self._reference not in self._reports:
                return self._reference
        raise RuntimeError("all 255 message references are waiting for reports")

    # --- outbound ---------------------------------------------------------------------

    def compose(self, event: Event) -> list[str]:
        """The SDS texts for ``event`` (template, ISO 8859-1, length rule)."""
        fields = event_fields(event, self._zone, self._names)
        text = to_latin1(self._template.render(fields, clean_text))
        return fit_text(
            text,
            fields["short_id"],
            max_chars=self.config.max_chars,
            mode=self.config.overflow,
            max_parts=self.config.max_parts,
        )

    async def deliver(self, event: Event) -> DeliveryResult:
        """Send the alert to every destination; never raises for radio problems."""
        if not self._ready.is_set():
            return DeliveryResult(
                Outcome.RETRY, f"radio not ready: {self._health.snapshot().detail}"
            )
        parts = self.compose(event)
        done = self._progress.setdefault(event.event_id, set())
        self._progress.move_to_end(event.event_id)
        while len(self._progress) > _PROGRESS_LIMIT:
            self._progress.popitem(last=False)
        for destination in self.config.destinations:
            for index, part in enumerate(parts):
                key = f"{destination.ssi}/{index}"
                if key in done:
                    continue
                result = await self._send_text(destination, part)
                if result.outcome is not Outcome.DELIVERED:
                    return result
                done.add(key)
        self._progress.pop(event.event_id, None)
        sent = len(parts) * len(self.config.destinations)
        return DeliveryResult(
            Outcome.DELIVERED, f"{sent} SDS to {len(self.config.destinations)} destination(s)"
        )

    async def _send_text(self, destination: Destination, text: str) -> DeliveryResult:
        report = (
            pdu.ReportRequest.NONE
            if destination.group
            else _REPORT_FOR[self.config.delivery_report]
        )
        reference = self._next_reference()
        payload = pdu.encode_text_transfer(reference, text, report_request=report)
        waiter: asyncio.Future[pdu.DeliveryReport | pdu.ShortReport] | None = None
        if report is not pdu.ReportRequest.NONE:
            waiter = asyncio.get_running_loop().create_future()
            self._reports[reference] = waiter
        try:
            lines = await self._dialogue.command(
                "AT+CMGS", at.send_sds(destination.ssi, payload), reference
            )
            PROTOCOL_MESSAGES.labels(self._name, "out", "sds_transfer").inc()
            self._check_cmgs(lines, reference)
            if waiter is None:
                self._health.up("radio ready")
                return DeliveryResult(Outcome.DELIVERED, f"sent to {destination.ssi}")
            async with asyncio.timeout(self.config.report_timeout_s):
                outcome = await waiter
        except RadioCommandError as exc:
            return self._command_failed(exc)
        except (RadioTimeoutError, LinkDownError) as exc:
            self._health.down(str(exc))
            return DeliveryResult(Outcome.RETRY, str(exc))
        except TimeoutError:
            return DeliveryResult(
                Outcome.RETRY,
                f"no delivery report from {destination.ssi} in {self.config.report_timeout_s}s",
            )
        finally:
            self._reports.pop(reference, None)
        self._health.up("radio ready")
        return self._judge_report(destination, outcome)

    def _check_cmgs(self, lines: list[at.Line], reference: int) -> None:
        results = [line for line in lines if isinstance(line, at.CmgsResult)]
        if not results:
            logger.warning("radio sent OK without +CMGS for message reference %s", reference)
            return
        echoed = results[0].message_reference
        if echoed is not None and echoed != reference:
            logger.warning("radio reported message reference %s, sent %s", echoed, reference)

    def _command_failed(self, exc: RadioCommandError) -> DeliveryResult:
        self._health.note_error(str(exc))
        PROTOCOL_REJECTED.labels(PROTOCOL, "cme_error" if exc.code is not None else "error").inc()
        if exc.code is not None and exc.code in self.config.permanent_cme_errors:
            return DeliveryResult(Outcome.REJECTED, str(exc))
        return DeliveryResult(Outcome.RETRY, str(exc))

    def _judge_report(
        self, destination: Destination, report: pdu.DeliveryReport | pdu.ShortReport
    ) -> DeliveryResult:
        if isinstance(report, pdu.ShortReport):
            text = f"short report type {report.report_type}"
        else:
            text = status.describe_status(report.status)
        verdict = report.verdict
        detail = f"{destination.ssi}: {text}"
        if verdict is status.StatusVerdict.DELIVERED:
            return DeliveryResult(Outcome.DELIVERED, detail)
        self._health.note_error(detail)
        if verdict is status.StatusVerdict.REJECTED:
            return DeliveryResult(Outcome.REJECTED, detail)
        return DeliveryResult(Outcome.RETRY, detail)

    # --- inbound ----------------------------------------------------------------------

    def _on_sds(self, header: at.SdsHeader, line: str) -> None:
        try:
            data = at.parse_pdu_line(line, header)
            if header.ai_service == at.AI_SERVICE_STATUS:
                self._on_report(pdu.decode_short_report(data))
                return
            if header.ai_service != at.AI_SERVICE_SDS_TL:
                PROTOCOL_REJECTED.labels(PROTOCOL, "unsupported_service").inc()
                return
            message = pdu.decode_sds_tl(data)
        except AtResponseError:
            PROTOCOL_REJECTED.labels(PROTOCOL, "bad_pdu_line").inc()
            logger.warning("unreadable PDU line after +CTSDSR: %r", line[:80])
            return
        except PduError as exc:
            PROTOCOL_REJECTED.labels(PROTOCOL, exc.reason).inc()
            logger.warning("SDS from %s rejected: %s", header.calling, exc)
            return
        if isinstance(message, pdu.DeliveryReport):
            self._on_report(message)
        elif isinstance(message, pdu.TextMessage):
            PROTOCOL_MESSAGES.labels(self._name, "in", "sds_text").inc()
            self._spawn(self._on_text(header, message))
        else:
            PROTOCOL_MESSAGES.labels(self._name, "in", "sds_ack").inc()

    def _on_report(self, report: pdu.DeliveryReport | pdu.ShortReport) -> None:
        PROTOCOL_MESSAGES.labels(self._name, "in", "sds_report").inc()
        waiter = self._reports.get(report.message_reference)
        if waiter is None or waiter.done():
            PROTOCOL_REJECTED.labels(PROTOCOL, "unexpected_report").inc()
            return
        waiter.set_result(report)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_text(self, header: at.SdsHeader, message: pdu.TextMessage) -> None:
        sender = header.calling
        if sender is None:
            PROTOCOL_REJECTED.labels(PROTOCOL, "no_calling_party").inc()
            return
        if (
            message.report_request
            and message.message_reference is not None
            and self.config.send_reports
        ):
            report = pdu.encode_report(
                message.message_reference, 0x00, protocol_id=message.protocol_id
            )
            await self._send_quietly(sender, report, message.message_reference)
        allowed = self.config.accept_replies_from
        if allowed is not None and sender not in allowed:
            PROTOCOL_REJECTED.labels(PROTOCOL, "sender_not_allowed").inc()
            logger.warning("reply from ISSI %s ignored: not in accept_replies_from", sender)
            return
        reply = parse_reply(message.text)
        if reply is None:
            PROTOCOL_REJECTED.labels(PROTOCOL, "not_a_reply").inc()
            await self._answer(sender, HINT)
            return
        if self._context is None:
            logger.warning("reply %s from %s dropped: no adapter context", reply, sender)
            return
        operator = self.config.operators.get(sender, f"tetra:{sender}")
        applied = None
        # Ids are usually lower-case hex and keypads often type upper case: try that first.
        for ref in dict.fromkeys((reply.alert_ref.lower(), reply.alert_ref)):
            if await self._context.operator_action(
                ref, reply.action, operator=operator, channel="tetra", note=message.text
            ):
                applied = ref
                break
        if applied is not None:
            logger.info("radio %s: %s %s", sender, reply.action.value, applied)
            await self._answer(sender, f"OK {reply.action.value} {applied}")
        else:
            PROTOCOL_REJECTED.labels(PROTOCOL, "unknown_id").inc()
            await self._answer(sender, f"unknown id {reply.alert_ref}")

    async def _answer(self, ssi: str, text: str) -> None:
        reference = self._next_reference()
        payload = pdu.encode_text_transfer(
            reference,
            to_latin1(text)[: self.config.max_chars],
            report_request=pdu.ReportRequest.NONE,
        )
        await self._send_quietly(ssi, payload, reference)

    async def _send_quietly(self, ssi: str, payload: bytes, reference: int) -> None:
        try:
            await self._dialogue.command("AT+CMGS", at.send_sds(ssi, payload), reference)
            PROTOCOL_MESSAGES.labels(self._name, "out", "sds_transfer").inc()
        except (RadioCommandError, RadioTimeoutError, LinkDownError) as exc:
            logger.warning("answer to %s not sent: %s", ssi, exc)
