"""Our :class:`~events.Event` -> a CAP 1.2 :class:`Alert` (pure; no I/O).

- ``identifier`` is ``<prefix>-<event id>`` and ``sent`` is the event's
  publication time in UTC, so a retried delivery is the same message and an
  aggregator can drop the copy.
- ``msgType``: a start is an ``Alert``; an update is an ``Update`` that
  references the incident's earlier messages; an end is an ``Update`` with
  responseType ``AllClear`` and urgency ``Past`` (or a ``Cancel`` when
  configured). With no earlier message known, any phase goes out as an
  ``Alert`` (``<incidents>`` still groups it).
- ``certainty`` is ``Likely`` above ``likely_above`` and ``Possible`` otherwise;
  ``Observed`` only when an operator confirmed the incident.
- Personal data stays out: no snapshot references, no images, only ids,
  scores, the model and the agent's short summary.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from broker.protocols.cap.codec import NOT_XML
from broker.protocols.cap.config import (
    DEFAULT_CATEGORIES,
    DEFAULT_URGENCY_SEVERITY,
    CameraLocation,
    CapMessageConfig,
)
from broker.protocols.cap.model import (
    Alert,
    Area,
    Certainty,
    Circle,
    Info,
    MsgType,
    Point,
    Reference,
    ResponseType,
    Scope,
    Status,
    Urgency,
    ValuePair,
)
from events import Event, Phase

PARAMETER_PREFIX = "streetsense:"


def clean(text: str) -> str:
    """Text safe for XML: characters XML cannot carry removed, ends trimmed."""
    return NOT_XML.sub("", text).strip()


def cap_time(value: datetime) -> datetime:
    """``value`` in UTC without fractions of a second."""
    return value.astimezone(UTC).replace(microsecond=0)


def identifier_for(event: Event, config: CapMessageConfig) -> str:
    """The CAP identifier of the message carrying ``event``."""
    return f"{config.identifier_prefix}-{event.event_id}"


def event_name(category: str, config: CapMessageConfig) -> str:
    """The ``<event>`` text of one of our categories."""
    return config.event_names.get(category) or category.replace("_", " ").capitalize()


def certainty_for(event: Event, config: CapMessageConfig, *, operator_confirmed: bool) -> Certainty:
    """Observed only when confirmed by an operator; else Likely or Possible by confidence."""
    if operator_confirmed:
        return Certainty.OBSERVED
    return Certainty.LIKELY if event.confidence > config.likely_above else Certainty.POSSIBLE


def location_for(event: Event, config: CapMessageConfig) -> CameraLocation | None:
    """The configured location of the event's source (site-qualified key first)."""
    return config.locations.get(f"{event.site}/{event.source.id}") or config.locations.get(
        event.source.id
    )


def area_for(event: Event, config: CapMessageConfig) -> Area:
    """The ``<area>`` of the event: the source's configured location or a text description."""
    location = location_for(event, config)
    if location is None:
        text = config.area_template.format(
            site=event.site, source_kind=event.source.kind.value, source_id=event.source.id
        )
        return Area(description=clean(text) or event.site)
    circles: tuple[Circle, ...] = ()
    if location.circle is not None:
        lat, lon, radius = location.circle
        circles = (Circle(Point(lat, lon), radius),)
    polygons: tuple[tuple[Point, ...], ...] = ()
    if location.polygon is not None:
        polygons = (tuple(Point(lat, lon) for lat, lon in location.polygon),)
    return Area(description=clean(location.area_desc), polygons=polygons, circles=circles)


