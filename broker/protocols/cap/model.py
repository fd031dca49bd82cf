"""Typed, immutable values of a CAP 1.2 alert (OASIS Common Alerting Protocol v1.2).

Field names follow the spec's elements in snake case; tuples hold repeated
elements in document order. Times are aware datetimes without fractions of a
second (CAP's dateTime has none).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"


class Status(enum.StrEnum):
    """``<status>``: the appropriate handling of the message."""

    ACTUAL = "Actual"
    EXERCISE = "Exercise"
    SYSTEM = "System"
    TEST = "Test"
    DRAFT = "Draft"


class MsgType(enum.StrEnum):
    """``<msgType>``: the nature of the message."""

    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"
    ACK = "Ack"
    ERROR = "Error"


class Scope(enum.StrEnum):
    """``<scope>``: the intended distribution."""

    PUBLIC = "Public"
    RESTRICTED = "Restricted"
    PRIVATE = "Private"


class Category(enum.StrEnum):
    """``<category>``: the category of the subject event."""

    GEO = "Geo"
    MET = "Met"
    SAFETY = "Safety"
    SECURITY = "Security"
    RESCUE = "Rescue"
    FIRE = "Fire"
    HEALTH = "Health"
    ENV = "Env"
    TRANSPORT = "Transport"
    INFRA = "Infra"
    CBRNE = "CBRNE"
    OTHER = "Other"


class ResponseType(enum.StrEnum):
    """``<responseType>``: the recommended type of action."""

    SHELTER = "Shelter"
    EVACUATE = "Evacuate"
    PREPARE = "Prepare"
    EXECUTE = "Execute"
    AVOID = "Avoid"
    MONITOR = "Monitor"
    ASSESS = "Assess"
    ALL_CLEAR = "AllClear"
    NONE = "None"


class Urgency(enum.StrEnum):
    """``<urgency>``."""

    IMMEDIATE = "Immediate"
    EXPECTED = "Expected"
    FUTURE = "Future"
    PAST = "Past"
    UNKNOWN = "Unknown"


class CapSeverity(enum.StrEnum):
    """``<severity>``."""

    EXTREME = "Extreme"
    SEVERE = "Severe"
    MODERATE = "Moderate"
    MINOR = "Minor"
    UNKNOWN = "Unknown"


class Certainty(enum.StrEnum):
    """``<certainty>`` (Observed: determined to have occurred; Likely: p > ~50%)."""

    OBSERVED = "Observed"
    LIKELY = "Likely"
    POSSIBLE = "Possible"
    UNLIKELY = "Unlikely"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class ValuePair:
    """A ``valueName``/``value`` pair (eventCode, parameter, geocode)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Point:
    """A WGS 84 coordinate pair."""

    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Circle:
    """``<circle>``: a centre and a radius in kilometres."""

    centre: Point
    radius_km: float


@dataclass(frozen=True, slots=True)
class Reference:
    """One entry of ``<references>``: an earlier message as ``sender,identifier,sent``."""

    sender: str
    identifier: str
    sent: datetime


@dataclass(frozen=True, slots=True)
class Resource:
    """``<resource>``: a supplemental file."""

    description: str
    mime_type: str
    size: int | None = None
    uri: str | None = None
    deref_uri: str | None = None
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class Area:
    """``<area>``: the affected area."""

    description: str
    polygons: tuple[tuple[Point, ...], ...] = ()
    circles: tuple[Circle, ...] = ()
    geocodes: tuple[ValuePair, ...] = ()
    altitude: float | None = None
    ceiling: float | None = None


@dataclass(frozen=True, slots=True)
class Info:
    """``<info>``: the subject event of the alert."""

    categories: tuple[Category, ...]
    event: str
    urgency: Urgency
    severity: CapSeverity
    certainty: Certainty
    language: str | None = None
    response_types: tuple[ResponseType, ...] = ()
    audience: str | None = None
    event_codes: tuple[ValuePair, ...] = ()
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameters: tuple[ValuePair, ...] = ()
    resources: tuple[Resource, ...] = ()
    areas: tuple[Area, ...] = ()


@dataclass(frozen=True, slots=True)
class Alert:
    """``<alert>``: one CAP 1.2 message."""

    identifier: str
    sender: str
    sent: datetime
    status: Status
    msg_type: MsgType
    scope: Scope
    source: str | None = None
    restriction: str | None = None
    addresses: str | None = None
    codes: tuple[str, ...] = ()
    note: str | None = None
    references: tuple[Reference, ...] = ()
    incidents: str | None = None
    infos: tuple[Info, ...] = ()

    def reference(self) -> Reference:
        """This message as a reference for a later Update or Cancel."""
        return Reference(self.sender, self.identifier, self.sent)
