"""Event codes: StreetSense categories to SIA / Contact ID codes and back.

Outbound defaults (override or extend per category with ``codes:`` in the
output config; categories not listed use ``default_code``):

==============================================  =====  =======  ===  =========================
category                                        SIA    restore  CID  why
==============================================  =====  =======  ===  =========================
panic, emergency, emergency_call, call_button   PA     PR       120  assistance requested by a person
fight, assault, violence, aggression            QA     QR       101  emergency, assistance needed
loud_noise, scream                              UA     UR       150  24-hour non-burglary zone
air_quality, gas                                GA     GR       151  gas detected
smoke, fire                                     FA     FR       110  fire
intrusion, trespass                             BA     BR       130  burglary
tamper, camera_tamper                           TA     TR       137  tamper
(anything else: ``default_code``)               UA     UR       150  untyped zone alarm
==============================================  =====  =======  ===  =========================

An incident's ``start`` sends the alarm code (Contact ID qualifier 1), its
``end`` the restore code (qualifier 3), an ``update`` is sent only when
``send_updates`` is on (same SIA code, Contact ID qualifier 6).

Inbound, a SIA code or a Contact ID event code maps to a category and a
severity (``codes:`` in the receiver config, merged over
:data:`DEFAULT_INBOUND`); a SIA code ending in ``R`` or ``H`` whose alarm form
(``xA``) is mapped is that alarm's restore and ends the incident.
"""

from __future__ import annotations

from dataclasses import dataclass

from events import Phase, Severity


@dataclass(frozen=True, slots=True)
class OutboundCode:
    """What one category is sent as."""

    sia: str  # alarm code, e.g. "PA"
    sia_restore: str  # restore code, e.g. "PR"
    cid: int  # Contact ID event code, e.g. 120


def _same(codes: OutboundCode, *categories: str) -> dict[str, OutboundCode]:
    return dict.fromkeys(categories, codes)


DEFAULT_OUTBOUND: dict[str, OutboundCode] = {
    **_same(OutboundCode("PA", "PR", 120), "panic", "emergency", "emergency_call", "call_button"),
    **_same(OutboundCode("QA", "QR", 101), "fight", "assault", "violence", "aggression"),
    **_same(OutboundCode("UA", "UR", 150), "loud_noise", "scream"),
    **_same(OutboundCode("GA", "GR", 151), "air_quality", "gas"),
    **_same(OutboundCode("FA", "FR", 110), "smoke", "fire"),
    **_same(OutboundCode("BA", "BR", 130), "intrusion", "trespass"),
    **_same(OutboundCode("TA", "TR", 137), "tamper", "camera_tamper"),
}
DEFAULT_OUTBOUND_CODE = OutboundCode("UA", "UR", 150)


@dataclass(frozen=True, slots=True)
class InboundCode:
    """What one received code becomes."""

    category: str
    severity: Severity


DEFAULT_INBOUND: dict[str, InboundCode] = {
    # SIA-DCS alarm codes (restores are derived: PR, PH, ...)
    "PA": InboundCode("panic", Severity.CRITICAL),
    "HA": InboundCode("holdup", Severity.CRITICAL),
    "QA": InboundCode("emergency", Severity.CRITICAL),
    "MA": InboundCode("medical", Severity.HIGH),
    "FA": InboundCode("fire", Severity.CRITICAL),
    "GA": InboundCode("gas", Severity.HIGH),
    "BA": InboundCode("intrusion", Severity.HIGH),
    "TA": InboundCode("tamper", Severity.MEDIUM),
    "UA": InboundCode("alarm", Severity.MEDIUM),
    "WA": InboundCode("water", Severity.MEDIUM),
    # Contact ID event codes
    "100": InboundCode("medical", Severity.HIGH),
    "101": InboundCode("emergency", Severity.CRITICAL),
    "110": InboundCode("fire", Severity.CRITICAL),
    "120": InboundCode("panic", Severity.CRITICAL),
    "121": InboundCode("holdup", Severity.CRITICAL),
    "122": InboundCode("holdup", Severity.CRITICAL),
    "123": InboundCode("panic", Severity.CRITICAL),
    "130": InboundCode("intrusion", Severity.HIGH),
    "137": InboundCode("tamper", Severity.MEDIUM),
    "140": InboundCode("alarm", Severity.MEDIUM),
    "150": InboundCode("alarm", Severity.MEDIUM),
    "151": InboundCode("gas", Severity.HIGH),
    "162": InboundCode("gas", Severity.HIGH),
}


def lookup_sia(code: str, table: dict[str, InboundCode]) -> tuple[InboundCode, Phase] | None:
    """Map a SIA code to (category/severity, phase); ``None`` when unmapped."""
    if code in table:
        return table[code], Phase.START
    if len(code) == 2 and code[1] in "RH" and f"{code[0]}A" in table:
        return table[f"{code[0]}A"], Phase.END
    return None
