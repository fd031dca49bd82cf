"""Milestone codecs: templates, generic-event records and echoes, AnalyticsEvent XML."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.outputs.base import Outcome
from broker.protocols.milestone.analytics_codec import (
    CAMERA_KIND,
    AnalyticsContent,
    CameraRef,
    build_analytics_event,
    classify_response,
    event_guid,
)
from broker.protocols.milestone.analytics_transport import MilestoneAnalyticsTransport
from broker.protocols.milestone.config import MilestoneAnalyticsConfig, MilestoneGenericConfig
from broker.protocols.milestone.errors import EchoFormatError, RecordTooLongError, TemplateError
from broker.protocols.milestone.generic_codec import (
    EchoStatistics,
    encode_record,
    fit,
    parse_statistics,
    plausible_length,
)
from broker.protocols.milestone.generic_transport import MilestoneGenericTransport
from broker.protocols.milestone.template import SourceNames, Template, clean_text, event_fields
from events import Event, Phase, Severity, Source, SourceKind
from tests.events.strategies import events
from tests.support.milestone_receiver import (
    GenericEventRule,
    SchemaViolationError,
    matches,
    validate_analytics_event,
)


def make_event(**changes: object) -> Event:
    base: dict[str, object] = {
        "event_id": "evt_0001abcd",
        "incident_id": "a1b2c3d4e5f6",
        "phase": Phase.START,
        "site": "oslo",
        "agent": "box-1",
        "source": Source(kind=SourceKind.CAMERA, id="cam3"),
        "category": "fight",
        "severity": Severity.HIGH,
        "confidence": 0.934,
        "summary": "two people fighting",
        "occurred_at": datetime(2026, 11, 25, 13, 2, 7, tzinfo=UTC),
        "published_at": datetime(2026, 11, 25, 13, 2, 8, tzinfo=UTC),
    }
    base.update(changes)
    return Event(**base)  # type: ignore[arg-type]


# --- templates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{nope}", "unknown template field"),
        ("{event_id.__class__}", "unknown template field"),
        ("{incident_id[0]}", "unknown template field"),
        ("{severity:>10}", "format spec"),
        ("{severity!r}", "conversion"),
        ("alarm\r\n{category}", "control characters"),
        ("   ", "non-empty"),
        ("{category", "malformed"),
    ],
)
def test_bad_templates_are_refused_with_a_reason(template: str, problem: str) -> None:
    with pytest.raises(TemplateError, match=problem):
        Template(template)


def test_fields_of_an_event() -> None:
    names = SourceNames({"cam3": "Cam 3 Karl Johan"}, {"cam3": "Oslo-centre"})
    fields = event_fields(make_event(), ZoneInfo("Europe/Oslo"), names)
    assert fields["short_id"] == "a1b2c3"
    assert fields["CATEGORY"] == "FIGHT"
    assert fields["confidence_pct"] == "93"
    assert fields["time"] == "14:02"  # 13:02 UTC is 14:02 in Oslo in November
    assert fields["camera"] == "Cam 3 Karl Johan"
    assert fields["place"] == "Oslo-centre"
    assert fields["occurred_at"] == "2026-11-25T13:02:07Z"


def test_render_sanitises_every_field() -> None:
    template = Template("StreetSense {category} {summary} incident={incident_id}")
    fields = event_fields(
        make_event(summary="line1\r\nline2\x00\x1b[31m\u2028end"), ZoneInfo("UTC")
    )
    text = template.render(fields, clean_text)
    assert text == "StreetSense fight line1 line2 [31m end incident=a1b2c3d4e5f6"


# --- generic-event records ---------------------------------------------------------------


def test_international_record_is_utf8_with_crlf() -> None:
    record = encode_record("Alarm på Torget", encoding="utf-8", separator=b"\r\n", max_chars=100)
    assert record.payload == "Alarm på Torget".encode() + b"\r\n"
    assert record.body == "Alarm på Torget".encode()


def test_compatible_record_is_ansi_without_separator() -> None:
    record = encode_record("Café € 日本", encoding="cp1252", separator=b"", max_chars=100)
    assert record.payload == b"Caf\xe9 \x80 ??"


def test_separator_inside_text_is_replaced() -> None:
    record = encode_record("a|b|c", encoding="utf-8", separator=b"|", max_chars=100)
    assert record.payload == b"a b c|"


def test_too_long_record_is_an_error() -> None:
    with pytest.raises(RecordTooLongError):
        encode_record("x" * 20, encoding="utf-8", separator=b"\r\n", max_chars=10)


def test_fit_keeps_the_incident_id() -> None:
    text = "StreetSense fight " + "very long summary " * 10 + "incident=abc123"
    short = fit(text, 60, keep_tail="abc123")
    assert len(short) <= 60
    assert short.endswith("... abc123")
    assert fit("short", 60, keep_tail="abc123") == "short"


def test_rendered_record_from_transport_config() -> None:
    transport = MilestoneGenericTransport(
        MilestoneGenericConfig.model_validate({"host": "127.0.0.1"}), "vms"
    )
    record = transport.render(make_event())
    assert record.text == "StreetSense fight high cam=cam3 incident=a1b2c3d4e5f6"
    assert record.payload.endswith(b"\r\n")


@settings(max_examples=200, deadline=None)
@given(events, st.sampled_from(["compatible", "international"]))
def test_fuzz_records_never_contain_separators_or_controls(event: Event, style: str) -> None:
    config = MilestoneGenericConfig.model_validate(
        {"host": "127.0.0.1", "style": style, "template": "{summary} {category} {incident_id}"}
    )
    record = MilestoneGenericTransport(config, "vms").render(event)
    separator = config.resolved_separator
    assert record.payload.endswith(separator)
    if separator:
        assert separator not in record.body
    assert all(ord(c) >= 32 for c in record.text)
    assert event.incident_id in record.text


# --- statistics echo ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("echo", "expected"),
    [
        (b"1,39,1,EventName", EchoStatistics(1, 39, 1, "EventName")),  # the documented shape
        (b"1,39,1,EventName\r\n", EchoStatistics(1, 39, 1, "EventName")),
        (b"12,7,0,\r\n", EchoStatistics(12, 7, 0, "")),
        (b"3,10,2,Door, north", EchoStatistics(3, 10, 2, "Door, north")),
    ],
)
def test_statistics_echo(echo: bytes, expected: EchoStatistics) -> None:
    assert parse_statistics(echo) == expected


@pytest.mark.parametrize(
    "echo", [b"", b"1,2,3", b"a,2,3,x", b"1,,3,x", "\u0661,2,3,x".encode(), b"\xff\xfe", b"1;2;3;x"]
)
def test_malformed_statistics_echo(echo: bytes) -> None:
    with pytest.raises(EchoFormatError):
        parse_statistics(echo)


def test_echo_length_readings() -> None:
    record = encode_record("Alarm på", encoding="utf-8", separator=b"\r\n", max_chars=50)
    for characters in (8, 9, 10, 11):  # chars, bytes, each with the separator
        assert plausible_length(EchoStatistics(1, characters, 1, "x"), record)
    assert not plausible_length(EchoStatistics(1, 4, 1, "x"), record)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_statistics_parser_only_raises_its_own_error(data: bytes) -> None:
    try:
        stats = parse_statistics(data)
    except EchoFormatError:
        return
    assert stats.request_number >= 0 and stats.matches >= 0


# --- the receiver's expression matcher (the documented semantics) ----------------------


@pytest.mark.parametrize(
    ("expression", "text", "expected"),
    [
        ("User001", "User001 entered", True),
        ('"User001 Door053 Sunday"', "x User001 Door053 Sunday y", True),
        ('"User001 Door053 Sunday"', "User001 Sunday Door053", False),
        ("User001 AND Door053 AND Sunday", "Sunday Door053 User001", True),
        ("User001 AND Door053", "User001 only", False),
        ("User001 OR Door053 OR Sunday", "it is Sunday", True),
        ("(User001 OR Door053) AND Sunday", "Door053 on Sunday", True),
        ("(User001 OR Door053) AND Sunday", "Door053 on Monday", False),
    ],
)
def test_search_expressions_as_documented(expression: str, text: str, expected: bool) -> None:
    assert matches(GenericEventRule("e", expression), text) is expected


# --- analytics events --------------------------------------------------------------------

PUBLISHED_SHAPE = b"""<?xml version="1.0" encoding="utf-8"?>
<AnalyticsEvent xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:milestone-systems">
  <EventHeader>
    <ID>00000000-0000-0000-0000-000000000000</ID>
    <Timestamp>2026-11-25T14:02:07</Timestamp>
    <Type>Example</Type>
    <Message>Example analytics event</Message>
    <CustomTag>tag</CustomTag>
    <Source><Name>10.0.0.7</Name></Source>
  </EventHeader>
  <Description>Example description.</Description>
  <Location>Example location</Location>
  <Vendor><Name>Example vendor</Name></Vendor>
