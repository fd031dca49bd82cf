"""Safe text templates over an event's fields (``"StreetSense {category} {severity}"``).

Only plain ``{name}`` placeholders from :data:`FIELDS` are allowed: no attribute
or index access, no conversions, no format specs, so a config file can never
reach into Python objects. Every value is passed through a sanitiser before
it is substituted, so a field can never smuggle a separator or a control
character into the output. The TETRA output reuses this module.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from broker.protocols.milestone.errors import TemplateError
from events import Event

FIELDS: dict[str, str] = {
    "event_id": "the event's id",
    "incident_id": "the incident's id",
    "short_id": "the first 6 characters of the incident id (what radio users type)",
    "phase": "start, update or end",
    "site": "site identifier",
    "agent": "agent identifier",
    "source_id": "camera, sensor or panel identifier",
    "source_kind": "camera, sensor, panel or external",
    "camera": "the mapped display name of the source (its id when unmapped)",
    "place": "the mapped place of the source (the site when unmapped)",
    "category": "event category, e.g. fight",
    "CATEGORY": "event category in upper case",
    "severity": "info, low, medium, high or critical",
    "SEVERITY": "severity in upper case",
    "confidence": "confidence as 0.00-1.00",
    "confidence_pct": "confidence in percent, e.g. 93",
    "summary": "the agent's one-line summary",
    "occurred_at": "occurrence time, RFC 3339 UTC",
    "time": "occurrence time HH:MM in the configured time zone",
    "date": "occurrence date YYYY-MM-DD in the configured time zone",
    "model": "model name and version, or empty",
}

SHORT_ID_LENGTH = 6
_SPACES = re.compile(r"\s+")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def clean_text(value: str, forbidden: str = "") -> str:
    """Replace control characters, line/paragraph separators and ``forbidden`` with spaces.

    Runs of whitespace collapse to one space and the ends are stripped, so the
    result is one printable line.
    """
    out = [" " if char in forbidden or _unsafe(char) else char for char in value]
    return _SPACES.sub(" ", "".join(out)).strip()


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in _UNSAFE_CATEGORIES


@dataclass(frozen=True, slots=True)
class SourceNames:
    """Display names for sources: ``camera`` and ``place`` per source id."""

    cameras: Mapping[str, str]
    places: Mapping[str, str]


NO_NAMES = SourceNames({}, {})


def event_fields(event: Event, tz: ZoneInfo, names: SourceNames = NO_NAMES) -> dict[str, str]:
    """Every template field of ``event`` as raw (unsanitised) text."""
    local = event.occurred_at.astimezone(tz)
    model = f"{event.model.name} {event.model.version}" if event.model else ""
    return {
        "event_id": event.event_id,
        "incident_id": event.incident_id,
        "short_id": event.incident_id[:SHORT_ID_LENGTH],
        "phase": event.phase.value,
        "site": event.site,
        "agent": event.agent,
        "source_id": event.source.id,
        "source_kind": event.source.kind.value,
        "camera": names.cameras.get(event.source.id, event.source.id),
        "place": names.places.get(event.source.id, event.site),
        "category": event.category,
        "CATEGORY": event.category.upper(),
        "severity": event.severity.value,
        "SEVERITY": event.severity.value.upper(),
        "confidence": f"{event.confidence:.2f}",
        "confidence_pct": f"{round(event.confidence * 100)}",
        "summary": event.summary,
        "occurred_at": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "time": local.strftime("%H:%M"),
        "date": local.strftime("%Y-%m-%d"),
        "model": model,
    }


class Template:
    """A validated template; :meth:`render` substitutes sanitised field values."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.fields = self._validate(text)

    @staticmethod
    def _validate(text: str) -> tuple[str, ...]:
        if not text.strip() or any(_unsafe(char) for char in text):
            raise TemplateError("template must be non-empty, one line, without control characters")
        names: list[str] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise TemplateError(f"malformed template {text!r}: {exc}") from exc
        for _literal, name, spec, conversion in parsed:
            if name is None:
                continue
            if name not in FIELDS:
                known = ", ".join(FIELDS)
                raise TemplateError(f"unknown template field {{{name}}}; known fields: {known}")
            if spec or conversion:
                raise TemplateError(f"field {{{name}}} may not have a format spec or conversion")
            names.append(name)
        return tuple(names)

    def render(self, fields: Mapping[str, str], sanitise: Callable[[str], str]) -> str:
        """The template with every placeholder replaced by ``sanitise(value)``."""
        return self.text.format_map({name: sanitise(fields[name]) for name in self.fields})
