"""Settings of an ``snmp`` output (pydantic, unknown keys rejected)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from broker.protocols.snmp.model import DEFAULT_BASE_OID, Oid, format_oid, parse_oid


class SnmpV3User(BaseModel):
    """An SNMPv3 USM user (authNoPriv or authPriv)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str = Field(min_length=1, max_length=32, description="USM user name.")
    auth_protocol: Literal["SHA", "SHA224", "SHA256", "SHA384", "SHA512", "MD5"] = Field(
        default="SHA", description="Authentication protocol (HMAC)."
    )
    auth_key: SecretStr = Field(description="Authentication passphrase, 8+ characters (${ENV}).")
    priv_protocol: Literal["AES", "AES192", "AES256", "DES"] | None = Field(
        default="AES", description="Privacy (encryption) protocol; null for authNoPriv."
    )
    priv_key: SecretStr | None = Field(default=None, description="Privacy passphrase, 8+ chars.")

    @model_validator(mode="after")
    def _keys(self) -> SnmpV3User:
        if len(self.auth_key.get_secret_value()) < 8:
            raise ValueError("auth_key must be at least 8 characters (RFC 3414)")
        if self.priv_protocol is not None:
            if self.priv_key is None or len(self.priv_key.get_secret_value()) < 8:
                raise ValueError("authPriv needs a priv_key of at least 8 characters")
        elif self.priv_key is not None:
            raise ValueError("priv_key given but priv_protocol is null")
        return self


class SnmpOutputConfig(BaseModel):
    """Settings of an ``snmp`` output: where notifications go and how they are secured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1, description="Manager (trap receiver) host.")
    port: int = Field(default=162, ge=1, le=65535, description="Manager UDP port.")
    version: Literal["v2c", "v3"] = Field(default="v2c", description="SNMP version.")
    mode: Literal["trap", "inform"] = Field(
        default="inform",
        description="inform: acknowledged by the manager (delivered on its response); "
        "trap: fire and forget (delivered once sent).",
    )
    community: SecretStr = Field(
        default=SecretStr("public"), description="SNMPv2c community (${ENV})."
    )
    v3: SnmpV3User | None = Field(default=None, description="SNMPv3 USM user (version v3).")
    engine_id: str | None = Field(
        default=None,
        description="This sender's snmpEngineID in hex (5-32 octets); needed for v3 traps, "
        "where the manager must know it (snmptrapd: createUser -e 0x...).",
    )
    base_oid: str = Field(
        default=format_oid(DEFAULT_BASE_OID),
        description="OID of the STREETSENSE-MIB module; 32473 is a placeholder enterprise number.",
    )
    timeout_s: float = Field(default=2.0, gt=0, le=60, description="Wait per inform try.")
    retries: int = Field(default=2, ge=0, le=10, description="Inform resends before RETRY.")

    @field_validator("base_oid")
    @classmethod
    def _oid(cls, value: str) -> str:
        parse_oid(value)
        return value

    @field_validator("engine_id")
    @classmethod
    def _engine(cls, value: str | None) -> str | None:
        if value is not None:
            digits = value.removeprefix("0x")
            if not re.fullmatch(r"(?:[0-9a-fA-F]{2}){5,32}", digits):
                raise ValueError("engine_id must be 5 to 32 octets of hex")
            return digits.lower()
        return value

    @model_validator(mode="after")
    def _version_rules(self) -> SnmpOutputConfig:
        if self.version == "v3" and self.v3 is None:
            raise ValueError("version v3 needs a v3 user")
        if self.version == "v2c" and self.v3 is not None:
            raise ValueError("a v3 user is set but version is v2c")
        if self.version == "v3" and self.mode == "trap" and self.engine_id is None:
            raise ValueError("v3 traps need engine_id (the manager must know the sender's engine)")
        return self

    @property
    def base(self) -> Oid:
        """The base OID as a tuple."""
        return parse_oid(self.base_oid)
