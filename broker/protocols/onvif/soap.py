"""SOAP 1.2 envelopes: a hardened parser and builders for responses and faults (no I/O).

The parser never resolves entities, never touches the network, refuses
documents with a DTD (SOAP 1.2 forbids them, and they carry XML bombs) and
refuses bodies above a size limit before parsing them.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from broker.protocols.onvif import namespaces as ns
from broker.protocols.onvif.errors import (
    MalformedRequestError,
    MustUnderstandError,
    NotAuthorizedError,
    SoapFault,
)

CONTENT_TYPE = "application/soap+xml; charset=utf-8"
DEFAULT_MAX_BYTES = 256 * 1024
_MAX_DEPTH = 64

_ENV = f"{{{ns.SOAP_ENV}}}"
_WSA = f"{{{ns.WSA}}}"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """A parsed SOAP 1.2 request: its header blocks and its single body element."""

    header: etree._Element | None
    body: etree._Element
    action: str  # WS-Addressing Action, or "" when absent
    message_id: str  # WS-Addressing MessageID, or "" when absent

    @property
    def operation(self) -> tuple[str, str]:
        """(namespace, local name) of the body element, e.g. (tev, "PullMessages")."""
        qname = etree.QName(self.body)
        return (qname.namespace or "", qname.localname)


def parse_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse untrusted XML into its root element, or raise :class:`MalformedRequestError`."""
    if len(data) > max_bytes:
        raise MalformedRequestError(
            f"request of {len(data)} bytes exceeds {max_bytes}", reason="oversize"
        )
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise MalformedRequestError("a DTD is not allowed in SOAP messages", reason="dtd")
    try:
        root = etree.fromstring(data, parser=_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise MalformedRequestError(f"not well-formed XML: {exc}", reason="malformed") from exc
    if root is None:
        raise MalformedRequestError("empty document", reason="malformed")
    docinfo = root.getroottree().docinfo
    doctype: str = getattr(docinfo, "doctype", "")  # missing from lxml-stubs
    if doctype or docinfo.internalDTD is not None:
        raise MalformedRequestError("a DTD is not allowed in SOAP messages", reason="dtd")
    _check_depth(root)
    return root


def _check_depth(root: etree._Element) -> None:
    depth = 0
    for event, _element in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth > _MAX_DEPTH:
            raise MalformedRequestError("XML nested too deeply", reason="too_deep")


def parse_request(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> SoapRequest:
    """Parse a SOAP 1.2 request envelope; raise a fault describing what is wrong."""
    root = parse_xml(data, max_bytes=max_bytes)
    if root.tag != f"{_ENV}Envelope":
        if isinstance(root.tag, str) and root.tag.endswith("}Envelope"):
            raise MalformedRequestError(
                "only SOAP 1.2 envelopes are accepted", reason="soap_version"
            )
        raise MalformedRequestError("root element is not a SOAP Envelope")
    header = root.find(f"{_ENV}Header")
    body = root.find(f"{_ENV}Body")
    if body is None:
        raise MalformedRequestError("the envelope has no Body")
    children = [child for child in body if isinstance(child.tag, str)]
    if len(children) != 1:
        raise MalformedRequestError(f"the Body holds {len(children)} elements, expected 1")
    action = message_id = ""
    if header is not None:
        _check_must_understand(header)
        action = (header.findtext(f"{_WSA}Action") or "").strip()
        message_id = (header.findtext(f"{_WSA}MessageID") or "").strip()
    return SoapRequest(header=header, body=children[0], action=action, message_id=message_id)


_UNDERSTOOD = frozenset({ns.WSSE, ns.WSA})


def _check_must_understand(header: etree._Element) -> None:
    for block in header:  # comments and PIs were removed by the parser; DTDs refused
        if block.get(f"{_ENV}mustUnderstand", "false").strip() in ("true", "1"):
            namespace = etree.QName(block).namespace
            if namespace not in _UNDERSTOOD:
                raise MustUnderstandError(
                    f"header block {etree.QName(block).localname[:64]} is not understood"
                )


def build_envelope(body: etree._Element, *, action: str = "", relates_to: str = "") -> bytes:
    """Wrap ``body`` in a SOAP 1.2 envelope, with WS-Addressing headers when given."""
    envelope = etree.Element(f"{_ENV}Envelope", nsmap=ns.NSMAP)
    header = etree.SubElement(envelope, f"{_ENV}Header")
    if action:
        etree.SubElement(header, f"{_WSA}Action").text = action
    if relates_to:
        etree.SubElement(header, f"{_WSA}RelatesTo").text = relates_to
    etree.SubElement(envelope, f"{_ENV}Body").append(body)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def build_fault(fault: SoapFault) -> bytes:
    """Serialise ``fault`` as a SOAP 1.2 Fault envelope with its code and subcodes."""
    element = etree.Element(f"{_ENV}Fault", nsmap=ns.NSMAP)
    code = etree.SubElement(element, f"{_ENV}Code")
    etree.SubElement(code, f"{_ENV}Value").text = f"env:{fault.code.value}"
    parent = code
    for namespace, local in fault.code.subcodes:
        subcode = etree.SubElement(parent, f"{_ENV}Subcode")
        value = etree.SubElement(subcode, f"{_ENV}Value")
        value.text = f"{_prefix_for(namespace)}:{local}"
        parent = subcode
    reason = etree.SubElement(element, f"{_ENV}Reason")
    text = etree.SubElement(reason, f"{_ENV}Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    text.text = fault.text
    detail_text = fault.detail_text if isinstance(fault, NotAuthorizedError) else ""
    if fault.detail_xml is not None or detail_text:
        detail = etree.SubElement(element, f"{_ENV}Detail")
        if fault.detail_xml is not None:
            detail.append(etree.fromstring(fault.detail_xml, parser=_parser()))
        if detail_text:
            etree.SubElement(detail, f"{{{ns.TT}}}Text").text = detail_text
    return build_envelope(element, action=f"{ns.WSA}/soap/fault")


def _prefix_for(namespace: str) -> str:
    """The envelope's prefix of a fault subcode namespace (declared on the root)."""
    for prefix, uri in ns.NSMAP.items():
        if uri == namespace:
            return prefix
    raise ValueError(f"fault subcode namespace {namespace} has no prefix in NSMAP")
