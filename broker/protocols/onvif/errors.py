"""Errors of the ONVIF event service and camera client.

OnvifError                          base
├── SoapFault                       a request is answered with a SOAP 1.2 fault
│   ├── MalformedRequestError       not XML, not a SOAP 1.2 envelope, DTD, oversize
│   ├── MustUnderstandError         a mustUnderstand header block we do not process
│   ├── NotAuthorizedError          WS-UsernameToken missing, wrong, stale or replayed
│   ├── ActionNotSupportedError     an operation this device does not offer
│   ├── InvalidArgumentError        an argument out of range or unparsable
│   ├── InvalidFilterError          a topic or message-content filter we cannot honour
│   ├── ResourceUnknownError        the subscription is unknown, expired or unsubscribed
│   ├── SubscriptionLimitError      no more pull points can be created
│   └── PullMessagesLimitError      Timeout or MessageLimit above the device's maximum
└── CameraError                     the inbound client could not talk to a camera

Every fault carries ``reason``, a short label for the rejection counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.protocols.onvif import namespaces as ns


class OnvifError(Exception):
    """Base of the ONVIF errors."""


@dataclass(frozen=True, slots=True)
class FaultCode:
    """A SOAP 1.2 fault code: ``env:Sender`` or ``env:Receiver`` and nested subcodes."""

    value: str  # "Sender" or "Receiver" (in the SOAP envelope namespace)
    subcodes: tuple[tuple[str, str], ...] = field(default=())  # (namespace, local name)


class SoapFault(OnvifError):  # noqa: N818 - the protocol's own term
    """A request answered with a SOAP 1.2 fault (HTTP 400 for Sender, 500 for Receiver)."""

    reason = "fault"
    code = FaultCode("Receiver", ((ns.TER, "Action"),))

    def __init__(self, text: str, *, detail_xml: bytes | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.detail_xml = detail_xml

    @property
    def http_status(self) -> int:
        """400 for faults the sender caused, 500 for the receiver's own."""
        return 400 if self.code.value == "Sender" else 500


class MalformedRequestError(SoapFault):
    """The request is not a well-formed, acceptable SOAP 1.2 envelope."""

    reason = "malformed"
    code = FaultCode("Sender", ((ns.TER, "InvalidArgs"),))

    def __init__(self, text: str, *, reason: str = "malformed") -> None:
        super().__init__(text)
        self.reason = reason


class MustUnderstandError(SoapFault):
    """A header block marked mustUnderstand that this service does not process."""

    reason = "must_understand"
    code = FaultCode("MustUnderstand")


class NotAuthorizedError(SoapFault):
    """WS-UsernameToken missing, wrong, stale or replayed (``ter:NotAuthorized``)."""

    reason = "auth_failed"
    code = FaultCode("Sender", ((ns.TER, "NotAuthorized"),))

    def __init__(self, text: str, *, reason: str = "auth_failed") -> None:
        super().__init__("Sender not Authorized")
        self.detail_text = text
        self.reason = reason


class ActionNotSupportedError(SoapFault):
    """The operation is not offered by this device."""

    reason = "unsupported_action"
    code = FaultCode("Receiver", ((ns.TER, "ActionNotSupported"),))


class InvalidArgumentError(SoapFault):
    """An argument is out of range or cannot be parsed."""

    reason = "invalid_argument"
    code = FaultCode("Sender", ((ns.TER, "InvalidArgVal"),))


class InvalidFilterError(SoapFault):
    """A filter we cannot honour (WS-BaseNotification InvalidFilterFault family)."""

    reason = "invalid_filter"
    code = FaultCode("Sender", ((ns.WSNT, "InvalidFilterFault"),))

    def __init__(self, text: str, *, subcode: str = "InvalidFilterFault") -> None:
        super().__init__(text)
        self.code = FaultCode("Sender", ((ns.WSNT, subcode),))


class ResourceUnknownError(SoapFault):
    """The subscription is unknown, expired or already unsubscribed."""

    reason = "unknown_subscription"
    code = FaultCode("Sender", ((ns.WSRF_R, "ResourceUnknownFault"),))


class SubscriptionLimitError(SoapFault):
    """The configured maximum of pull points is reached."""

    reason = "too_many_subscriptions"
    code = FaultCode("Receiver", ((ns.TER, "Action"), (ns.TER, "MaxPullPointsReached")))


class PullMessagesLimitError(SoapFault):
    """PullMessages asked for more than MaxTimeout or MaxMessageLimit."""

    reason = "pull_limits"
    code = FaultCode("Sender", ((ns.TER, "InvalidArgVal"),))


class CameraError(OnvifError):
    """The inbound client could not subscribe to or pull from a camera."""
