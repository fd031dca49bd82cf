"""Broker connection and outbox settings (embedded in the agent config)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Strict):
    """TLS to the broker. The server certificate is always verified unless ``insecure``."""

    ca_file: Path | None = Field(
        default=None, description="CA bundle that signed the broker's certificate (None = system)."
    )
    cert_file: Path | None = Field(
        default=None, description="Client certificate (PEM) for mutual TLS."
    )
    key_file: Path | None = Field(
        default=None, description="Private key of the client certificate."
    )
    insecure: bool = Field(
        default=False,
        description="Skip host name verification. Only for lab setups; never in production.",
    )

    def ssl_context(self) -> ssl.SSLContext:
        """A client context: server verified (CA), client certificate when configured."""
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None and self.key_file is not None:
            context.load_cert_chain(str(self.cert_file), str(self.key_file))
        context.check_hostname = not self.insecure
        return context

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        return self


class BrokerConfig(_Strict):
    """The MQTT broker the agent publishes to (MQTT v5, persistent session)."""

    host: str = Field(default="127.0.0.1", description="Broker host name or address.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port (8883 for TLS).")
    tls: TlsConfig | None = Field(default=None, description="TLS settings; None = plain TCP.")
    username: str | None = Field(default=None, description="MQTT user name (per-agent credential).")
    password: SecretStr | None = Field(
        default=None, description="MQTT password; write ${ENV_VAR} to take it from the environment."
    )
    client_id: str | None = Field(
        default=None,
        description="MQTT client id; default streetsense-<site>-<agent> (stable: the session "
        "and its queued operator actions survive restarts).",
    )
    keepalive_s: int = Field(default=15, ge=5, le=600, description="MQTT keepalive in seconds.")
    session_expiry_s: int = Field(
        default=86400,
        ge=0,
        description="How long the broker keeps the session (and queued acks) while offline.",
    )
    reconnect_min_s: float = Field(
        default=0.5, gt=0, description="First reconnect delay; doubles per failure, jittered."
    )
    reconnect_max_s: float = Field(default=30.0, gt=0, description="Reconnect delay cap.")


class OutboxConfig(_Strict):
    """The durable spool in front of the MQTT client."""

    path: Path = Field(
        default=Path("var/outbox.sqlite3"), description="SQLite spool file (created if missing)."
    )
    max_events: int = Field(
        default=100_000,
        ge=10,
        description="Spool cap. When full, the oldest event of the lowest severity not above "
        "the new event's is evicted (counted); if every stored event is more severe, the new "
        "one is refused (counted).",
    )
    max_inflight: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="QoS 1 publishes awaiting PUBACK; bounds duplicates after a broker crash.",
    )
    synchronous: Literal["full", "normal"] = Field(
        default="full",
        description="SQLite synchronous mode. full: an event handed to the outbox survives a "
        "power cut (one fsync per batch of events fused together). normal: no fsync per "
        "batch, may lose the last events on power loss (never on a process crash).",
    )
