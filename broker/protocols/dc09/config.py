"""Pydantic settings of the DC-09 transmitter output and receiver listener."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from broker.protocols.dc09 import crypto
from events import Severity

_ACCOUNT = r"^[0-9A-Fa-f]{3,16}$"
_HEX_ID = r"^[0-9A-Fa-f]{1,6}$"
_IDENTIFIER = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Endpoint(_Model):
    """One alarm receiving centre address."""

    host: str = Field(min_length=1, description="Receiver host name or address.")
    port: int = Field(ge=1, le=65535, description="Receiver port.")
    transport: Literal["tcp", "udp"] = Field("tcp", description="DC-09 over TCP or UDP.")
    name: str | None = Field(
        None, description="Name shown in health and used as operator name; host:port by default."
    )

    @property
    def label(self) -> str:
        """The endpoint's display name."""
        return self.name or f"{self.host}:{self.port}"


class CodeConfig(_Model):
    """How one category is sent."""

    sia: str = Field(pattern=r"^[A-Z]{2}$", description="SIA alarm code, e.g. PA.")
    sia_restore: str = Field(pattern=r"^[A-Z]{2}$", description="SIA restore code, e.g. PR.")
    cid: int = Field(ge=0, le=999, description="Contact ID event code, e.g. 120.")


def _key_bytes(key: SecretStr | None, encoding: str) -> bytes | None:
    if key is None:
        return None
    return crypto.parse_key(key.get_secret_value(), encoding)


class Dc09OutputConfig(_Model):
    """Settings of a ``dc09`` output (this adapter transmits to a receiving centre)."""

    receivers: list[Endpoint] = Field(
        min_length=1, description="Primary receiver first, then backups in failover order."
    )
    account: str = Field(pattern=_ACCOUNT, description="Account number (3-16 hex digits).")
    receiver_number: str | None = Field(
        "0", pattern=_HEX_ID, description="R field (1-6 hex digits); null leaves it out."
    )
    prefix: str = Field("0", pattern=_HEX_ID, description="Account prefix, the L field.")
    key: SecretStr | None = Field(None, description="AES key (use ${ENV}); plain DC-09 without.")
    key_encoding: Literal["hex", "ascii"] = Field(
        "hex", description="hex: 32/48/64 hex digits; ascii: the 16/24/32 characters are the key."
    )
    format: Literal["sia_dcs", "adm_cid"] = Field("sia_dcs", description="Event data format.")
    attempts: int = Field(3, ge=1, le=10, description="Sends of one sequence number per delivery.")
    ack_timeout_s: float = Field(5.0, gt=0, le=60, description="Wait for ACK/NAK/DUH per send.")
    failover_after: int = Field(
        2, ge=1, le=100, description="Consecutive failed sends before moving to the next receiver."
    )
    failback_after_s: float = Field(
        300.0, ge=0, description="On a backup this long, the next send tries the primary again."
    )
    supervision_interval_s: float = Field(
        60.0, ge=0, description="NULL supervision poll when the link was quiet this long; 0: off."
    )
    area: int = Field(1, ge=0, le=99, description="SIA area (ri) and Contact ID group.")
    zones: dict[str, int] = Field({}, description="Zone number per event source id (0-999).")
    default_zone: int = Field(1, ge=0, le=999, description="Zone for sources not in zones.")
    codes: dict[str, CodeConfig] = Field(
        {}, description="Per-category codes, merged over the documented defaults."
    )
    default_code: CodeConfig = Field(
        CodeConfig(sia="UA", sia_restore="UR", cid=150),
        description="Codes of categories that are not mapped.",
    )
    send_updates: bool = Field(False, description="Send incident updates, not only start/end.")
    extended_data: bool = Field(True, description="Add [H] time of occurrence and [I] alarm text.")
    ack_means_acknowledged: bool = Field(
        False,
        description="Treat the receiver's ACK of an alarm as an operator acknowledgement "
        "(channel dc09, operator = receiver name). Off: an ACK only confirms receipt.",
    )

    @field_validator("zones")
    @classmethod
    def _zones_in_range(cls, value: dict[str, int]) -> dict[str, int]:
        for source, zone in value.items():
            if not 0 <= zone <= 999:
                raise ValueError(f"zone of {source!r} must be 0-999")
        return value

    @model_validator(mode="after")
    def _key_is_valid(self) -> Dc09OutputConfig:
        self.key_bytes()  # raises Dc09ConfigError (a ValueError) naming the problem
        return self

    def key_bytes(self) -> bytes | None:
        """The AES key as bytes (``None`` for plain DC-09)."""
        return _key_bytes(self.key, self.key_encoding)


class InboundCodeConfig(_Model):
    """What one received code becomes."""

    category: str = Field(pattern=_IDENTIFIER, description="Event category.")
    severity: Severity = Field(description="Event severity.")


class AccountConfig(_Model):
    """One panel account the receiver accepts."""

    account: str = Field(pattern=_ACCOUNT, description="Account number (3-16 hex digits).")
    key: SecretStr | None = Field(None, description="AES key; frames must be encrypted when set.")
    key_encoding: Literal["hex", "ascii"] = Field("hex", description="How key is written.")
    site: str | None = Field(None, pattern=_IDENTIFIER, description="Site of this panel.")
    source_id: str | None = Field(
        None, pattern=_IDENTIFIER, description="Event source id; dc09-<account> by default."
    )

    @model_validator(mode="after")
    def _key_is_valid(self) -> AccountConfig:
        self.key_bytes()
        return self

    def key_bytes(self) -> bytes | None:
        """The AES key as bytes."""
        return _key_bytes(self.key, self.key_encoding)


class Dc09ReceiverConfig(_Model):
    """Settings of a ``dc09_receiver`` (legacy panels and call points send to this adapter)."""

    host: str = Field("0.0.0.0", description="Listen address.")
    port: int = Field(ge=0, le=65535, description="Listen port (TCP and UDP).")
    transports: list[Literal["tcp", "udp"]] = Field(["tcp", "udp"], min_length=1)
    site: str = Field(pattern=_IDENTIFIER, description="Site of events from panels by default.")
    agent: str = Field("dc09-receiver", pattern=_IDENTIFIER, description="Agent name on events.")
    accounts: list[AccountConfig] = Field(min_length=1, description="Accepted accounts.")
    codes: dict[str, InboundCodeConfig] = Field(
        {}, description="SIA or Contact ID code -> category/severity, merged over the defaults."
    )
    publish_unmapped: bool = Field(
        True, description="Publish codes that are not mapped as category panel_event (info)."
    )
    ignore_codes: list[str] = Field(
        ["RP", "602"], description="Codes acknowledged but not published (periodic tests)."
    )
    require_timestamp: bool = Field(False, description="NAK plain frames without a timestamp.")
    window_future_s: float = Field(20.0, ge=0, description="Accept timestamps this far ahead.")
    window_past_s: float = Field(40.0, ge=0, description="Accept timestamps this far behind.")
    max_connections: int = Field(256, ge=1, description="Concurrent TCP connections.")
    idle_timeout_s: float = Field(600.0, gt=0, description="Close TCP connections idle this long.")
