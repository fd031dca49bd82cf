"""SNMP: event -> notification mapping, SNMPv2c BER against Net-SNMP's own encoder, the MIB, fuzzing."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from broker.protocols.snmp.codec import decode_v2c, encode_v2c, event_to_notification, utf8_cut
from broker.protocols.snmp.config import SnmpOutputConfig
from broker.protocols.snmp.errors import SnmpFormatError
from broker.protocols.snmp.model import (
    DEFAULT_BASE_OID,
    Notification,
    NotificationName,
    ObjectName,
    Syntax,
    VarBind,
    format_oid,
    parse_oid,
)
from events import ModelRef, Phase, Severity, Source, SourceKind
from tests.broker.helpers import at, make_event

ROOT = Path(__file__).resolve().parents[3]
MIB_DIR = ROOT / "config" / "snmp"
BASE = DEFAULT_BASE_OID


def _values(notification: Notification) -> dict[int, bytes | int | tuple[int, ...]]:
    return {bind.oid[len(BASE) + 1]: bind.value for bind in notification.varbinds}


# -- mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "name", "phase_value"),
    [(Phase.START, NotificationName.ALERT_START, 1), (Phase.UPDATE, NotificationName.ALERT_UPDATE, 2),
     (Phase.END, NotificationName.ALERT_END, 3)],
)  # fmt: skip
def test_phase_picks_the_notification(
    phase: Phase, name: NotificationName, phase_value: int
) -> None:
    notification = event_to_notification(make_event(phase=phase))
    assert notification.trap_oid == (*BASE, 0, name)
    assert _values(notification)[ObjectName.PHASE] == phase_value


@pytest.mark.parametrize(
    ("severity", "value"),
    [(Severity.INFO, 1), (Severity.LOW, 2), (Severity.MEDIUM, 3), (Severity.HIGH, 4), (Severity.CRITICAL, 5)],
)  # fmt: skip
def test_severity_values_match_the_mib(severity: Severity, value: int) -> None:
    assert (
        _values(event_to_notification(make_event(severity=severity)))[ObjectName.SEVERITY] == value
    )


def test_every_object_is_bound_in_mib_order() -> None:
    event = make_event(
        confidence=0.8766, summary="crowd forming", model=ModelRef(name="crowd", version="2.0"),
        source=Source(kind=SourceKind.SENSOR, id="mic3"), occurred_at=at("2026-11-25T10:00:00.123"),
        requires_review=False,
    )  # fmt: skip
    notification = event_to_notification(event)
    assert [b.oid for b in notification.varbinds] == [(*BASE, 1, n, 0) for n in ObjectName]
    values = _values(notification)
    assert values[ObjectName.EVENT_ID] == event.event_id.encode()
    assert values[ObjectName.SOURCE] == b"sensor:mic3"
    assert values[ObjectName.CONFIDENCE] == 877
    assert values[ObjectName.MODEL] == b"crowd/2.0"
    assert values[ObjectName.OCCURRED_AT] == b"2026-11-25T10:00:00.123Z"
    assert values[ObjectName.REQUIRES_REVIEW] == 2
    syntaxes = {b.oid[len(BASE) + 1]: b.syntax for b in notification.varbinds}
    assert syntaxes[ObjectName.CONFIDENCE] is Syntax.UNSIGNED
    assert syntaxes[ObjectName.SEVERITY] is Syntax.INTEGER


def test_custom_base_oid() -> None:
    base = parse_oid("1.3.6.1.4.1.99999.7")
    notification = event_to_notification(make_event(), base)
    assert notification.trap_oid[: len(base)] == base
    assert all(b.oid[: len(base)] == base for b in notification.varbinds)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [("abc", 5, b"abc"), ("a" * 300, 255, b"a" * 255), ("\u00e9\u00e9\u00e9", 5, "\u00e9\u00e9".encode()),
     ("\U0001f600x", 3, b"")],
)  # fmt: skip
def test_utf8_cut_keeps_whole_characters(text: str, limit: int, expected: bytes) -> None:
    assert utf8_cut(text, limit) == expected


# -- BER against Net-SNMP ------------------------------------------------------------------


def _capture_snmptrap(*args: str) -> bytes:
    """What Net-SNMP's snmptrap sends: its datagram caught on a local UDP socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(20)
        port = sink.getsockname()[1]
        subprocess.run(
            ["snmptrap", "-v", "2c", "-c", "public", "-M", "/dev/null", f"127.0.0.1:{port}", *args],
            check=True, timeout=20, capture_output=True, env={"MIBS": "", "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        data, _ = sink.recvfrom(65535)
        return data


def test_our_encoding_is_byte_identical_to_net_snmp() -> None:
    oid = format_oid(BASE)
    wire = _capture_snmptrap(
        "4242", f"{oid}.0.1",
        f"{oid}.1.4.0", "s", "s1",
        f"{oid}.1.8.0", "i", "4",
        f"{oid}.1.9.0", "u", "873",
        f"{oid}.1.10.0", "x", "C3A9",
    )  # fmt: skip
    decoded = decode_v2c(wire)
    assert (decoded.community, decoded.kind, decoded.uptime_cs) == (b"public", "trap", 4242)
    expected = Notification(
        (*BASE, 0, 1),
        (
            VarBind((*BASE, 1, 4, 0), Syntax.OCTETS, b"s1"),
            VarBind((*BASE, 1, 8, 0), Syntax.INTEGER, 4),
            VarBind((*BASE, 1, 9, 0), Syntax.UNSIGNED, 873),
            VarBind((*BASE, 1, 10, 0), Syntax.OCTETS, "\u00e9".encode()),
        ),
    )
    assert decoded.notification == expected
    ours = encode_v2c(expected, community=b"public", request_id=decoded.request_id, uptime_cs=4242)
    assert ours == wire


def test_inform_round_trip() -> None:
    notification = event_to_notification(make_event())
    data = encode_v2c(notification, community=b"c", request_id=99, uptime_cs=5, kind="inform")
    decoded = decode_v2c(data)
    assert (decoded.kind, decoded.request_id, decoded.notification) == ("inform", 99, notification)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not_ber"),
        (b"\x30\x03\x02\x01\x00", "not_v2c"),  # a v1 message header
        (bytes.fromhex("300602010104017a"), "not_ber"),  # v2c header, no PDU
        (b"\x00" * 70_000, "oversize"),
    ],
)
def test_decoder_refuses_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(SnmpFormatError) as caught:
        decode_v2c(data)
    assert caught.value.reason == reason


