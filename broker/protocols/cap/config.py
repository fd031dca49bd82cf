"""Settings of a ``cap`` output (pydantic, unknown keys rejected)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from broker.protocols.cap.model import (
    CapSeverity,
    Category,
    ResponseType,
    Scope,
    Urgency,
)
from broker.protocols.cap.spec import TOKEN, polygon_problems
from events import Severity

DEFAULT_CATEGORIES: dict[str, tuple[Category, ...]] = {
    "fight": (Category.SECURITY,),
    "assault": (Category.SECURITY,),
    "intrusion": (Category.SECURITY,),
    "vandalism": (Category.SECURITY,),
    "gunshot": (Category.SECURITY,),
    "weapon": (Category.SECURITY,),
    "crowd": (Category.SAFETY,),
    "fall": (Category.HEALTH,),
    "medical": (Category.HEALTH,),
    "call_button": (Category.SAFETY,),
    "panic": (Category.SAFETY,),
    "fire": (Category.FIRE,),
    "smoke": (Category.FIRE,),
    "air_quality": (Category.ENV,),
    "noise": (Category.ENV,),
    "flood": (Category.GEO,),
    "traffic": (Category.TRANSPORT,),
    "tamper": (Category.INFRA,),
    "camera_offline": (Category.INFRA,),
}
"""Our category -> CAP categories, used where ``categories`` does not say otherwise."""

DEFAULT_URGENCY_SEVERITY: dict[Severity, tuple[Urgency, CapSeverity]] = {
    Severity.CRITICAL: (Urgency.IMMEDIATE, CapSeverity.EXTREME),
    Severity.HIGH: (Urgency.IMMEDIATE, CapSeverity.SEVERE),
    Severity.MEDIUM: (Urgency.EXPECTED, CapSeverity.MODERATE),
    Severity.LOW: (Urgency.EXPECTED, CapSeverity.MINOR),
    Severity.INFO: (Urgency.UNKNOWN, CapSeverity.MINOR),
}

DEFAULT_INSTRUCTION = (
    "Automated suggestion from video and sensor analysis, not a confirmed incident: "
    "verify on the camera before acting."
)


def _check_template(template: str, **fields: str) -> None:
    """Format ``template`` once with sample values so a bad one fails at config time."""
    try:
        template.format(**fields)
    except (KeyError, IndexError, AttributeError, ValueError) as exc:
        raise ValueError(f"template may use only {{{'}, {'.join(fields)}}}: {exc!r}") from exc


class CameraLocation(BaseModel):
    """Where a camera or sensor looks: the CAP ``<area>`` of its alerts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    area_desc: str = Field(min_length=1, max_length=256, description="Text of <areaDesc>.")
    circle: tuple[float, float, float] | None = Field(
        default=None, description="[lat, lon, radius_km] (WGS 84) for <circle>."
    )
    polygon: tuple[tuple[float, float], ...] | None = Field(
        default=None, description="[[lat, lon], ...] closed ring (first = last), 4+ points."
    )

    @field_validator("circle")
    @classmethod
    def _check_circle(cls, value: tuple[float, float, float] | None) -> object:
        if value is not None:
            lat, lon, radius = value
            if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 <= radius <= 20000):
                raise ValueError("circle must be [lat -90..90, lon -180..180, radius_km >= 0]")
        return value

    @field_validator("polygon")
    @classmethod
    def _check_polygon(cls, value: tuple[tuple[float, float], ...] | None) -> object:
        if value is not None:
            problems = polygon_problems(" ".join(f"{lat},{lon}" for lat, lon in value))
            if problems:
                raise ValueError("; ".join(problems))
        return value


