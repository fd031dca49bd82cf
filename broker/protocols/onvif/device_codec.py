"""Device service responses: GetServices, GetCapabilities, GetSystemDateAndTime, ... (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from lxml import etree

from broker.protocols.onvif import namespaces as ns
from broker.protocols.onvif.errors import ActionNotSupportedError, FaultCode

_TDS = f"{{{ns.TDS}}}"
_TT = f"{{{ns.TT}}}"
_TEV = f"{{{ns.TEV}}}"
ONVIF_VERSION = (2, 60)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What GetDeviceInformation reports."""

    manufacturer: str = "StreetSense"
    model: str = "StreetSense Broker Adapter"
    firmware_version: str = "0.1.0"
    serial_number: str = "streetsense"
    hardware_id: str = "streetsense-adapter"
    hostname: str = "streetsense"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The XAddrs we advertise, resolved for the host the client used."""

    device: str
    events: str


class NoSuchServiceError(ActionNotSupportedError):
    """GetCapabilities asked for a category this device does not provide."""

    reason = "no_such_service"
    code = FaultCode("Receiver", ((ns.TER, "ActionNotSupported"), (ns.TER, "NoSuchService")))


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _bool(value: bool) -> str:
    return "true" if value else "false"


def system_date_and_time(now: datetime) -> etree._Element:
    """GetSystemDateAndTimeResponse with the UTC clock (clients derive their skew from it)."""
    response = etree.Element(
        f"{_TDS}GetSystemDateAndTimeResponse", nsmap={"tds": ns.TDS, "tt": ns.TT}
    )
    info = _sub(response, f"{_TDS}SystemDateAndTime")
    _sub(info, f"{_TT}DateTimeType", "NTP")
    _sub(info, f"{_TT}DaylightSavings", "false")
    _sub(_sub(info, f"{_TT}TimeZone"), f"{_TT}TZ", "UTC0")
    utc = _sub(info, f"{_TT}UTCDateTime")
    time = _sub(utc, f"{_TT}Time")
    for tag, value in (("Hour", now.hour), ("Minute", now.minute), ("Second", now.second)):
        _sub(time, f"{_TT}{tag}", str(value))
    date = _sub(utc, f"{_TT}Date")
    for tag, value in (("Year", now.year), ("Month", now.month), ("Day", now.day)):
        _sub(date, f"{_TT}{tag}", str(value))
    return response


def event_capabilities_element(max_pull_points: int) -> etree._Element:
    """The event service's ``tev:Capabilities`` (pull points only)."""
    capabilities = etree.Element(f"{_TEV}Capabilities", nsmap={"tev": ns.TEV})
    capabilities.set("WSSubscriptionPolicySupport", "false")
    capabilities.set("WSPullPointSupport", "true")
    capabilities.set("WSPausableSubscriptionManagerInterfaceSupport", "false")
    capabilities.set("MaxNotificationProducers", str(max_pull_points))
    capabilities.set("MaxPullPoints", str(max_pull_points))
    capabilities.set("PersistentNotificationStorage", "false")
    return capabilities


def device_capabilities_element() -> etree._Element:
    """The device service's ``tds:Capabilities``: WS-UsernameToken, nothing else."""
    capabilities = etree.Element(f"{_TDS}Capabilities", nsmap={"tds": ns.TDS})
    _sub(capabilities, f"{_TDS}Network")
    security = _sub(capabilities, f"{_TDS}Security")
    security.set("UsernameToken", "true")
    security.set("HttpDigest", "false")
    _sub(capabilities, f"{_TDS}System")
    return capabilities


def get_services(
    endpoints: Endpoints, *, include_capability: bool, max_pull_points: int
) -> etree._Element:
    """GetServicesResponse listing the device and event services."""
    response = etree.Element(f"{_TDS}GetServicesResponse", nsmap={"tds": ns.TDS, "tt": ns.TT})
    services = (
        (ns.TDS, endpoints.device, device_capabilities_element),
        (ns.TEV, endpoints.events, lambda: event_capabilities_element(max_pull_points)),
    )
    for namespace, xaddr, capabilities in services:
        service = _sub(response, f"{_TDS}Service")
        _sub(service, f"{_TDS}Namespace", namespace)
        _sub(service, f"{_TDS}XAddr", xaddr)
        if include_capability:
            _sub(service, f"{_TDS}Capabilities").append(capabilities())
        version = _sub(service, f"{_TDS}Version")
        _sub(version, f"{_TT}Major", str(ONVIF_VERSION[0]))
        _sub(version, f"{_TT}Minor", str(ONVIF_VERSION[1]))
    return response