def test_a_get_request_is_not_a_notification() -> None:
    wire = bytes.fromhex(
        "302602010104067075626c6963a019020101020100020100300e300c06082b060102010101000500"
    )
    with pytest.raises(SnmpFormatError) as caught:
        decode_v2c(wire)
    assert caught.value.reason == "not_notification"


# -- the MIB -------------------------------------------------------------------------------


def _translate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["snmptranslate", "-m", "+STREETSENSE-MIB", "-M", f"+{MIB_DIR}", *args],
        capture_output=True, text=True, timeout=30, check=False,
        env={"MIBS": "", "PATH": "/usr/bin:/bin", "HOME": str(MIB_DIR)},
    )  # fmt: skip


MIB_NAMES = {
    "ssAlertStart": (0, 1), "ssAlertUpdate": (0, 2), "ssAlertEnd": (0, 3),
    "ssEventId": (1, 1), "ssIncidentId": (1, 2), "ssPhase": (1, 3), "ssSite": (1, 4),
    "ssAgent": (1, 5), "ssSource": (1, 6), "ssCategory": (1, 7), "ssSeverity": (1, 8),
    "ssConfidence": (1, 9), "ssSummary": (1, 10), "ssModel": (1, 11), "ssOccurredAt": (1, 12),
    "ssRequiresReview": (1, 13),
}  # fmt: skip


def test_snmptranslate_loads_the_mib_and_its_oids_match_the_codec() -> None:
    result = _translate("-On", *(f"STREETSENSE-MIB::{name}" for name in MIB_NAMES))
    assert result.returncode == 0, result.stderr
    assert "STREETSENSE-MIB" not in result.stderr, result.stderr  # no parse errors in our module
    oids = result.stdout.split()
    assert oids == ["." + format_oid((*BASE, *suffix)) for suffix in MIB_NAMES.values()]
    # the codec's object numbering is the MIB's
    for member in ObjectName:
        name = "ss" + "".join(part.capitalize() for part in member.name.split("_"))
        assert MIB_NAMES[name] == (1, member.value), name


def test_mib_enumerations_match_the_codec() -> None:
    result = _translate("-Td", "STREETSENSE-MIB::ssSeverity")
    assert "info(1), low(2), medium(3), high(4), critical(5)" in result.stdout
    result = _translate("-Td", "STREETSENSE-MIB::ssPhase")
    assert "start(1), update(2), end(3)" in result.stdout


