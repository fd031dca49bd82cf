"""xs:duration and xs:dateTime as WS-BaseNotification uses them (no I/O)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from broker.protocols.onvif.errors import InvalidArgumentError

_DURATION = re.compile(
    r"^(?P<sign>-)?P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<days>\d+)D)?"
    r"(?:T(?!$)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_MAX_DIGITS = 12


def parse_duration(text: str) -> timedelta:
    """Parse an xs:duration such as ``PT60S`` or ``P1DT2H``; years and months count 365/30 days."""
    match = _DURATION.match(text.strip())
    if match is None or any(len(v) > _MAX_DIGITS for v in match.groupdict("").values()):
        raise InvalidArgumentError(f"not an xs:duration: {text[:64]!r}")
    parts = {
        key: float(value) for key, value in match.groupdict().items() if value and key != "sign"
    }
    try:
        delta = timedelta(
            days=parts.get("years", 0.0) * 365
            + parts.get("months", 0.0) * 30
            + parts.get("days", 0.0),
            hours=parts.get("hours", 0.0),
            minutes=parts.get("minutes", 0.0),
            seconds=parts.get("seconds", 0.0),
        )
    except OverflowError as exc:
        raise InvalidArgumentError(f"xs:duration out of range: {text[:64]!r}") from exc
    return -delta if match.group("sign") else delta


def format_duration(delta: timedelta) -> str:
    """Format a non-negative duration as ``PT<seconds>S``."""
    seconds = max(delta.total_seconds(), 0.0)
    return f"PT{seconds:g}S" if seconds != int(seconds) else f"PT{int(seconds)}S"


def parse_datetime(text: str) -> datetime:
    """Parse an xs:dateTime; a value without offset is taken as UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidArgumentError(f"not an xs:dateTime: {text[:64]!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """Format a UTC datetime as ``YYYY-MM-DDThh:mm:ss[.mmm]Z``."""
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_termination(text: str, now: datetime) -> datetime:
    """Resolve a wsnt:AbsoluteOrRelativeTimeType (``PT60S`` or a dateTime) against ``now``."""
    stripped = text.strip()
    if stripped.startswith(("P", "-P")):
        try:
            return now + parse_duration(stripped)
        except OverflowError as exc:
            raise InvalidArgumentError("termination time out of range") from exc
    return parse_datetime(stripped)
