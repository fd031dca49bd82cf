"""Pure mapping of an accepted panel message to normalised StreetSense events."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from broker.protocols.dc09.codec import Message
from broker.protocols.dc09.mapping import InboundCode, lookup_sia
from broker.protocols.dc09.payload import CidQualifier, ContactIdData, SiaData, clean_text
from events import Event, Phase, Severity, Source, SourceKind, new_id

UNMAPPED = InboundCode("panel_event", Severity.INFO)
_CID_PHASE = {
    CidQualifier.NEW: Phase.START,
    CidQualifier.RESTORE: Phase.END,
    CidQualifier.STATUS: Phase.UPDATE,
}


@dataclass(frozen=True, slots=True)
class PanelSite:
    """Where one account's events are placed."""

    site: str
    source_id: str


@dataclass(frozen=True, slots=True)
class PanelSettings:
    """Receiver-wide event settings."""

    agent: str
    codes: dict[str, InboundCode]
    publish_unmapped: bool
    ignore_codes: frozenset[str]


class IncidentTracker:
    """Open incidents per (account, category, zone), so a restore ends its alarm's incident."""

    def __init__(self, limit: int = 10_000) -> None:
        self._open: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._limit = limit

    def incident_for(self, key: tuple[str, str, str], phase: Phase) -> str:
        """The incident id for an event with ``key`` in ``phase``."""
        if phase is Phase.START:
            incident = new_id()
            self._open[key] = incident
            self._open.move_to_end(key)
            while len(self._open) > self._limit:
                self._open.popitem(last=False)
            return incident
        if phase is Phase.END:
            return self._open.pop(key, None) or new_id()
        return self._open.get(key) or new_id()


@dataclass(frozen=True, slots=True)
class _Item:
    code: str  # the code looked up in the code table ("PA", "120")
    zone: str
    text: str
    mapped: InboundCode | None
    phase: Phase


def _items(payload: SiaData | ContactIdData, codes: dict[str, InboundCode]) -> list[_Item]:
    if isinstance(payload, ContactIdData):
        qualifier = int(payload.qualifier)
        text = f"Contact ID {qualifier}{payload.code} group {payload.group} zone {payload.zone}"
        phase = _CID_PHASE[payload.qualifier]
        return [_Item(payload.code, payload.zone, text, codes.get(payload.code), phase)]
    items = []
    for event in payload.events:
        where = f" area {event.area}" if event.area else ""
        extra = f" {event.text}" if event.text else ""
        text = f"SIA {event.code} zone {event.address}{where}{extra}"
        found = lookup_sia(event.code, codes)
        mapped, phase = found if found else (None, Phase.START)
        items.append(_Item(event.code, event.address, text, mapped, phase))
    return items


def panel_events(
    message: Message,
    payload: SiaData | ContactIdData,
    place: PanelSite,
    settings: PanelSettings,
    tracker: IncidentTracker,
    *,
    now: datetime,
) -> list[Event]:
    """The events one accepted message carries (ignored and unmapped codes filtered)."""
    events: list[Event] = []
    account = message.account or "unknown"
    for item in _items(payload, settings.codes):
        if item.code in settings.ignore_codes:
            continue
        mapped = item.mapped
        if mapped is None:
            if not settings.publish_unmapped:
                continue
            mapped = UNMAPPED
        incident = tracker.incident_for((account, mapped.category, item.zone), item.phase)
        events.append(
            Event(
                event_id=new_id(),
                incident_id=incident,
                phase=item.phase,
                site=place.site,
                agent=settings.agent,
                source=Source(kind=SourceKind.PANEL, id=place.source_id),
                category=mapped.category,
                severity=mapped.severity,
                confidence=1.0,
                summary=clean_text(f"{item.text} account {account}", limit=256),
                occurred_at=message.timestamp or now,
                published_at=now,
            )
        )
    return events
