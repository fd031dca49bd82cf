"""The adapter's YAML config: pydantic models that reject unknown keys.

Load with :func:`load_adapter_config`; errors name the YAML path and line
(``outputs.arc.port (line 12): ...``). Secrets come from the environment
(``${NAME}``) or from files (``api.tokens_file``), never from the file itself.
"""

from __future__ import annotations

import socket
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from broker.errors import OutputTypeError
from events import Severity, topics
from streetsense.configfile import load_config, parse_config


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Model):
    """TLS towards the MQTT broker."""

    ca_file: Path | None = Field(default=None, description="CA bundle; system CAs when absent.")
    cert_file: Path | None = Field(default=None, description="Client certificate (mutual TLS).")
    key_file: Path | None = Field(default=None, description="Client private key (mutual TLS).")
    insecure: bool = Field(default=False, description="Skip hostname verification (testing only).")


def _default_client_id() -> str:
    return f"streetsense-adapter-{socket.gethostname().lower()}"[:64]


class MqttConfig(_Model):
    """The MQTT connection the adapter consumes events from."""

    host: str = Field(default="127.0.0.1", description="Broker host name or address.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port.")
    tls: TlsConfig | None = Field(default=None, description="TLS settings; plain TCP when absent.")
    username: str | None = Field(default=None, description="MQTT user name.")
    password: SecretStr | None = Field(default=None, description="MQTT password (use ${ENV}).")
    client_id: str = Field(
        default_factory=_default_client_id,
        min_length=1,
        max_length=64,
        description="Stable per instance: a restarted instance resumes its session by it.",
    )
    shared_group: str = Field(
        default="streetsense-adapters",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Shared-subscription group; instances in one group split the events.",
    )
    topic_filter: str = Field(default=topics.ALL_EVENTS, description="Event topic filter.")
    session_expiry_s: int = Field(
        default=3600, ge=0, description="How long the broker keeps our session (and queued events)."
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keepalive.")
    receive_maximum: int = Field(
        default=200,
        ge=1,
        le=65535,
        description="MQTT v5 Receive Maximum the adapter announces: unacknowledged QoS 1 "
        "messages the broker should send. mosquitto 2.0.11 was seen to exceed it once "
        "acknowledgements flow, so size the broker's own queue limits deliberately too.",
    )
    max_packet_bytes: int = Field(
        default=256 * 1024,
        ge=70 * 1024,
        description="Largest packet the broker may send us (MQTT v5 Maximum Packet Size); "
        "bigger ones never reach the adapter, smaller oversize events are counted.",
    )
    reconnect_min_s: float = Field(default=0.5, gt=0, description="First reconnect delay.")
    reconnect_max_s: float = Field(default=30.0, gt=0, description="Reconnect delay cap.")


class SqliteStorage(_Model):
    """SQLite (WAL): one adapter instance per database file."""

    kind: Literal["sqlite"] = "sqlite"
    path: Path = Field(default=Path("adapter.db"), description="Database file.")
    synchronous: Literal["normal", "full"] = Field(
        default="full", description="'full' survives power loss; 'normal' only process crashes."
    )


class PostgresStorage(_Model):
    """PostgreSQL: several adapter instances share queues, dedupe, alerts and audit."""

    kind: Literal["postgresql"]
    dsn: SecretStr = Field(description="libpq connection string (use ${ENV} for secrets).")
    db_schema: str = Field(
        default="streetsense",
        alias="schema",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Schema holding the adapter's tables (created when missing).",
    )


Storage = Annotated[SqliteStorage | PostgresStorage, Field(discriminator="kind")]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class TimeWindow(_Model):
    """A daily window; ``end`` before ``start`` wraps past midnight (22:00-06:00)."""

    days: list[Weekday] = Field(
        default=list(WEEKDAYS), min_length=1, description="Days on which the window starts."
    )
    start: time = Field(description="Local start time (inclusive).")
    end: time = Field(description="Local end time (exclusive).")


class Schedule(_Model):
    """When a rule applies, in a named time zone."""

    timezone: str = Field(default="UTC", description="IANA zone, e.g. Europe/Berlin.")
    windows: list[TimeWindow] = Field(min_length=1, description="Any window matches.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class RouteRule(_Model):
    """Send matching events to outputs. Rules are tried in order; the first match wins
    unless it sets ``continue: true``, in which case later rules are tried as well."""

    name: str = Field(min_length=1, description="Shown in logs and the audit log.")
    sites: list[str] = Field(default=["*"], min_length=1, description="Site globs (fnmatch).")
    categories: list[str] = Field(default=["*"], min_length=1, description="Category globs.")
    min_severity: Severity = Field(
        default=Severity.INFO, description="Lowest severity that matches."
    )
    schedule: Schedule | None = Field(default=None, description="Only inside these windows.")
    outputs: list[str] = Field(min_length=1, description="Named outputs to deliver to.")
    continue_: bool = Field(
        default=False, alias="continue", description="Keep trying later rules after this one."
    )


class RetryPolicy(_Model):
    """Jittered, capped exponential backoff; dead letter after ``max_attempts``."""

    base_s: float = Field(default=1.0, gt=0, description="Delay after the first failure.")
    cap_s: float = Field(default=300.0, gt=0, description="Longest delay between attempts.")
    max_attempts: int = Field(default=20, ge=1, description="Attempts before a dead letter.")


class ApiConfig(_Model):
    """The HTTP API (alerts, operator actions, outputs, audit, metrics)."""

    enabled: bool = Field(default=True, description="Serve the API.")
    host: str = Field(default="127.0.0.1", description="Listen address.")
    port: int = Field(default=9181, ge=0, le=65535, description="Listen port (0 picks a free one).")
    operators: dict[str, Annotated[str, Field(min_length=12)]] = Field(
        default={},
        description="Operator name -> bearer token (use ${ENV} for each token; 12+ chars).",
    )
    tokens_file: Path | None = Field(
        default=None, description="File of 'token operator-name' lines, merged in."
    )

    def operator_tokens(self) -> dict[str, str]:
        """Bearer token -> operator name, from ``operators`` and ``tokens_file``."""
        found = {token: name for name, token in self.operators.items()}
        if self.tokens_file is not None:
            for raw in self.tokens_file.read_text(encoding="utf-8").splitlines():
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                token, _, operator = line.partition(" ")
                if not operator.strip():
                    raise ValueError(f"{self.tokens_file}: line without an operator name")
                found[token] = operator.strip()
        return found


class RetentionConfig(_Model):
    """How long the adapter keeps each kind of record (see docs/accountability.md)."""

    enabled: bool = Field(default=True, description="Run the retention sweeper.")
    interval_s: float = Field(
        default=3600.0, ge=1.0, description="Seconds between sweeps (the first runs at start)."
    )
    closed_alerts_days: float = Field(
        default=90.0,
        gt=0,
        description="Keep confirmed or dismissed alerts, their events and history this long "
        "after their last change. Open and acknowledged alerts are never purged.",
    )
    dead_letters_days: float = Field(
        default=30.0, gt=0, description="Keep dead-lettered deliveries this long."
    )
    audit_days: float = Field(
        default=400.0,
        gt=0,
        description="Keep audit rows this long; older ones are pruned as a whole prefix of "
        "the chain behind a recorded anchor.",
    )

    @model_validator(mode="after")
    def _audit_outlives_alerts(self) -> RetentionConfig:
        if self.audit_days < self.closed_alerts_days:
            raise ValueError(
                "audit_days must be at least closed_alerts_days: the audit log is what "
                "remains of a purged alert"
            )
        return self


class OutputSpec(_Model):
    """One configured output: its plug-in type and its validated settings."""

    type: str
    settings: Any


def _validate_outputs(raw: Any) -> dict[str, OutputSpec]:
    from broker.outputs.registry import default_registry

    if not isinstance(raw, dict):
        raise TypeError("outputs must be a mapping of name -> output config")
    registry = default_registry()
    errors: list[InitErrorDetails] = []
    found: dict[str, OutputSpec] = {}
    for name, item in raw.items():
        if not isinstance(item, dict) or "type" not in item:
            errors.append(_error((name,), "expected a mapping with a 'type' key", item))
            continue
        body = dict(item)
        type_name = str(body.pop("type"))
        try:
            plugin = registry.get(type_name)
        except OutputTypeError as exc:
            errors.append(_error((name, "type"), str(exc), type_name))
            continue
        try:
            settings = plugin.config_model.model_validate(body)
        except ValidationError as exc:
            errors.extend(
                _error((name, *error["loc"]), error["msg"], error.get("input"))
                for error in exc.errors()
            )
            continue
        found[str(name)] = OutputSpec(type=type_name, settings=settings)
    if errors:
        raise ValidationError.from_exception_data("outputs", errors)
    return found


def _error(loc: tuple[Any, ...], message: str, value: Any) -> InitErrorDetails:
    return {
        "type": PydanticCustomError("output_config", "{message}", {"message": message}),
        "loc": loc,
        "input": value,
    }


class AdapterConfig(_Model):
    """The whole adapter config file."""

    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="MQTT input.")
    storage: Storage = Field(
        default_factory=SqliteStorage, description="Queues, dedupe, alerts and audit log."
    )
    outputs: dict[str, OutputSpec] = Field(
        default={}, description="Named outputs, each with a type."
    )
    routes: list[RouteRule] = Field(default=[], description="Routing rules, tried in order.")
    api: ApiConfig = Field(default_factory=ApiConfig, description="HTTP API.")
    dedupe_window_s: float = Field(
        default=7 * 24 * 3600.0, gt=0, description="How long event ids are remembered for dedupe."
    )
    retry: RetryPolicy = Field(default_factory=RetryPolicy, description="Delivery retries.")
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="Retention of alerts, dead letters, audit."
    )
    attempt_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="Longest one delivery attempt may take before it counts as a retry.",
    )
    poll_interval_s: float = Field(
        default=0.2, gt=0, le=10, description="How often an idle delivery worker looks for work."
    )

    @field_validator("outputs", mode="before")
    @classmethod
    def _outputs(cls, value: Any) -> dict[str, OutputSpec]:
        return _validate_outputs(value)

    @model_validator(mode="after")
    def _routes_name_outputs(self) -> AdapterConfig:
        known = ", ".join(sorted(self.outputs)) or "none"
        errors = [
            _error(
                ("routes", index, "outputs", position),
                f"rule {rule.name!r} names unknown output {output!r}; configured: {known}",
                output,
            )
            for index, rule in enumerate(self.routes)
            for position, output in enumerate(rule.outputs)
            if output not in self.outputs
        ]
        if errors:
            raise ValidationError.from_exception_data("routes", errors)
        return self


def load_adapter_config(path: Path) -> AdapterConfig:
    """Read and validate an adapter config file (:class:`ConfigError` on problems)."""
    return load_config(path, AdapterConfig)


def parse_adapter_config(text: str) -> AdapterConfig:
    """Validate adapter config YAML text (for tests and ``config check``)."""
    return parse_config(text, AdapterConfig)
