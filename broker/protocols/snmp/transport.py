"""The ``snmp`` output: each event as an SNMPv2c or SNMPv3 notification (pysnmp engine).

Delivery semantics: an INFORM is delivered when the manager's Response
arrives (no response after the retries = RETRY, and the output is down); a
TRAP has no answer, so it counts as delivered once pysnmp handed it to the
UDP socket and the output's health only says the last send worked. Use
informs where losing an alert matters (the default).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_MD5,
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC128_SHA224,
    USM_AUTH_HMAC192_SHA256,
    USM_AUTH_HMAC256_SHA384,
    USM_AUTH_HMAC384_SHA512,
    USM_PRIV_CBC56_DES,
    USM_PRIV_CFB128_AES,
    USM_PRIV_CFB192_AES,
    USM_PRIV_CFB256_AES,
    USM_PRIV_NONE,
    CommunityData,
    ContextData,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    send_notification,
)
from pysnmp.proto.api import v2c

from broker.metrics import PROTOCOL_MESSAGES, PROTOCOL_REJECTED
from broker.outputs.base import DeliveryResult, Outcome, OutputHealth
from broker.protocols.milestone.health import HealthTracker
from broker.protocols.snmp.codec import event_to_notification, to_asn1
from broker.protocols.snmp.config import SnmpOutputConfig
from broker.protocols.snmp.model import SNMP_TRAP_OID_0, format_oid
from events import Event

logger = logging.getLogger(__name__)

PROTOCOL = "snmp"
_AUTH = {
    "MD5": USM_AUTH_HMAC96_MD5, "SHA": USM_AUTH_HMAC96_SHA, "SHA224": USM_AUTH_HMAC128_SHA224,
    "SHA256": USM_AUTH_HMAC192_SHA256, "SHA384": USM_AUTH_HMAC256_SHA384,
    "SHA512": USM_AUTH_HMAC384_SHA512,
}  # fmt: skip
_PRIV = {"DES": USM_PRIV_CBC56_DES, "AES": USM_PRIV_CFB128_AES, "AES192": USM_PRIV_CFB192_AES,
         "AES256": USM_PRIV_CFB256_AES}  # fmt: skip


def auth_data(config: SnmpOutputConfig) -> CommunityData | UsmUserData:
    """pysnmp credentials for the configured version."""
    if config.v3 is None:
        # v2c is a deliberate, configured choice; docs/snmp.md recommends v3 authPriv
        return CommunityData(config.community.get_secret_value(), mpModel=1)  # noqa: S508
    user = config.v3
    return UsmUserData(
        user.user,
        authKey=user.auth_key.get_secret_value(),
        privKey=None if user.priv_key is None else user.priv_key.get_secret_value(),
        authProtocol=_AUTH[user.auth_protocol],
        privProtocol=USM_PRIV_NONE if user.priv_protocol is None else _PRIV[user.priv_protocol],
    )


def _new_engine(engine_id: str | None) -> SnmpEngine:
    """An SNMP engine, with our fixed snmpEngineID when configured.

    With a fixed id pysnmp keeps snmpEngineBoots in ``$TMPDIR/__pysnmp/<id>/boots``
    and reads it back without closing the file; the ResourceWarning of that
    read is silenced here, around the constructor only.
    """
    if engine_id is None:
        return SnmpEngine()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        return SnmpEngine(snmpEngineID=v2c.OctetString(hexValue=engine_id))


class SnmpNotifier:
    """Sends one notification per attempt; the delivery core retries."""

    def __init__(self, config: SnmpOutputConfig, name: str) -> None:
        self._config = config
        self._name = name
        self._engine: SnmpEngine | None = None
        self._target: UdpTransportTarget | None = None
        self._auth = auth_data(config)
        self._health = HealthTracker(name, detail=f"{config.host}:{config.port}")

    @property
    def name(self) -> str:
        """The output's configured name."""
        return self._name

    async def start(self) -> None:
        """Create the SNMP engine and resolve the manager's address."""
        if self._engine is None:
            self._engine = _new_engine(self._config.engine_id)
        if self._target is None:
            self._target = await UdpTransportTarget.create(
                (self._config.host, self._config.port),
                timeout=self._config.timeout_s,
                retries=self._config.retries,
            )

    async def deliver(self, event: Event) -> DeliveryResult:
        """Send the event's notification; never raises for peer problems."""
        try:
            await self.start()
        except (PySnmpError, OSError) as exc:  # e.g. the host name does not resolve
            return self._down(f"{type(exc).__name__}: {exc}")
        assert self._engine is not None and self._target is not None
        notification = event_to_notification(event, self._config.base)
        varbinds: list[tuple[Any, Any]] = [
            (SNMP_TRAP_OID_0, v2c.ObjectIdentifier(notification.trap_oid)),
            *(to_asn1(bind) for bind in notification.varbinds),
        ]
        mode = self._config.mode
        try:
            error, status, index, _ = await send_notification(
                self._engine, self._auth, self._target, ContextData(), mode, *varbinds,
                lookupMib=False,
            )  # fmt: skip
        except (PySnmpError, OSError) as exc:
            return self._down(f"{type(exc).__name__}: {exc}")
        PROTOCOL_MESSAGES.labels(self._name, "out", mode).inc()
        if error:
            if self._config.version == "v3":
                # pysnmp keeps the manager's engine boots and time from its discovery and
                # does not recover when a restarted manager ignores them: start afresh so
                # the next attempt discovers the manager again
                await self.close()
            return self._down(f"{mode} to {self._config.host}:{self._config.port}: {error}")
        trap = format_oid(notification.trap_oid)
        if status:
            PROTOCOL_REJECTED.labels(PROTOCOL, "response_error").inc()
            detail = f"manager answered {status.prettyPrint()} at index {index} for {trap}"
            self._health.note_error(detail)
            return DeliveryResult(Outcome.REJECTED, detail)
        if mode == "inform":
            PROTOCOL_MESSAGES.labels(self._name, "in", "inform_response").inc()
            self._health.up("inform acknowledged")
            return DeliveryResult(Outcome.DELIVERED, f"inform {trap} acknowledged")
        self._health.up("trap sent (traps are not acknowledged)")
        return DeliveryResult(Outcome.DELIVERED, f"trap {trap} sent")

    def _down(self, detail: str) -> DeliveryResult:
        logger.warning("SNMP output %s: %s", self._name, detail)
        self._health.down(detail)
        return DeliveryResult(Outcome.RETRY, detail)

    def health(self) -> OutputHealth:
        """Down after an unanswered inform or a send error; up after a success."""
        return self._health.snapshot()

    async def close(self) -> None:
        """Close the engine's UDP socket."""
        if self._engine is not None:
            self._engine.close_dispatcher()
            self._engine = None
            self._target = None
