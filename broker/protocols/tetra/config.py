"""Config of the ``tetra`` output (a radio terminal's PEI on a serial line or serial server)."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from broker.protocols.milestone.template import Template
from broker.protocols.tetra.at import MAX_ISSI, command_line
from broker.protocols.tetra.pdu import MAX_TEXT_OCTETS

DEFAULT_TEMPLATE = (
    "{CATEGORY} {SEVERITY} {camera} {place} {time} #{short_id} "
    "reply ACK {short_id}/FALSE {short_id}"
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Destination(_Model):
    """A handset (ISSI) or talk group (GSSI) that receives alerts."""

    ssi: str = Field(pattern=r"^\d{1,8}$", description="ISSI or GSSI, decimal.")
    group: bool = Field(False, description="A group: no delivery report is requested.")
    name: str = Field("", description="Shown in logs.")

    @field_validator("ssi")
    @classmethod
    def _range(cls, value: str) -> str:
        if not 1 <= int(value) <= MAX_ISSI:
            raise ValueError(f"SSI must be 1-{MAX_ISSI}")
        return value


class TetraConfig(_Model):
    """Alerts as SDS-TL text to radios; replies ACK/FALSE/CONFIRM <id> come back."""

    port: str = Field(
        description="pyserial URL: a device (/dev/ttyUSB0) or a serial server (socket://h:p)."
    )
    baudrate: int = Field(9600, gt=0, description="Serial speed (ignored for socket://).")
    destinations: list[Destination] = Field(min_length=1, description="Who gets each alert.")
    delivery_report: Literal["none", "received", "consumed"] = Field(
        "received", description="Report requested from individual destinations."
    )
    report_timeout_s: float = Field(
        30.0, gt=0, description="Wait this long for a delivery report before retrying."
    )
    command_timeout_s: float = Field(5.0, gt=0, description="Wait for OK/ERROR per command.")
    template: str = Field(DEFAULT_TEMPLATE, description="Alert text (see docs/tetra.md).")
    timezone: str = Field("UTC", description="Zone of the {time} and {date} fields.")
    cameras: dict[str, str] = Field({}, description="Source id -> short name for {camera}.")
    places: dict[str, str] = Field({}, description="Source id -> place for {place}.")
    max_chars: int = Field(
        160, ge=40, le=MAX_TEXT_OCTETS, description="Characters per SDS (ISO 8859-1)."
    )
    overflow: Literal["split", "truncate"] = Field(
        "split", description="Longer alerts: numbered parts or cut with an ellipsis."
    )
    max_parts: int = Field(3, ge=1, le=9, description="Most parts of one split alert.")
    identity_type: int = Field(0, ge=0, le=9, description="AT+CTSDS called party identity type.")
    init_commands: list[str] = Field(
        ["ATE0", "AT+CTSP=1,3,130"],
        description="Sent after every (re)connect, before AT+CTSDS (echo off, SDS-TL routing).",
    )
    send_reports: bool = Field(
        True, description="Answer incoming SDS that request a report with SDS-REPORT."
    )
    accept_replies_from: list[str] | None = Field(
        None, description="ISSIs whose replies count; any ISSI when absent."
    )
    operators: dict[str, str] = Field({}, description="ISSI -> operator name for the audit log.")
    cme_errors: dict[int, str] = Field(
        {}, description="+CME ERROR code -> description, from the terminal's PEI manual."
    )
    permanent_cme_errors: list[int] = Field(
        [], description="+CME ERROR codes that reject an alert instead of retrying it."
    )
    reconnect_min_s: float = Field(0.5, gt=0, description="First reconnect delay.")
    reconnect_max_s: float = Field(30.0, gt=0, description="Reconnect delay cap.")

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        Template(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("init_commands")
    @classmethod
    def _commands(cls, value: list[str]) -> list[str]:
        for command in value:
            command_line(command)  # ValueError for anything but a printable AT command
        return value

    @model_validator(mode="after")
    def _backoff(self) -> TetraConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        return self
