"""Pure ONVIF codec: WS-Security digest, durations, topics, notifications, envelopes, faults."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree
from zeep.wsse.username import UsernameToken as ZeepUsernameToken

from broker.protocols.onvif import namespaces as ns
from broker.protocols.onvif.errors import (
    InvalidArgumentError,
    InvalidFilterError,
    MalformedRequestError,
    MustUnderstandError,
    NotAuthorizedError,
    PullMessagesLimitError,
    ResourceUnknownError,
)
from broker.protocols.onvif.event_codec import parse_pull_messages
from broker.protocols.onvif.notification import (
    PropertyOperation,
    Topic,
    build_message,
    category_topic,
    from_event,
    parse_message,
    topic_name,
)
from broker.protocols.onvif.soap import build_fault, parse_request
from broker.protocols.onvif.throttle import AuthThrottle
from broker.protocols.onvif.timeexpr import format_datetime, parse_duration, parse_termination
from broker.protocols.onvif.topics import parse_filter
from broker.protocols.onvif.wssecurity import (
    UsernameTokenVerifier,
    parse_username_token,
    password_digest,
)
from events import Phase, Severity
from tests.broker.protocols.onvif_support import envelope, make_event, security_header

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_password_digest_matches_the_onvif_programmers_guide_vector() -> None:
    # ONVIF Application Programmer's Guide, 6.1.1.3 (UsernameToken example).
    nonce = base64.b64decode("LKqI6G/AikKCQrN0zqZFlg==")
    assert (
        password_digest(nonce, "2010-09-16T07:50:45Z", "userpassword")
        == "tuOSpGlFlIXsozq4HFNeeGeFLEI="
    )


def test_a_token_made_by_zeep_is_accepted_once() -> None:
    document = etree.fromstring(envelope("<tds:GetDeviceInformation/>"))
    zeep_token = ZeepUsernameToken("admin", "pw", use_digest=True, zulu_timestamp=True)  # type: ignore[no-untyped-call]
    signed, _ = zeep_token.apply(document, {})  # type: ignore[no-untyped-call]
    request = parse_request(etree.tostring(signed))
    token = parse_username_token(request.header)
    assert token is not None
    verifier = UsernameTokenVerifier({"admin": "pw"})
    assert verifier.verify(token, datetime.now(UTC)) == "admin"
    with pytest.raises(NotAuthorizedError) as caught:
        verifier.verify(token, datetime.now(UTC))
    assert caught.value.reason == "replayed_nonce"


def _token(header: str):  # type: ignore[no-untyped-def]
    return parse_username_token(
        parse_request(envelope("<tds:GetDeviceInformation/>", header)).header
    )


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("", "missing_credentials"),
        (security_header("nobody", "x", created=NOW), "bad_credentials"),
        (security_header("operator", "wrong", created=NOW), "bad_credentials"),
        (security_header(created=NOW - timedelta(minutes=6)), "stale"),
        (security_header(created=NOW + timedelta(minutes=6)), "stale"),
        (security_header(created=NOW, nonce=b""), "malformed_token"),
    ],
)
def test_verifier_rejections(header: str, reason: str) -> None:
    verifier = UsernameTokenVerifier({"operator": "s3cret-pass"})
    with pytest.raises(NotAuthorizedError) as caught:
        verifier.verify(_token(header), NOW)
    assert caught.value.reason == reason
    assert caught.value.http_status == 400


def test_verifier_accepts_fresh_digest_within_skew() -> None:
    verifier = UsernameTokenVerifier({"operator": "s3cret-pass"})
    assert (
        verifier.verify(_token(security_header(created=NOW - timedelta(minutes=4))), NOW)
        == "operator"
    )


def test_password_text_only_when_allowed() -> None:
    header = (
        f'<wsse:Security xmlns:wsse="{ns.WSSE}"><wsse:UsernameToken><wsse:Username>operator</wsse:Username>'
        f'<wsse:Password Type="{ns.WSSE_PASSWORD_TEXT}">s3cret-pass</wsse:Password>'
        "</wsse:UsernameToken></wsse:Security>"
    )
    with pytest.raises(NotAuthorizedError) as caught:
        UsernameTokenVerifier({"operator": "s3cret-pass"}).verify(_token(header), NOW)
    assert caught.value.reason == "password_text"
    allowed = UsernameTokenVerifier({"operator": "s3cret-pass"}, allow_password_text=True)
    assert allowed.verify(_token(header), NOW) == "operator"


def test_bad_nonce_encoding_is_a_malformed_token() -> None:
    header = (
        f'<wsse:Security xmlns:wsse="{ns.WSSE}"><wsse:UsernameToken><wsse:Username>u</wsse:Username>'
        "<wsse:Nonce>@@not base64@@</wsse:Nonce></wsse:UsernameToken></wsse:Security>"
    )
    with pytest.raises(NotAuthorizedError) as caught:
        _token(header)
    assert caught.value.reason == "malformed_token"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT60S", 60),
        ("PT0.5S", 0.5),
        ("PT1M30S", 90),
        ("P1DT2H", 93600),
        ("P1Y", 365 * 86400),
        ("-PT5S", -5),
        (" PT10S ", 10),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize(
    "text", ["P", "PT", "60", "PTS", "P1H", "PT1.S", "P" + "9" * 13 + "D", "P" + "9" * 12 + "D"]
)
def test_invalid_durations(text: str) -> None:
    with pytest.raises(InvalidArgumentError):
        parse_duration(text)


def test_termination_relative_and_absolute() -> None:
    assert parse_termination("PT90S", NOW) == NOW + timedelta(seconds=90)
    assert parse_termination("2026-05-01T13:00:00Z", NOW) == NOW + timedelta(hours=1)
    assert parse_termination("2026-05-01T14:00:00+01:00", NOW) == NOW + timedelta(hours=1)
    assert format_datetime(NOW) == "2026-05-01T12:00:00Z"


def _filter(expression: str, dialect: str = ns.DIALECT_CONCRETE_SET) -> etree._Element:
    return etree.fromstring(
        f'<wsnt:Filter xmlns:wsnt="{ns.WSNT}" xmlns:tns1="{ns.TNS1}" xmlns:x="urn:other">'
        f'<wsnt:TopicExpression Dialect="{dialect}">{expression}</wsnt:TopicExpression></wsnt:Filter>'
    )


@pytest.mark.parametrize(
    ("expression", "fight", "fall"),
    [
        ("tns1:RuleEngine/StreetSense/Fight", True, False),
        ("tns1:RuleEngine//.", True, True),
        ("tns1:RuleEngine/StreetSense//.", True, True),
        ("tns1:RuleEngine/*/Fall", False, True),
        ("tns1:RuleEngine/StreetSense/Fall|tns1:RuleEngine/StreetSense/Fight", True, True),
        ("tns1:RuleEngine/tns1:StreetSense/Fight", True, False),
        ("tns1:RuleEngine/StreetSense", False, False),
        ("x:RuleEngine//.", False, False),
        ("tns1:VideoSource//.", False, False),
    ],
)
def test_topic_filters(expression: str, fight: bool, fall: bool) -> None:
    topic_filter = parse_filter(_filter(expression))
    assert topic_filter is not None
    assert topic_filter.matches(category_topic("fight")) is fight
    assert topic_filter.matches(category_topic("fall")) is fall


@pytest.mark.parametrize(
    ("expression", "dialect", "subcode"),
    [
        ("nope:RuleEngine", ns.DIALECT_CONCRETE_SET, "InvalidTopicExpressionFault"),
        ("tns1:Rule Engine", ns.DIALECT_CONCRETE_SET, "InvalidTopicExpressionFault"),
        ("", ns.DIALECT_CONCRETE_SET, "InvalidTopicExpressionFault"),
        ("tns1:A|tns1:B", ns.DIALECT_CONCRETE, "InvalidTopicExpressionFault"),
        ("tns1:A", "urn:xpath", "TopicExpressionDialectUnknownFault"),
    ],
)
def test_invalid_topic_filters(expression: str, dialect: str, subcode: str) -> None:
    with pytest.raises(InvalidFilterError) as caught:
        parse_filter(_filter(expression, dialect))
    assert caught.value.code.subcodes == ((ns.WSNT, subcode),)


def _content(expression: str, dialect: str = ns.DIALECT_ITEM_FILTER) -> etree._Element:
    return etree.fromstring(
        f'<wsnt:Filter xmlns:wsnt="{ns.WSNT}" xmlns:tt="{ns.TT}">'
        f'<wsnt:MessageContent Dialect="{dialect}">{expression}</wsnt:MessageContent></wsnt:Filter>'
    )


@pytest.mark.parametrize(
    ("expression", "high_fight", "low_fight"),
    [
        ('boolean(//tt:SimpleItem[@Name="Severity" and @Value="high"])', True, False),
        ('boolean(//tt:SimpleItem[@Name="VideoSourceToken" and @Value="cam-north"])', True, True),
        ('not(boolean(//tt:SimpleItem[@Name="Severity" and @Value="high"]))', False, True),
        (
            "boolean(//tt:SimpleItem[@Name=&quot;Category&quot; and @Value=&quot;fall&quot;])",
            False,
            False,
        ),
    ],
)
def test_item_filters(expression: str, high_fight: bool, low_fight: bool) -> None:
    topic_filter = parse_filter(_content(expression))
    assert topic_filter is not None
    assert topic_filter.accepts(from_event(make_event(severity=Severity.HIGH))) is high_fight
    assert topic_filter.accepts(from_event(make_event(severity=Severity.LOW))) is low_fight


@pytest.mark.parametrize(
    ("expression", "dialect"),
    [
        ("boolean(//tt:SimpleItem[", ns.DIALECT_ITEM_FILTER),
        ("true()", "urn:other"),
        ("", ns.DIALECT_ITEM_FILTER),
    ],
)
def test_invalid_item_filters(expression: str, dialect: str) -> None:
    with pytest.raises(InvalidFilterError) as caught:
        parse_filter(_content(expression, dialect))
    assert caught.value.code.subcodes == ((ns.WSNT, "InvalidMessageContentExpressionFault"),)


@pytest.mark.parametrize(
    ("category", "name"),
    [
        ("fight", "Fight"),
        ("people_count", "PeopleCount"),
        ("pm2.5-high", "Pm25High"),
        ("9lives", "C9lives"),
    ],
)
def test_topic_names(category: str, name: str) -> None:
    assert topic_name(category) == name
    assert category_topic(category) == Topic(ns.TNS1, ("RuleEngine", "StreetSense", name))


@pytest.mark.parametrize(
    ("phase", "operation", "state"),
    [
        (Phase.START, PropertyOperation.INITIALIZED, "true"),
        (Phase.UPDATE, PropertyOperation.CHANGED, "true"),
        (Phase.END, PropertyOperation.DELETED, "false"),
    ],
)
def test_event_to_message_round_trip(
    phase: Phase, operation: PropertyOperation, state: str
) -> None:
    event = make_event(phase, confidence=0.5)
    notification = from_event(event)
    utc_time, parsed_operation, source, data = parse_message(
        etree.fromstring(etree.tostring(build_message(notification)))
    )
    assert utc_time == event.occurred_at
    assert parsed_operation is operation
    assert source == notification.source
    assert {item.name: item.value for item in data} == {
        "Category": "fight",
        "Confidence": "0.500",
        "Severity": "high",
        "IncidentId": event.incident_id,
        "EventId": event.event_id,
        "State": state,
    }


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"not xml at all", "malformed"),
        (b"<a/>", "malformed"),
        (
            b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x/></s:Body></s:Envelope>',
            "soap_version",
        ),
        (f'<s:Envelope xmlns:s="{ns.SOAP_ENV}"><s:Header/></s:Envelope>'.encode(), "malformed"),
        (
            f'<s:Envelope xmlns:s="{ns.SOAP_ENV}"><s:Body><a/><b/></s:Body></s:Envelope>'.encode(),
            "malformed",
        ),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "dtd"),
        (b"<x>" + b" " * 300_000 + b"</x>", "oversize"),
        (b"<a>" * 100 + b"</a>" * 100, "too_deep"),
    ],
)
def test_unacceptable_envelopes(document: bytes, reason: str) -> None:
    with pytest.raises(MalformedRequestError) as caught:
        parse_request(document)
    assert caught.value.reason == reason
    assert caught.value.http_status == 400


def test_fault_envelope_names_code_and_subcode() -> None:
    fault = etree.fromstring(build_fault(ResourceUnknownError("gone")))
    code = fault.find(f".//{{{ns.SOAP_ENV}}}Code")
    assert code is not None
    assert code.findtext(f"{{{ns.SOAP_ENV}}}Value") == "env:Sender"
    value = code.find(f"{{{ns.SOAP_ENV}}}Subcode/{{{ns.SOAP_ENV}}}Value")
    assert value is not None and value.text is not None
    prefix, _, local = value.text.partition(":")
    assert (value.nsmap[prefix], local) == (ns.WSRF_R, "ResourceUnknownFault")
    assert fault.findtext(f".//{{{ns.SOAP_ENV}}}Text") == "gone"


def test_pull_messages_limits() -> None:
    body = etree.fromstring(
        f'<tev:PullMessages xmlns:tev="{ns.TEV}"><tev:Timeout>PT30S</tev:Timeout>'
        "<tev:MessageLimit>10</tev:MessageLimit></tev:PullMessages>"
    )
    request = parse_pull_messages(body, max_timeout=timedelta(seconds=60), max_limit=100)
    assert (request.timeout, request.message_limit) == (timedelta(seconds=30), 10)
    with pytest.raises(PullMessagesLimitError) as caught:
        parse_pull_messages(body, max_timeout=timedelta(seconds=10), max_limit=100)
    assert caught.value.detail_xml is not None and b"PT10S" in caught.value.detail_xml


def test_non_ascii_password_field_is_a_rejection_not_a_crash() -> None:
    # Found by the fuzzer: hmac.compare_digest refuses non-ASCII str.
    header = security_header(created=NOW).replace("</wsse:Password>", "\u00e9</wsse:Password>")
    with pytest.raises(NotAuthorizedError) as caught:
        UsernameTokenVerifier({"operator": "s3cret-pass"}).verify(_token(header), NOW)
    assert caught.value.reason == "bad_credentials"


def test_throttle_locks_out_after_failures_and_forgets_old_ones() -> None:
    throttle = AuthThrottle(3, window=timedelta(seconds=60), lockout=timedelta(seconds=30))
    throttle.failed("10.0.0.1", NOW)
    throttle.failed("10.0.0.1", NOW + timedelta(seconds=61))  # the first fell out of the window
    throttle.failed("10.0.0.1", NOW + timedelta(seconds=62))
    assert not throttle.locked("10.0.0.1", NOW + timedelta(seconds=62))
    throttle.failed("10.0.0.1", NOW + timedelta(seconds=63))
    assert throttle.locked("10.0.0.1", NOW + timedelta(seconds=63))
    assert not throttle.locked("10.0.0.2", NOW + timedelta(seconds=63))
    assert not throttle.locked("10.0.0.1", NOW + timedelta(seconds=93))
    off = AuthThrottle(0)
    for _ in range(100):
        off.failed("10.0.0.3", NOW)
    assert not off.locked("10.0.0.3", NOW)


def test_unknown_must_understand_headers_are_a_must_understand_fault() -> None:
    block = f'<x:Routing xmlns:x="urn:other" xmlns:s="{ns.SOAP_ENV}" s:mustUnderstand="true"/>'
    with pytest.raises(MustUnderstandError) as caught:
        parse_request(envelope("<tds:GetDeviceInformation/>", block))
    assert caught.value.http_status == 500
    fault = etree.fromstring(build_fault(caught.value))
    assert (
        fault.findtext(f".//{{{ns.SOAP_ENV}}}Code/{{{ns.SOAP_ENV}}}Value") == "env:MustUnderstand"
    )
    understood = security_header().replace(
        "<wsse:Security ", f'<wsse:Security xmlns:s="{ns.SOAP_ENV}" s:mustUnderstand="1" ', 1
    )
    assert parse_username_token(parse_request(envelope("<tds:GetScopes/>", understood)).header)
