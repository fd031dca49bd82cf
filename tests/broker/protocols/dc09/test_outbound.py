"""Event -> DC-09 message mapping, panel message -> events, config validation (all pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from broker.protocols.dc09.codec import Message, Token
from broker.protocols.dc09.config import Dc09OutputConfig
from broker.protocols.dc09.inbound import Account, judge
from broker.protocols.dc09.mapping import DEFAULT_INBOUND
from broker.protocols.dc09.outbound import Outbound
from broker.protocols.dc09.panel import IncidentTracker, PanelSettings, PanelSite, panel_events
from broker.protocols.dc09.payload import parse_cid_data, parse_sia_data
from events import Phase, Severity
from tests.broker.protocols.dc09.peers import make_event

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)


def outbound(**overrides: Any) -> Outbound:
    settings_: dict[str, Any] = {
        "receivers": [{"host": "arc.example", "port": 12000}],
        "account": "12ab",
    }
    settings_.update(overrides)
    return Outbound.from_config(Dc09OutputConfig.model_validate(settings_))


@pytest.mark.parametrize(
    ("category", "phase", "data"),
    [
        ("fight", Phase.START, "#12AB|Nri1/QA001"),
        ("fight", Phase.END, "#12AB|Nri1/QR001"),
        ("emergency_call", Phase.START, "#12AB|Nri1/PA001"),
        ("air_quality", Phase.START, "#12AB|Nri1/GA001"),
        ("loud_noise", Phase.END, "#12AB|Nri1/UR001"),
        ("something_new", Phase.START, "#12AB|Nri1/UA001"),
    ],
)
def test_default_sia_codes(category: str, phase: Phase, data: str) -> None:
    message = outbound().event_message(make_event(category, phase), 5, NOW)
    assert (message.token, message.sequence, message.account, message.data) == (
        Token.SIA_DCS,
        5,
        "12AB",
        data,
    )
    assert message.timestamp == NOW
    assert [block.kind for block in message.extended] == ["I", "H"]


@pytest.mark.parametrize(
    ("phase", "data"),
    [(Phase.START, "#12AB|1120 03 042"), (Phase.END, "#12AB|3120 03 042"), (Phase.UPDATE, "#12AB|6120 03 042")],
)  # fmt: skip
def test_contact_id_qualifiers_zones_and_area(phase: Phase, data: str) -> None:
    mapper = outbound(format="adm_cid", area=3, zones={"cam-9": 42}, send_updates=True)
    message = mapper.event_message(make_event("panic", phase, source="cam-9"), 1, NOW)
    assert (message.token, message.data) == (Token.ADM_CID, data)
    assert [block.kind for block in message.extended] == ["I"]
    assert parse_cid_data(message.data).zone == "042"


def test_configured_codes_override_defaults_and_updates_are_skipped() -> None:
    mapper = outbound(
        codes={"fight": {"sia": "HA", "sia_restore": "HR", "cid": 122}},
        extended_data=False,
        key="00" * 16,
    )
    message = mapper.event_message(make_event("fight"), 1, NOW)
    assert (message.data, message.extended, message.encrypted) == ("#12AB|Nri1/HA001", (), True)
    assert mapper.skips(make_event("fight", Phase.UPDATE))
    assert not mapper.skips(make_event("fight", Phase.END))
    null = mapper.null_message(9, NOW)
    assert (null.token, null.data, null.encrypted) == (Token.NULL, "", True)


@pytest.mark.parametrize(
    "overrides",
    [
        {"account": "12"},
        {"account": "XYZ1"},
        {"key": "0011"},
        {"key": "shortascii", "key_encoding": "ascii"},
        {"receivers": []},
        {"codes": {"fight": {"sia": "qa", "sia_restore": "QR", "cid": 101}}},
        {"zones": {"cam-1": 1000}},
        {"unknown_setting": True},
    ],
)
def test_config_rejects_bad_settings(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        outbound(**overrides)


def test_panel_events_map_codes_and_track_incidents() -> None:
    settings_ = PanelSettings("dc09-receiver", dict(DEFAULT_INBOUND), True, frozenset({"RP"}))
    place = PanelSite("old-town", "dc09-1234")
    tracker = IncidentTracker()
    alarm = Message(Token.SIA_DCS, 1, "1234", data="#1234|Nri1/BA001/BA002/RP000/ZZ001")
    events = panel_events(alarm, parse_sia_data(alarm.data), place, settings_, tracker, now=NOW)
    assert [(e.category, e.severity) for e in events] == [
        ("intrusion", Severity.HIGH),
        ("intrusion", Severity.HIGH),
        ("panel_event", Severity.INFO),
    ]
    assert len({e.incident_id for e in events}) == 3  # zones 001, 002 and the unmapped one
    restore = Message(Token.SIA_DCS, 2, "1234", data="#1234|Nri1/BR002")
    (ended,) = panel_events(
        restore, parse_sia_data(restore.data), place, settings_, tracker, now=NOW
    )
    assert (ended.phase, ended.incident_id) == (Phase.END, events[1].incident_id)
    quiet = PanelSettings("dc09-receiver", dict(DEFAULT_INBOUND), False, frozenset())
    published = panel_events(alarm, parse_sia_data(alarm.data), place, quiet, tracker, now=NOW)
    assert [e.category for e in published] == ["intrusion", "intrusion"]  # RP, ZZ unmapped


ACCOUNTS = {"1234": Account("1234", None), "AAA": Account("AAA", bytes(16))}


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_judge_never_raises(raw: bytes) -> None:
    verdict = judge(raw, ACCOUNTS, NOW)
    assert (verdict.reason is None) == (verdict.message is not None)
