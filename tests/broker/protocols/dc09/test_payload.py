"""SIA-DCS and Contact ID data blocks: parsing tables and building."""

from __future__ import annotations

import pytest

from broker.protocols.dc09.errors import BadFormatError, Dc09ConfigError
from broker.protocols.dc09.payload import (
    CidQualifier,
    ContactIdData,
    SiaData,
    SiaEvent,
    build_cid_data,
    build_sia_data,
    clean_text,
    parse_cid_data,
    parse_sia_data,
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("#1234|Nri1/BA01", SiaData("1234", (SiaEvent("BA", "01", "1"),))),
        ("#1234|NRR|Atest", SiaData("1234", (SiaEvent("RR"),), "test")),
        # pysiaalarm's recorded panel frames
        ("#123456|Nri1CL0^VX FRONTE ^", SiaData("123456", (SiaEvent("CL", "0", "1", None, "VX FRONTE "),))),
        ("|Nri1/CL501", SiaData(None, (SiaEvent("CL", "501", "1"),))),
        ("Nri1/WA000", SiaData(None, (SiaEvent("WA", "000", "1"),))),
        ("#006969|Nri04/OP001NM", SiaData("006969", (SiaEvent("OP", "001", "04", None, "NM"),))),
        # several events, modifiers carried forward, user modifier, time modifier
        (
            "#ab12|Nri2/id7/ti10:30/BA001/BA002",
            SiaData("AB12", (SiaEvent("BA", "001", "2", "7"), SiaEvent("BA", "002", "2", "7"))),
        ),
        ("#1234|", SiaData("1234", ())),
        ("", SiaData(None, ())),
    ],
)  # fmt: skip
def test_parses_sia_data(data: str, expected: SiaData) -> None:
    assert parse_sia_data(data) == expected


@pytest.mark.parametrize("data", ["#1234|Xri1/BA01", "#1234|Nri1/ba01", "#1234|Nri1", "#1234|N/1"])
def test_rejects_unreadable_sia_data(data: str) -> None:
    with pytest.raises(BadFormatError):
        parse_sia_data(data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("#1234|1130 01 015", ContactIdData("1234", CidQualifier.NEW, "130", "01", "015")),
        ("#12345A|1110 00 129", ContactIdData("12345A", CidQualifier.NEW, "110", "00", "129")),
        ("#1234|3120 02 003", ContactIdData("1234", CidQualifier.RESTORE, "120", "02", "003")),
        ("6602 00 000", ContactIdData(None, CidQualifier.STATUS, "602", "00", "000")),
        ("#1234|113001015", ContactIdData("1234", CidQualifier.NEW, "130", "01", "015")),
    ],
)
def test_parses_contact_id(data: str, expected: ContactIdData) -> None:
    assert parse_cid_data(data) == expected


@pytest.mark.parametrize("data", ["#1234|2130 01 015", "#1234|1130 01 01", "#1234|Nri1/BA01", ""])
def test_rejects_bad_contact_id(data: str) -> None:
    with pytest.raises(BadFormatError):
        parse_cid_data(data)


def test_builds_and_reparses() -> None:
    assert build_sia_data("1234", "PA", 7, area=1) == "#1234|Nri1/PA007"
    assert parse_sia_data(build_sia_data("1234", "PA", 7)).events == (SiaEvent("PA", "007"),)
    cid = build_cid_data("1234", CidQualifier.RESTORE, 120, 1, 15)
    assert cid == "#1234|3120 01 015"
    assert parse_cid_data(cid).qualifier is CidQualifier.RESTORE


@pytest.mark.parametrize(
    "call",
    [
        lambda: build_sia_data("1234", "pa", 1),
        lambda: build_sia_data("1234", "PA", 1000),
        lambda: build_cid_data("1234", CidQualifier.NEW, 1000, 1, 1),
    ],
)
def test_build_refuses_bad_fields(call: object) -> None:
    with pytest.raises(Dc09ConfigError):
        call()  # type: ignore[operator]


def test_clean_text_strips_delimiters_and_non_ascii() -> None:
    assert clean_text("Fight [cam 3] | zone^1 \u2013 caf\u00e9") == "Fight  cam 3    zone 1   caf"
