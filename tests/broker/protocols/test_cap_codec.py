"""CAP 1.2: the spec checker, time format, event mapping, and fuzzing of the codec."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from pydantic import ValidationError

from broker.protocols.cap.codec import (
    decode_alert,
    encode_alert,
    format_time,
    parse_document,
    parse_time,
)
from broker.protocols.cap.config import CapOutputConfig
from broker.protocols.cap.errors import CapEncodeError, CapFormatError
from broker.protocols.cap.mapping import event_to_alert
from broker.protocols.cap.model import (
    Alert,
    Area,
    CapSeverity,
    Category,
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
from broker.protocols.cap.spec import CONTAINERS, check_document
from events import Evidence, ModelRef, Phase, Severity, Source, SourceKind
from tests.broker.helpers import at, make_event
from tests.broker.protocols.test_cap_published import THUNDERSTORM

CONFIG = CapOutputConfig(url="http://cap.example/alerts", sender="streetsense@city.example")


def _mutate(old: bytes, new: bytes) -> bytes:
    assert old in THUNDERSTORM, old
    return THUNDERSTORM.replace(old, new, 1)


# -- the checker, table-driven -------------------------------------------------------------

BROKEN = [
    ("missing identifier", b"<identifier>KSTO1055887203</identifier>", b"", "identifier: required"),
    ("sent with Z", b"2003-06-17T14:57:00-07:00</sent>", b"2003-06-17T21:57:00Z</sent>", "CAP dateTime"),
    ("fractional sent", b"14:57:00-07:00</sent>", b"14:57:00.5-07:00</sent>", "CAP dateTime"),
    ("bad status", b"<status>Actual</status>", b"<status>Real</status>", "status: 'Real'"),
    ("bad msgType", b"<msgType>Alert</msgType>", b"<msgType>Notice</msgType>", "msgType"),
    ("scope before msgType",
     b"<msgType>Alert</msgType>\n  <scope>Public</scope>",
     b"<scope>Public</scope>\n  <msgType>Alert</msgType>", "out of order"),
    ("urgency after severity",
     b"<urgency>Immediate</urgency>\n    <severity>Severe</severity>",
     b"<severity>Severe</severity>\n    <urgency>Immediate</urgency>", "out of order"),
    ("two events", b"<event>SEVERE THUNDERSTORM</event>",
     b"<event>SEVERE THUNDERSTORM</event><event>X</event>", "at most 1"),
    ("no category", b"<category>Met</category>", b"", "category: required"),
    ("bad category", b"<category>Met</category>", b"<category>Weather</category>", "category"),
    ("bad certainty", b"<certainty>Observed</certainty>", b"<certainty>Sure</certainty>", "certainty"),
    ("unknown element", b"<contact>", b"<phone>1</phone><contact>", "unknown element"),
    ("open polygon", b"38.62,-119.89 38.47,-120.14</polygon>", b"38.62,-119.89 38.0,-120.0</polygon>",
     "first and last"),
    ("short polygon", b"38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14",
     b"38.47,-120.14 38.34,-119.95 38.47,-120.14", "at least four"),
    ("latitude out of range", b"38.47,-120.14 38.34", b"98.47,-120.14 38.34", "outside"),
    ("sender with space", b"<sender>KSTO@NWS.NOAA.GOV</sender>", b"<sender>KSTO NWS</sender>", "sender"),
    ("empty areaDesc", b"<areaDesc>EXTREME NORTH CENTRAL TUOLUMNE COUNTY IN CALIFORNIA, EXTREME "
     b"NORTHEASTERN CALAVERAS COUNTY IN CALIFORNIA, SOUTHWESTERN ALPINE COUNTY IN CALIFORNIA</areaDesc>",
     b"<areaDesc> </areaDesc>", "must not be empty"),
    ("restricted without restriction", b"<scope>Public</scope>", b"<scope>Restricted</scope>",
     "restriction: required"),
    ("private without addresses", b"<scope>Public</scope>", b"<scope>Private</scope>",
     "addresses: required"),
    ("bad references", b"<scope>Public</scope>",
     b"<scope>Public</scope><references>a,b</references>", "references"),
    ("geocode without value", b"<value>006003</value>", b"", "value: required"),
    ("huge altitude", b"</geocode>\n    </area>",
     b"</geocode><altitude>" + b"9" * 400 + b"</altitude>\n    </area>", "is not a number"),
    ("huge resource size", b"<area>",
     b"<resource><resourceDesc>x</resourceDesc><mimeType>text/plain</mimeType><size>"
     + b"9" * 400 + b"</size></resource><area>", "is not a size"),
    ("ceiling without altitude", b"</geocode>\n    </area>",
     b"</geocode><ceiling>10</ceiling>\n    </area>", "only allowed together with altitude"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "expected"), [row[1:] for row in BROKEN],
                         ids=[row[0] for row in BROKEN])  # fmt: skip
def test_checker_finds_each_violation(old: bytes, new: bytes, expected: str) -> None:
    document = _mutate(old, new)
    problems = check_document(parse_document(document))
    assert problems, "the checker accepted a broken alert"
    assert any(expected in p for p in problems), problems
    with pytest.raises(CapFormatError) as caught:
        decode_alert(document)
    assert caught.value.reason == "structure"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not xml at all", "not_xml"),
        (b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.1'/>", "not_cap"),
        (b'<!DOCTYPE a [<!ENTITY x "y">]><alert/>', "doctype"),
        (b"<a>" + b"x" * 600_000 + b"</a>", "oversize"),
        (THUNDERSTORM.replace(b"2003-06-17T14:57", b"2003-13-17T14:57"), "value"),
    ],
)
def test_decoder_refuses_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(CapFormatError) as caught:
        decode_alert(data)
    assert caught.value.reason == reason


def test_signature_of_another_namespace_is_allowed_at_the_end_only() -> None:
    signed = THUNDERSTORM.replace(
        b"</info>\n</alert>",
        b'</info><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"/></alert>',
    )
    assert check_document(parse_document(signed)) == []
    misplaced = THUNDERSTORM.replace(
        b"<scope>Public</scope>",
        b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"/><scope>Public</scope>',
    )
    assert any("after a foreign element" in p for p in check_document(parse_document(misplaced)))


# -- times ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 11, 25, 10, 0, 1, 999_000, tzinfo=UTC), "2026-11-25T10:00:01-00:00"),
        (datetime(2003, 6, 17, 14, 57, tzinfo=timezone(timedelta(hours=-7))), "2003-06-17T14:57:00-07:00"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=5, minutes=30))),
         "2026-01-02T03:04:05+05:30"),
    ],
)  # fmt: skip
def test_time_format(value: datetime, text: str) -> None:
    assert format_time(value) == text
    assert parse_time(text) == value.replace(microsecond=0)


def test_naive_time_is_refused() -> None:
    with pytest.raises(CapEncodeError):
        format_time(datetime(2026, 1, 1))


# -- mapping of our events -----------------------------------------------------------------

EARLIER = (
    Reference("streetsense@city.example", "streetsense-start0001", at("2026-11-25T09:59:00")),
)


@pytest.mark.parametrize(
    ("phase", "earlier", "end_type", "msg_type", "urgency", "response"),
    [
        (Phase.START, (), "Update", MsgType.ALERT, Urgency.IMMEDIATE, ResponseType.ASSESS),
        (Phase.UPDATE, EARLIER, "Update", MsgType.UPDATE, Urgency.IMMEDIATE, ResponseType.ASSESS),
        (Phase.UPDATE, (), "Update", MsgType.ALERT, Urgency.IMMEDIATE, ResponseType.ASSESS),
        (Phase.END, EARLIER, "Update", MsgType.UPDATE, Urgency.PAST, ResponseType.ALL_CLEAR),
        (Phase.END, EARLIER, "Cancel", MsgType.CANCEL, Urgency.PAST, ResponseType.ALL_CLEAR),
        (Phase.END, (), "Update", MsgType.ALERT, Urgency.PAST, ResponseType.ALL_CLEAR),
    ],
)
def test_phase_decides_msg_type_and_references(
    phase: Phase, earlier: tuple[Reference, ...], end_type: str, msg_type: MsgType,
    urgency: Urgency, response: ResponseType,
) -> None:  # fmt: skip
    config = CONFIG.model_copy(update={"end_msg_type": end_type})
    event = make_event(phase=phase, severity=Severity.HIGH)
    alert = decode_alert(encode_alert(event_to_alert(event, config, earlier)))
    assert alert.msg_type is msg_type
    assert alert.references == (earlier if msg_type is not MsgType.ALERT else ())
    assert alert.incidents == event.incident_id
    (info,) = alert.infos
    assert (info.urgency, info.response_types) == (urgency, (response,))


@pytest.mark.parametrize(
    ("severity", "urgency", "cap_severity"),
    [
        (Severity.CRITICAL, Urgency.IMMEDIATE, CapSeverity.EXTREME),
        (Severity.HIGH, Urgency.IMMEDIATE, CapSeverity.SEVERE),
        (Severity.MEDIUM, Urgency.EXPECTED, CapSeverity.MODERATE),
        (Severity.LOW, Urgency.EXPECTED, CapSeverity.MINOR),
        (Severity.INFO, Urgency.UNKNOWN, CapSeverity.MINOR),
    ],
)
def test_severity_table(severity: Severity, urgency: Urgency, cap_severity: CapSeverity) -> None:
    info = event_to_alert(make_event(severity=severity), CONFIG).infos[0]
    assert (info.urgency, info.severity) == (urgency, cap_severity)


@pytest.mark.parametrize(
    ("confidence", "confirmed", "certainty"),
    [(0.95, False, Certainty.LIKELY), (0.51, False, Certainty.LIKELY), (0.5, False, Certainty.POSSIBLE),
     (0.2, False, Certainty.POSSIBLE), (0.99, True, Certainty.OBSERVED)],
)  # fmt: skip
def test_certainty_is_never_observed_without_an_operator(
    confidence: float, confirmed: bool, certainty: Certainty
) -> None:
    alert = event_to_alert(make_event(confidence=confidence), CONFIG, operator_confirmed=confirmed)
    assert alert.infos[0].certainty is certainty


@pytest.mark.parametrize(
    ("category", "overrides", "expected"),
    [
        ("fight", {}, (Category.SECURITY,)),
        ("air_quality", {}, (Category.ENV,)),
        ("fall", {}, (Category.HEALTH,)),
        ("something_new", {}, (Category.SECURITY,)),
        ("something_new", {"default_categories": ("Other",)}, (Category.OTHER,)),
        ("fight", {"categories": {"fight": ("Safety", "Security")}}, (Category.SAFETY, Category.SECURITY)),
    ],
)  # fmt: skip
def test_category_mapping(
    category: str, overrides: dict[str, Any], expected: tuple[Category, ...]
) -> None:
    config = CapOutputConfig.model_validate({**CONFIG.model_dump(), **overrides})
    assert event_to_alert(make_event(category=category), config).infos[0].categories == expected


def test_full_mapping_of_a_start_event() -> None:
    config = CapOutputConfig.model_validate({
        **CONFIG.model_dump(),
        "status": "Exercise", "note": "drill 7", "codes": ["profile:x"],
        "web_template": "https://console.example/alerts/{event_id}",
        "locations": {"s1/cam1": {"area_desc": "Main square, north corner",
                                  "circle": [52.52, 13.405, 0.05],
                                  "polygon": [[52.5, 13.4], [52.5, 13.41], [52.51, 13.41], [52.5, 13.4]]}},
    })  # fmt: skip
    event = make_event(
        summary="two people fighting\x07 near the kiosk", confidence=0.87,
        model=ModelRef(name="fight", version="1.2"), published_at=at("2026-11-25T10:00:01.250"),
        occurred_at=at("2026-11-25T09:59:58.100"), evidence=Evidence(scores={"fight": 0.87}),
    )  # fmt: skip
    body = encode_alert(event_to_alert(event, config))
    assert body.startswith(
        b"<?xml version='1.0' encoding='UTF-8'?>\n<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">"
    )
    alert = decode_alert(body)
    assert alert.identifier == f"streetsense-{event.event_id}"
    assert alert.sent == at("2026-11-25T10:00:01")
    assert b"<sent>2026-11-25T10:00:01-00:00</sent>" in body
    assert (alert.status, alert.note, alert.codes) == (Status.EXERCISE, "drill 7", ("profile:x",))
    assert alert.scope is Scope.RESTRICTED and alert.restriction
    (info,) = alert.infos
    assert info.event == "Fight" and info.language == "en-US"
    assert info.onset == at("2026-11-25T09:59:58") and info.expires == at("2026-11-25T11:00:01")
    assert info.description is not None and "two people fighting near the kiosk" in info.description
    assert "\x07" not in body.decode()
    assert info.web == f"https://console.example/alerts/{event.event_id}"
    params = {p.name: p.value for p in info.parameters}
    assert params["streetsense:event_id"] == event.event_id
    assert params["streetsense:confidence"] == "0.870"
    assert params["streetsense:model"] == "fight/1.2"
    assert params["streetsense:score:fight"] == "0.870"
    (area,) = info.areas
    assert area.description == "Main square, north corner"
    assert area.circles == (Circle(Point(52.52, 13.405), 0.05),)
    assert area.polygons[0][0] == area.polygons[0][-1]


def test_no_personal_data_or_snapshot_leaves() -> None:
    event = make_event(evidence=Evidence(snapshot_ref="snap/person-face-123.jpg"))
    body = encode_alert(event_to_alert(event, CONFIG))
    assert b"snap/" not in body and b"face" not in body and b"<resource>" not in body


def test_summary_can_be_left_out() -> None:
    config = CONFIG.model_copy(update={"include_summary": False})
    event = make_event(summary="reported by Jane Doe")
    description = event_to_alert(event, config).infos[0].description
    assert description is not None and "Jane" not in description
    assert "Confidence 90%" in description


def test_source_without_location_gets_a_text_area() -> None:
    event = make_event(source=Source(kind=SourceKind.SENSOR, id="mic3"))
    (area,) = event_to_alert(event, CONFIG).infos[0].areas
    assert area == Area(description="Site s1, sensor mic3")


@pytest.mark.parametrize(
    "overrides",
    [
        {"sender": "street sense"},
        {"sender": "a,b"},
        {"scope": "Private"},
        {"scope": "Restricted", "restriction": None},
        {"web_template": "https://x/{camera}"},
        {"web_template": "https://x/{event_id.nothing}"},
        {"web_template": "https://x/{0}"},
        {"area_template": "{site} {camera_name}"},
        {"locations": {"cam1": {"area_desc": "x", "polygon": [[1, 1], [1, 2], [2, 2]]}}},
        {"locations": {"cam1": {"area_desc": "x", "circle": [91, 0, 1]}}},
        {"status": "Draft"},
        {"unknown_key": 1},
    ],
)
def test_bad_settings_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CapOutputConfig.model_validate({**CONFIG.model_dump(), **overrides})


# -- hypothesis ----------------------------------------------------------------------------

_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
    | st.sampled_from("\n\t"),
    min_size=1, max_size=40,
).map(str.strip).filter(bool)  # fmt: skip
_TOKEN = st.from_regex(r"[A-Za-z0-9@._:-]{1,30}", fullmatch=True)
_OFFSET = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_TIME = st.builds(
    lambda d, tz: d.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(2100, 1, 1)).map(
        lambda d: d.replace(microsecond=0)
    ),
    _OFFSET,
)
_COORD = st.builds(
    Point,
    st.integers(-90_000_000, 90_000_000).map(lambda v: v / 1_000_000),
    st.integers(-180_000_000, 180_000_000).map(lambda v: v / 1_000_000),
)
_AREA = st.builds(
    Area,
    description=_TEXT,
    circles=st.lists(st.builds(Circle, _COORD, st.integers(0, 10**6).map(lambda r: r / 1000)), max_size=2).map(tuple),
    polygons=st.lists(st.lists(_COORD, min_size=3, max_size=6).map(lambda ps: (*ps, ps[0])), max_size=2).map(tuple),
    geocodes=st.lists(st.builds(ValuePair, _TEXT, _TEXT), max_size=2).map(tuple),
)  # fmt: skip
_INFO = st.builds(
    Info,
    categories=st.lists(st.sampled_from(Category), min_size=1, max_size=3).map(tuple),
    event=_TEXT, urgency=st.sampled_from(Urgency), severity=st.sampled_from(CapSeverity),
    certainty=st.sampled_from(Certainty),
    response_types=st.lists(st.sampled_from(ResponseType), max_size=2).map(tuple),
    language=st.none() | st.just("en-US"), effective=st.none() | _TIME, expires=st.none() | _TIME,
    headline=st.none() | _TEXT, description=st.none() | _TEXT,
    parameters=st.lists(st.builds(ValuePair, _TEXT, _TEXT), max_size=3).map(tuple),
    areas=st.lists(_AREA, max_size=2).map(tuple),
)  # fmt: skip
_ALERT = st.builds(
    Alert,
    identifier=_TOKEN, sender=_TOKEN, sent=_TIME,
    status=st.sampled_from(Status), msg_type=st.sampled_from(MsgType),
    scope=st.just(Scope.PUBLIC), source=st.none() | _TEXT, note=st.none() | _TEXT,
    codes=st.lists(_TEXT, max_size=2).map(tuple),
    references=st.lists(st.builds(Reference, _TOKEN, _TOKEN, _TIME), max_size=3).map(tuple),
    incidents=st.none() | _TEXT, infos=st.lists(_INFO, max_size=2).map(tuple),
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ALERT)
def test_round_trip(alert: Alert) -> None:
    body = encode_alert(alert)
    assert check_document(etree.fromstring(body)) == []
    assert decode_alert(body) == alert


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_decoder_never_fails_unexpectedly(data: bytes) -> None:
    try:
        decode_alert(data)
    except CapFormatError as exc:
        assert exc.reason in {"oversize", "not_xml", "doctype", "not_cap", "structure", "value"}


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(THUNDERSTORM) - 1), st.integers(1, 40), st.binary(max_size=20))
def test_mutated_published_example_is_parsed_or_refused(
    start: int, length: int, junk: bytes
) -> None:
    data = THUNDERSTORM[:start] + junk + THUNDERSTORM[start + length :]
    try:
        alert = decode_alert(data)
    except CapFormatError:
        return
    assert decode_alert(encode_alert(alert)) == alert


@settings(max_examples=100, deadline=None)
@given(
    summary=st.text(max_size=256), confidence=st.floats(0, 1),
    phase=st.sampled_from(Phase), severity=st.sampled_from(Severity),
    category=st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}", fullmatch=True),
)  # fmt: skip
def test_any_valid_event_maps_to_valid_cap(
    summary: str, confidence: float, phase: Phase, severity: Severity, category: str
) -> None:
    event = make_event(summary=summary, confidence=confidence, phase=phase, severity=severity,
                       category=category)  # fmt: skip
    body = encode_alert(event_to_alert(event, CONFIG, EARLIER))
    alert = decode_alert(body)
    assert alert.identifier == f"streetsense-{event.event_id}"
    assert re.fullmatch(r"[^\s,<&]+", alert.identifier)


_NAMES = sorted({slot.name for slots in CONTAINERS.values() for slot in slots} | {"alert"})
_LEAF_TEXT = st.one_of(
    st.sampled_from(["Actual", "Alert", "Public", "Met", "Immediate", "Severe", "Observed",
                     "2003-06-17T14:57:00-07:00", "1,2 3,4 5,6 1,2", "1,2 3", "x@y", "9" * 30, ""]),
    st.text(max_size=20),
)  # fmt: skip


@st.composite
def _cap_tree(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(st.sampled_from(_NAMES))
    if depth >= 3 or draw(st.booleans()):
        text = draw(_LEAF_TEXT).replace("&", "&amp;").replace("<", "&lt;")
        return f"<{name}>{text}</{name}>"
    children = draw(st.lists(_cap_tree(depth + 1), max_size=5))
    return f"<{name}>{''.join(children)}</{name}>"


@settings(max_examples=300, deadline=None)
@given(st.lists(_cap_tree(), max_size=16))
def test_random_trees_of_cap_elements_are_parsed_or_refused(children: list[str]) -> None:
    document = f'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">{"".join(children)}</alert>'
    try:
        alert = decode_alert(document.encode("utf-8", "surrogatepass"))
    except CapFormatError:
        return
    assert decode_alert(encode_alert(alert)) == alert
