"""XML namespaces of SOAP 1.2, WS-Security, WS-Addressing, WS-Notification and ONVIF."""

from __future__ import annotations

from typing import Final

SOAP_ENV: Final = "http://www.w3.org/2003/05/soap-envelope"
WSSE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_TOKEN_PROFILE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"  # noqa: S105 - a URI, not a secret
)
WSSE_PASSWORD_DIGEST: Final = f"{_TOKEN_PROFILE}#PasswordDigest"
WSSE_PASSWORD_TEXT: Final = f"{_TOKEN_PROFILE}#PasswordText"
WSA: Final = "http://www.w3.org/2005/08/addressing"
WSNT: Final = "http://docs.oasis-open.org/wsn/b-2"
WSTOP: Final = "http://docs.oasis-open.org/wsn/t-1"
WSRF_R: Final = "http://docs.oasis-open.org/wsrf/r-2"
WSRF_BF: Final = "http://docs.oasis-open.org/wsrf/bf-2"
XSD: Final = "http://www.w3.org/2001/XMLSchema"
TT: Final = "http://www.onvif.org/ver10/schema"
TDS: Final = "http://www.onvif.org/ver10/device/wsdl"
TEV: Final = "http://www.onvif.org/ver10/events/wsdl"
TNS1: Final = "http://www.onvif.org/ver10/topics"
TER: Final = "http://www.onvif.org/ver10/error"

DIALECT_CONCRETE: Final = "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete"
DIALECT_CONCRETE_SET: Final = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
DIALECT_ITEM_FILTER: Final = "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter"

# Prefixes used in what we emit (clients resolve by namespace, never by prefix).
NSMAP: Final[dict[str, str]] = {
    "env": SOAP_ENV,
    "wsa": WSA,
    "wsnt": WSNT,
    "wstop": WSTOP,
    "tt": TT,
    "tds": TDS,
    "tev": TEV,
    "tns1": TNS1,
    "ter": TER,
    "wsrf-r": WSRF_R,
    "wsrf-bf": WSRF_BF,
    "xs": XSD,
}