def get_capabilities(endpoints: Endpoints, categories: Sequence[str]) -> etree._Element:
    """GetCapabilitiesResponse for All, Device and/or Events; other categories are a fault."""
    wanted = set(categories) or {"All"}
    unknown = wanted - {"All", "Device", "Events"}
    if unknown:
        raise NoSuchServiceError(f"no such service: {', '.join(sorted(unknown))}")
    everything = "All" in wanted
    response = etree.Element(f"{_TDS}GetCapabilitiesResponse", nsmap={"tds": ns.TDS, "tt": ns.TT})
    capabilities = _sub(response, f"{_TDS}Capabilities")
    if everything or "Device" in wanted:
        device = _sub(capabilities, f"{_TT}Device")
        _sub(device, f"{_TT}XAddr", endpoints.device)
    if everything or "Events" in wanted:
        events = _sub(capabilities, f"{_TT}Events")
        _sub(events, f"{_TT}XAddr", endpoints.events)
        _sub(events, f"{_TT}WSSubscriptionPolicySupport", _bool(False))
        _sub(events, f"{_TT}WSPullPointSupport", _bool(True))
        _sub(events, f"{_TT}WSPausableSubscriptionManagerInterfaceSupport", _bool(False))
    return response


def get_device_information(info: DeviceInfo) -> etree._Element:
    """GetDeviceInformationResponse."""
    response = etree.Element(f"{_TDS}GetDeviceInformationResponse", nsmap={"tds": ns.TDS})
    for tag, value in (
        ("Manufacturer", info.manufacturer),
        ("Model", info.model),
        ("FirmwareVersion", info.firmware_version),
        ("SerialNumber", info.serial_number),
        ("HardwareId", info.hardware_id),
    ):
        _sub(response, f"{_TDS}{tag}", value)
    return response


def get_hostname(info: DeviceInfo) -> etree._Element:
    """GetHostnameResponse (static, not from DHCP)."""
    response = etree.Element(f"{_TDS}GetHostnameResponse", nsmap={"tds": ns.TDS, "tt": ns.TT})
    hostname = _sub(response, f"{_TDS}HostnameInformation")
    _sub(hostname, f"{_TT}FromDHCP", "false")
    _sub(hostname, f"{_TT}Name", info.hostname)
    return response


def get_scopes(info: DeviceInfo) -> etree._Element:
    """GetScopesResponse: fixed scopes naming the device (no media profile is claimed)."""
    response = etree.Element(f"{_TDS}GetScopesResponse", nsmap={"tds": ns.TDS, "tt": ns.TT})
    items = (
        "onvif://www.onvif.org/type/event",
        f"onvif://www.onvif.org/name/{quote(info.model, safe='')}",
        f"onvif://www.onvif.org/hardware/{quote(info.hardware_id, safe='')}",
    )
    for item in items:
        scope = _sub(response, f"{_TDS}Scopes")
        _sub(scope, f"{_TT}ScopeDef", "Fixed")
        _sub(scope, f"{_TT}ScopeItem", item)
    return response


def device_service_capabilities() -> etree._Element:
    """Device GetServiceCapabilitiesResponse."""
    response = etree.Element(f"{_TDS}GetServiceCapabilitiesResponse", nsmap={"tds": ns.TDS})
    response.append(device_capabilities_element())
    return response


def parse_categories(body: etree._Element) -> list[str]:
    """The Category values of a GetCapabilities request."""
    return [(c.text or "").strip() for c in body.iterfind(f"{_TDS}Category")]


def parse_include_capability(body: etree._Element) -> bool:
    """IncludeCapability of a GetServices request."""
    return (body.findtext(f"{_TDS}IncludeCapability") or "").strip().lower() in ("true", "1")
