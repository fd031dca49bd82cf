"""Config of the ``onvif_events`` output and the ``onvif_camera`` inbound source."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

_Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class OnvifUser(BaseModel):
    """A user allowed to call the service (WS-UsernameToken)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str = Field(min_length=1, max_length=64, description="User name sent in the token.")
    password: SecretStr = Field(
        description="Password; use ${ENV_VAR} in the YAML, never a literal."
    )


class OnvifEventsConfig(BaseModel):
    """A device-side ONVIF event service a VMS subscribes to with a pull point."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen_host: str = Field("0.0.0.0", description="Address the SOAP server binds.")
    listen_port: int = Field(8080, ge=0, le=65535, description="TCP port (0 picks a free one).")
    advertised_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="Base URL put in XAddrs, e.g. http://adapter.lan:8080; default: the Host the client used.",
    )
    users: tuple[OnvifUser, ...] = Field(
        min_length=1, description="Accepted WS-UsernameToken users."
    )
    categories: tuple[_Identifier, ...] = Field(
        (),
        description="Categories announced as topics in GetEventProperties (others are still sent).",
    )
    require_subscriber: bool = Field(
        True,
        description="Answer 'retry' while no VMS is subscribed, so events wait in the durable queue.",
    )
    queue_size: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="Notifications kept per pull point; the oldest is dropped.",
    )
    max_pull_points: int = Field(32, ge=1, le=1024, description="Concurrent subscriptions allowed.")
    default_termination_s: float = Field(
        60.0, gt=0, description="Lifetime when a client asks for none."
    )
    min_termination_s: float = Field(10.0, gt=0, description="Shortest lifetime granted.")
    max_termination_s: float = Field(3600.0, gt=0, description="Longest lifetime granted.")
    max_pull_timeout_s: float = Field(
        120.0, gt=0, le=3600, description="Longest PullMessages wait."
    )
    max_message_limit: int = Field(
        1024, ge=1, le=100_000, description="Most messages per PullMessages."
    )
    max_body_bytes: int = Field(
        256 * 1024, ge=4096, le=16 * 1024 * 1024, description="Largest request accepted."
    )
    max_clock_skew_s: float = Field(
        300.0, gt=0, description="Accepted distance of a token's Created from our clock."
    )
    allow_push: bool = Field(
        True,
        description="Accept WS-BaseNotification Subscribe: events are POSTed to the client's consumer URL.",
    )
    auth_max_failures: int = Field(
        10, ge=0, le=10_000, description="Failed logins from one address before a lockout (0: off)."
    )
    auth_window_s: float = Field(
        60.0, gt=0, description="Window in which failed logins are counted."
    )
    auth_lockout_s: float = Field(
        60.0, gt=0, description="How long a locked-out address is refused."
    )
    allow_password_text: bool = Field(False, description="Also accept PasswordText tokens (avoid).")
    pre_auth_discovery: bool = Field(
        True,
        description="GetServices / GetCapabilities / GetServiceCapabilities without a token (ONVIF PRE_AUTH).",
    )
    manufacturer: str = Field(
        "StreetSense", max_length=64, description="GetDeviceInformation Manufacturer."
    )
    model: str = Field(
        "StreetSense Broker Adapter", max_length=64, description="GetDeviceInformation Model."
    )
    serial_number: str = Field(
        "streetsense", max_length=64, description="GetDeviceInformation SerialNumber."
    )
    hostname: str | None = Field(
        None, max_length=64, description="GetHostname Name; default: this machine's host name."
    )


class TopicRule(BaseModel):
    """How one camera topic becomes a StreetSense category."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: str = Field(
        min_length=3,
        max_length=256,
        description="Concrete topic, e.g. tns1:RuleEngine/CellMotionDetector/Motion (the prefix is not compared).",
    )
    category: _Identifier = Field(description="Category of the published events.")
    severity: str = Field(
        "medium", pattern="^(info|low|medium|high|critical)$", description="Severity of the events."
    )
    confidence: float = Field(
        1.0, ge=0, le=1, description="Confidence given to the camera's verdict."
    )
    state_item: str | None = Field(
        None,
        description="Boolean Data item carrying the state (IsMotion, IsInside, State); unset: every message is an incident of its own.",
    )
    source_item: str | None = Field(
        None,
        description="Source item naming the camera's channel; default: the first Source item.",
    )


class OnvifCameraConfig(BaseModel):
    """An ONVIF camera whose own analytics are pulled and republished as events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1, description="Camera host name or address.")
    port: int = Field(80, ge=1, le=65535, description="Camera HTTP port.")
    username: str = Field(min_length=1, description="ONVIF user on the camera.")
    password: SecretStr = Field(description="Password; use ${ENV_VAR} in the YAML.")
    site: _Identifier = Field(description="Site the camera belongs to.")
    agent: _Identifier = Field("onvif", description="Agent name used in the published events.")
    camera_id: _Identifier | None = Field(
        None,
        description="Source id of the events; default: derived from the host and channel token.",
    )
    topics: tuple[TopicRule, ...] = Field(
        min_length=1, description="Topics to republish; others are ignored."
    )
    pull_timeout_s: float = Field(20.0, gt=0, le=600, description="PullMessages long-poll wait.")
    message_limit: int = Field(100, ge=1, le=1024, description="PullMessages MessageLimit.")
    subscription_s: float = Field(
        300.0, ge=60, description="Requested subscription lifetime (renewed at 80%)."
    )
    adjust_time: bool = Field(True, description="Compensate the camera's clock skew in tokens.")
    reconnect_min_s: float = Field(1.0, gt=0, description="First reconnect delay.")
    reconnect_max_s: float = Field(
        60.0, gt=0, description="Reconnect delay cap (jittered, doubling)."
    )