def parameters_for(event: Event) -> tuple[ValuePair, ...]:
    """Our ids, confidence, model and scores as ``<parameter>`` pairs."""
    p = PARAMETER_PREFIX
    pairs = [
        ValuePair(f"{p}event_id", event.event_id),
        ValuePair(f"{p}incident_id", event.incident_id),
        ValuePair(f"{p}phase", event.phase.value),
        ValuePair(f"{p}site", event.site),
        ValuePair(f"{p}agent", event.agent),
        ValuePair(f"{p}source", f"{event.source.kind.value}:{event.source.id}"),
        ValuePair(f"{p}category", event.category),
        ValuePair(f"{p}severity", event.severity.value),
        ValuePair(f"{p}confidence", f"{event.confidence:.3f}"),
        ValuePair(f"{p}requires_review", "true" if event.requires_review else "false"),
    ]
    if event.model is not None:
        pairs.append(ValuePair(f"{p}model", f"{event.model.name}/{event.model.version}"))
    pairs.extend(
        ValuePair(f"{p}score:{label}", f"{score:.3f}")
        for label, score in sorted(event.evidence.scores.items())
    )
    return tuple(pairs)


def _headline(name: str, event: Event) -> str:
    verb = "ended" if event.phase is Phase.END else "suggested"
    return clean(f"{name} {verb} at {event.site}/{event.source.id}")[:160]


def _description(event: Event, config: CapMessageConfig) -> str:
    summary = clean(event.summary) if config.include_summary else ""
    tail = (
        f"Confidence {event.confidence:.0%} ({event.source.kind.value} {event.source.id}, "
        f"site {event.site})."
    )
    if event.phase is Phase.END:
        tail = f"The incident has ended. {tail}"
    if not summary:
        return tail
    return f"{summary} {tail}" if summary[-1] in ".!?" else f"{summary}. {tail}"


def event_to_alert(
    event: Event,
    config: CapMessageConfig,
    earlier: tuple[Reference, ...] = (),
    *,
    operator_confirmed: bool = False,
) -> Alert:
    """The CAP alert for ``event``; ``earlier`` are the incident's messages already sent."""
    sent = cap_time(event.published_at)
    urgency, severity = {**DEFAULT_URGENCY_SEVERITY, **config.urgency_severity}[event.severity]
    responses = config.response_types.get(event.category, (ResponseType.ASSESS,))
    msg_type = MsgType.ALERT
    if event.phase is Phase.END:
        urgency, responses = Urgency.PAST, (ResponseType.ALL_CLEAR,)
        if earlier:
            msg_type = MsgType(config.end_msg_type)
    elif event.phase is Phase.UPDATE and earlier:
        msg_type = MsgType.UPDATE
    categories = config.categories.get(event.category) or DEFAULT_CATEGORIES.get(
        event.category, config.default_categories
    )
    name = event_name(event.category, config)
    web = None
    if config.web_template is not None:
        web = config.web_template.format(
            event_id=event.event_id, incident_id=event.incident_id, site=event.site
        )
    info = Info(
        language=config.language,
        categories=categories,
        event=name,
        response_types=responses,
        urgency=urgency,
        severity=severity,
        certainty=certainty_for(event, config, operator_confirmed=operator_confirmed),
        onset=cap_time(event.occurred_at),
        expires=(
            None
            if config.expires_after_s is None
            else sent + timedelta(seconds=config.expires_after_s)
        ),
        sender_name=clean(config.sender_name) or None,
        headline=_headline(name, event),
        description=_description(event, config),
        instruction=clean(config.instructions.get(event.category, config.default_instruction))
        or None,
        web=web,
        contact=config.contact,
        parameters=parameters_for(event),
        areas=(area_for(event, config),),
    )
    addresses = None
    if config.scope is Scope.PRIVATE:
        addresses = " ".join(f'"{a}"' if " " in a else a for a in config.addresses)
    return Alert(
        identifier=identifier_for(event, config),
        sender=config.sender,
        sent=sent,
        status=Status(config.status),
        msg_type=msg_type,
        scope=config.scope,
        source=f"{event.site}/{event.agent}",
        restriction=config.restriction if config.scope is Scope.RESTRICTED else None,
        addresses=addresses,
        codes=config.codes,
        note=config.note,
        references=earlier if msg_type is not MsgType.ALERT else (),
        incidents=event.incident_id,
        infos=(info,),
    )
