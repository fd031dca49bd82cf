"""TETRA codecs: SDS-TL PDUs, the AT dialogue, alert texts and replies.

PDU vectors are the SDS-TL examples published with ftl/tetra-pei (a PEI
library written from EN 300 392-2/-5), decoded field by field here.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.protocols.tetra import at, pdu, status
from broker.protocols.tetra.alert_text import fit_text, parse_reply, to_latin1
from broker.protocols.tetra.errors import AtResponseError, PduError
from events import ActionKind

TESTMESSAGE = "746573746D657373616765"  # "testmessage" in ISO 8859-1


# --- SDS-TL decoding: published vectors --------------------------------------------------


def test_text_transfer_without_report() -> None:
    message = pdu.decode_sds_tl(bytes.fromhex("82029C01" + TESTMESSAGE))
    assert message == pdu.TextMessage(
        protocol_id=0x82,
        text="testmessage",
        coding=1,
        message_reference=0x9C,
        report_request=pdu.ReportRequest.NONE,
        service_selection=1,
    )


def test_immediate_text_transfer() -> None:
    message = pdu.decode_sds_tl(bytes.fromhex("89029C01" + TESTMESSAGE))
    assert isinstance(message, pdu.TextMessage)
    assert message.immediate and message.text == "testmessage"


def test_text_transfer_with_store_and_forward_to_ssi() -> None:
    message = pdu.decode_sds_tl(bytes.fromhex("82039C5101020301" + TESTMESSAGE))
    assert isinstance(message, pdu.TextMessage)
    assert message.store_forward == pdu.StoreForward(10, 1, b"\x01\x02\x03")  # 10 = 5 minutes
    assert message.text == "testmessage"


def test_text_transfer_with_timestamp() -> None:
    message = pdu.decode_sds_tl(bytes.fromhex("82029C81045A8F" + TESTMESSAGE))
    assert isinstance(message, pdu.TextMessage)
    assert message.timestamp == pdu.Timestamp(timeframe=0, month=4, day=11, hour=10, minute=15)


def test_concatenated_text_part() -> None:
    message = pdu.decode_sds_tl(bytes.fromhex("8A02C981045A8F050003C90201" + TESTMESSAGE))
    assert isinstance(message, pdu.TextMessage)
    assert message.concatenation == pdu.Concatenation(reference=0xC9, total=2, sequence=1)
    assert message.text == "testmessage"


def test_simple_text() -> None:
    message = pdu.decode_sds_tl(bytes.fromhex("0201" + TESTMESSAGE))
    assert message == pdu.TextMessage(protocol_id=0x02, text="testmessage", coding=1)


@pytest.mark.parametrize(
    ("vector", "expected"),
    [
        ("821000C9", pdu.DeliveryReport(0x82, 0x00, 0xC9, ack_required=False)),
        ("821800CA", pdu.DeliveryReport(0x82, 0x00, 0xCA, ack_required=True)),
        ("8210450C", pdu.DeliveryReport(0x82, 0x45, 0x0C)),
    ],
)
def test_sds_report(vector: str, expected: pdu.DeliveryReport) -> None:
    assert pdu.decode_sds_tl(bytes.fromhex(vector)) == expected


def test_sds_ack() -> None:
    assert pdu.decode_sds_tl(bytes.fromhex("822001C9")) == pdu.SdsAck(0x82, 0x01, 0xC9)


@pytest.mark.parametrize(("vector", "kind"), [("7ECA", 2), ("7F01", 3), ("7C10", 0)])
def test_short_report(vector: str, kind: int) -> None:
    report = pdu.decode_short_report(bytes.fromhex(vector))
    assert report.report_type == kind


@pytest.mark.parametrize(
    ("vector", "reason"),
    [
        ("", "empty"),
        ("82", "truncated"),
        ("0A0102", "unsupported_protocol"),
        ("C3029C01", "unsupported_protocol"),
        ("8201", "truncated"),
        ("82039C", "truncated"),
        ("82039C5601", "bad_forward_address"),
        ("82029C8104", "truncated"),
        ("82029C0074", "unsupported_coding"),
        ("82029C1ADC00", "bad_text"),
        ("8250000C", "unsupported_message_type"),
        ("8210", "truncated"),
    ],
)
def test_malformed_pdus_name_their_reason(vector: str, reason: str) -> None:
    with pytest.raises(PduError) as caught:
        pdu.decode_sds_tl(bytes.fromhex(vector))
    assert caught.value.reason == reason


# --- SDS-TL encoding ---------------------------------------------------------------------


def test_encode_text_transfer_matches_published_vector() -> None:
    encoded = pdu.encode_text_transfer(
        0xC9,
        "testmessage",
        report_request=pdu.ReportRequest.RECEIVED,
        timestamp=pdu.Timestamp(timeframe=1, month=4, day=11, hour=10, minute=15),
    )
    assert encoded.hex().upper() == "8206C981445A8F" + TESTMESSAGE


def test_encode_text_transfer_plain() -> None:
    encoded = pdu.encode_text_transfer(7, "Ærlig talt", report_request=pdu.ReportRequest.NONE)
    assert encoded == bytes([0x82, 0x02, 0x07, 0x01]) + "Ærlig talt".encode("latin-1")


def test_encode_report_matches_published_vector() -> None:
    assert pdu.encode_report(0xCA, 0x00, ack_required=True).hex().upper() == "821800CA"


@pytest.mark.parametrize(
    ("value", "verdict"),
    [
        (0x00, status.StatusVerdict.DELIVERED),
        (0x02, status.StatusVerdict.DELIVERED),
        (0x21, status.StatusVerdict.DELIVERED),
        (0x20, status.StatusVerdict.RETRY),
        (0x4B, status.StatusVerdict.RETRY),
        (0x45, status.StatusVerdict.REJECTED),
        (0x4D, status.StatusVerdict.REJECTED),
        (0x60, status.StatusVerdict.RETRY),
    ],
)
def test_delivery_status_verdicts(value: int, verdict: status.StatusVerdict) -> None:
    assert status.status_verdict(value) is verdict


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 255),
    st.text(st.characters(codec="latin-1"), max_size=251),
    st.sampled_from(pdu.ReportRequest),
)
def test_fuzz_text_transfer_round_trip(
    reference: int, text: str, report: pdu.ReportRequest
) -> None:
    encoded = pdu.encode_text_transfer(reference, text, report_request=report)
    decoded = pdu.decode_sds_tl(encoded)
    assert isinstance(decoded, pdu.TextMessage)
    assert (decoded.text, decoded.message_reference, decoded.report_request) == (
        text,
        reference,
        report,
    )


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_decoder_only_raises_pdu_errors(data: bytes) -> None:
    try:
        pdu.decode_sds_tl(data)
    except PduError as exc:
        assert exc.reason


# --- AT commands and lines ---------------------------------------------------------------


def test_service_selection_command() -> None:
    assert at.service_selection() == b"AT+CTSDS=12,0,0,0,0\r"


def test_send_command_bytes() -> None:
    data = bytes.fromhex("82029C01" + TESTMESSAGE)
    assert at.send_sds("2001", data) == (b"AT+CMGS=2001,120\r\n82029C01746573746D657373616765\x1a")


@pytest.mark.parametrize("called", ["", "12a", "1234567890123456", "-1"])
def test_send_command_refuses_bad_identities(called: str) -> None:
    with pytest.raises(ValueError, match="digits"):
        at.send_sds(called, b"\x82")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("OK", at.Ok()),
        ("ERROR", at.Error(None)),
        ("+CME ERROR: 35", at.Error(35)),
        ("+CMGS: 0,201", at.CmgsResult(0, None, 201)),
        ("+CMGS: 4,2,17", at.CmgsResult(4, 2, 17)),
        ("+CMGS: 3", at.CmgsResult(3, None, None)),
        ("AT+CTSDS=12,0,0,0,0", at.Echo("AT+CTSDS=12,0,0,0,0")),
        ("82029C01", at.Other("82029C01")),
        (
            "+CTSDSR: 12,1234567,0,2345678,0,120",
            at.SdsHeader(12, "1234567", 0, "2345678", 0, 120),
        ),
        ("+CTSDSR: 12,1234567,16", at.SdsHeader(12, None, None, "1234567", None, 16)),
        ("+CTSDSR: 12,1234567,0,16", at.SdsHeader(12, None, None, "1234567", 0, 16)),
        (
            "+CTSDSR: 12,1234567,0,2345678,0,32,1",
            at.SdsHeader(12, "1234567", 0, "2345678", 0, 32, 1),
        ),
    ],
)
def test_lines_from_the_radio(line: str, expected: at.Line) -> None:
    assert at.parse_line(line) == expected


@pytest.mark.parametrize(
    "line", ["+CME ERROR: x", "+CMGS: 1,2,3,4", "+CMGS: a", "+CTSDSR: 12,1", "+CTSDSR: a,b,c"]
)
def test_malformed_lines(line: str) -> None:
    with pytest.raises(AtResponseError):
        at.parse_line(line)


def test_pdu_line_checks_hex_and_length() -> None:
    header = at.SdsHeader(12, "1", 0, "2", 0, 32)
    assert at.parse_pdu_line("821000C9", header) == bytes.fromhex("821000C9")
    assert at.parse_pdu_line("821000C9FF", header) == bytes.fromhex("821000C9")
    for bad in ("821000C", "8210", "82zz00C9"):
        with pytest.raises(AtResponseError):
            at.parse_pdu_line(bad, header)


def test_line_splitter_handles_fragments_and_controls() -> None:
    splitter = at.LineSplitter()
    assert splitter.feed(b"\r\nO") == []
    assert splitter.feed(b"K\r\n\r\n+CMGS: 1,") == ["OK"]
    assert splitter.feed(b"5\r\n\x1a") == ["+CMGS: 1,5"]
    assert splitter.feed(b"\r\n") == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=10))
def test_fuzz_lines_only_raise_response_errors(chunks: list[bytes]) -> None:
    splitter = at.LineSplitter()
    for chunk in chunks:
        for line in splitter.feed(chunk):
            with contextlib.suppress(AtResponseError):
                at.parse_line(line)


# --- alert texts and replies -------------------------------------------------------------

ALERT = "FIGHT HIGH cam3 Oslo-centre 14:02 #a1b2c3 reply ACK a1b2c3/FALSE a1b2c3"


def test_short_alert_is_one_sds() -> None:
    assert fit_text(ALERT, "a1b2c3", max_chars=160) == [ALERT]


def test_long_alert_is_split_into_numbered_parts_with_the_id() -> None:
    long = ALERT + " " + "two people fighting near the fountain, one on the ground " * 3
    parts = fit_text(long, "a1b2c3", max_chars=80)
    assert len(parts) > 1
    total = len(parts)
    for number, part in enumerate(parts, 1):
        assert len(part) <= 80
        assert part.startswith(f"{number}/{total} ")
        assert "#a1b2c3" in part


def test_split_is_capped_and_ends_with_an_ellipsis() -> None:
    parts = fit_text("word " * 200, "a1b2c3", max_chars=60, max_parts=2)
    assert len(parts) == 2
    assert parts[-1].endswith("... #a1b2c3")
    assert all(len(part) <= 60 for part in parts)


def test_truncation_keeps_the_id() -> None:
    [text] = fit_text("x" * 300, "a1b2c3", max_chars=100, mode="truncate")
    assert len(text) == 100
    assert text.endswith("... #a1b2c3")


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=600),
    st.integers(40, 251),
    st.sampled_from(["split", "truncate"]),
    st.integers(1, 9),
)
def test_fuzz_length_rule(text: str, max_chars: int, mode: str, max_parts: int) -> None:
    parts = fit_text(text, "a1b2c3", max_chars=max_chars, mode=mode, max_parts=max_parts)  # type: ignore[arg-type]
    assert all(len(part) <= max_chars for part in parts)
    assert len(parts) <= max(1, max_parts)
    if len(parts) > 1 or len(text) > max_chars:
        assert all("#a1b2c3" in part for part in parts)


def test_latin1_replacement() -> None:
    assert to_latin1("Ø € 日") == "Ø ? ?"


@pytest.mark.parametrize(
    ("text", "action", "ref"),
    [
        ("ACK a1b2c3", ActionKind.ACKNOWLEDGE, "a1b2c3"),
        ("ack a1b2c3", ActionKind.ACKNOWLEDGE, "a1b2c3"),
        ("  False #A1B2C3 ", ActionKind.DISMISS, "A1B2C3"),
        ("CONFIRM a1b2c3d4e5f6", ActionKind.CONFIRM, "a1b2c3d4e5f6"),
        ("confirm:a1b2", ActionKind.CONFIRM, "a1b2"),
    ],
)
def test_replies(text: str, action: ActionKind, ref: str) -> None:
    reply = parse_reply(text)
    assert reply is not None
    assert (reply.action, reply.alert_ref) == (action, ref)


@pytest.mark.parametrize("text", ["", "hello", "ACK", "ACK abc", "DELETE a1b2c3", "ACK a1b2c3 now"])
def test_non_replies(text: str) -> None:
    assert parse_reply(text) is None