</AnalyticsEvent>"""


def test_receiver_accepts_the_published_example_shape() -> None:
    event = validate_analytics_event(PUBLISHED_SHAPE)
    assert event.message == "Example analytics event"
    assert event.source_name == "10.0.0.7"


@pytest.mark.parametrize(
    ("mutation", "problem"),
    [
        ((b"<Message>Example analytics event</Message>", b""), "lacks Message"),
        ((b"00000000-0000-0000-0000-000000000000", b"not-a-guid"), "not a GUID"),
        ((b"<Location>Example location</Location>", b""), None),
        ((b"<Description>Example description.</Description>", b""), None),
        ((b"  <Location>Example location</Location>\n", b""), None),
        ((b"<Vendor>", b"<Vendor><Bogus/>"), "unexpected element"),
    ],
)
def test_receiver_enforces_the_schema(mutation: tuple[bytes, bytes], problem: str | None) -> None:
    document = PUBLISHED_SHAPE.replace(*mutation)
    if problem is None:
        validate_analytics_event(document)
    else:
        with pytest.raises(SchemaViolationError, match=problem):
            validate_analytics_event(document)


def test_receiver_rejects_wrong_order() -> None:
    document = PUBLISHED_SHAPE.replace(
        b"<Description>Example description.</Description>\n  <Location>Example location</Location>",
        b"<Location>Example location</Location>\n  <Description>Example description.</Description>",
    )
    with pytest.raises(SchemaViolationError, match="out of order"):
        validate_analytics_event(document)


def test_analytics_document_follows_the_schema() -> None:
    camera_id = uuid.UUID("0a8c6d2e-51f3-4f0e-9b77-4b1c2f3e4d5a")
    content = AnalyticsContent("StreetSense fight", "desc", "Oslo", "a1b2c3", "StreetSense")
    body = build_analytics_event(make_event(), content, CameraRef("Cam 3", camera_id))
    parsed = validate_analytics_event(body)
    assert parsed.id == str(event_guid("evt_0001abcd"))
    assert parsed.message == "StreetSense fight"
    assert parsed.source_name == "Cam 3"
    assert parsed.source_object_id == str(camera_id)
    assert parsed.timestamp == datetime(2026, 11, 25, 13, 2, 7, tzinfo=UTC)
    assert parsed.confidence == pytest.approx(0.934)
    assert CAMERA_KIND.encode() in body
    assert body.startswith(b"<?xml version='1.0' encoding='utf-8'?>")


def test_event_guid_is_stable_for_retries() -> None:
    assert event_guid("evt_0001abcd") == event_guid("evt_0001abcd")
    assert event_guid("evt_0001abcd") != event_guid("evt_0001abce")


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, "OK", Outcome.DELIVERED),
        (200, "Warning: Event message not known", Outcome.REJECTED),
        (400, "Invalid XML", Outcome.REJECTED),
        (403, "Forbidden", Outcome.REJECTED),
        (408, "", Outcome.RETRY),
        (429, "", Outcome.RETRY),
        (500, "boom", Outcome.RETRY),
        (503, "", Outcome.RETRY),
    ],
)
def test_response_verdicts(status: int, body: str, outcome: Outcome) -> None:
    assert classify_response(status, body).outcome is outcome


@settings(max_examples=200, deadline=None)
@given(events)
def test_fuzz_every_event_gives_a_schema_valid_document(event: Event) -> None:
    config = MilestoneAnalyticsConfig.model_validate({"host": "127.0.0.1"})
    transport = MilestoneAnalyticsTransport(config, "vms")
    camera = transport.camera_for(event)
    assert camera is not None
    parsed = validate_analytics_event(transport.document(event, camera))
    assert parsed.message == f"StreetSense {event.category}"
    assert event.incident_id in parsed.description
