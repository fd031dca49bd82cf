"""Fuzzing the SOAP entry point: every input gets a SOAP answer, nothing raises or hangs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from broker.protocols.onvif import namespaces as ns
from broker.protocols.onvif.config import OnvifCameraConfig
from broker.protocols.onvif.errors import InvalidArgumentError
from broker.protocols.onvif.inbound_mapping import CameraMessage, TopicMapper
from broker.protocols.onvif.notification import PropertyOperation, SimpleItem
from broker.protocols.onvif.service import EventService, ServiceSettings
from broker.protocols.onvif.subscriptions import SubscriptionManager
from broker.protocols.onvif.wssecurity import UsernameTokenVerifier
from events import decode_event, encode
from tests.broker.protocols.onvif_support import envelope, rejected, running_output, security_header

VALID_BODIES = [
    "<tds:GetSystemDateAndTime/>",
    "<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>",
    "<tds:GetServices><tds:IncludeCapability>true</tds:IncludeCapability></tds:GetServices>",
    "<tev:GetEventProperties/>",
    "<tev:CreatePullPointSubscription><tev:InitialTerminationTime>PT10S</tev:InitialTerminationTime></tev:CreatePullPointSubscription>",
    "<tev:PullMessages><tev:Timeout>PT0S</tev:Timeout><tev:MessageLimit>5</tev:MessageLimit></tev:PullMessages>",
    "<wsnt:Renew><wsnt:TerminationTime>PT60S</wsnt:TerminationTime></wsnt:Renew>",
]


def _service() -> EventService:
    manager = SubscriptionManager("onvif-fuzz")
    return EventService(
        "onvif-fuzz",
        ServiceSettings(categories=("fight",), max_body_bytes=64 * 1024),
        manager,
        UsernameTokenVerifier({"operator": "s3cret-pass"}),
    )


def _answer(
    service: EventService, body: bytes, path: str = "/onvif/event_service"
) -> tuple[int, etree._Element]:
    response = asyncio.run(asyncio.wait_for(service.handle(path, body, "http://127.0.0.1:1"), 10))
    assert response.status in (200, 400, 500)
    root = etree.fromstring(response.body)
    assert root.tag == f"{{{ns.SOAP_ENV}}}Envelope"
    is_fault = root.find(f"{{{ns.SOAP_ENV}}}Body/{{{ns.SOAP_ENV}}}Fault") is not None
    assert is_fault is (response.status != 200)
    return response.status, root


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_get_a_fault(data: bytes) -> None:
    status, _ = _answer(_service(), data)
    assert status in (400, 500)


@FUZZ
@given(
    st.sampled_from(VALID_BODIES),
    st.booleans(),
    st.integers(min_value=0, max_value=2000),
    st.text(max_size=40),
    st.sampled_from(
        [
            "/onvif/event_service",
            "/onvif/device_service",
            "/onvif/subscription/abc123",
            "/onvif/subscription/",
        ]
    ),
)
def test_mutated_requests_never_crash(
    body: str, signed: bool, cut: int, noise: str, path: str
) -> None:
    document = envelope(body, security_header() if signed else "")
    position = cut % (len(document) + 1)
    mutated = document[:position] + noise.encode("utf-8", "surrogatepass") + document[position:]
    _answer(_service(), mutated, path)


@FUZZ
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_arbitrary_text_in_arguments_is_a_fault_or_an_answer(value: str) -> None:
    escaped = value.replace("&", "&amp;").replace("<", "&lt;")
    body = (
        f"<tev:PullMessages><tev:Timeout>{escaped}</tev:Timeout>"
        f"<tev:MessageLimit>{escaped}</tev:MessageLimit></tev:PullMessages>"
    )
    _answer(_service(), envelope(body, security_header()), "/onvif/subscription/abc")


def test_billion_laughs_is_refused_without_expansion() -> None:
    entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY l0 "lol">{entities}]><s>&l9;</s>'.encode()
    before = rejected("dtd")
    status, root = _answer(_service(), bomb)
    assert status == 400
    assert rejected("dtd") == before + 1
    assert b"lollol" not in etree.tostring(root)


def test_external_entities_are_never_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file://{secret}">]>'
        f'<s:Envelope xmlns:s="{ns.SOAP_ENV}"><s:Body><x>&x;</x></s:Body></s:Envelope>'
    ).encode("utf-16")
    status, root = _answer(_service(), xxe)
    assert status == 400
    assert b"TOPSECRET" not in etree.tostring(root)


def test_deep_nesting_is_refused() -> None:
    deep = envelope("<a>" * 5000 + "</a>" * 5000)
    status, _ = _answer(_service(), deep)
    assert status == 400


async def test_huge_body_over_http_is_a_fault_and_the_server_lives_on() -> None:
    async with running_output("onvif-huge", max_body_bytes=64 * 1024) as output:
        url = f"http://127.0.0.1:{output.port}/onvif/device_service"
        before = rejected("oversize")
        async with httpx.AsyncClient(timeout=30) as http:
            huge = envelope("<tds:GetSystemDateAndTime/>" + "<!-- pad -->" * 100_000)
            response = await http.post(url, content=huge)
            assert response.status_code == 400
            assert b"exceeds" in response.content

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(200):
                    yield b"x" * 1024

            streamed = await http.post(url, content=chunks())
            assert streamed.status_code == 400
            assert rejected("oversize") == before + 2
            ok = await http.post(url, content=envelope("<tds:GetSystemDateAndTime/>"))
            assert ok.status_code == 200


@pytest.mark.parametrize("path", ["/onvif/subscription/unknown1", "/onvif/event_service"])
def test_subscription_operations_on_unknown_addresses_fault(path: str) -> None:
    body = "<tev:PullMessages><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>1</tev:MessageLimit></tev:PullMessages>"
    status, root = _answer(_service(), envelope(body, security_header()), path)
    assert status == 400
    assert b"ResourceUnknownFault" in etree.tostring(root)


def test_bounded_manager_time_limits() -> None:
    manager = SubscriptionManager("onvif-clamp")
    subscription = manager.create(None, manager.now() + timedelta(days=30))
    assert subscription.termination - manager.now() <= timedelta(hours=1)


_ITEM_TEXT = st.text(max_size=80)
_ITEMS = st.lists(st.builds(SimpleItem, _ITEM_TEXT, _ITEM_TEXT), max_size=4).map(tuple)


@FUZZ
@given(
    st.sampled_from(
        [
            "tns1:RuleEngine/CellMotionDetector/Motion",
            "x:RuleEngine/CellMotionDetector/Motion",
            "tns1:Other",
        ]
    ),
    st.sampled_from([None, *PropertyOperation]),
    _ITEMS,
    _ITEMS,
    st.sampled_from(["true", "false", "1", "0", "yes", ""]),
)
def test_camera_messages_map_to_valid_events_or_clear_rejections(
    topic: str,
    operation: PropertyOperation | None,
    source: tuple[SimpleItem, ...],
    data: tuple[SimpleItem, ...],
    state: str,
) -> None:
    config = OnvifCameraConfig.model_validate(
        {
            "host": "Camera Host 1",
            "username": "u",
            "password": "p",
            "site": "s1",
            "topics": [
                {
                    "topic": "tns1:RuleEngine/CellMotionDetector/Motion",
                    "category": "motion",
                    "state_item": "IsMotion",
                }
            ],
        }
    )
    message = CameraMessage(
        topic, datetime.now(UTC), operation, source, (*data, SimpleItem("IsMotion", state))
    )
    try:
        event = TopicMapper(config).map(message)
    except InvalidArgumentError:
        return
    if event is not None:
        assert decode_event(encode(event)) == event  # identifiers and sizes pass the wire contract


async def test_an_internal_error_still_answers_soap_and_the_server_lives_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running_output("onvif-bug") as output:
        url = f"http://127.0.0.1:{output.port}/onvif/device_service"
        real = EventService.handle

        async def broken(self: EventService, *args: object, **kwargs: object) -> object:
            raise RuntimeError("injected bug")

        before = rejected("internal_error")
        async with httpx.AsyncClient(timeout=30) as http:
            monkeypatch.setattr(EventService, "handle", broken)
            response = await http.post(url, content=envelope("<tds:GetSystemDateAndTime/>"))
            assert response.status_code == 500
            assert b"internal error" in response.content
            monkeypatch.setattr(EventService, "handle", real)
            ok = await http.post(url, content=envelope("<tds:GetSystemDateAndTime/>"))
            assert ok.status_code == 200
        assert rejected("internal_error") == before + 1