class CapMessageConfig(BaseModel):
    """How our events become CAP alerts (shared by the ``cap`` and ``cap_feed`` outputs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sender: str = Field(description="<sender>: a unique id of this originator, e.g. an address.")
    sender_name: str = Field(default="StreetSense", description="<senderName>, human readable.")
    identifier_prefix: str = Field(
        default="streetsense", description="<identifier> is '<prefix>-<event id>'."
    )
    status: Literal["Actual", "Exercise", "Test"] = Field(
        default="Actual", description="<status>; Exercise or Test for drills."
    )
    note: str | None = Field(default=None, description="<note>, e.g. the drill's name.")
    scope: Scope = Field(default=Scope.RESTRICTED, description="<scope>.")
    restriction: str | None = Field(
        default="Control-room operators only: unverified automated suggestion.",
        description="<restriction>, required when scope is Restricted.",
    )
    addresses: tuple[str, ...] = Field(
        default=(), description="<addresses> recipients, required when scope is Private."
    )
    codes: tuple[str, ...] = Field(default=(), description="<code> values (e.g. a CAP profile).")
    language: str = Field(default="en-US", description="<language> (RFC 3066).")
    categories: dict[str, tuple[Category, ...]] = Field(
        default={}, description="Our category -> CAP categories (added to the built-in table)."
    )
    default_categories: tuple[Category, ...] = Field(
        default=(Category.SECURITY,), min_length=1, description="For categories in no table."
    )
    event_names: dict[str, str] = Field(
        default={}, description="Our category -> <event> text (default: 'Fight', 'Air quality')."
    )
    urgency_severity: dict[Severity, tuple[Urgency, CapSeverity]] = Field(
        default={}, description="Our severity -> [urgency, severity] (added to the defaults)."
    )
    likely_above: float = Field(
        default=0.5, ge=0, le=1, description="Confidence above which certainty is Likely."
    )
    instructions: dict[str, str] = Field(default={}, description="Our category -> <instruction>.")
    default_instruction: str = Field(default=DEFAULT_INSTRUCTION, description="<instruction>.")
    response_types: dict[str, tuple[ResponseType, ...]] = Field(
        default={}, description="Our category -> <responseType> while open (default Assess)."
    )
    include_summary: bool = Field(
        default=True,
        description="Put the agent's free-text summary in <description> (off where agents "
        "might write personal data into it).",
    )
    web_template: str | None = Field(
        default=None, description="<web> URL; may use {event_id}, {incident_id}, {site}."
    )
    contact: str | None = Field(default=None, description="<contact> of the control room.")
    expires_after_s: int | None = Field(
        default=3600, gt=0, description="<expires> this long after the event; none when null."
    )
    end_msg_type: Literal["Update", "Cancel"] = Field(
        default="Update", description="msgType of an incident's end (see docs/cap.md)."
    )
    locations: dict[str, CameraLocation] = Field(
        default={}, description="'<site>/<source id>' or '<source id>' -> its area."
    )
    area_template: str = Field(
        default="Site {site}, {source_kind} {source_id}",
        description="<areaDesc> for sources without a location.",
    )
    remembered_incidents: int = Field(
        default=10000, ge=1, description="Open incidents whose messages are kept for <references>."
    )

    @field_validator("sender", "identifier_prefix")
    @classmethod
    def _token(cls, value: str) -> str:
        if not TOKEN.match(value):
            raise ValueError("must not contain spaces, commas, '<' or '&'")
        return value

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if not address.strip() or '"' in address:
                raise ValueError("addresses must be non-empty and without double quotes")
        return value

    @field_validator("web_template")
    @classmethod
    def _web_template(cls, value: str | None) -> str | None:
        if value is not None:
            _check_template(value, event_id="e", incident_id="i", site="s")
        return value

    @field_validator("area_template")
    @classmethod
    def _area_template(cls, value: str) -> str:
        _check_template(value, site="s", source_kind="camera", source_id="c")
        return value

    @model_validator(mode="after")
    def _scope_rules(self) -> Self:
        if self.scope is Scope.RESTRICTED and not self.restriction:
            raise ValueError("scope Restricted needs a restriction text")
        if self.scope is Scope.PRIVATE and not self.addresses:
            raise ValueError("scope Private needs addresses")
        return self


class CapOutputConfig(CapMessageConfig):
    """Settings of a ``cap`` output: POST each alert to an aggregator."""

    url: str = Field(pattern=r"^https?://", description="CAP aggregator endpoint (HTTP POST).")
    content_type: Literal["application/cap+xml", "application/xml"] = Field(
        default="application/cap+xml", description="Content-Type of the POST."
    )
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="Whole-request timeout.")
    headers: dict[str, str] = Field(default={}, description="Extra headers (e.g. Authorization).")
    verify_tls: bool = Field(default=True, description="Verify the server certificate.")


class CapFeedConfig(CapMessageConfig):
    """Settings of a ``cap_feed`` output: serve open alerts as an Atom feed of CAP messages."""

    host: str = Field(default="127.0.0.1", description="Address the feed server binds.")
    port: int = Field(default=8088, ge=0, le=65535, description="Port (0: any free port).")
    path: str = Field(
        default="/cap", pattern=r"^(/[A-Za-z0-9._~-]+)+$", description="URL path prefix."
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^?#]+[^/?#]$",
        description="The feed's base URL as consumers reach it (behind a proxy); "
        "default http://<host>:<port><path>.",
    )
    state_path: Path = Field(description="SQLite file keeping the feed across restarts.")
    title: str = Field(default="StreetSense alerts", min_length=1, description="Feed title.")
    keep_ended_s: float = Field(
        default=3600.0, ge=0, description="How long an ended incident's final message stays listed."
    )
    max_entries: int = Field(default=500, ge=1, le=10000, description="Most entries listed.")
