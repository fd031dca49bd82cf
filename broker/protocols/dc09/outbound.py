"""Pure translation of a StreetSense event into the DC-09 message a transmitter sends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from broker.protocols.dc09.codec import ExtendedData, Message, Token
from broker.protocols.dc09.config import Dc09OutputConfig
from broker.protocols.dc09.mapping import DEFAULT_OUTBOUND, OutboundCode
from broker.protocols.dc09.payload import (
    CidQualifier,
    build_cid_data,
    build_sia_data,
    clean_text,
)
from events import Event, Phase

_QUALIFIER = {Phase.START: CidQualifier.NEW, Phase.END: CidQualifier.RESTORE}


@dataclass(frozen=True, slots=True)
class Outbound:
    """The settings that shape outgoing messages, resolved once from the config."""

    account: str
    receiver: str | None
    prefix: str
    contact_id: bool
    encrypted: bool
    area: int
    zones: dict[str, int]
    default_zone: int
    codes: dict[str, OutboundCode]
    default_code: OutboundCode
    send_updates: bool
    extended_data: bool

    @classmethod
    def from_config(cls, config: Dc09OutputConfig) -> Outbound:
        """Merge the configured codes over the defaults."""
        codes = dict(DEFAULT_OUTBOUND)
        for category, code in config.codes.items():
            codes[category] = OutboundCode(code.sia, code.sia_restore, code.cid)
        default = config.default_code
        return cls(
            account=config.account.upper(),
            receiver=config.receiver_number.upper() if config.receiver_number else None,
            prefix=config.prefix.upper(),
            contact_id=config.format == "adm_cid",
            encrypted=config.key is not None,
            area=config.area,
            zones=dict(config.zones),
            default_zone=config.default_zone,
            codes=codes,
            default_code=OutboundCode(default.sia, default.sia_restore, default.cid),
            send_updates=config.send_updates,
            extended_data=config.extended_data,
        )

    def code_for(self, category: str) -> OutboundCode:
        """The codes a category is sent with."""
        return self.codes.get(category, self.default_code)

    def skips(self, event: Event) -> bool:
        """True for an incident update when updates are not sent."""
        return event.phase is Phase.UPDATE and not self.send_updates

    def event_message(self, event: Event, sequence: int, sent_at: datetime) -> Message:
        """The message for ``event`` (raises :class:`Dc09ConfigError` for unframeable codes)."""
        return self.event_builder(event)(sequence, sent_at)

    def event_builder(self, event: Event) -> Callable[[int, datetime], Message]:
        """``(sequence, sent_at) -> message`` for ``event``, its content worked out once.

        Raises :class:`Dc09ConfigError` now for unframeable codes; the builder
        itself cannot fail (a retry only changes the sequence and the time).
        """
        code = self.code_for(event.category)
        zone = self.zones.get(event.source.id, self.default_zone)
        if self.contact_id:
            qualifier = _QUALIFIER.get(event.phase, CidQualifier.STATUS)
            data = build_cid_data(self.account, qualifier, code.cid, self.area, zone)
        else:
            sia = code.sia_restore if event.phase is Phase.END else code.sia
            data = build_sia_data(self.account, sia, zone, self.area)
        token = Token.ADM_CID if self.contact_id else Token.SIA_DCS
        extended = self._extended(event)

        def build(sequence: int, sent_at: datetime) -> Message:
            return self._message(token, sequence, data, extended, sent_at)

        return build

    def null_message(self, sequence: int, sent_at: datetime) -> Message:
        """A NULL supervision message."""
        return self._message(Token.NULL, sequence, "", (), sent_at)

    def _extended(self, event: Event) -> tuple[ExtendedData, ...]:
        if not self.extended_data:
            return ()
        words = [event.category, event.severity.value, event.source.id, event.summary]
        text = clean_text(" ".join(word for word in words if word) + f" ref {event.event_id[:12]}")
        blocks = [ExtendedData("I", text)]
        if not self.contact_id:  # many Contact ID receivers take one extended block only
            occurred = event.occurred_at.astimezone(UTC).strftime("%H:%M:%S,%m-%d-%Y")
            blocks.append(ExtendedData("H", occurred))
        return tuple(blocks)

    def _message(
        self,
        token: Token,
        sequence: int,
        data: str,
        extended: tuple[ExtendedData, ...],
        sent_at: datetime,
    ) -> Message:
        return Message(
            token=token,
            sequence=sequence,
            account=self.account,
            receiver=self.receiver,
            prefix=self.prefix,
            data=data,
            extended=extended,
            timestamp=sent_at,
            encrypted=self.encrypted,
        )