# -- configuration -------------------------------------------------------------------------

V3 = {"user": "u", "auth_key": "12345678", "priv_key": "abcdefgh"}


@pytest.mark.parametrize(
    "settings",
    [
        {"version": "v3"},
        {"version": "v3", "v3": {**V3, "auth_key": "short"}},
        {"version": "v3", "v3": {**V3, "priv_key": None}},
        {"version": "v3", "mode": "trap", "v3": V3},  # no engine_id
        {"version": "v2c", "v3": V3},
        {"engine_id": "xyz"},
        {"base_oid": "1.3.6.x"},
        {"base_oid": "3.1"},
        {"mode": "notify"},
        {"port": 0},
        {"unknown": 1},
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SnmpOutputConfig.model_validate({"host": "nms.example", **settings})


def test_v3_trap_settings() -> None:
    config = SnmpOutputConfig.model_validate(
        {
            "host": "nms",
            "version": "v3",
            "mode": "trap",
            "engine_id": "0x80001F8880C0FFEE",
            "v3": V3,
        }
    )
    assert config.engine_id == "80001f8880c0ffee"
    assert config.base == BASE


# -- hypothesis ----------------------------------------------------------------------------

_OID = st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=12).map(lambda t: (1, 3, *t))
_BIND = st.one_of(
    st.builds(VarBind, _OID, st.just(Syntax.OCTETS), st.binary(max_size=300)),
    st.builds(VarBind, _OID, st.just(Syntax.INTEGER), st.integers(-(2**31), 2**31 - 1)),
    st.builds(VarBind, _OID, st.just(Syntax.UNSIGNED), st.integers(0, 2**32 - 1)),
    st.builds(VarBind, _OID, st.just(Syntax.OID), _OID),
)


@settings(max_examples=150, deadline=None)
@given(
    st.builds(Notification, _OID, st.lists(_BIND, max_size=15).map(tuple)),
    st.binary(max_size=32), st.integers(0, 2**31 - 1), st.integers(0, 2**32 - 1),
    st.sampled_from(["trap", "inform"]),
)  # fmt: skip
def test_round_trip(
    notification: Notification, community: bytes, request_id: int, uptime: int, kind: Any
) -> None:
    data = encode_v2c(
        notification, community=community, request_id=request_id, uptime_cs=uptime, kind=kind
    )
    decoded = decode_v2c(data)
    assert decoded.notification == notification
    assert (decoded.community, decoded.request_id, decoded.uptime_cs, decoded.kind) == (
        community, request_id, uptime, kind,
    )  # fmt: skip


SAMPLE = encode_v2c(
    event_to_notification(make_event()), community=b"public", request_id=1, uptime_cs=1
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.tuples(st.integers(0, len(SAMPLE) - 1), st.binary(min_size=1, max_size=8)).map(
    lambda cut: SAMPLE[: cut[0]] + cut[1] + SAMPLE[cut[0] + len(cut[1]) :]
))  # fmt: skip
# A long-form length of 8 octets (0x88) inside the PDU: pyasn1 raised OverflowError.
@example(SAMPLE[:265] + b"\x88\x80" + SAMPLE[267:])
def test_decoder_fails_only_with_format_errors(data: bytes) -> None:
    try:
        decode_v2c(data)
    except SnmpFormatError as exc:
        assert exc.reason in {"oversize", "not_ber", "not_v2c", "not_notification"}


@settings(max_examples=100, deadline=None)
@given(summary=st.text(max_size=256), confidence=st.floats(0, 1), phase=st.sampled_from(Phase))
def test_any_event_encodes_and_fits_the_mib_sizes(
    summary: str, confidence: float, phase: Phase
) -> None:
    notification = event_to_notification(
        make_event(summary=summary, confidence=confidence, phase=phase)
    )
    values = _values(notification)
    summary_bytes = values[ObjectName.SUMMARY]
    assert isinstance(summary_bytes, bytes) and len(summary_bytes) <= 255
    assert summary.encode().startswith(summary_bytes)
    assert 0 <= int(values[ObjectName.CONFIDENCE]) <= 1000  # type: ignore[arg-type]
    assert (
        decode_v2c(encode_v2c(notification, community=b"p", request_id=1, uptime_cs=0)).notification
        == notification
    )
