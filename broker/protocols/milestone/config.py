"""Config of the two Milestone output types (``milestone_generic``, ``milestone_analytics``)."""

from __future__ import annotations

import uuid
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from broker.protocols.milestone.generic_codec import STYLE_DEFAULTS, DataSourceStyle, EchoMode
from broker.protocols.milestone.template import Template


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_template(value: str) -> str:
    Template(value)  # raises TemplateError (a ValueError) naming the bad field
    return value


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


class MilestoneGenericConfig(_Model):
    """Generic events: one text record per event to an event-server data source."""

    host: str = Field(description="Event server host name or address.")
    port: int | None = Field(
        None, ge=1, le=65535, description="Data-source port; 1234 compatible, 1235 international."
    )
    transport: Literal["tcp", "udp"] = Field("tcp", description="Protocol of the data source.")
    style: DataSourceStyle = Field(
        DataSourceStyle.INTERNATIONAL, description="Factory data source the settings start from."
    )
    echo: EchoMode | None = Field(
        None, description="The data source's echo type; the style's default when absent."
    )
    separator: list[int] | None = Field(
        None,
        description="Separator bytes as in the Management Client (e.g. [13, 10]); style default.",
    )
    encoding: str | None = Field(
        None, description="Text encoding; cp1252 (ANSI) compatible, utf-8 international."
    )
    template: str = Field(
        "StreetSense {category} {severity} cam={source_id} incident={incident_id}",
        description="Record text; an alarm definition's match expression looks for it.",
    )
    max_chars: int = Field(512, ge=16, le=65536, description="Longest record, in characters.")
    require_match: bool = Field(
        True, description="A statistics echo with 0 matches is a rejection (no event raised)."
    )
    timeout_s: float = Field(5.0, gt=0, description="Connect and echo timeout.")
    reuse_connection: bool = Field(
        True,
        description="TCP: send a run of queued records over one connection, each judged by its"
        " own echo (needs separator bytes and an echo); false: one connection per record.",
    )
    udp_wait_s: float = Field(
        0.3, ge=0, description="UDP: how long to listen for an echo or an ICMP refusal."
    )
    timezone: str = Field("UTC", description="Zone of the {time} and {date} fields.")
    cameras: dict[str, str] = Field({}, description="Source id -> name for the {camera} field.")
    places: dict[str, str] = Field({}, description="Source id -> place for the {place} field.")

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        return _check_template(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)

    @field_validator("separator")
    @classmethod
    def _bytes(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(not 0 <= b <= 255 for b in value):
            raise ValueError("separator bytes must be 0-255")
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str | None) -> str | None:
        if value is not None:
            "".encode(value)  # LookupError for an unknown codec
        return value

    @model_validator(mode="after")
    def _echo_possible(self) -> MilestoneGenericConfig:
        statistics = self.resolved_echo is EchoMode.STATISTICS
        if self.transport == "tcp" and statistics and not self.resolved_separator:
            raise ValueError("statistics echo over TCP needs a separator")
        return self

    @property
    def batches_on_one_connection(self) -> bool:
        """Whether a run of records may share one TCP connection.

        Only when the data source can tell the records apart (separator bytes)
        and answers each one (an echo): without an echo the only confirmation
        is a clean close, which must then come per record.
        """
        return (
            self.reuse_connection
            and self.transport == "tcp"
            and bool(self.resolved_separator)
            and self.resolved_echo is not EchoMode.NONE
        )

    @property
    def resolved_port(self) -> int:
        """The configured port or the style's factory port."""
        return self.port or STYLE_DEFAULTS[self.style].port

    @property
    def resolved_echo(self) -> EchoMode:
        """The configured echo type or the style's default."""
        return self.echo or STYLE_DEFAULTS[self.style].echo

    @property
    def resolved_separator(self) -> bytes:
        """The configured separator or the style's default."""
        if self.separator is None:
            return STYLE_DEFAULTS[self.style].separator
        return bytes(self.separator)

    @property
    def resolved_encoding(self) -> str:
        """The configured encoding or the style's default."""
        return self.encoding or STYLE_DEFAULTS[self.style].encoding


class CameraMapping(_Model):
    """How XProtect knows one of our cameras (a name/address, a GUID, or both)."""

    name: str | None = Field(None, description="XProtect camera name or IP address.")
    id: uuid.UUID | None = Field(None, description="XProtect camera GUID (FQID ObjectId).")
    server_id: uuid.UUID | None = Field(None, description="Recording server GUID, optional.")
    location: str | None = Field(None, description="Location text; the site when absent.")

    @model_validator(mode="after")
    def _something(self) -> CameraMapping:
        if self.name is None and self.id is None:
            raise ValueError("a camera mapping needs a name or an id")
        return self


class MilestoneAnalyticsConfig(_Model):
    """Analytics events: the AnalyticsEvent XML POSTed to the event server."""

    host: str = Field(description="Event server host name or address.")
    port: int = Field(9090, ge=1, le=65535, description="Analytics events port (default 9090).")
    https: bool = Field(False, description="Use HTTPS (when the event server is set up for it).")
    verify_tls: bool = Field(True, description="Verify the server certificate over HTTPS.")
    timeout_s: float = Field(10.0, gt=0, description="Whole-request timeout.")
    message_template: str = Field(
        "StreetSense {category}",
        description="EventHeader/Message: must equal a registered analytics event's name.",
    )
    description_template: str = Field(
        "{SEVERITY} {category} at {camera} ({site}), confidence {confidence_pct}%, "
        "incident {incident_id} ({phase}). {summary}",
        description="Description shown with the alarm in the Smart Client.",
    )
    custom_tag_template: str = Field("{incident_id}", description="EventHeader/CustomTag.")
    vendor: str = Field("StreetSense", description="Vendor/Name.")
    cameras: dict[str, CameraMapping] = Field({}, description="Our source id -> XProtect camera.")
    require_camera_mapping: bool = Field(
        False, description="Reject events from unmapped sources instead of sending our id."
    )
    timezone: str = Field("UTC", description="Zone of the {time} and {date} fields.")

    @field_validator("message_template", "description_template", "custom_tag_template")
    @classmethod
    def _templates(cls, value: str) -> str:
        return _check_template(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)
